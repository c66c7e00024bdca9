// Every S3 request of the process passes through here: bounded concurrency,
// priority order (what a caller waits for first), the rate limit, retries
// (how long and how often: retry-policy.ts), the outage lines of the log
// (outage-log.ts), and the counters `oortfs stats` and the benchmark print.
import PQueue from 'p-queue'
import { RateLimiter, realClock, type Clock, type Slot } from './rate-limiter.js'
import { toS3Error, type S3Error } from './errors.js'
import { budgetFor, nextPause, RETRY_DEFAULTS, type RetryOptions } from './retry-policy.js'
import { OutageLog } from './outage-log.js'
import { Priority, Urgency } from './store.js'
import { log } from '../util/log.js'

export interface QueueOptions extends Partial<RetryOptions> {
  rps: number
  concurrency: number
  /** what the log calls the server (its endpoint) */
  server?: string
  clock?: Clock
}

/** what run() may be told beyond the request itself */
export interface RunOptions {
  signal?: AbortSignal
  /** how long this request may fail without progress, instead of its type's budget */
  retryMs?: number
}

/**
 * One attempt: `sent()` as its request leaves for the server (the rate limit
 * counts from there), `moved()` when bytes of the answer arrive (a body cut
 * short after that was progress: the time without it starts again)
 */
export type Attempt<T> = (sent: () => void, moved: () => void) => Promise<T>

export interface RequestStats {
  /** requests sent (retries included), by S3 operation */
  byType: Record<string, number>
  total: number
  /** requests that succeeded: progress (an error answer, however fast, is none) */
  succeeded: number
  retries: number
  throttled: number
  failed: number
  bytesIn: number
  bytesOut: number
  inFlight: number
  queued: number
  /** the rate limit in force now (AIMD may hold it under the configured one) */
  rateLimit: number
}

/** a request on the wire now: what it is, for how long, which try */
export interface ActiveRequest {
  what: string
  ms: number
  attempt: number
}

export class RequestQueue {
  readonly limiter: RateLimiter
  private readonly queue: PQueue
  private readonly retry: RetryOptions
  private readonly clock: Clock
  private readonly outage: OutageLog
  private readonly counts: Record<string, number> = {}
  private totals = { total: 0, succeeded: 0, retries: 0, throttled: 0, failed: 0, bytesIn: 0, bytesOut: 0 }
  /** attempts running now, for `active()`: what a slow unmount waits for */
  private readonly running = new Set<{ what: string, since: number, attempt: number }>()
  private seq = 0

  constructor (opts: QueueOptions) {
    this.clock = opts.clock ?? realClock
    const given = Object.fromEntries(Object.entries(opts).filter(([k, v]) => k in RETRY_DEFAULTS && v !== undefined))
    this.retry = { ...RETRY_DEFAULTS, ...given }
    const secs = (ms: number): string => `${Math.round(ms / 1000)} s`
    const patience = this.retry.maxAttempts < Infinity
      ? `up to ${this.retry.maxAttempts} attempts (retries=)`
      : `reads for up to ${secs(this.retry.readMs)}, writes for up to ${secs(this.retry.writeMs)}`
    this.outage = new OutageLog(opts.server ?? 'the S3 server', this.clock, patience)
    this.limiter = new RateLimiter(opts.rps, 1000, this.clock)
    this.queue = new PQueue({ concurrency: opts.concurrency })
  }

  /**
   * Runs `attempt` (one HTTP request) under the limits, retrying what the
   * server or the network says is worth retrying, until the request's budget
   * of time without progress is spent. `what` names the request in errors.
   */
  async run<T> (type: string, what: string, priority: Priority | Urgency, attempt: Attempt<T>, opts?: AbortSignal | RunOptions): Promise<T> {
    const { signal, retryMs } = opts instanceof AbortSignal ? { signal: opts, retryMs: undefined } : (opts ?? {})
    const budget = budgetFor(type, this.retry, retryMs)
    const urgency = priority instanceof Urgency ? priority : undefined
    /**
     * how long this request has been failing without progress: its attempts
     * on the wire and its pauses, not its waits in this queue or for a rate
     * slot (a backlog under SlowDown is the mount at work, not an outage)
     */
    let failing = 0
    let attemptStart = 0
    /** this request, for the outage count */
    const me = {}
    /** tries that failed, by error code: a limited error's limit counts its own */
    const failedWith = new Map<string, number>()
    for (let n = 1; ; n++) {
      signal?.throwIfAborted()
      let slot: Slot | undefined
      let moved = false
      // a caller that starts waiting for it while it is queued moves it up
      const id = `r${++this.seq}`
      const stop = urgency?.onRaise(p => { try { this.queue.setPriority(id, p) } catch { /* running already */ } })
      try {
        const r = await this.queue.add(async () => {
          stop?.()
          slot = await this.limiter.acquire()
          attemptStart = this.clock.now()
          try {
            this.counts[type] = (this.counts[type] ?? 0) + 1
            this.totals.total++
            const entry = { what, since: this.clock.now(), attempt: n }
            this.running.add(entry)
            try {
              const r = await attempt(slot.sent, () => { moved = true })
              this.totals.succeeded++
              this.outage.succeeded()
              return r
            } finally {
              this.running.delete(entry)
            }
          } finally {
            slot.release()
          }
        }, { priority: urgency?.priority ?? (priority as Priority), id }) as T
        return r
      } catch (err) {
        const e: S3Error = toS3Error(err, what)
        const now = this.clock.now()
        failing = moved ? 0 : failing + (slot ? now - attemptStart : 0)
        if (e.throttled) {
          this.totals.throttled++
          this.limiter.throttled(slot?.sentAt)
        }
        const same = (failedWith.get(e.code) ?? 0) + 1
        failedWith.set(e.code, same)
        const pause = signal?.aborted ? undefined : nextPause(e, n, failing, budget, this.retry, Math.random, same)
        if (pause === undefined) {
          if (e.retryable && !signal?.aborted) {
            this.totals.failed++
            log.warn(`${what}: giving up after ${n} attempts in ${(failing / 1000).toFixed(1)} s without progress: ${e.code}`)
          }
          throw e
        }
        this.totals.retries++
        if (e.unavailable) {
          this.outage.failed(e, me)
        } else {
          log.debug(`${what}: ${e.code}, retry ${n} in ${pause} ms`)
        }
        await this.pause(pause, signal)
        failing += pause
      } finally {
        stop?.()
      }
    }
  }

  /** the clock's sleep, cut short by an abort (the loop then throws its reason) */
  private async pause (ms: number, signal?: AbortSignal): Promise<void> {
    if (!signal) return await this.clock.sleep(ms)
    if (signal.aborted) return
    let onAbort: (() => void) | undefined
    const aborted = new Promise<void>(resolve => { onAbort = resolve; signal.addEventListener('abort', onAbort, { once: true }) })
    try {
      await Promise.race([this.clock.sleep(ms), aborted])
    } finally {
      signal.removeEventListener('abort', onAbort!)
    }
  }

  countBytes (direction: 'in' | 'out', n: number): void {
    if (direction === 'in') this.totals.bytesIn += n
    else this.totals.bytesOut += n
  }

  stats (): RequestStats {
    return {
      byType: { ...this.counts },
      ...this.totals,
      inFlight: this.queue.pending,
      queued: this.queue.size,
      rateLimit: this.limiter.limit,
    }
  }

  /** the attempts running now, oldest first */
  active (): ActiveRequest[] {
    const now = this.clock.now()
    return [...this.running].map(r => ({ what: r.what, ms: now - r.since, attempt: r.attempt }))
  }

  /** resolves when nothing is queued or running */
  async idle (): Promise<void> {
    await this.queue.onIdle()
  }
}
