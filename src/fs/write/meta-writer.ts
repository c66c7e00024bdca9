// chmod, chown, utimens and xattrs of a file that is already on the server
// rewrite its metadata with a CopyObject in place. They come in bursts (tar
// and rsync set mode and times one after the other, then often rename), so
// the rewrite waits a moment: changes to the same file merge into one copy,
// a rename right after carries them in its own copy, an unlink drops them, an
// upload of the file carries them (and waits for a copy already sent, so the
// two never race on the server). The caches show the new attributes at once;
// the server has them within `delayMs` (and before unmount). Each copy is
// pinned to the version it was computed from: if another client replaced the
// object meanwhile, the copy fails (ESTALE) instead of stamping our attributes
// on their bytes, and the change is dropped with a warning.
import type { ObjectStore } from '../../s3/store.js'
import { Priority, sameEtag, Urgency } from '../../s3/store.js'
import { errnoOf } from '../../errors.js'
import { log } from '../../util/log.js'
import { DueTimer } from '../../util/due-timer.js'
import type { Entry } from '../entry.js'
import { copyObject } from './copy-object.js'
import { monotonic } from '../../util/clock.js'

export interface PendingMeta {
  entry: Entry
  headers: Record<string, string>
  contentType?: string
}

/** what the writer tells the name cache */
export interface MetaCache {
  /** the entry held for path, fresh or not */
  previous(path: string): Entry | undefined
  /** what we know before the server does */
  noted(path: string, entry: Entry): void
  /** what the server now has */
  changed(path: string, entry: Entry): void
  /** path is not what we thought: ask the server again */
  stale(path: string): void
  /** path's object was copied in place from version `was` to `now` (an open reader of it pins the new one) */
  recopied(path: string, was: string | undefined, now: string): void
}

export class MetaWriter {
  private readonly pending = new Map<string, PendingMeta>()
  /** copies sent and not yet answered */
  private readonly sending = new Map<string, { p: PendingMeta, done: Promise<void>, urgency: Urgency }>()
  /** changes that failed, waiting for their own pause to end */
  private readonly retrying = new Map<string, { p: PendingMeta, attempts: number, nextAt: number }>()
  /** changes given up, with why */
  private readonly given = new Map<string, string>()
  private timer?: NodeJS.Timeout
  /** the retries' own timer: a pause of 60 s never delays a new chmod's second */
  private readonly retries = new DueTimer(async () => {
    const now = monotonic()
    for (const [path, r] of this.retrying) if (r.nextAt <= now && !this.pending.has(path)) this.pending.set(path, r.p)
    await this.flush()
  }, () => Math.min(...[...this.retrying.values()].map(r => r.nextAt)))
  /** copies that failed (for stats) */
  failures = 0

  constructor (
    private readonly store: ObjectStore,
    private readonly cache: MetaCache,
    private readonly delayMs = 1000,
    private readonly maxAttempts = 6,
  ) {}

  schedule (path: string, p: PendingMeta): void {
    this.pending.set(path, p)
    this.given.delete(path)
    this.retrying.delete(path) // a newer change goes instead, with the failed one in it
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush().catch(() => {}) }, this.delayMs)
  }

  /** changes waiting for a retry or given up (for stats) */
  get unsent (): number {
    return this.retrying.size + this.given.size
  }

  /** the pending change of path, removed: the caller's own copy will carry it */
  take (path: string): PendingMeta | undefined {
    const p = this.pending.get(path) ?? this.retrying.get(path)?.p
    this.pending.delete(path)
    this.retrying.delete(path)
    return p
  }

  /**
   * Before a write of path's object that carries its attributes (an upload):
   * the pending change is taken, and a copy already sent has landed.
   */
  async before (path: string): Promise<void> {
    this.take(path)
    this.given.delete(path)
    const s = this.sending.get(path)
    s?.urgency.raise(Priority.Data)
    await s?.done
  }

  has (path: string): boolean {
    return this.pending.has(path) || this.retrying.has(path)
  }

  /** the attributes path will have once what is pending or being sent lands */
  current (path: string): PendingMeta | undefined {
    return this.pending.get(path) ?? this.retrying.get(path)?.p ?? this.sending.get(path)?.p
  }

  /**
   * A listing taken while a change of attributes is on its way shows the
   * object as it was: what we changed shows until the change lands.
   */
  over (path: string, e: Entry): Entry {
    const p = this.current(path)
    if (!p || p.entry.key !== e.key || e.kind !== 'file') return e
    return { ...e, meta: p.entry.meta, metaKnown: true, headers: p.headers, contentType: p.contentType }
  }

  /**
   * Writes the pending changes now. `urgent` (a rename, unmount): at the
   * caller's priority, and the ones failing go again at once; then it fails
   * naming what could not be stored (a retry stays queued).
   */
  async flush (urgent = false): Promise<void> {
    if (urgent) {
      for (const [path, r] of this.retrying) this.pending.set(path, r.p)
      for (const s of this.sending.values()) s.urgency.raise(Priority.Data)
    }
    const all = [...this.pending].filter(([path]) => !this.sending.has(path))
    for (const [path] of all) this.pending.delete(path)
    // an urgent flush also waits for the copies others sent: it promises they all landed
    await Promise.all([...all.map(([path, p]) => this.sendOne(path, p, urgent)), ...(urgent ? [...this.sending.values()].map(s => s.done) : [])])
    // a change that came while its file's previous copy was on the wire goes now, after it
    if (urgent && [...this.pending.keys()].some(path => !this.sending.has(path))) return this.flush(true)
    const notDone = [...this.retrying.keys(), ...this.given.keys()]
    if (urgent && notDone.length) throw new Error(`attributes of ${notDone.length} file(s) not stored: ${notDone.slice(0, 5).join(', ')}`)
  }

  private async sendOne (path: string, p: PendingMeta, urgent: boolean): Promise<void> {
    // bulk work (chmod -R of thousands) must not hold up ls and stat: background,
    // unless someone waits for this copy (an upload of the file, a rename, unmount)
    const urgency = new Urgency(urgent ? Priority.Data : Priority.Background)
    const attempts = this.retrying.get(path)?.attempts ?? 0
    this.retrying.delete(path)
    const done = this.send(path, p, urgency).then(() => {}, err => {
      if (errnoOf(err) === 'ESTALE') {
        log.warn(`${path} was replaced on the server by another client: its attribute change (chmod, chown, touch or xattr) was not applied`)
        this.cache.stale(path)
        return
      }
      this.failed(path, p, attempts + 1, (err as Error).message)
    })
    this.sending.set(path, { p, done, urgency })
    try { await done } finally {
      if (this.sending.get(path)?.p === p) this.sending.delete(path)
      // one copy of a file at a time: a change that came meanwhile goes after this one
      if (this.pending.has(path)) this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush().catch(() => {}) }, 0)
    }
  }

  private failed (path: string, p: PendingMeta, attempts: number, why: string): void {
    this.failures++
    // a newer change of the same file goes instead, with these in it
    if (this.pending.has(path)) return
    if (attempts >= this.maxAttempts) {
      this.given.set(path, why)
      log.error(`could not store the attributes of ${path} after ${attempts} tries (${why}); the server keeps the old ones`)
      this.cache.stale(path)
      return
    }
    if (attempts === 1) log.warn(`could not store the attributes of ${path} (${why}); will try again`)
    const pause = Math.min(60_000, this.delayMs * 2 ** attempts)
    this.retrying.set(path, { p, attempts, nextAt: monotonic() + pause })
    this.retries.arm(pause)
  }

  private async send (path: string, p: PendingMeta, urgency: Urgency): Promise<void> {
    const was = p.entry.etag
    const r = await copyObject(this.store, p.entry.key, p.entry.key, p.entry.size, {
      metadata: p.headers, contentType: p.contentType, urgency, sourceIfMatch: was,
    })
    // a server that ignores the pin (Ceph) still tells: a copy keeps the source's ETag
    if (was && r.etag && !/-\d+"?$/.test(was) && !sameEtag(r.etag, was)) {
      log.warn(`${path} was replaced on the server by another client while its attributes were stored: they now sit on the new content`)
    }
    const landed: Entry = { ...p.entry, etag: r.etag || was, lastModified: r.lastModified ?? r.serverDate ?? p.entry.lastModified }
    if (r.etag) this.cache.recopied(path, was, r.etag)
    // a newer change computed from the version before this copy copies from this one
    const next = this.pending.get(path)
    if (next && next.entry.key === landed.key) next.entry = { ...next.entry, etag: landed.etag }
    const now = this.cache.previous(path)
    if (now?.key !== landed.key) return // removed or renamed meanwhile
    const dated: Entry = { ...now, etag: landed.etag, lastModified: landed.lastModified }
    // a newer change is on its way: its copy will tell the index
    if (this.pending.has(path)) return this.cache.noted(path, dated)
    // what the copy wrote, not what the cache holds: a listing taken while
    // the copy ran may have replaced our entry with one that has no attributes
    this.cache.changed(path, { ...dated, meta: landed.meta, metaKnown: true, headers: landed.headers, contentType: landed.contentType })
  }
}
