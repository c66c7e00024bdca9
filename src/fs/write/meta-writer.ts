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
import type { Entry } from '../entry.js'
import { copyObject } from './copy-object.js'

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
  /** tries so far of a change that keeps failing */
  private readonly attempts = new Map<string, number>()
  /** changes given up, with why */
  private readonly given = new Map<string, string>()
  private timer?: NodeJS.Timeout
  /** copies that failed (for stats) */
  failures = 0

  constructor (
    private readonly store: ObjectStore,
    private readonly cache: MetaCache,
    private readonly delayMs = 1000,
    private readonly maxAttempts = 6,
  ) {}

  schedule (path: string, p: PendingMeta, delay = this.delayMs): void {
    this.pending.set(path, p)
    this.given.delete(path)
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush().catch(() => {}) }, delay)
  }

  /** changes waiting for a retry or given up (for stats) */
  get unsent (): number {
    return this.attempts.size + this.given.size
  }

  /** the pending change of path, removed: the caller's own copy will carry it */
  take (path: string): PendingMeta | undefined {
    const p = this.pending.get(path)
    this.pending.delete(path)
    this.attempts.delete(path)
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
    return this.pending.has(path)
  }

  /** the attributes path will have once what is pending or being sent lands */
  current (path: string): PendingMeta | undefined {
    return this.pending.get(path) ?? this.sending.get(path)?.p
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

  /** writes every pending change now; fails naming what could not be stored (a retry stays queued) */
  async flush (): Promise<void> {
    const all = [...this.pending]
    this.pending.clear()
    await Promise.all(all.map(async ([path, p]) => {
      // bulk work (chmod -R of thousands) must not hold up ls and stat: background,
      // unless someone waits for this copy (an upload of the file, a rename)
      const urgency = new Urgency(Priority.Background)
      const done = this.send(path, p, urgency).then(() => { this.attempts.delete(path) }, err => {
        if (errnoOf(err) === 'ESTALE') {
          this.attempts.delete(path)
          log.warn(`${path} was replaced on the server by another client: its attribute change (chmod, chown, touch or xattr) was not applied`)
          this.cache.stale(path)
          return
        }
        this.failed(path, p, (err as Error).message)
      })
      this.sending.set(path, { p, done, urgency })
      try { await done } finally { if (this.sending.get(path)?.p === p) this.sending.delete(path) }
    }))
    const notDone = [...this.attempts.keys(), ...this.given.keys()]
    if (notDone.length) throw new Error(`attributes of ${notDone.length} file(s) not stored: ${notDone.slice(0, 5).join(', ')}`)
  }

  private failed (path: string, p: PendingMeta, why: string): void {
    this.failures++
    const attempts = (this.attempts.get(path) ?? 0) + 1
    // a newer change of the same file goes instead, with these in it
    if (this.pending.has(path)) { this.attempts.set(path, attempts); return }
    if (attempts >= this.maxAttempts) {
      this.given.set(path, why)
      log.error(`could not store the attributes of ${path} after ${attempts} tries (${why}); the server keeps the old ones`)
      this.cache.stale(path)
      return
    }
    if (attempts === 1) log.warn(`could not store the attributes of ${path} (${why}); will try again`)
    this.schedule(path, p, Math.min(60_000, this.delayMs * 2 ** attempts))
    this.attempts.set(path, attempts)
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
