// A sliding-window limiter: no more than `limit` requests reach the server in
// any window of `windowMs` (p-queue's fixed windows allow twice that across a
// boundary). The limit adapts AIMD-style: halved when the server says SlowDown
// (once per window of requests: answers to requests sent before the last
// decrease say nothing new), then grows back each window by a tenth of itself,
// at least 1 and at most max/20: gently near a low limit the server holds us
// to (5/s: +1/s, not +5/s, which would overshoot by double every few seconds),
// in 10 s from half to full at the top.
//
// What counts is when a request leaves for the server, not when it was let go:
// between the two the SDK signs it, hashing the body (tens of ms for a large
// part), and the event loop may serve other work. A slot is "pending" from
// acquire() until its holder says sent() (or release()s it); a pending slot
// fills the window and cannot leave it, so the times that do leave it are
// always times requests really went out. Between leaving here and arriving
// there, requests are still delayed unevenly (event loop, new connections, the
// network): a request held back 30 ms while the next one, a window later, goes
// at once puts both in the server's window. So the window we keep is longer by
// a guard (5%): rps=100 sends at most 100 requests in any 1.05 s.
//
// Within the window, requests are paced: one at most every windowMs/(2*limit)
// (5 ms at 100/s). A backlog then goes out at no more than twice the average
// rate instead of all at once, so a server that counts in shorter slices, or a
// limit lower than ours, refuses a few requests rather than half a window's.

import { monotonic } from '../util/clock.js'

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

/** monotonic: a wall clock stepped back would hold every slot in the window for as long */
export const realClock: Clock = {
  now: monotonic,
  sleep: (ms) => new Promise(resolve => setTimeout(resolve, ms)),
}

/** one request's place in the window */
export interface Slot {
  /** the request is leaving now: its time in the window starts here (idempotent) */
  sent(): void
  /** the attempt is over; a slot never sent counts from now */
  release(): void
  /** when it was sent, once it was */
  readonly sentAt: number | undefined
}

export class RateLimiter {
  /** the configured limit, or this process's share of it (host-budget.ts) */
  private max: number
  private current: number
  private readonly windowMs: number
  /** the window we keep: windowMs plus the guard */
  private readonly spanMs: number
  /** send times in the window, oldest first */
  private readonly starts: number[] = []
  /** slots handed out and not yet sent */
  private pending = 0
  private readonly waiters: ((slot: Slot) => void)[] = []
  private pumping = false
  private wake?: () => void
  private lastIncrease: number
  private lastDecrease = -Infinity
  private lastRelease = -Infinity
  private readonly clock: Clock

  constructor (maxPerWindow: number, windowMs = 1000, clock: Clock = realClock, guardMs = windowMs / 20) {
    if (!(maxPerWindow >= 1)) throw new RangeError('rate limit must be at least 1 request per second')
    this.max = maxPerWindow
    this.current = maxPerWindow
    this.windowMs = windowMs
    this.spanMs = windowMs + guardMs
    this.clock = clock
    this.lastIncrease = clock.now()
  }

  /**
   * A new ceiling (this process's share of the account's budget changed): a
   * lower one holds at once; a higher one is taken at once unless SlowDown
   * answers hold the rate down, which then grows back to it as usual.
   */
  setMax (n: number): void {
    if (!(n >= 1)) throw new RangeError('rate limit must be at least 1 request per second')
    const free = this.current >= this.max
    this.max = n
    this.current = free ? n : Math.min(this.current, n)
    this.wake?.()
  }

  /** the limit in force now (lower than max after SlowDown answers) */
  get limit (): number { return Math.floor(this.current) }

  /** requests in the window now, pending ones included */
  inWindow (): number {
    this.expire(this.clock.now())
    return this.starts.length + this.pending
  }

  /** resolves with a slot when one more request may go out; callers get slots in arrival order */
  acquire (): Promise<Slot> {
    return new Promise(resolve => {
      this.waiters.push(resolve)
      void this.pump()
    })
  }

  /**
   * The server throttled a request: halve the rate (not below 1), unless the
   * request went out before the last decrease (it was paced by the old rate).
   */
  throttled (sentAt?: number): void {
    if (sentAt !== undefined && sentAt <= this.lastDecrease) return
    this.current = Math.max(1, this.current / 2)
    this.lastDecrease = this.lastIncrease = this.clock.now()
  }

  private recover (now: number): void {
    if (this.current >= this.max) return
    const windows = (now - this.lastIncrease) / this.windowMs
    if (windows >= 1) {
      this.current = Math.min(this.max, this.current + Math.floor(windows) * Math.max(1, Math.min(this.max / 20, this.current / 10)))
      this.lastIncrease = now
    }
  }

  private expire (now: number): void {
    let n = 0
    while (n < this.starts.length && this.starts[n]! <= now - this.spanMs) n++
    if (n) this.starts.splice(0, n)
  }

  private slot (): Slot {
    this.pending++
    let sentAt: number | undefined
    let done = false
    const mark = (): void => {
      if (sentAt !== undefined) return
      sentAt = this.clock.now()
      this.pending--
      // now is the latest time yet: the array stays sorted
      this.starts.push(sentAt)
      this.wake?.()
    }
    return {
      sent: mark,
      release: () => { if (!done) { done = true; mark() } },
      get sentAt () { return sentAt },
    }
  }

  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.waiters.length > 0) {
        const now = this.clock.now()
        this.recover(now)
        this.expire(now)
        const over = this.starts.length + this.pending - this.limit
        const paced = this.lastRelease + this.windowMs / (2 * this.limit) - now
        if (over < 0 && paced <= 0) {
          this.lastRelease = now
          this.waiters.shift()!(this.slot())
          continue
        }
        if (over < 0) {
          await this.clock.sleep(Math.max(1, Math.ceil(paced)))
          continue
        }
        // wait until enough sent requests leave the window, or a pending one is sent
        const woken = new Promise<void>(resolve => { this.wake = resolve })
        const waits = [woken]
        if (over < this.starts.length) waits.push(this.clock.sleep(Math.max(1, this.starts[over]! + this.spanMs - now)))
        await Promise.race(waits)
        this.wake = undefined
      }
    } finally {
      this.pumping = false
    }
  }
}
