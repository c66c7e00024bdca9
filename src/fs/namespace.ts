// Resolves names to entries at the fewest requests: a fresh listing or window
// answers with none; an unlisted name costs one ListObjectsV2 that starts just
// before it (and so also answers for its neighbours); a directory read is one
// delimiter listing per 1,000 names. Metadata is added by a MetaSource.
import type { ListPage, ObjectStore } from '../s3/store.js'
import { Priority } from '../s3/store.js'
import { DirCache } from './dir-cache.js'
import { TreeWalk } from './tree-walk.js'
import { parsePage, sameObject, type Entry, type ParsedPage } from './entry.js'
import { decodeMeta } from './metadata.js'
import { keyJustBefore, joinPath, Names, splitPath, compareKeys, FOLDER_SUFFIX, SHADOWED_FILE_SUFFIX } from './names.js'
import { dirOfObject, foldDirObjects, isDirObject } from './dir-objects.js'
import { monotonic } from '../util/clock.js'

/** what DirCache.swapMarker holds after our own write of a directory's marker */
const OUR_MARKER: Entry = { kind: 'file', key: '', size: 0 }

/** fills in `meta` of listed entries (attribute index, or HEADs for meta=head) */
export interface MetaSource {
  enrich(dir: string, dirPrefix: string, listing: ParsedPage): Promise<void>
  /** the same for one name found by a lookup */
  enrichOne?(dir: string, dirPrefix: string, name: string, entry: Entry): Promise<Entry>
  /** a name we changed (undefined: removed) */
  changed?(dir: string, name: string, entry: Entry | undefined): void
  /** a listing of its parent, asked for at `at`, showed whether a directory's index exists (entry) or not */
  sawIndex?(dir: string, index: Entry | undefined, at: number): void
  /** a directory this mount just made, empty: every file it will hold is one this mount knows */
  madeEmpty?(dir: string): void
  /** whether the directory's index exists, when known */
  hasIndex?(dir: string): boolean | undefined
  /** a directory removed or renamed away */
  forget?(dir: string): void
  /** writes anything pending */
  flush?(): Promise<void>
}

/** listings of siblings this close together are a walk */
const WALK_WINDOW_MS = 5_000
/** how far one directory's listing may push a walk before it lists on its own */
const WALK_PAGES_PER_STEP = 10
const WALK_IDLE_MS = 30_000

export interface NamespaceOptions {
  ttlMs: number
  now?: () => number
  meta?: MetaSource
  /** the directory cache's bound in entries (default MAX_CACHED_ENTRIES) */
  maxEntries?: number
  /**
   * Whether a listing asked for at `at` must not show `key`: we deleted it
   * (or are about to) after that moment. An unlink answers at once and its
   * delete goes out later, in a batch: a listing in between must not bring
   * the name back.
   */
  deletedSince?: (key: string, at: number) => boolean
  /**
   * Whether a directory exists whatever listings show: this mount is about to
   * write its marker (its times, write/dir-times.ts) after its last key's
   * delete, so `rm dir/*` leaves the directory, as POSIX wants, until rmdir.
   */
  keeps?: (dir: string) => boolean
}

export class Namespace {
  readonly cache: DirCache
  private readonly store: ObjectStore
  private readonly names: Names
  private readonly meta?: MetaSource
  private readonly now: () => number
  private readonly deletedSince?: (key: string, at: number) => boolean
  private readonly keeps?: (dir: string) => boolean
  /** one listing of a directory at a time: later callers share its answer */
  private readonly listing = new Map<string, Promise<Map<string, Entry>>>()
  private readonly probing = new Map<string, Promise<void>>()

  constructor (store: ObjectStore, names: Names, opts: NamespaceOptions) {
    this.store = store
    this.names = names
    this.meta = opts.meta
    this.now = opts.now ?? monotonic
    this.deletedSince = opts.deletedSince
    this.keeps = opts.keeps
    this.cache = new DirCache({ ttlMs: opts.ttlMs, now: this.now, maxEntries: opts.maxEntries })
  }

  /** the entry at path (not '/'), or undefined if nothing is there */
  async lookup (path: string): Promise<Entry | undefined> {
    const found = await this.find(path)
    const e = found ?? (this.keeps?.(path) ? this.keptDir(path) : undefined)
    if (!e || e.meta || e.metaKnown || !this.meta?.enrichOne) return e
    const { parent, name } = splitPath(path)
    let enriched = await this.meta.enrichOne(parent, this.names.dirPrefix(parent), name, e)
    // a slashless directory object another tool wrote (a shadow name stays the object it is)
    if (isDirObject(enriched) && !name.endsWith(SHADOWED_FILE_SUFFIX)) enriched = dirOfObject(enriched)
    if (enriched !== e) this.cache.set(parent, name, enriched)
    return enriched
  }

  /** a directory kept (see NamespaceOptions.keeps) that no listing shows: as we knew it, or bare */
  private keptDir (path: string): Entry {
    const was = this.previous(path)
    return was?.kind === 'dir' ? was : { kind: 'dir', key: this.names.dirPrefix(path), size: 0 }
  }

  private async find (path: string): Promise<Entry | undefined> {
    const { parent, name } = splitPath(path)
    const dirPrefix = this.names.dirPrefix(parent)
    let proved = false
    for (let round = 0; ; round++) {
      const known = this.cache.answer(parent, dirPrefix, name)
      if (known) return known.entry
      // someone is already listing or probing this directory: their answer may do
      const pending = this.listing.get(parent) ?? this.probing.get(parent)
      if (pending) { await pending.catch(() => {}); round--; continue }
      if (round > 0) return this.probeName(parent, dirPrefix, name)
      if (!proved && this.cache.previous(parent, name)?.kind === 'dir') {
        // a directory we knew, its answer older than the TTL: list it itself.
        // Keys under it prove it is there (confirmAncestors), and the call
        // that follows a path walk's lookup (a readdir, a lookup inside it)
        // needs that listing anyway: one request serves both. Nothing under
        // it: the parent is asked, as for any name.
        proved = true
        await this.proveDir(path)
        round--
        continue
      }
      await this.probeShared(parent, dirPrefix, name)
    }
  }

  /** a window probe of dir, held in its probing slot: lookups and readdirs meanwhile wait for it */
  private async probeShared (dir: string, dirPrefix: string, name: string): Promise<void> {
    const probe = this.probeWindow(dir, dirPrefix, name)
    this.probing.set(dir, probe)
    try { await probe } finally { this.probing.delete(dir) }
  }

  /** the first page of a directory's own listing, shared by everyone who asks meanwhile */
  private async proveDir (dir: string): Promise<void> {
    const pending = this.listing.get(dir) ?? this.probing.get(dir)
    if (pending) { await pending.catch(() => {}); return }
    // a window from the directory's first key: a full listing if one page holds it
    await this.probeShared(dir, this.names.dirPrefix(dir), '')
  }

  /** all names of a directory, from one listing per 1,000 names when not fresh */
  async list (dir: string): Promise<Map<string, Entry>> {
    const fresh = this.cache.listing(dir)
    if (fresh) return fresh
    // a lookup proving the directory (its first page) may be all of it: one listing, not two at once
    const proving = this.probing.get(dir)
    if (proving) {
      await proving.catch(() => {})
      const proved = this.cache.listing(dir)
      if (proved) return proved
    }
    let pending = this.listing.get(dir)
    if (!pending) {
      pending = this.fromWalk(dir)
        .then(done => done ?? this.fetchListing(dir))
        .finally(() => this.listing.delete(dir))
      this.listing.set(dir, pending)
    }
    return pending
  }

  /** when was each directory last listed: a second child of a parent listed soon after it means a walk */
  private readonly listedAt = new Map<string, number>()
  private readonly walks: TreeWalk[] = []

  /**
   * The listing of dir from a recursive listing of a tree being walked, or
   * undefined to list it on its own. A walk starts at a parent once a second
   * of its subdirectories is listed within a few seconds of it.
   */
  private async fromWalk (dir: string): Promise<Map<string, Entry> | undefined> {
    const now = this.now()
    const dirPrefix = this.names.dirPrefix(dir)
    this.noteListed(dir, now)
    for (let i = this.walks.length - 1; i >= 0; i--) {
      const w = this.walks[i]!
      if (w.done || now - w.lastUsed > WALK_IDLE_MS) this.walks.splice(i, 1)
    }
    let walk = this.walks.find(w => w.covers(dirPrefix) && !w.complete(dirPrefix))
    if (!walk && dir !== '/') {
      const parent = splitPath(dir).parent
      const siblings = [...this.listedAt].filter(([d, at]) => d !== dir && now - at < WALK_WINDOW_MS && splitPath(d).parent === parent)
      const parentAt = this.listedAt.get(parent)
      if (siblings.length > 0 && parentAt !== undefined && now - parentAt < WALK_WINDOW_MS) {
        walk = new TreeWalk(this.store, this.names.dirPrefix(parent), now)
        this.walks.push(walk)
      }
    }
    if (!walk) return undefined
    const completed = await walk.advance(dirPrefix, WALK_PAGES_PER_STEP, now)
    for (const c of completed) {
      const path = this.names.pathOfDirPrefix(c.dirPrefix)
      if (this.cache.listing(path)) continue // listed meanwhile, and at least as fresh
      // as of its first page, which may be an earlier step's: seconds older than now
      await this.stored(path, c.dirPrefix, this.parse(c.dirPrefix, c.page, c.at), c.at)
    }
    return this.cache.listing(dir)
  }

  private noteListed (dir: string, now: number): void {
    this.listedAt.set(dir, now)
    if (this.listedAt.size > 256) {
      for (const [d, at] of this.listedAt) if (now - at > WALK_WINDOW_MS) this.listedAt.delete(d)
    }
  }

  private async fetchListing (dir: string): Promise<Map<string, Entry>> {
    const at = this.now()
    const dirPrefix = this.names.dirPrefix(dir)
    const parsed: ParsedPage = { entries: new Map() }
    let token: string | undefined
    do {
      const page = await this.store.list({ prefix: dirPrefix, delimiter: '/', continuationToken: token }, { priority: Priority.Metadata })
      this.parse(dirPrefix, page, at, parsed)
      token = page.truncated ? page.nextToken : undefined
    } while (token)
    await this.stored(dir, dirPrefix, parsed, at)
    return this.cache.listing(dir) ?? parsed.entries
  }

  /** one listing page starting just before the name: it answers for the name and its neighbours */
  private async probeWindow (dir: string, dirPrefix: string, name: string): Promise<void> {
    const at = this.now()
    const base = name.endsWith(SHADOWED_FILE_SUFFIX) ? name.slice(0, -SHADOWED_FILE_SUFFIX.length) : name
    let after = keyJustBefore(dirPrefix + base)
    if (compareKeys(after, dirPrefix) < 0) after = dirPrefix
    // starting at the directory's beginning lists its marker too (StartAfter the prefix would skip it)
    const page = await this.store.list({ prefix: dirPrefix, delimiter: '/', startAfter: after === dirPrefix ? undefined : after || undefined }, { priority: Priority.Metadata })
    const parsed = this.parse(dirPrefix, page, at)
    if (!page.truncated && after === dirPrefix) {
      // it started at the directory's beginning and reached its end: a full listing
      await this.stored(dir, dirPrefix, parsed, at)
      return
    }
    if (after === dirPrefix) await this.checkMarker(dir, parsed.marker)
    const last = lastItem(page)
    const until = page.truncated ? (last ?? after) : null
    // a directory's index key sorts just before its prefix: a page showing the prefix covered it
    this.reportIndexes(dir, parsed, at)
    if (this.forgottenSince(dir, at)) return
    this.cache.addWindow(dir, after, until, parsed.entries, at)
    if (page.objects.length > 0 || page.prefixes.length > 0) this.confirmAncestors(dir, at)
  }

  /**
   * Keys under dir's prefix, seen at `at`, prove that dir and every directory
   * above it existed then: a path walk to a file in a/b/c (which the kernel
   * sends for every open) need not list a and a/b again once their answers
   * are older than the TTL, as long as lookups inside a/b/c keep listing.
   */
  private confirmAncestors (dir: string, at: number): void {
    for (let d = dir; d !== '/'; d = splitPath(d).parent) {
      const { parent, name } = splitPath(d)
      this.cache.confirm(parent, name, at)
    }
  }

  /** a full listing: metadata added, cached, and the subdirectories' index keys reported */
  private async stored (dir: string, dirPrefix: string, parsed: ParsedPage, at: number): Promise<void> {
    // a directory renamed or removed after this listing was asked for: what it shows is of before
    if (this.forgottenSince(dir, at)) return
    await this.checkMarker(dir, parsed.marker)
    this.cache.carryInto(dir, parsed.entries)
    foldDirObjects(parsed.entries)
    if (dir === '/') this.meta?.sawIndex?.('/', parsed.indexes?.get(''), at)
    this.reportIndexes(dir, parsed, at)
    await this.meta?.enrich(dir, dirPrefix, parsed)
    foldDirObjects(parsed.entries)
    this.cache.setListing(dir, parsed, at)
    if (parsed.entries.size > 0 || parsed.marker) this.confirmAncestors(dir, at)
    // seen empty (a new bucket's root, a directory only a marker holds): every file it gets is one
    // this mount makes or lists anew, as in a directory made here (attr-index.ts madeHere)
    if (parsed.entries.size === 0 && !parsed.indexes?.has('')) this.meta?.madeEmpty?.(dir)
  }

  /**
   * A directory's own attributes live on its marker, which only its own
   * listing shows (its parent's shows a prefix): when that marker is another
   * version than the last listing showed (or appeared where it showed none),
   * and not the one we wrote, another client rewrote them, and one HEAD reads
   * them. A marker seen for the first time costs nothing (the index or the
   * defaults answer, as before).
   */
  private async checkMarker (dir: string, marker: Entry | undefined): Promise<void> {
    if (dir === '/') return
    const was = this.cache.swapMarker(dir, marker)
    // first sight, or no marker now (the directory's attributes are the defaults again, or the index's),
    // or the one we wrote last (a rewrite elsewhere in between is taken for ours: README)
    if (was === undefined || was === OUR_MARKER || !marker) return
    // unchanged; else changed, or added to a directory that had none (s3fs's chmod of an implied one)
    if (was && sameObject(was, marker)) return
    const { parent, name } = splitPath(dir)
    const entry = this.cache.previous(parent, name)
    if (entry?.kind !== 'dir') return
    // our own rewrite: the entry already has that version's attributes and date
    if (entry.metaKnown && entry.lastModified && marker.lastModified &&
      Math.abs(entry.lastModified.getTime() - marker.lastModified.getTime()) < 1000) return
    const h = await this.store.head(marker.key, { priority: Priority.Metadata })
    if (!h) return
    const fresh: Entry = { ...entry, meta: decodeMeta(h.metadata), metaKnown: true, headers: h.metadata, contentType: h.contentType, lastModified: h.lastModified }
    this.cache.set(parent, name, fresh)
    this.meta?.changed?.(parent, name, fresh)
  }

  private reportIndexes (dir: string, parsed: ParsedPage, at: number): void {
    if (!this.meta?.sawIndex) return
    for (const [name, e] of parsed.entries) {
      if (e.kind === 'dir') this.meta.sawIndex(joinPath(dir, name), parsed.indexes?.get(name), at)
    }
  }

  /** the rare name a window could not reach (a thousand siblings sort just before it) */
  private async probeName (dir: string, dirPrefix: string, name: string): Promise<Entry | undefined> {
    const base = name.endsWith(SHADOWED_FILE_SUFFIX) ? name.slice(0, -SHADOWED_FILE_SUFFIX.length) : name
    const key = dirPrefix + base
    const at = this.now()
    const [found, under, folder] = await Promise.all([
      this.store.head(key, { priority: Priority.Metadata }),
      this.store.list({ prefix: key + '/', maxKeys: 1 }, { priority: Priority.Metadata }),
      this.store.head(key + FOLDER_SUFFIX, { priority: Priority.Metadata }),
    ])
    const head = found && !this.deletedSince?.(key, at) ? found : undefined
    const isDir = under.objects.some(o => !this.deletedSince?.(o.key, at)) || under.prefixes.length > 0 ||
      (!!folder && !this.deletedSince?.(key + FOLDER_SUFFIX, at))
    const file: Entry | undefined = head
      ? { kind: 'file', key, size: head.size, etag: head.etag, lastModified: head.lastModified }
      : undefined
    let entry: Entry | undefined
    if (name !== base) entry = isDir ? file : undefined
    else entry = isDir ? { kind: 'dir', key: key + '/', size: 0, ...folder && { object: folder.key, etag: folder.etag, lastModified: folder.lastModified } } : file
    this.cache.set(dir, name, entry)
    return entry
  }

  /**
   * A listing page's names; the rename journal is hidden at the mount's root
   * (bucket or prefix), and so is every key we deleted after the listing was
   * asked for (`at`).
   */
  private parse (dirPrefix: string, page: ListPage, at: number, into?: ParsedPage): ParsedPage {
    const gone = this.deletedSince
    const shown = gone && page.objects.some(o => gone(o.key, at))
      ? { ...page, objects: page.objects.filter(o => !gone(o.key, at)) }
      : page
    return parsePage(dirPrefix, shown, into, dirPrefix === this.names.prefix)
  }

  /** records a change we made: a new or changed entry, or undefined for a removal */
  changed (path: string, entry: Entry | undefined): void {
    const { parent, name } = splitPath(path)
    this.cache.set(parent, name, entry)
    this.meta?.changed?.(parent, name, entry)
  }

  /** the entry held for path, fresh or not */
  previous (path: string): Entry | undefined {
    const { parent, name } = splitPath(path)
    return this.cache.previous(parent, name)
  }

  /** path is not what we thought (another client changed it): its directory is asked again */
  stale (path: string): void {
    this.cache.forget(splitPath(path).parent)
  }

  /** what we know now of a name, before the server has it (the attribute index waits for the server) */
  noted (path: string, entry: Entry): void {
    const { parent, name } = splitPath(path)
    this.cache.set(parent, name, entry)
  }

  /** whether a directory's attribute index exists, if a listing of its parent showed it */
  hasIndex (dir: string): boolean | undefined {
    return this.meta?.hasIndex?.(dir)
  }

  /** we wrote dir's marker: the next listing's is ours, whatever its date (a directory's times, a chmod) */
  markerWritten (dir: string): void {
    this.cache.swapMarker(dir, OUR_MARKER)
  }

  /** a directory we just made: empty but for its marker, and without an index */
  madeDir (path: string, marker: Entry): void {
    this.cache.setEmpty(path, marker)
    this.meta?.sawIndex?.(path, undefined, this.now())
    this.meta?.madeEmpty?.(path)
  }

  /** a directory and everything below it is gone or moved */
  /** when each tree was last forgotten (renamed, removed): listings asked for before must not be kept */
  private readonly forgotten = new Map<string, number>()

  private forgottenSince (dir: string, at: number): boolean {
    for (let d = dir; ; d = splitPath(d).parent) {
      const t = this.forgotten.get(d)
      if (t !== undefined && t >= at) return true
      if (d === '/') return false
    }
  }

  forgetTree (dir: string): void {
    const now = this.now()
    this.forgotten.delete(dir) // newest last: the oldest go first
    this.forgotten.set(dir, now)
    // a listing answers within minutes: older marks cannot matter
    for (const [d, t] of this.forgotten) { if (now - t < 10 * 60_000 && this.forgotten.size <= 10_000) break; this.forgotten.delete(d) }
    this.cache.forgetTree(dir)
    this.meta?.forget?.(dir)
  }

  async flushMeta (): Promise<void> {
    await this.meta?.flush?.()
  }
}

function lastItem (page: { objects: { key: string }[], prefixes: string[] }): string | undefined {
  const a = page.objects.at(-1)?.key
  const b = page.prefixes.at(-1)
  if (a === undefined) return b
  if (b === undefined) return a
  return compareKeys(a, b) > 0 ? a : b
}
