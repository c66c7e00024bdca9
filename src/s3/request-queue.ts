// Every S3 request of the process passes through here: bounded concurrency,
// priority order (what a caller waits for first), the rate limit, retries with
// backoff and jitter, and the counters `oortfs stats` and the benchmark print.
import PQueue from 'p-queue'
import { RateLimiter, realClock, type Clock, type Slot } from './rate-limiter.js'
import { toS3Error, type S3Error } from './errors.js'
import { Priority, Urgency } from './store.js'
import { log } from '../util/log.js'

export interface QueueOptions {
  rps: number
  concurrency: number
  /** attempts per request, first one included */
  maxAttempts: number
  /** backoff base; the n-th retry waits up to base * 2^n, capped */
  backoffMs: number
  clock?: Clock
}

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
  private readonly opts: QueueOptions
  private readonly clock: Clock
  private readonly counts: Record<string, number> = {}
  private totals = { total: 0, succeeded: 0, retries: 0, throttled: 0, failed: 0, bytesIn: 0, bytesOut: 0 }
  /** attempts running now, for `active()`: what a slow unmount waits for */
  private readonly running = new Set<{ what: string, since: number, attempt: number }>()
  private seq = 0

  constructor (opts: QueueOptions) {
    this.opts = opts
    this.clock = opts.clock ?? realClock
    this.limiter = new RateLimiter(opts.rps, 1000, this.clock)
    this.queue = new PQueue({ concurrency: opts.concurrency })
  }

  /**
   * Runs `attempt` (one HTTP request) under the limits, retrying what the server
   * or the network says is worth retrying. `what` names the request in errors.
   * The attempt calls `sent()` as its request leaves for the server (the rate
   * limit counts from there); one that never does counts from its end.
   */
  async run<T> (type: string, what: string, priority: Priority | Urgency, attempt: (sent: () => void) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const urgency = priority instanceof Urgency ? priority : undefined
    for (let n = 1; ; n++) {
      signal?.throwIfAborted()
      let slot: Slot | undefined
      // a caller that starts waiting for it while it is queued moves it up
      const id = `r${++this.seq}`
      const stop = urgency?.onRaise(p => { try { this.queue.setPriority(id, p) } catch { /* running already */ } })
      try {
        return await this.queue.add(async () => {
          stop?.()
          slot = await this.limiter.acquire()
          try {
            this.counts[type] = (this.counts[type] ?? 0) + 1
            this.totals.total++
            const me = { what, since: this.clock.now(), attempt: n }
            this.running.add(me)
            try {
              const r = await attempt(slot.sent)
              this.totals.succeeded++
              return r
            } finally {
              this.running.delete(me)
            }
          } finally {
            slot.release()
          }
        }, { priority: urgency?.priority ?? (priority as Priority), id }) as T
      } catch (err) {
        const e: S3Error = toS3Error(err, what)
        if (e.throttled) {
          this.totals.throttled++
          this.limiter.throttled(slot?.sentAt)
        }
        if (!e.retryable || n >= this.opts.maxAttempts || signal?.aborted) {
          if (e.retryable) {
            this.totals.failed++
            log.warn(`${what}: giving up after ${n} attempts: ${e.code}`)
          }
          throw e
        }
        this.totals.retries++
        const delay = Math.min(20_000, this.opts.backoffMs * 2 ** (n - 1))
        log.debug(`${what}: ${e.code}, retry ${n} in up to ${delay} ms`)
        await this.clock.sleep(Math.round(delay / 2 + Math.random() * delay / 2))
      } finally {
        stop?.()
      }
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
