// One timer for work that comes due at different times (retries, each after
// a pause of its own): it fires at the earliest due time, runs the work, and
// arms itself again for whatever is still waiting. Unref'd: it never keeps a
// process alive (an unmount flushes what is left). Due times are on the
// monotonic clock (util/clock.ts), as `next` gives them.
import { monotonic } from './clock.js'
export class DueTimer {
  private timer?: NodeJS.Timeout

  /** `run` does what is due; `next` says when the earliest still waiting is due (Infinity: nothing) */
  constructor (private readonly run: () => Promise<void>, private readonly next: () => number) {}

  arm (inMs: number): void {
    if (this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.run().catch(() => {}).finally(() => {
        const at = this.next()
        if (Number.isFinite(at)) this.arm(Math.max(10, at - monotonic()))
      })
    }, inMs)
    this.timer.unref()
  }
}
