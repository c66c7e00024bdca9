// A sliding-window limiter: no more than `limit` request starts in any window of
// `windowMs` (p-queue's fixed windows allow twice that across a boundary). The
// limit adapts AIMD-style: halved when the server says SlowDown, then grows back
// by one request per second per window of success.

export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise(resolve => setTimeout(resolve, ms)),
}

export class RateLimiter {
  readonly max: number
  private current: number
  private readonly windowMs: number
  private readonly starts: number[] = []
  private readonly waiters: (() => void)[] = []
  private pumping = false
  private lastIncrease: number
  private readonly clock: Clock

  constructor (maxPerWindow: number, windowMs = 1000, clock: Clock = realClock) {
    if (!(maxPerWindow >= 1)) throw new RangeError('rate limit must be at least 1 request per second')
    this.max = maxPerWindow
    this.current = maxPerWindow
    this.windowMs = windowMs
    this.clock = clock
    this.lastIncrease = clock.now()
  }

  /** the limit in force now (lower than max after SlowDown answers) */
  get limit (): number { return Math.floor(this.current) }

  /** resolves when one more request may start; callers start in arrival order */
  acquire (): Promise<void> {
    return new Promise(resolve => {
      this.waiters.push(resolve)
      void this.pump()
    })
  }

  /** the server throttled us: halve the rate (not below 1) */
  throttled (): void {
    this.current = Math.max(1, this.current / 2)
    this.lastIncrease = this.clock.now()
  }

  private recover (now: number): void {
    if (this.current >= this.max) return
    const windows = (now - this.lastIncrease) / this.windowMs
    if (windows >= 1) {
      this.current = Math.min(this.max, this.current + Math.floor(windows) * Math.max(1, this.max / 20))
      this.lastIncrease = now
    }
  }

  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.waiters.length > 0) {
        const now = this.clock.now()
        this.recover(now)
        while (this.starts.length > 0 && this.starts[0]! <= now - this.windowMs) this.starts.shift()
        if (this.starts.length < this.limit) {
          this.starts.push(now)
          this.waiters.shift()!()
          continue
        }
        // wait until the oldest start leaves the window
        await this.clock.sleep(Math.max(1, this.starts[this.starts.length - this.limit]! + this.windowMs - now))
      }
    } finally {
      this.pumping = false
    }
  }
}
