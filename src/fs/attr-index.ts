// The per-directory attribute index: `ls -l` from one listing even where modes,
// owners, mtimes and symlinks differ from the mount's defaults. A listing has
// no user metadata, so each directory whose entries need some keeps one small
// hidden object (.oortfs-attrs) recording them, each record tied to the
// object's ETag, size and LastModified. The objects' own x-amz-meta-* stay the
// truth; this is a cache of it, trusted only where it provably still matches:
//   - a record that matches the listed object: its attributes;
//   - a record that does not match: a HEAD of that one object;
//   - no record, object not newer than the index: the defaults (whoever wrote
//     the index knew it, and it needed none);
//   - no record, object newer than the index: a HEAD (another tool made it);
//   - no index, a zero-byte object: a HEAD (it may be another tool's
//     directory object, which a listing cannot tell from an empty file).
// Extended attributes (ACLs included) are recorded too, names and values, so
// the getxattr `ls -l` makes of every file costs nothing: in an index that
// says it records them (`x: 1`), a record without any, or no record, means
// none. An index an earlier oortfs wrote does not say so (it recorded none,
// and gave no record to a file whose only attribute was a `user.` one): its
// files' attributes stay unknown (xattr-ops.ts).
// The listing shows whether the index exists, so it costs at most one GET per
// directory listed. Writes are debounced and rewrite the whole (small) object,
// merged with what the server holds just before (another mount's records
// survive; only the names changed here are ours to set).
//
// It is a cache, never the only copy: an index that cannot be read (a 503
// burst) or parsed is not an empty one. Its directory's files are then HEADed,
// each one's own metadata being the truth, so nothing shows the mount's
// defaults for want of a record, and an index written after is whole again.
import type { ObjectStore } from '../s3/store.js'
import { Priority } from '../s3/store.js'
import { log } from '../util/log.js'
import { sameObject, type Entry, type ParsedPage } from './entry.js'
import { decodeMeta, S_IFMT, S_IFLNK, type Meta } from './metadata.js'
import { exactNs, finerThanMs, formatNs, nsOfMs, parseNs, timeNs } from './exact-time.js'
import type { MetaSource } from './namespace.js'
import { INDEX_SUFFIX, keyFits, SHADOWED_FILE_SUFFIX } from './names.js'
import { isDirObject } from './dir-objects.js'
import { monotonic } from '../util/clock.js'

/** one record: the object it describes, and its attributes */
interface IndexRecord {
  /** ETag, size, LastModified (ms) of the object; absent for directories */
  e?: string
  s?: number
  t?: number
  /** mode, uid, gid, mtime (ms), symlink target, device number (special-files.ts) */
  m?: number
  u?: number
  g?: number
  mt?: number
  l?: string
  rd?: number
  /**
   * atime and ctime (ms), where they differ from what the listing shows
   * (`ls -l --time=ctime` then costs no HEAD). Added later: an index without
   * them reads as before, and a mount that does not know them ignores them.
   */
  at?: number
  ct?: number
  /**
   * The exact times (`seconds.nnnnnnnnn`, as the headers store them), where
   * they say more than mt/at/ct (ns, or seconds too large for a whole-ms
   * number), and read only while they still agree with them (exact-time.ts).
   * Added later, beside the ms numbers: an older record reads as before, and
   * an older mount reads the ms numbers and writes its own records whole.
   */
  mtn?: string
  atn?: string
  ctn?: string
  /** extended attributes, name -> base64 value (added later, as at and ct) */
  x?: Record<string, string>
}

interface IndexFile {
  v: 1
  r: Record<string, IndexRecord>
  /**
   * every record here carries its file's extended attributes, and a file
   * without one has none. Left out by an earlier oortfs (and by it when it
   * rewrites an index, merged): then nothing is known of them.
   */
  x?: 1
}

interface DirIndex {
  /** the index object as last read or written; undefined: there is none */
  records: Map<string, IndexRecord>
  exists: boolean
  etag?: string
  /** the index object's LastModified (ms) */
  lastModified?: number
  loadedAt: number
  /** changes made here and not yet written */
  dirty: boolean
  /** records removed here and not yet written (a load must not bring them back) */
  removed?: Set<string>
  /** names whose records were set here and not yet written: a write takes these over the server's */
  set?: Set<string>
  /** the index could not be parsed: no record in it can be trusted, nor the absence of one */
  untrusted?: boolean
  /** a full listing HEADed every file of a damaged index's directory: the records set here are whole */
  rebuilt?: boolean
  /** the records are known to carry every file's extended attributes (IndexFile.x) */
  xattrs?: boolean
}

/**
 * How long an index read (or found missing) is used without a listing of its
 * parent showing its ETag, at least. Longer than the freshness bound on
 * purpose: a file's record is checked against the object the listing shows
 * (ETag, size, LastModified), so any change to a file, by anyone, is seen at
 * its next listing whatever the index's age; only another mount's records of
 * directories wait for this. Re-reading the index at every re-listing would
 * cost a GET per directory per second.
 */
export const INDEX_TTL_MS = 30_000

/**
 * A zero-byte key `a` beside keys under `a/` (so listed as the shadow name
 * `a.oortfs-file`) may be another tool's slashless directory object, which
 * then is that directory rather than a file: only a HEAD tells. A zero-byte
 * key alone is taken for the empty file it nearly always is (buckets hold
 * them by the hundred thousand: .keep files, locks, markers of jobs); another
 * tool's empty slashless directory shows as one with meta=head.
 */
function maybeDirObject (name: string, e: Entry): boolean {
  return e.kind === 'file' && e.size === 0 && name.endsWith(SHADOWED_FILE_SUFFIX)
}

/** directories whose index (or its absence) is kept in memory */
const MAX_DIRS = 20_000

export interface IndexDefaults {
  uid: number
  gid: number
  /** the mode a listing alone would show for a kind */
  mode(kind: 'file' | 'dir'): number
}

export class AttrIndex implements MetaSource {
  private readonly dirs = new Map<string, DirIndex>()
  private readonly loading = new Map<string, Promise<DirIndex>>()
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private readonly writing = new Map<string, Promise<void>>()
  heads = 0

  constructor (
    private readonly store: ObjectStore,
    private readonly defaults: IndexDefaults,
    private readonly opts: {
      ttlMs: number, indexKey: (dir: string) => string, delayMs?: number, now?: () => number,
      /** a read-only mount reads indexes and never writes one */
      readOnly?: boolean
    },
  ) {}

  private get now (): number { return (this.opts.now ?? monotonic)() }

  /** attributes for every entry of a fresh listing */
  async enrich (dir: string, _dirPrefix: string, listing: ParsedPage): Promise<void> {
    const idx = await this.indexOrHeads(dir)
    const heads: Promise<void>[] = []
    for (const [name, e] of listing.entries) {
      if (e.metaKnown) {
        // a damaged index is rebuilt from every file's known attributes, these included
        if (idx.untrusted && this.dirs.get(dir) === idx) this.changed(dir, name, e)
        continue
      }
      const verdict = this.judge(idx, name, e)
      if (verdict === 'head') heads.push(this.headInto(dir, name, e).then(f => { if (f) listing.entries.set(name, f) }))
      else listing.entries.set(name, this.judged(e, verdict))
    }
    await Promise.all(heads)
    // every file of the directory was asked: the records now set make a whole index
    if (idx.untrusted && this.dirs.get(dir) === idx) idx.rebuilt = true
  }

  /** what the parents' listings showed of each directory's index */
  private readonly seen = new Map<string, { index?: Entry, at: number }>()

  /**
   * `at` is when the listing was asked for: an index we wrote or read after
   * that is newer than what it shows (it may show none, while our first write
   * of it was on its way).
   */
  /**
   * Directories this mount made empty and holds no index of yet: the first
   * index written for one may say it records every file's extended attributes
   * (`x: 1`). Any other directory's first index may not: an earlier oortfs
   * kept a user. attribute of a file with the default mode without a record
   * (and often without an index), and "no record" would then read as "none".
   */
  private readonly madeHere = new Set<string>()

  madeEmpty (dir: string): void {
    if (this.madeHere.size >= MAX_DIRS) this.madeHere.delete(this.madeHere.values().next().value!)
    this.madeHere.add(dir)
  }

  sawIndex (dir: string, index: Entry | undefined, at: number): void {
    this.seen.delete(dir) // newest last: the sweep drops the oldest first
    this.seen.set(dir, { index, at })
    this.sweep()
  }

  /**
   * Memory stays bounded however many directories a walk lists: past
   * MAX_DIRS, the oldest indexes we hold (never one with changes to write)
   * and the oldest sightings are let go; they are read again when needed.
   */
  private sweep (): void {
    if (this.seen.size > MAX_DIRS) {
      for (const d of this.seen.keys()) { if (this.seen.size <= MAX_DIRS * 0.9) break; this.seen.delete(d) }
    }
    if (this.dirs.size > MAX_DIRS) {
      for (const [d, idx] of this.dirs) {
        if (this.dirs.size <= MAX_DIRS * 0.9) break
        if (!idx.dirty && !this.writing.has(d) && !this.loading.has(d)) this.dirs.delete(d)
      }
    }
  }

  /**
   * A directory whose index key would pass S3's 1,024 bytes (its own key
   * within 13 bytes of it) can keep none: its files are HEADed, each once per
   * version, as when an index cannot be read.
   */
  private noIndex (dir: string): boolean {
    return !keyFits(this.opts.indexKey(dir))
  }

  hasIndex (dir: string): boolean | undefined {
    if (this.noIndex(dir)) return false
    const idx = this.dirs.get(dir)
    if (idx?.dirty) return true
    const seen = this.seen.get(dir)
    // whichever is newer: the index as read or written here, or a listing of the parent since
    // (another mount may have written one after we found none)
    const fromIdx = idx && this.now - idx.loadedAt < this.opts.ttlMs ? idx : undefined
    const fromSeen = seen && this.now - seen.at < this.opts.ttlMs ? seen : undefined
    if (fromSeen && (!fromIdx || fromSeen.at > fromIdx.loadedAt)) return !!fromSeen.index
    return fromIdx ? fromIdx.exists : undefined
  }

  /** attributes for one entry found by a lookup (reads the directory's index at most once) */
  async enrichOne (dir: string, _dirPrefix: string, name: string, e: Entry): Promise<Entry> {
    if (e.metaKnown || e.meta) return e
    // a path walk looks up every directory on the way: a directory's mode,
    // owner and times come from its parent's index. The kernel checks each
    // step against them (default_permissions), so they are read even when no
    // listing told whether the index exists. That costs little: a directory's
    // index key sorts just before its prefix, so the probe that found the
    // directory showed whether its own index exists; only the mount root's is
    // read to learn it (once per INDEX_TTL_MS, or never if the root was listed)
    if (e.kind === 'dir' && this.hasIndex(dir) === false) return e
    const idx = await this.indexOrHeads(dir)
    const verdict = this.judge(idx, name, e)
    if (verdict === 'head') return (await this.headInto(dir, name, e)) ?? e
    return this.judged(e, verdict)
  }

  /**
   * The entry with the index's verdict. The defaults are recorded too (an
   * empty meta): a later listing showing another version of the object then
   * knows the attributes it showed were of the old one, and asks (carryMeta).
   */
  private judged (e: Entry, verdict: { meta: Meta, target?: string } | undefined): Entry {
    return verdict ? { ...e, meta: verdict.meta, target: verdict.target } : { ...e, meta: {} }
  }

  /**
   * The directory's index, or, when it cannot be read, one that trusts
   * nothing: every file is then HEADed (the objects' own metadata is the
   * truth; if the server is away those fail too, and so does the listing).
   */
  private async indexOrHeads (dir: string): Promise<DirIndex> {
    if (this.noIndex(dir)) return { records: new Map(), exists: true, loadedAt: this.now, dirty: false, untrusted: true }
    try {
      return await this.indexFor(dir)
    } catch (err) {
      log.warn(`attribute index of ${dir} could not be read (${(err as Error).message}): reading each file's own metadata instead`)
      return { records: new Map(), exists: true, loadedAt: this.now, dirty: false, untrusted: true }
    }
  }

  private judge (idx: DirIndex, name: string, e: Entry): { meta: Meta, target?: string } | 'head' | undefined {
    const rec = idx.records.get(name)
    if (idx.untrusted && !idx.set?.has(name)) return 'head'
    // another version of an object we knew: whatever the index says was of the old one
    if (e.replaced) return 'head'
    if (e.kind === 'dir') return rec ? { meta: metaOf(rec, idx.xattrs) } : this.none(idx)
    if (rec) {
      const described: Entry = { kind: 'file', key: e.key, size: rec.s ?? -1, etag: rec.e, lastModified: rec.t !== undefined ? new Date(rec.t) : undefined }
      return sameObject(e, described) ? { meta: metaOf(rec, idx.xattrs), target: rec.l } : 'head'
    }
    // a zero-byte object no index vouches for may be another tool's directory object (dir-objects.ts): only a HEAD tells
    if (!idx.exists) return maybeDirObject(name, e) ? 'head' : undefined
    // newer than the index: made by someone who did not update it
    if (e.lastModified && idx.lastModified !== undefined && e.lastModified.getTime() > idx.lastModified + 1000) return 'head'
    // dates whole seconds apart: a zero-byte object not clearly older than the index (a directory
    // object moved just after an index write, say) may be a directory, and only a HEAD tells
    if (maybeDirObject(name, e) && (!e.lastModified || idx.lastModified === undefined || e.lastModified.getTime() > idx.lastModified - 1000)) return 'head'
    return this.none(idx)
  }

  /** no record: the defaults, and no extended attribute where the index says it records them all */
  private none (idx: DirIndex): { meta: Meta } | undefined {
    return idx.exists && idx.xattrs ? { meta: { xattr: {} } } : undefined
  }

  private async headInto (dir: string, name: string, e: Entry): Promise<Entry | undefined> {
    this.heads++
    const h = await this.store.head(e.key, { priority: Priority.Metadata })
    if (!h) return undefined
    const fresh: Entry = {
      ...e, size: h.size, etag: h.etag, meta: decodeMeta(h.metadata), metaKnown: true,
      headers: h.metadata, contentType: h.contentType, replaced: undefined,
    }
    // refresh the stale record so the next mount need not ask again
    this.changed(dir, name, fresh, true)
    return fresh
  }

  /** the directory's index: cached, or read once (not at all when its parent's listing showed there is none) */
  private async indexFor (dir: string): Promise<DirIndex> {
    const have = this.dirs.get(dir)
    if (have?.dirty) return have
    // a write under way makes what we hold newer than what a listing or a read shows
    const writing = this.writing.get(dir)
    if (writing) {
      await writing.catch(() => {})
      return this.indexFor(dir)
    }
    const seen = this.seen.get(dir)
    if (seen && this.now - seen.at < this.opts.ttlMs) {
      // read or written by us since that listing: newer than what it showed
      if (have && have.loadedAt >= seen.at) return have
      if (!seen.index) {
        const none: DirIndex = { records: new Map(), exists: false, loadedAt: this.now, dirty: false }
        this.dirs.set(dir, none)
        return none
      }
      if (have?.exists && have.etag === seen.index.etag) return have
    } else if (have && this.now - have.loadedAt < this.opts.ttlMs) {
      return have
    }
    let p = this.loading.get(dir)
    if (!p) {
      p = this.load(dir, this.opts.indexKey(dir)).finally(() => this.loading.delete(dir))
      this.loading.set(dir, p)
    }
    return p
  }

  /** reads the index from the server; a failed read throws (it is not an empty index) */
  private async load (dir: string, key: string): Promise<DirIndex> {
    const idx = await this.read(dir, key)
    const pending = this.dirs.get(dir)
    if (pending?.dirty) {
      // changes made while it loaded win
      for (const n of pending.set ?? []) { const r = pending.records.get(n); if (r) idx.records.set(n, r) }
      for (const n of pending.removed ?? []) idx.records.delete(n)
      idx.removed = pending.removed
      idx.set = pending.set
      idx.rebuilt = pending.rebuilt
      idx.dirty = true
    }
    this.dirs.delete(dir)
    this.dirs.set(dir, idx)
    this.sweep()
    return idx
  }

  private async read (dir: string, key: string): Promise<DirIndex> {
    const idx: DirIndex = { records: new Map(), exists: false, loadedAt: this.now, dirty: false }
    const got = await this.store.read(key, { priority: Priority.Metadata })
    if (!got) return idx
    idx.exists = true
    idx.etag = got.etag
    idx.lastModified = got.lastModified.getTime()
    try {
      const file = JSON.parse(got.body.toString('utf8')) as IndexFile
      if (file.v !== 1 || typeof file.r !== 'object' || !file.r) throw new Error(`unknown format ${JSON.stringify(file.v)}`)
      for (const [n, r] of Object.entries(file.r)) idx.records.set(n, r)
      idx.xattrs = file.x === 1
    } catch (err) {
      log.warn(`attribute index of ${dir} is damaged (${(err as Error).message}): reading each file's own metadata instead, and writing it anew`)
      idx.records.clear()
      idx.untrusted = true
    }
    return idx
  }

  /** a name in dir changed (undefined: removed); keeps the index in step, if one is needed */
  changed (dir: string, name: string, e: Entry | undefined, headed = false): void {
    // a read-only mount writes nothing: what a HEAD taught it stays in the listing it cached
    if (name.endsWith(INDEX_SUFFIX) || this.opts.readOnly || this.noIndex(dir)) return
    let idx = this.dirs.get(dir)
    const rec = e ? this.recordOf(e, headed && e.kind === 'file' && e.size === 0) : undefined
    if (!idx) {
      if (!rec) return // nothing to record, and whether an index exists is unknown: leave it be
      idx = { records: new Map(), exists: false, loadedAt: 0, dirty: true }
      this.dirs.set(dir, idx)
    }
    if (rec) {
      idx.records.set(name, rec)
      idx.removed?.delete(name)
      ;(idx.set ??= new Set()).add(name)
    } else {
      idx.set?.delete(name)
      // nothing to remove from an index we hold whole; one not read yet (or
      // being read) may hold a record, which the merge must drop
      if (!idx.records.delete(name) && idx.loadedAt !== 0 && !this.loading.has(dir)) return
      ;(idx.removed ??= new Set()).add(name)
    }
    idx.dirty = true
    this.schedule(dir)
  }

  /**
   * A record if the entry's attributes differ from what a listing alone would
   * show; also for a zero-byte file a HEAD showed to be one (`headedEmpty`): a
   * listing cannot tell it from another tool's directory object, and the next
   * mount need not ask again. (Our own new empty files get none: a `touch`
   * stays one PUT.)
   */
  private recordOf (e: Entry, headedEmpty = false): IndexRecord | undefined {
    const m = e.meta
    if (!m) return undefined
    // another tool's directory object is recorded as one: the next listing folds it without a HEAD
    const mode = m.mode ?? this.defaults.mode(isDirObject(e) ? 'dir' : e.kind)
    // what a listing alone shows: a file's LastModified (mtime and ctime), a directory no date at all
    const listed = e.kind === 'file' ? e.lastModified?.getTime() : undefined
    const listedNs = listed !== undefined ? nsOfMs(listed) : undefined
    // a stored time the listing would not show as it is
    const own = (t: number | undefined, ns: bigint | undefined): t is number => t !== undefined && timeNs(t, ns) !== listedNs
    // a record of its own for a time a second or more from what the listing shows (a listing's
    // LastModified and a HEAD's may differ by a fraction: both whole seconds and ms are seen), or
    // for an exact time finer than a ms (rsync -a, cp -a, touch -d with ns), which is never what a
    // listing shows, however near: a new mount shows it exactly, and rsync copies nothing again
    const far = (t: number | undefined, ns: bigint | undefined): boolean => own(t, ns) &&
      (listed === undefined || Math.abs(t - listed) >= 1000 || finerThanMs(t, timeNs(t, ns)))
    // atime shows mtime unless one is stored (touch -a): kept exactly
    const shownMtime = m.mtimeMs ?? listed
    const ownAtime = m.atimeMs !== undefined && (shownMtime === undefined ||
      timeNs(m.atimeMs, m.atimeNs) !== timeNs(shownMtime, m.mtimeMs !== undefined ? m.mtimeNs : undefined))
    const xattrs = Object.entries(m.xattr ?? {})
    const differs = mode !== this.defaults.mode(e.kind) || (m.uid ?? this.defaults.uid) !== this.defaults.uid ||
      (m.gid ?? this.defaults.gid) !== this.defaults.gid || far(m.mtimeMs, m.mtimeNs) || far(m.ctimeMs, m.ctimeNs) || ownAtime || headedEmpty ||
      xattrs.length > 0
    if (!differs) return undefined
    const rec: IndexRecord = { m: mode }
    if (m.uid !== undefined) rec.u = m.uid
    if (m.gid !== undefined) rec.g = m.gid
    // a record written anyway keeps every stored time the listing would not show as it is, however near
    const time = (t: number | undefined, ns: bigint | undefined, keep: boolean): [number, string?] | undefined => {
      if (!keep || t === undefined) return undefined
      const exact = exactNs(t, ns)
      return exact !== undefined && finerThanMs(t, exact) ? [t, formatNs(exact)] : [t]
    }
    const mt = time(m.mtimeMs, m.mtimeNs, own(m.mtimeMs, m.mtimeNs))
    const ct = time(m.ctimeMs, m.ctimeNs, own(m.ctimeMs, m.ctimeNs))
    const at = time(m.atimeMs, m.atimeNs, ownAtime)
    if (mt) { rec.mt = mt[0]; if (mt[1]) rec.mtn = mt[1] }
    if (ct) { rec.ct = ct[0]; if (ct[1]) rec.ctn = ct[1] }
    if (at) { rec.at = at[0]; if (at[1]) rec.atn = at[1] }
    if (xattrs.length > 0) rec.x = Object.fromEntries(xattrs.map(([k, v]) => [k, v.toString('base64')]))
    if (e.kind === 'file') {
      rec.e = e.etag
      rec.s = e.size
      if (e.lastModified) rec.t = e.lastModified.getTime()
      if ((mode & S_IFMT) === S_IFLNK && e.target !== undefined) rec.l = e.target
      // a device's mode differs from the defaults: its record always exists to carry the number
      if (m.rdev !== undefined) rec.rd = m.rdev
    }
    return rec
  }

  private schedule (dir: string): void {
    if (this.timers.has(dir)) return
    // a burst (tar x) rewrites the index every couple of seconds, not at each file
    this.timers.set(dir, setTimeout(() => { void this.write(dir).catch(() => {}) }, this.opts.delayMs ?? 2000))
  }

  private async write (dir: string): Promise<void> {
    const t = this.timers.get(dir)
    if (t) { clearTimeout(t); this.timers.delete(dir) }
    const running = this.writing.get(dir)
    if (running) await running
    // a read under way would replace what we write with what it found before
    const loading = this.loading.get(dir)
    if (loading) await loading.catch(() => {})
    const p = this.doWrite(dir)
    this.writing.set(dir, p)
    try { await p } finally { this.writing.delete(dir) }
  }

  private async doWrite (dir: string): Promise<void> {
    let idx = this.dirs.get(dir)
    if (!idx?.dirty) return
    const key = this.opts.indexKey(dir)
    try {
      // merged with what the server holds now: another mount's records survive
      // (a failed read fails the write: never a blind overwrite)
      idx = await this.load(dir, key)
    } catch (err) {
      log.warn(`could not read the attribute index of ${dir} before writing it: ${(err as Error).message}`)
      this.retryLater(dir)
      throw err
    }
    // a damaged index is replaced only once a listing has HEADed every file
    // of the directory (else records it lost would read as "the defaults")
    if (idx.untrusted && !idx.rebuilt) return
    const { set, removed } = idx
    // an index of a directory made here, or one rebuilt from HEADs, is ours whole; an earlier oortfs's,
    // or a first one of a directory that was there before, stays unknown (madeHere)
    const xattrs = (!idx.exists && this.madeHere.has(dir)) || idx.xattrs === true || (idx.untrusted === true && idx.rebuilt === true)
    idx.dirty = false
    idx.removed = undefined
    idx.set = undefined
    idx.untrusted = undefined
    idx.rebuilt = undefined
    try {
      if (idx.records.size === 0) {
        if (idx.exists) await this.store.delete(key, { priority: Priority.Background })
        idx.exists = false
        idx.loadedAt = this.now
        return
      }
      const file: IndexFile = { v: 1, r: Object.fromEntries(idx.records), ...xattrs && { x: 1 as const } }
      const r = await this.store.put(key, Buffer.from(JSON.stringify(file)), { contentType: 'application/json', priority: Priority.Background })
      idx.exists = true
      idx.xattrs = xattrs
      this.madeHere.delete(dir)
      idx.etag = r.etag
      idx.lastModified = (r.serverDate ?? new Date(this.now)).getTime() + 999
      idx.loadedAt = this.now
    } catch (err) {
      // what was ours to write stays ours for the next try
      idx.dirty = true
      idx.set = set
      idx.removed = removed
      log.warn(`could not write the attribute index of ${dir}: ${(err as Error).message}`)
      this.retryLater(dir)
      throw err
    }
  }

  /** a write that failed goes again later (the server away): its changes stay dirty meanwhile */
  private retryLater (dir: string): void {
    if (this.timers.has(dir)) return
    this.timers.set(dir, setTimeout(() => { void this.write(dir).catch(() => {}) }, 5 * (this.opts.delayMs ?? 2000)).unref())
  }

  /** writes every pending index now (before unmount) */
  async flush (): Promise<void> {
    const dirs = [...this.dirs.entries()].filter(([, i]) => i.dirty).map(([d]) => d)
    await Promise.all(dirs.map(d => this.write(d)))
  }

  /** a directory and all below it are gone or renamed: their indexes went with the keys */
  forget (dir: string): void {
    const below = dir === '/' ? '/' : dir + '/'
    for (const d of [...this.madeHere]) if (d === dir || d.startsWith(below)) this.madeHere.delete(d)
    for (const d of [...this.dirs.keys()]) {
      if (d !== dir && !d.startsWith(below)) continue
      const t = this.timers.get(d)
      if (t) { clearTimeout(t); this.timers.delete(d) }
      this.dirs.delete(d)
      this.seen.delete(d)
    }
  }
}

/** a record's attributes; its extended ones known when it carries some, or the index says it would */
function metaOf (r: IndexRecord, xattrsKnown = false): Meta {
  const m: Meta = {}
  if (r.x) m.xattr = Object.fromEntries(Object.entries(r.x).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
  else if (xattrsKnown) m.xattr = {}
  if (r.m !== undefined) m.mode = r.m
  if (r.u !== undefined) m.uid = r.u
  if (r.g !== undefined) m.gid = r.g
  if (r.rd !== undefined) m.rdev = r.rd
  timeOf(m, 'mtime', r.mt, r.mtn)
  timeOf(m, 'atime', r.at, r.atn)
  timeOf(m, 'ctime', r.ct, r.ctn)
  return m
}

/**
 * A recorded time and its exact value. Another mount (one older than the ns)
 * may have changed the ms number of a record holding one: the exact value
 * then disagrees, and counts nowhere (exact-time.ts).
 */
function timeOf (m: Meta, field: 'mtime' | 'atime' | 'ctime', ms: unknown, exact: unknown): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return
  m[`${field}Ms`] = ms
  const ns = typeof exact === 'string' ? parseNs(exact) : undefined
  if (ns !== undefined) m[`${field}Ns`] = ns
}
