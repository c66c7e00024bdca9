// What the filesystem knows about one name, and how a listing page becomes
// names. A listing carries no user metadata: `meta` is filled only from a HEAD,
// the attribute index, or our own writes.
import type { ListPage } from '../s3/store.js'
import { sameEtag } from '../s3/store.js'
import type { Meta } from './metadata.js'
import { FOLDER_SUFFIX, INDEX_SUFFIX, JOURNAL_DIR, SHADOWED_FILE_SUFFIX, usableName } from './names.js'

export interface Entry {
  kind: 'file' | 'dir'
  /** the object's key (file) or the directory's prefix, ending in '/' */
  key: string
  size: number
  /** the object's LastModified (a directory's: its marker's, if it has one) */
  lastModified?: Date
  etag?: string
  /** POSIX attributes stored with the object; missing fields take the mount's defaults */
  meta?: Meta
  /** meta was read from the object itself (HEAD or our own write), not guessed */
  metaKnown?: boolean
  /** every x-amz-meta header of the object, ours and others', when known */
  headers?: Record<string, string>
  contentType?: string
  /** a symlink's target, when known */
  target?: string
  /**
   * a listing shows another version of an object whose attributes we knew
   * (another client replaced it or rewrote its metadata in place): they are
   * read anew, one HEAD, not guessed from the defaults
   */
  replaced?: boolean
  /**
   * a directory's own object when another tool wrote it in its old form
   * (`dir_$folder$`, or a slashless `dir`: see dir-objects.ts); `etag` is
   * then that object's
   */
  object?: string
}

export interface ParsedPage {
  entries: Map<string, Entry>
  /** the directory's own `dir/` marker object, if the page showed it */
  marker?: Entry
  /** attribute indexes the page showed, by directory name ('' for this directory's own, at the root) */
  indexes?: Map<string, Entry>
}

/**
 * Names of one delimiter listing page of `dirPrefix`. A prefix `a/` and a key
 * `a` both present: the directory keeps `a`, the file becomes `a.oortfs-file`.
 * A key `a_$folder$` is the directory `a` too (another tool's form).
 */
export function parsePage (dirPrefix: string, page: ListPage, into: ParsedPage = { entries: new Map() }, atRoot = dirPrefix === ''): ParsedPage {
  const hidden = (name: string | undefined): name is undefined => name === undefined || (atRoot && name === JOURNAL_DIR)
  for (const p of page.prefixes) {
    const name = usableName(p.slice(dirPrefix.length, -1))
    if (hidden(name)) continue
    setDir(into, name, { kind: 'dir', key: p, size: 0 })
  }
  for (const o of page.objects) {
    const rest = o.key.slice(dirPrefix.length)
    const entry: Entry = { kind: 'file', key: o.key, size: o.size, lastModified: o.lastModified, etag: o.etag }
    if (rest === '') { into.marker = entry; continue }
    if (rest.endsWith(FOLDER_SUFFIX)) {
      const name = usableName(rest.slice(0, -FOLDER_SUFFIX.length))
      if (!hidden(name)) setDir(into, name, { ...entry, kind: 'dir', key: dirPrefix + name + '/', size: 0, object: o.key })
      continue
    }
    if (rest.endsWith(INDEX_SUFFIX)) {
      into.indexes ??= new Map()
      into.indexes.set(rest.slice(0, -INDEX_SUFFIX.length), entry)
      continue
    }
    const name = usableName(rest)
    if (name === undefined) continue
    if (into.entries.get(name)?.kind === 'dir') {
      if (!into.entries.has(name + SHADOWED_FILE_SUFFIX)) into.entries.set(name + SHADOWED_FILE_SUFFIX, entry)
    } else {
      into.entries.set(name, entry)
    }
  }
  return into
}

/** a directory at name: a file listed there moves to the shadow name; `a/` and `a_$folder$` are one directory, which keeps the object */
function setDir (into: ParsedPage, name: string, dir: Entry): void {
  const existing = into.entries.get(name)
  if (existing?.kind === 'file') into.entries.set(name + SHADOWED_FILE_SUFFIX, existing)
  if (existing?.kind === 'dir' && existing.object && !dir.object) return
  into.entries.set(name, dir)
}

/** the same object (so attributes learned about one hold for the other) */
export function sameObject (a: Entry | undefined, b: Entry | undefined): boolean {
  if (!a || !b || a.kind !== 'file' || b.kind !== 'file') return false
  if (a.size !== b.size || !sameEtag(a.etag, b.etag)) return false
  // a listing has milliseconds, a HEAD whole seconds: allow the difference
  if (a.lastModified && b.lastModified) return Math.abs(a.lastModified.getTime() - b.lastModified.getTime()) < 1000
  return true
}

/**
 * The same version as far as a listing can tell, where one side's ETag may be
 * missing (Ceph's CompleteMultipartUpload sends none): size and date then.
 */
function sameVersion (fresh: Entry, old: Entry): boolean {
  if (old.etag || !fresh.etag) return sameObject(fresh, old)
  return sameObject(fresh, { ...old, etag: fresh.etag })
}

/**
 * Keeps what was learned about an unchanged object when a newer listing
 * replaces it; a file whose version changed is marked `replaced`, so its
 * attributes are read again rather than taken from the defaults.
 */
export function carryMeta (fresh: Entry, old: Entry | undefined): Entry {
  // a slashless directory object a HEAD showed, unchanged since: still that directory
  if (old?.kind === 'dir' && fresh.kind === 'file' && old.object === fresh.key && sameEtag(old.etag, fresh.etag)) return old
  if (!old?.meta || fresh.replaced) return fresh
  if (fresh.kind === 'dir' ? old.kind === 'dir' : sameVersion(fresh, old)) {
    const carried = { ...fresh, meta: old.meta, metaKnown: old.metaKnown, headers: old.headers, contentType: old.contentType, target: old.target }
    // a multipart upload of ours left no ETag: the listing's is that version's
    if (fresh.kind === 'file') carried.etag = fresh.etag || old.etag
    // a slashless directory object: foldDirObjects keeps it if this listing shows it again unchanged
    if (fresh.kind === 'dir' && !fresh.object && old.object === fresh.key.slice(0, -1)) return { ...carried, object: old.object, etag: old.etag }
    return carried
  }
  if (fresh.kind === 'file' && old.kind === 'file' && !fresh.meta) return { ...fresh, replaced: true }
  return fresh
}
