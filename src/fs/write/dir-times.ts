// A directory's times (POSIX): creating, removing or renaming an entry in it
// sets its mtime and ctime to now; renaming the directory itself sets its
// ctime. They show at once (getattr asks over()) and are stored soon on the
// directory's own marker object `dir/` as s3fs stores them (x-amz-meta-mtime,
// -ctime), PUT whole (a marker is empty), which makes a marker for a directory
// that had none, as s3fs does. The namespace is then told, so the parent's
// attribute index records them and `ls -l` of the parent needs no HEAD.
// Why the marker and not only the parent's index: the index is a cache that
// may be damaged or lost (its directory's entries are then HEADed, and the
// marker answers), and s3fs and other tools read the marker, never our index.
//
// Batched: `tar x` of 500 files into one directory changes it 500 times in a
// few seconds. A directory is written once its entries have been quiet for
// QUIET_MS, or at the latest MAX_WAIT_MS after its first unsaved change: one
// PUT per directory per burst (plus one write of the parent's index, which
// debounces itself). Unmount writes what is pending (flush).
//
// The mount root has no parent and, in a bucket-root mount, no marker key:
// its attributes (mode, owner and times chmod/chown/touch set, and the times
// its entries move) live on a hidden empty object `..oortfs-attrs` there, a
// name no directory's index can have (no directory is called `.`), hidden
// and reserved like every `*.oortfs-attrs` key. A `bucket:/prefix` mount keeps
// them on the prefix's own marker `prefix/`.
import type { ObjectStore } from '../../s3/store.js'
import { Priority } from '../../s3/store.js'
import { log } from '../../util/log.js'
import { monotonic } from '../../util/clock.js'
import type { Entry } from '../entry.js'
import { decodeMeta, encodeMeta, foreignHeaders, METADATA_MAX_BYTES, metadataBytes, type Meta } from '../metadata.js'
import { INDEX_SUFFIX, type Names } from '../names.js'

/** quiet this long, a directory's times are written */
export const QUIET_MS = 1000
/** and never later than this after their first unsaved change */
export const MAX_WAIT_MS = 5000
const MAX_ATTEMPTS = 6

/** new times of a directory; mtime undefined: as it is (a rename of the directory itself) */
export interface DirStamp {
  mtimeMs?: number
  ctimeMs: number
}

interface Pending extends DirStamp {
  /** monotonic ms: the first unsaved change, and the last one */
  firstAt: number
  lastAt: number
  attempts: number
}

/** the mount root's attributes as the server has them */
interface Stored {
  meta: Meta
  headers: Record<string, string>
  /** the mtime shown before any was stored (a directory's marker date, or the mount's start) */
  shownMtimeMs: number
}

export interface DirTimesHost {
  store: ObjectStore
  names: Names
  /** wall time (ms): the dates */
  now(): number
  /**
   * rewrites a directory's (not the root's) attributes on the object that
   * holds them (its marker, made if none; another tool's directory object),
   * from what the server has, and tells the namespace; `change` answers
   * undefined for nothing to store. False: the directory is gone.
   */
  storeDir(dir: string, change: (m: Meta, e: Entry) => Meta | undefined, checkGone: boolean): Promise<boolean>
  /** a delete of key still queued lands first */
  deletesBefore(key: string): Promise<void>
  /** the mode of a directory without a stored one */
  dirMode: number
  /** the mtime an entry shows when none is stored */
  shownMtime(e: Entry): number
  readOnly?: boolean
}

export class DirTimes {
  private readonly pending = new Map<string, Pending>()
  private readonly sending = new Map<string, DirStamp>()
  /** one write of a directory at a time: a chmod and a batch never race on its marker */
  private readonly chains = new Map<string, Promise<void>>()
  /** directories whose marker we made or rewrote (a listing cached before does not show it: rmdir must delete it) */
  private readonly markers = new Set<string>()
  private root?: Stored
  private rootLoading?: Promise<Stored>
  private timer?: NodeJS.Timeout
  /** when the timer fires (monotonic ms) */
  private timerAt = Infinity
  /** writes that failed (for stats) */
  failures = 0

  constructor (private readonly host: DirTimesHost) {}

  /** the key holding a directory's attributes */
  keyOf (dir: string): string {
    if (dir !== '/') return this.host.names.dirPrefix(dir)
    return this.host.names.prefix || '.' + INDEX_SUFFIX
  }

  /** an entry was created, removed or renamed in dir */
  entryChanged (dir: string): void {
    const now = this.host.now()
    this.set(dir, { mtimeMs: now, ctimeMs: now })
  }

  /** dir itself was renamed (to this name): its ctime moves, its mtime stays */
  renamed (dir: string): void {
    this.set(dir, { ctimeMs: this.host.now() })
  }

  private set (dir: string, stamp: DirStamp): void {
    if (this.host.readOnly) return
    const p = this.pending.get(dir)
    const at = monotonic()
    this.pending.set(dir, {
      mtimeMs: stamp.mtimeMs ?? p?.mtimeMs ?? this.sending.get(dir)?.mtimeMs,
      ctimeMs: stamp.ctimeMs, firstAt: p?.firstAt ?? at, lastAt: at, attempts: p?.attempts ?? 0,
    })
    this.wake(at + QUIET_MS)
  }

  /** the timer fires by `at` (monotonic ms); one armed earlier stays */
  private wake (at: number): void {
    if (this.timer && this.timerAt <= at) return
    if (this.timer) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = Infinity
      void this.writeDue().catch(() => {})
    }, Math.max(0, at - monotonic()))
    // unmount flushes what is left: never keeps a process alive
    this.timer.unref()
  }

  private dueAt (p: Pending): number {
    return Math.min(p.lastAt + QUIET_MS, p.firstAt + MAX_WAIT_MS)
  }

  private async writeDue (): Promise<void> {
    const now = monotonic()
    const due = [...this.pending].filter(([, p]) => this.dueAt(p) <= now + 5).map(([d]) => d)
    const next = Math.min(...[...this.pending.values()].filter(p => this.dueAt(p) > now + 5).map(p => this.dueAt(p)))
    if (Number.isFinite(next)) this.wake(next)
    await Promise.all(due.map(d => this.send(d, false)))
  }

  /**
   * Whether dir has times still to be written: it exists, whatever a listing
   * shows meanwhile (an rm of its last file, whose delete goes out before its
   * marker is made, leaves an implied directory no key at all for a moment).
   */
  keeps (dir: string): boolean {
    // and so does every directory above it (a path walk must reach it)
    for (const d of this.kept()) if (d === dir || d.startsWith(dir + '/')) return true
    return false
  }

  /** names directly in dir of the directories kept (see keeps), or above one: readdir shows them, rmdir refuses */
  keptIn (dir: string): string[] {
    const out = new Set<string>()
    const below = dir === '/' ? '/' : dir + '/'
    for (const d of this.kept()) {
      if (d === '/' || !d.startsWith(below)) continue
      out.add(d.slice(below.length).split('/')[0]!)
    }
    return [...out]
  }

  private kept (): Iterable<string> {
    return new Set([...this.pending.keys(), ...this.sending.keys()])
  }

  /** the times path shows before the server has them */
  over (dir: string, e: Entry): Entry {
    const s = this.pending.get(dir) ?? this.sending.get(dir)
    if (!s) return e
    const meta: Meta = { ...e.meta, ctimeMs: s.ctimeMs }
    if (s.mtimeMs !== undefined) meta.mtimeMs = s.mtimeMs
    return { ...e, meta }
  }

  /** the mount root's entry: its stored attributes (read once) and what moved since */
  async rootEntry (): Promise<Entry> {
    const e: Entry = { kind: 'dir', key: this.host.names.prefix, size: 0 }
    try {
      const r = await this.rootStored()
      return this.over('/', { ...e, meta: r.meta, metaKnown: true, headers: r.headers })
    } catch (err) {
      log.warn(`the mount root's attributes could not be read (${(err as Error).message}); showing the defaults for now`)
      return this.over('/', e)
    }
  }

  private rootStored (): Promise<Stored> {
    if (this.root) return Promise.resolve(this.root)
    this.rootLoading ??= this.host.store.head(this.keyOf('/'), { priority: Priority.Metadata })
      .then(h => (this.root = { meta: h ? decodeMeta(h.metadata) : {}, headers: h?.metadata ?? {}, shownMtimeMs: this.host.shownMtime({ kind: 'dir', key: '', size: 0 }) }))
      .finally(() => { this.rootLoading = undefined })
    return this.rootLoading
  }

  /**
   * Rewrites dir's attributes with `change` applied to what the server holds:
   * the root's own object here, any other directory's through the host
   * (whose object may be another tool's: it keeps that one's headers and form).
   */
  /** checkGone: a batched write of times, seconds after the change, asks first whether the directory is still there */
  private async write (dir: string, change: (m: Meta, shownMtimeMs: number) => Meta | undefined, urgent: boolean, checkGone = false): Promise<void> {
    if (dir !== '/') {
      let wrote = false
      await this.host.storeDir(dir, (m, e) => {
        const meta = change(m, this.host.shownMtime(e))
        wrote = !!meta
        return meta
      }, checkGone)
      if (wrote) this.markers.add(dir)
      return
    }
    const base = await this.rootStored()
    const meta = change({ ...base.meta, mode: base.meta.mode ?? this.host.dirMode }, base.shownMtimeMs)
    if (meta) await this.putRoot(base, meta, urgent)
  }

  /** one write of dir at a time, in order */
  private serial<T> (dir: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.chains.get(dir) ?? Promise.resolve()).then(fn)
    const tail = run.then(() => {}, () => {})
    this.chains.set(dir, tail)
    void tail.then(() => { if (this.chains.get(dir) === tail) this.chains.delete(dir) })
    return run
  }

  /**
   * chmod, chown, utimens of a directory (or the root): the change, with the
   * times still pending, in one write now. `change` answers undefined when
   * there is nothing to store. `shownMtimeMs`: the mtime it shows when none is stored.
   */
  async store (dir: string, change: (m: Meta, shownMtimeMs: number) => Meta | undefined): Promise<void> {
    await this.serial(dir, async () => {
      const p = this.pending.get(dir)
      await this.write(dir, (m, shown) => {
        const current: Meta = p ? { ...m, ctimeMs: p.ctimeMs, mtimeMs: p.mtimeMs ?? m.mtimeMs } : m
        const meta = change(current, shown)
        // what was pending goes in this write
        if (meta && this.pending.get(dir) === p) this.pending.delete(dir)
        return meta
      }, true)
    })
  }

  private async send (dir: string, urgent: boolean): Promise<void> {
    await this.serial(dir, async () => {
      const p = this.pending.get(dir)
      if (!p) return
      this.pending.delete(dir)
      this.sending.set(dir, p)
      try {
        await this.write(dir, (m, shown) => ({ ...m, mtimeMs: p.mtimeMs ?? m.mtimeMs ?? shown, ctimeMs: p.ctimeMs }), urgent, true)
      } catch (err) {
        this.failed(dir, p, (err as Error).message)
        if (urgent) throw err
      } finally {
        this.sending.delete(dir)
      }
    })
  }

  private async putRoot (base: Stored, meta: Meta, urgent: boolean): Promise<void> {
    const key = this.keyOf('/')
    const headers = { ...foreignHeaders(base.headers), ...encodeMeta(meta) }
    if (metadataBytes(headers) > METADATA_MAX_BYTES) {
      log.warn(`the mount root's attributes were not stored: they would exceed S3's ${METADATA_MAX_BYTES} bytes of metadata`)
      return
    }
    await this.host.deletesBefore(key)
    await this.host.store.put(key, Buffer.alloc(0), { metadata: headers, priority: urgent ? Priority.Metadata : Priority.Background })
    this.root = { ...base, meta, headers }
  }

  private failed (dir: string, p: Pending, why: string): void {
    this.failures++
    if (this.pending.has(dir)) return // a newer change goes instead, with these times in it
    if (p.attempts + 1 >= MAX_ATTEMPTS) {
      log.error(`could not store the times of ${dir} after ${p.attempts + 1} tries (${why})`)
      return
    }
    if (p.attempts === 0) log.warn(`could not store the times of ${dir} (${why}); will try again`)
    const pause = Math.min(60_000, QUIET_MS * 2 ** (p.attempts + 1))
    const at = monotonic() + pause
    this.pending.set(dir, { ...p, attempts: p.attempts + 1, firstAt: at, lastAt: at })
    this.wake(at + QUIET_MS)
  }

  /** writes everything pending now (unmount); fails naming the directories not stored */
  async flush (): Promise<void> {
    const failed: string[] = []
    while (this.pending.size > 0) {
      const dirs = [...this.pending.keys()]
      await Promise.all(dirs.map(d => this.send(d, true).catch(() => { failed.push(d) })))
      if (failed.length) break
    }
    await Promise.all([...this.chains.values()])
    if (failed.length) throw new Error(`times of ${failed.length} director(ies) not stored: ${failed.slice(0, 5).join(', ')}`)
  }

  /**
   * rmdir of dir: what is pending of it goes with it, a write on its way
   * lands first. True if we wrote its marker (the caller deletes it).
   */
  async removed (dir: string): Promise<boolean> {
    for (const d of this.under(dir)) this.pending.delete(d)
    await this.chains.get(dir)
    const made = this.markers.has(dir)
    this.markers.delete(dir)
    return made
  }

  /**
   * A directory rename: writes under `from` land first (the rename's listing
   * must see the marker they make), and what is pending follows the tree to
   * its new name; the directory itself gets its new ctime.
   */
  async moveTree (from: string, to: string, move: () => Promise<void>): Promise<void> {
    const dirs = this.under(from)
    const carried = new Map<string, Pending>()
    for (const d of dirs) {
      const p = this.pending.get(d)
      if (p) { carried.set(d, p); this.pending.delete(d) }
    }
    await Promise.all(dirs.map(d => this.chains.get(d)))
    try {
      await move()
    } catch (err) {
      for (const [d, p] of carried) if (!this.pending.has(d)) this.pending.set(d, p)
      if (carried.size) this.wake(monotonic() + QUIET_MS)
      throw err
    }
    for (const d of dirs) this.markers.delete(d)
    for (const [d, p] of carried) this.pending.set(to + d.slice(from.length), p)
    this.renamed(to)
  }

  private under (dir: string): string[] {
    const all = new Set([...this.pending.keys(), ...this.chains.keys(), ...this.markers])
    return [...all].filter(d => d === dir || d.startsWith(dir + '/'))
  }
}
