// Saving before an unmount can take minutes (large uploads, retries behind the
// rate limit), and silence then looks like a hang. While a stage runs, this
// says every so often what it still waits for, so a user, or a failed test's
// log, sees why.
import { log } from '../util/log.js'
import { monotonic } from '../util/clock.js'

/** `tell` also gets each line (an `oortfs unmount` waiting on the control socket) */
export function watchStage<T> (stage: string, work: Promise<T>, waitingOn: () => string, tell?: (line: string) => void, everyMs = 15_000): Promise<T> {
  const started = monotonic()
  const timer = setInterval(() => {
    const line = `${stage}: still waiting after ${Math.round((monotonic() - started) / 1000)} s: ${waitingOn()}`
    log.warn(line)
    tell?.(line)
  }, everyMs)
  return work.finally(() => clearInterval(timer))
}
