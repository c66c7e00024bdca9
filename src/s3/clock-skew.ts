// The server's time, as its answers tell it. A signature carries its time
// (x-amz-date for V4, Date for V2, Expires for a presigned URL) and S3 refuses
// one more than 15 minutes off its own clock (RequestTimeTooSkewed, 403). A
// machine whose clock is wrong (no NTP, a VM resumed, a dead RTC battery)
// would fail every request, so every answer's Date header is compared with
// this machine's clock, and every signature uses the server's time instead.
//
// A Date header has whole seconds and was stamped somewhere between our
// request leaving and its answer arriving: the true offset lies in
// [Date - received, Date + 1 s - sent]. The offset kept moves only when an
// answer shows it outside that range, and then only to the range's nearest
// end: it does not jitter by a second, and it closes in on the true offset.
//
// The offset is against wall time (Date.now()), as a signature's time is a
// date: a step of the wall clock shows in the next answer and is corrected then.
import type { S3Client } from '@aws-sdk/client-s3'
import { log } from '../util/log.js'

/** an offset at least this large is reported (a log line) */
const REPORT_MS = 30_000
/** an answer that took longer says little about when it was dated */
const MAX_ROUND_TRIP_MS = 5 * 60_000

export class ServerClock {
  /** server time minus this machine's wall time, ms */
  offsetMs = 0
  /** the offset last reported, 0 while the clocks agree */
  private reported = 0

  constructor (private readonly wall: () => number = Date.now) {}

  /** the server's time now, as well as its answers tell it */
  nowMs (): number { return this.wall() + this.offsetMs }
  now (): Date { return new Date(this.nowMs()) }

  /** an answer dated `date` (its Date header) came to a request that left at `sentAt` (wall ms) */
  observe (date: string, sentAt: number, receivedAt = this.wall()): void {
    const stamped = Date.parse(date)
    if (Number.isNaN(stamped) || receivedAt < sentAt || receivedAt - sentAt > MAX_ROUND_TRIP_MS) return
    const lo = stamped - receivedAt
    const hi = stamped + 1000 - sentAt
    if (this.offsetMs >= lo && this.offsetMs <= hi) return
    this.offsetMs = this.offsetMs < lo ? lo : hi
    this.report()
  }

  private report (): void {
    const off = this.offsetMs
    if (Math.abs(off) >= REPORT_MS && (this.reported === 0 || Math.abs(off - this.reported) >= REPORT_MS)) {
      this.reported = off
      log.warn(`the machine's clock is ${duration(Math.abs(off))} ${off > 0 ? 'behind' : 'ahead of'} the server's; signing with the server's time`)
    } else if (Math.abs(off) < REPORT_MS && this.reported !== 0) {
      this.reported = 0
      log.warn('the machine\'s clock agrees with the server\'s again')
    }
  }
}

/** "15 min 3 s", "2 h 5 min", "40 s" */
export function duration (ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor(s / 60) % 60} min`
}

/**
 * Every answer the client gets, whatever its status, dates `clock`; the SDK's
 * V4 signer then signs with it (its systemClockOffset, which it also corrects
 * by itself in this SDK version: ours is set anyway, so a retry is signed with
 * the corrected time whatever the SDK does).
 */
export function followServerClock (client: S3Client, clock: ServerClock): void {
  const config = client.config as { systemClockOffset?: number }
  config.systemClockOffset = clock.offsetMs
  client.middlewareStack.add(next => async args => {
    const sentAt = Date.now()
    // below the deserializer: the raw answer, a 403 as much as a 200
    const result = await next(args)
    const date = (result.response as { headers?: Record<string, string> })?.headers?.date
    if (date) {
      clock.observe(date, sentAt)
      config.systemClockOffset = clock.offsetMs
    }
    return result
  }, { step: 'deserialize', priority: 'low', name: 'oortfsServerClock' })
}
