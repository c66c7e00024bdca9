// Directories other tools wrote their own way. oortfs (and s3fs today) keep a
// directory's attributes on its `dir/` marker; older tools left other objects:
//   - `dir_$folder$` (old s3fs, Hadoop S3N, some consoles): seen in a listing,
//     so parsePage makes it a directory at once;
//   - `dir` with no slash, zero bytes, Content-Type application/x-directory or
//     httpd/unix-directory, or an x-amz-meta-mode with S_IFDIR (s3fs's old
//     format): a listing does not tell it from an empty file, so it becomes a
//     directory only once a HEAD shows it (the metadata step HEADs zero-byte
//     objects no attribute index vouches for: see attr-index.ts's judge).
// Such a directory's entry names that object (`Entry.object`): its attributes
// are kept there (chmod copies it in place with its headers), rmdir deletes it,
// and a rename copies it to the new name in the same form.
import { sameEtag } from '../s3/store.js'
import type { Entry } from './entry.js'
import { S_IFDIR, S_IFMT } from './metadata.js'
import { SHADOWED_FILE_SUFFIX } from './names.js'

/** the Content-Types tools give a directory object (s3fs's old format, WebDAV gateways) */
const DIRECTORY_TYPES = new Set(['application/x-directory', 'httpd/unix-directory'])

/** a zero-byte object that another tool meant as a directory, as a HEAD (or the attribute index's record of one) showed it */
export function isDirObject (e: Entry): boolean {
  if (e.kind !== 'file' || e.size !== 0) return false
  const type = e.contentType?.split(';')[0]!.trim().toLowerCase()
  if (type !== undefined && DIRECTORY_TYPES.has(type)) return true
  return e.meta?.mode !== undefined && (e.meta.mode & S_IFMT) === S_IFDIR
}

/** the directory a slashless directory object stands for: children under `key/`, attributes on the object */
export function dirOfObject (e: Entry): Entry {
  return { ...e, kind: 'dir', key: e.key + '/', size: 0, object: e.key }
}

/**
 * Turns a listing's directory objects into directories: a HEADed slashless
 * `dir` becomes the directory `dir`; where a `dir/` prefix already made the
 * directory (the object then shows as `dir.oortfs-file`), the directory takes
 * the object and the shadow name goes. Run before the metadata step (what an
 * earlier listing learned, carried over, costs no HEAD again) and after it.
 */
export function foldDirObjects (entries: Map<string, Entry>): void {
  // a slashless object carried from an earlier listing that this one no longer shows is gone
  for (const [name, e] of entries) {
    if (e.kind === 'dir' && e.object === e.key.slice(0, -1) && !entries.has(name + SHADOWED_FILE_SUFFIX)) {
      entries.set(name, { ...e, object: undefined, etag: undefined })
    }
  }
  for (const [name, e] of entries) {
    if (e.kind !== 'file') continue
    if (!name.endsWith(SHADOWED_FILE_SUFFIX)) {
      if (isDirObject(e)) entries.set(name, dirOfObject(e))
      continue
    }
    const dirName = name.slice(0, -SHADOWED_FILE_SUFFIX.length)
    const dir = entries.get(dirName)
    if (dir?.kind !== 'dir' || dir.key !== e.key + '/') continue
    if (isDirObject(e)) {
      entries.delete(name)
      entries.set(dirName, dirOfObject(e))
    } else if (dir.object === e.key && sameEtag(dir.etag, e.etag)) {
      entries.delete(name) // the same object an earlier listing's HEAD showed
    }
  }
}

/** the key of a directory's object after a rename of the directory (`a_$folder$` -> `b_$folder$`, `a` -> `b`) */
export function movedDirObject (object: string, fromPrefix: string, toPrefix: string): string {
  return toPrefix.slice(0, -1) + object.slice(fromPrefix.length - 1)
}
