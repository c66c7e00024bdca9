// Deletes go out in batches: `rm -r` unlinks one name at a time, and one
// DeleteObjects of up to 1,000 keys costs what a single DeleteObject does.
// An unlink is answered at once (the caches already show the name gone); its
// key waits for company while more unlinks keep coming (a quiet moment, a
// full batch, or at most maxWaitMs), and an rmdir, rename or unmount sends it.
// Anything that writes a key first takes it out of the batch (or waits for the
// batch in flight), so a file created again under a deleted name is never
// deleted by a late batch, nor by the retry of a failed one.
//
// A key whose delete fails (after the queue's own retries) is tried again
// after a pause of its own that doubles each time, in a batch with the others
// due: an outage costs a request per batch and pause, not one per key. After
// `maxAttempts` it is given up: `lost` is told (the namespace then shows the
// name again, since the server still has it), and unmount tries it once more
// and reports it if it still fails.
import type { ObjectStore } from '../../s3/store.js'
import { Priority } from '../../s3/store.js'
import { FsError } from '../../errors.js'
import { log } from '../../util/log.js'
import { DueTimer } from '../../util/due-timer.js'
import { monotonic } from '../../util/clock.js'

const BATCH = 1000
/**
 * Landed deletes are remembered LANDED_MS (a listing never answers later than
 * that after it was asked); past LANDED_MAX (an rm -r of a million files, about
 * 100 bytes each) the oldest go first anyway: memory stays bounded.
 */
const LANDED_MS = 10 * 60_000
const LANDED_MAX = 200_000

export interface DeleteBatcherOptions {
  quietMs?: number
  maxWaitMs?: number
  /** first pause before a failed key goes again; doubles each time */
  retryMs?: number
  maxAttempts?: number
  /** a key given up: the server still has it */
  lost?: (key: string, why: string) => void
  /** the clock `deletedSince` compares with (the namespace's: tests move it) */
  now?: () => number
}

interface Failing {
  attempts: number
  why: string
  /** when it may go again (ms) */
  nextAt: number
}

export class DeleteBatcher {
  private pending = new Set<string>()
  private readonly inflight = new Map<string, Promise<void>>()
  private readonly failing = new Map<string, Failing>()
  /** keys given up, with why */
  private readonly given = new Map<string, string>()
  /** bumped by every delete() and before() of a key: a batch's outcome counts only for the turn it was sent in */
  private readonly turns = new Map<string, number>()
  /**
   * When each recent delete landed: a listing asked for before that may still
   * show the key (it answers for the moment it was asked), so it is hidden from
   * listings older than this. Kept a while, then let go.
   */
  private readonly landed = new Map<string, number>()
  private timer?: NodeJS.Timeout
  /** sends the keys whose pause is over, then comes back for the rest */
  private readonly retries = new DueTimer(() => this.send(), () => Math.min(...[...this.failing.values()].map(f => f.nextAt)))
  private firstPendingAt = 0
  /** deletes that failed, counted once per key and attempt (for stats) */
  failures = 0
  private readonly quietMs: number
  private readonly maxWaitMs: number
  private readonly retryMs: number
  private readonly maxAttempts: number

  constructor (private readonly store: ObjectStore, private readonly opts: DeleteBatcherOptions = {}) {
    this.quietMs = opts.quietMs ?? 200
    this.maxWaitMs = opts.maxWaitMs ?? 2000
    this.retryMs = opts.retryMs ?? 2000
    this.maxAttempts = opts.maxAttempts ?? 6
  }

  private turn (key: string): number {
    const t = (this.turns.get(key) ?? 0) + 1
    this.turns.set(key, t)
    return t
  }

  delete (key: string): void {
    this.turn(key)
    this.landed.delete(key)
    this.given.delete(key)
    if (this.pending.size === 0) this.firstPendingAt = monotonic()
    this.pending.add(key)
    if (this.pending.size >= BATCH) { void this.send().catch(() => {}); return }
    // rm -r unlinks one name after another: wait until it pauses, but not for ever
    if (this.timer) clearTimeout(this.timer)
    const wait = Math.min(this.quietMs, Math.max(0, this.firstPendingAt + this.maxWaitMs - monotonic()))
    this.timer = setTimeout(() => { void this.send().catch(() => {}) }, wait)
  }

  /** call before writing `key`: it must not be deleted after the write */
  async before (key: string): Promise<void> {
    this.turn(key)
    this.pending.delete(key)
    this.failing.delete(key)
    this.given.delete(key)
    this.landed.delete(key)
    await this.inflight.get(key)
  }

  /**
   * Whether a listing asked for at `at` (on opts.now's clock) must not show
   * `key`: its delete is still to be sent, on its way, failing and to be tried
   * again, or it landed after `at`. A key given up is shown (the server has it).
   */
  deletedSince (key: string, at: number): boolean {
    if (this.pending.has(key) || this.inflight.has(key) || this.failing.has(key)) return true
    const t = this.landed.get(key)
    return t !== undefined && t >= at
  }

  /** true if the key is deleted or about to be */
  has (key: string): boolean {
    return this.pending.has(key) || this.inflight.has(key)
  }

  /**
   * Whether a key under prefix is being deleted here or was, within the last
   * minutes (LANDED_MS): a directory with no key left was emptied by us, not
   * removed by someone else.
   */
  deletedUnder (prefix: string): boolean {
    for (const keys of [this.pending, this.inflight.keys(), this.failing.keys(), this.landed.keys()]) {
      for (const k of keys) if (k.startsWith(prefix)) return true
    }
    return false
  }

  /** keys waiting for a retry or given up (for stats) */
  get unsent (): number {
    return this.failing.size + this.given.size
  }

  /**
   * Sends everything pending and waits for every batch in flight. Fails with
   * EIO naming the keys in `scope` (an rmdir's children, a rename's keys; all,
   * without one) that are not deleted; those stay queued. With no scope (the
   * unmount), every key that failed before goes again now, given up or not.
   */
  async flush (scope?: (key: string) => boolean): Promise<void> {
    if (!scope) {
      for (const k of this.given.keys()) { this.failing.set(k, { attempts: this.maxAttempts - 1, why: this.given.get(k)!, nextAt: 0 }); this.given.delete(k) }
      for (const f of this.failing.values()) f.nextAt = 0
    }
    await this.send()
    const inScope = ([k]: [string, unknown]): boolean => !scope || scope(k)
    const notDone = [...[...this.failing].filter(inScope).map(([k, f]) => `${k} (${f.why})`), ...[...this.given].filter(inScope).map(([k, w]) => `${k} (${w})`)]
    if (notDone.length) {
      throw new FsError('EIO', `${notDone.length} delete(s) did not reach the server: ${notDone.slice(0, 5).join(', ')}${notDone.length > 5 ? ', ...' : ''}`)
    }
  }

  private async send (): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined }
    // keys whose pause is over go along with the new ones
    const now = monotonic()
    for (const [k, f] of this.failing) if (f.nextAt <= now) this.pending.add(k)
    const keys = [...this.pending]
    this.pending = new Set()
    const sends: Promise<void>[] = []
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH)
      const p = this.sendBatch(batch)
      for (const k of batch) this.inflight.set(k, p)
      sends.push(p.finally(() => { for (const k of batch) if (this.inflight.get(k) === p) this.inflight.delete(k) }))
    }
    await Promise.all([...sends, ...this.inflight.values()])
  }

  private async sendBatch (keys: string[]): Promise<void> {
    const turns = new Map(keys.map(k => [k, this.turns.get(k) ?? 0]))
    // XML cannot carry control characters: such keys go one by one
    const plain = keys.filter(k => !/[\u0000-\u001f]/.test(k))
    const odd = keys.filter(k => /[\u0000-\u001f]/.test(k))
    const failed = new Map<string, string>()
    const singles = plain.length === 1 ? [...odd, plain[0]!] : odd
    await Promise.all([
      plain.length > 1
        ? this.store.deleteMany(plain, { priority: Priority.Data }).then(
          r => { for (const f of r.failed) failed.set(f.key, f.code) },
          err => { for (const k of plain) failed.set(k, (err as Error).message) })
        : Promise.resolve(),
      ...singles.map(k => this.store.delete(k, { priority: Priority.Data }).catch(err => { failed.set(k, (err as Error).message) })),
    ])
    for (const k of keys) {
      // written again (or deleted again) since this batch left: its outcome is not this key's any more
      if (this.turns.get(k) !== turns.get(k)) continue
      const why = failed.get(k)
      if (why === undefined) { this.failing.delete(k); this.noteLanded(k) } else this.failed(k, why)
    }
  }

  private noteLanded (key: string): void {
    const now = (this.opts.now ?? monotonic)()
    this.landed.delete(key) // newest last: the oldest go first
    this.landed.set(key, now)
    for (const [k, t] of this.landed) {
      if (now - t < LANDED_MS && this.landed.size <= LANDED_MAX) break
      this.landed.delete(k)
    }
  }

  private failed (key: string, why: string): void {
    this.failures++
    const attempts = (this.failing.get(key)?.attempts ?? 0) + 1
    if (attempts >= this.maxAttempts) {
      this.failing.delete(key)
      this.given.set(key, why)
      log.error(`could not delete ${key} after ${attempts} tries (${why}): the server still has it`)
      this.opts.lost?.(key, why)
      return
    }
    if (attempts === 1) log.warn(`could not delete ${key} (${why}); will try again`)
    const pause = Math.min(60_000, this.retryMs * 2 ** (attempts - 1))
    this.failing.set(key, { attempts, why, nextAt: monotonic() + pause })
    this.retries.arm(pause)
  }
}
