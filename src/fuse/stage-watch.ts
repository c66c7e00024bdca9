// Saving before an unmount can take minutes (large uploads, retries behind the
// rate limit), and silence then looks like a hang. While a stage runs, this
// says every so often what it still waits for, so a user, or a failed test's
// log, sees why.
import { log } from '../util/log.js'

export function watchStage<T> (stage: string, work: Promise<T>, waitingOn: () => string, everyMs = 15_000): Promise<T> {
  const started = Date.now()
  const timer = setInterval(() => {
    log.warn(`${stage}: still waiting after ${Math.round((Date.now() - started) / 1000)} s: ${waitingOn()}`)
  }, everyMs)
  return work.finally(() => clearInterval(timer))
}
