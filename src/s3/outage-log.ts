// An outage is told twice in the log, whatever the number of requests it
// holds up: its first failure at once (a warning: the user learns why calls
// stall while they still stall), and its end (how long it lasted, how many
// requests were retried through it). The retries in between are debug lines.
// A server that fails now and then (a 500 in a hundred) would make every
// failure an outage of its own: one that begins within `quietMs` of the last
// one's end is logged at debug until it has lasted `briefMs`.
import type { Clock } from './rate-limiter.js'
import type { S3Error } from './errors.js'
import { log } from '../util/log.js'

interface Outage {
  since: number
  /** requests that failed in it (each counted once) */
  requests: number
  counted: WeakSet<object>
  announced: boolean
}

export class OutageLog {
  private down?: Outage
  private lastEnd = -Infinity

  constructor (
    /** what the lines call the server: its endpoint */
    private readonly server: string,
    private readonly clock: Clock,
    /** how long the retries go on, for the first line */
    private readonly patience: string,
    private readonly quietMs = 60_000,
    private readonly briefMs = 5_000,
  ) {}

  /** a request (`request`: its identity, to count it once) failed the way an outage does */
  failed (e: S3Error, request: object): void {
    const now = this.clock.now()
    if (!this.down) {
      const announced = now - this.lastEnd >= this.quietMs
      this.down = { since: now, requests: 0, counted: new WeakSet(), announced }
      const line = `${this.server}: ${e.message.replace(/^E[A-Z0-9]+: /, '')}; retrying ${this.patience} (the next line says when it answers again)`
      if (announced) log.warn(line)
      else log.debug(line)
    } else if (!this.down.announced && now - this.down.since >= this.briefMs) {
      // a flap that turned into an outage: told now
      this.down.announced = true
      log.warn(`${this.server}: failing for ${((now - this.down.since) / 1000).toFixed(1)} s: ${e.message.replace(/^E[A-Z0-9]+: /, '')}; retrying ${this.patience}`)
    } else {
      log.debug(`${e.message.replace(/^E[A-Z0-9]+: /, '')}: retrying`)
    }
    if (!this.down.counted.has(request)) {
      this.down.counted.add(request)
      this.down.requests++
    }
  }

  /** a request succeeded: the server is there */
  succeeded (): void {
    const d = this.down
    if (!d) return
    this.down = undefined
    const now = this.clock.now()
    this.lastEnd = now
    const line = `${this.server} reachable again after ${((now - d.since) / 1000).toFixed(1)} s, ${d.requests} request(s) retried`
    if (d.announced || now - d.since >= this.briefMs) log.warn(line)
    else log.debug(line)
  }
}
