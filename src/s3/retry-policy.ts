// How long, and how often, a failed request is tried again. Not a number of
// attempts: a gateway restart, a load-balancer failover or a DNS blip lasts
// seconds to minutes, and a request gives up only once it has gone that long
// without progress. Requests that change the server (uploads, copies,
// deletes: what close, fsync and rename wait for) keep trying as long as those
// calls wait (op_timeout, 300 s, counted without progress: see
// src/fuse/patience.ts); reads keep trying a shorter while (retry_time, 60 s),
// as a reader waits on them with nothing else to show. Pauses double from
// `backoffMs` but stay short (`maxBackoffMs`): a server that is back is
// noticed within a couple of seconds. A server's Retry-After is honoured, up
// to a bound.
import type { S3Error } from './errors.js'

export interface RetryOptions {
  /** how long a read (GET, HEAD, listing) may go on failing, without progress, before its error is final */
  readMs: number
  /** the same for a request that changes the server */
  writeMs: number
  /** the first pause; each retry doubles it (with jitter: between half and all of it) */
  backoffMs: number
  /** the longest pause between two tries */
  maxBackoffMs: number
  /** the most attempts per request whatever the time left (retries=N); Infinity: the time alone decides */
  maxAttempts: number
}

export const RETRY_DEFAULTS: RetryOptions = {
  readMs: 60_000,
  writeMs: 300_000,
  backoffMs: 100,
  maxBackoffMs: 2_000,
  maxAttempts: Infinity,
}

/** the longest Retry-After waited: a server asking for more is asked again after this */
export const MAX_RETRY_AFTER_MS = 30_000

/** requests that only read: the rest change the server */
const READS = new Set(['GetObject', 'HeadObject', 'ListObjectsV2'])

/** how long a request of this type may fail without progress; `override` from the caller wins */
export function budgetFor (type: string, o: RetryOptions, override?: number): number {
  return override ?? (READS.has(type) ? o.readMs : o.writeMs)
}

/**
 * The pause before the next try of a request whose `attempt`-th try failed
 * with `e`, after `failingMs` without progress; undefined when the error is
 * final. The last try comes at the deadline, not before it.
 */
export function nextPause (e: S3Error, attempt: number, failingMs: number, budgetMs: number, o: RetryOptions, random: () => number = Math.random, sameError = attempt): number | undefined {
  if (!e.retryable) return undefined
  // a limited error (clock skew, a bad answer) counts its own tries: three
  // refused connections before it must not use up its retries
  if (attempt >= o.maxAttempts || sameError >= e.attemptLimit) return undefined
  const left = budgetMs - failingMs
  if (left <= 0) return undefined
  const cap = Math.min(o.maxBackoffMs, o.backoffMs * 2 ** Math.min(30, attempt - 1))
  let pause = Math.round(cap / 2 + random() * cap / 2)
  if (e.retryAfterMs !== undefined) pause = Math.max(pause, Math.min(e.retryAfterMs, MAX_RETRY_AFTER_MS))
  return Math.max(1, Math.min(pause, left))
}
