// A Clock (src/s3/rate-limiter.ts) that moves only when the test says so, so
// rate limits and backoffs are checked to the millisecond without waiting.
import type { Clock } from '../../src/s3/rate-limiter.js'

/** lets every promise chain that can move, move (p-queue, async functions) */
export async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>(resolve => setImmediate(resolve))
}

export class FakeClock implements Clock {
  private t = 0
  private timers: { at: number, resolve: () => void }[] = []
  /** every sleep asked for, in ms */
  readonly sleeps: number[] = []

  now (): number { return this.t }

  sleep (ms: number): Promise<void> {
    this.sleeps.push(ms)
    return new Promise(resolve => {
      this.timers.push({ at: this.t + ms, resolve })
      this.timers.sort((a, b) => a.at - b.at)
    })
  }

  /** sleeps pending now */
  pending (): number { return this.timers.length }

  /** moves time forward by ms, waking each sleeper at its time and letting it run */
  async advance (ms: number): Promise<void> {
    const end = this.t + ms
    await settle()
    for (;;) {
      const next = this.timers[0]
      if (!next || next.at > end) break
      this.timers.shift()
      this.t = Math.max(this.t, next.at)
      next.resolve()
      await settle()
    }
    this.t = end
    await settle()
  }

  /** advances in steps until cond() holds or maxMs passed; returns whether it held */
  async runUntil (cond: () => boolean, maxMs: number, stepMs = 10): Promise<boolean> {
    for (let waited = 0; waited <= maxMs; waited += stepMs) {
      if (cond()) return true
      await this.advance(stepMs)
    }
    return cond()
  }
}
