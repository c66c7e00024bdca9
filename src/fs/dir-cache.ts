// What is known about each directory's names, and since when: a full listing,
// partial windows from lookups (a ListObjectsV2 that started just before a
// name answers for every name in the key range it covered), and single names
// learned from HEADs or our own writes. Everything expires after the TTL.
import { LRUCache } from 'lru-cache'
import { carryMeta, type Entry } from './entry.js'
import { compareKeys, FOLDER_SUFFIX, SHADOWED_FILE_SUFFIX } from './names.js'
import { monotonic } from '../util/clock.js'

interface Listing {
  entries: Map<string, Entry>
  at: number
  /** the directory's marker object, if any: its LastModified dates the directory */
  marker?: Entry
}

/** the names with keys in (after, until] of a directory; until null: to its end */
interface Window {
  after: string
  until: string | null
  entries: Map<string, Entry>
  at: number
}

interface Known {
  entry: Entry | undefined
  at: number
}

class DirState {
  full?: Listing
  windows: Window[] = []
  known = new Map<string, Known>()
  /** the marker the last listing from the directory's first key showed (fresh or not) */
  lastMarker?: Entry

  /** entries held, what the cache's memory bound counts */
  get entries (): number {
    let n = this.known.size + (this.full?.entries.size ?? 0)
    for (const w of this.windows) n += w.entries.size
    return n
  }
}

/** entries held across all directories: `find` over millions of keys keeps the most recent ones */
export const MAX_CACHED_ENTRIES = 250_000

export type Answer = { found: true, entry: Entry | undefined }

export class DirCache {
  private readonly dirs: LRUCache<string, DirState>
  private readonly ttlMs: number
  private readonly now: () => number

  constructor (opts: { ttlMs: number, maxDirs?: number, maxEntries?: number, now?: () => number }) {
    this.ttlMs = opts.ttlMs
    this.now = opts.now ?? monotonic
    // bounded by directories and by entries: a directory's weight is what it holds
    const maxSize = opts.maxEntries ?? MAX_CACHED_ENTRIES
    // a directory larger than the whole bound is still cached (alone), never refused
    this.dirs = new LRUCache({ max: opts.maxDirs ?? 10_000, maxSize, sizeCalculation: s => Math.min(maxSize, 1 + s.entries) })
  }

  /** a directory's state changed size: the bound counts it anew */
  private weigh (dir: string, s: DirState): void {
    // a set of the same object keeps its old size: take it out first
    this.dirs.delete(dir)
    this.dirs.set(dir, s)
  }

  private fresh (at: number): boolean {
    return this.now() - at < this.ttlMs
  }

  private state (dir: string): DirState {
    let s = this.dirs.get(dir)
    if (!s) { s = new DirState(); this.dirs.set(dir, s) }
    return s
  }

  /**
   * What the cache can say about `name` in `dir` (whose children's keys start
   * with dirPrefix): {found, entry} where entry undefined means "no such name",
   * or undefined when the cache cannot say.
   */
  answer (dir: string, dirPrefix: string, name: string): Answer | undefined {
    const s = this.dirs.get(dir)
    if (!s) return undefined
    const k = s.known.get(name)
    if (k && this.fresh(k.at)) return { found: true, entry: k.entry }
    if (s.full && this.fresh(s.full.at)) return { found: true, entry: s.full.entries.get(name) }
    const base = name.endsWith(SHADOWED_FILE_SUFFIX) ? name.slice(0, -SHADOWED_FILE_SUFFIX.length) : name
    const key = dirPrefix + base
    for (const w of s.windows) {
      if (!this.fresh(w.at)) continue
      // the name's last possible key is `name_$folder$` (another tool's directory object), after `name/`
      if (compareKeys(w.after, key) < 0 && (w.until === null || compareKeys(w.until, key + FOLDER_SUFFIX) >= 0)) {
        return { found: true, entry: w.entries.get(name) }
      }
    }
    return undefined
  }

  /** the directory's own marker object, as its fresh listing showed it (undefined: none, or no fresh listing) */
  marker (dir: string): Entry | undefined {
    const full = this.dirs.get(dir)?.full
    return full && this.fresh(full.at) ? full.marker : undefined
  }

  /**
   * Records the marker a listing from dir's first key showed (undefined: none)
   * and returns the one the listing before showed, if any.
   */
  swapMarker (dir: string, marker: Entry | undefined): Entry | undefined {
    const s = this.state(dir)
    const was = s.lastMarker
    s.lastMarker = marker
    return was
  }

  /** a full, fresh listing of dir, with what was learned since merged in */
  listing (dir: string): Map<string, Entry> | undefined {
    const s = this.dirs.get(dir)
    if (!s?.full || !this.fresh(s.full.at)) return undefined
    return s.full.entries
  }

  /** an entry we already hold for the name, fresh or not: to carry its metadata over */
  previous (dir: string, name: string): Entry | undefined {
    const s = this.dirs.get(dir)
    if (!s) return undefined
    return s.known.get(name)?.entry ?? s.full?.entries.get(name) ?? s.windows.find(w => w.entries.has(name))?.entries.get(name)
  }

  /** gives fresh listing entries what we learned about the same unchanged objects */
  carryInto (dir: string, entries: Map<string, Entry>): void {
    for (const [name, e] of entries) entries.set(name, carryMeta(e, this.previous(dir, name)))
  }

  /** stores a complete listing taken at `at` (when the first page was asked for) */
  setListing (dir: string, listing: { entries: Map<string, Entry>, marker?: Entry }, at: number): void {
    const s = this.state(dir)
    this.carryInto(dir, listing.entries)
    // single-name knowledge older than the listing is superseded by it
    for (const [name, k] of s.known) {
      if (k.at < at) s.known.delete(name)
      else if (k.entry) listing.entries.set(name, k.entry)
      else listing.entries.delete(name)
    }
    s.full = { entries: listing.entries, marker: listing.marker, at }
    s.windows = []
    this.weigh(dir, s)
  }

  addWindow (dir: string, after: string, until: string | null, entries: Map<string, Entry>, at: number): void {
    const s = this.state(dir)
    this.carryInto(dir, entries)
    for (const [name, k] of s.known) {
      if (k.at >= at && entries.has(name) !== !!k.entry) {
        if (k.entry) entries.set(name, k.entry)
        else entries.delete(name)
      }
    }
    s.windows = s.windows.filter(w => this.fresh(w.at)).slice(-7)
    s.windows.push({ after, until, entries, at })
    this.weigh(dir, s)
  }

  /** what we learned about one name (from a HEAD or our own change); undefined: it is gone */
  set (dir: string, name: string, entry: Entry | undefined): void {
    const s = this.state(dir)
    s.known.set(name, { entry, at: this.now() })
    if (s.full) {
      if (entry) s.full.entries.set(name, entry)
      else s.full.entries.delete(name)
    }
    for (const w of s.windows) {
      if (entry) { if (w.entries.has(name)) w.entries.set(name, entry) } else w.entries.delete(name)
    }
    this.weigh(dir, s)
  }

  /**
   * A directory name held in dir is confirmed to exist as of `at` (keys under
   * it were listed then): it is fresh again, with what we knew of it. Nothing
   * is learned of a name we hold as missing or as a file.
   */
  confirm (dir: string, name: string, at: number): void {
    const s = this.dirs.get(dir)
    if (!s) return
    const k = s.known.get(name)
    if (k && k.at >= at) return
    const e = this.previous(dir, name)
    if (e?.kind !== 'dir') return
    s.known.set(name, { entry: e, at })
    if (!k) this.weigh(dir, s)
  }

  /** a directory we just made is known to be empty */
  setEmpty (dir: string, marker?: Entry): void {
    const s = this.state(dir)
    s.full = { entries: new Map(), at: this.now(), marker }
    s.lastMarker = marker
    s.windows = []
    s.known.clear()
  }

  /** forget everything about a directory (renamed, or changed behind our back) */
  forget (dir: string): void {
    this.dirs.delete(dir)
  }

  /** forget a directory and everything below it */
  forgetTree (dir: string): void {
    const below = dir === '/' ? '/' : dir + '/'
    for (const d of [...this.dirs.keys()]) if (d === dir || d.startsWith(below)) this.dirs.delete(d)
  }
}
