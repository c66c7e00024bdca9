// Paths of the mount <-> keys of the bucket. A path '/a/b' is the key
// PREFIX + 'a/b'; the directory '/a' is every key under PREFIX + 'a/'.
// Keys that cannot be names (empty segments from 'a//b', '.', '..', names over
// 255 bytes) are left out of listings rather than shown broken.
import { FsError } from '../errors.js'

export const NAME_MAX = 255
export const KEY_MAX = 1024

/**
 * The attribute index of directory `a` (see attr-index.ts) is the key `a` +
 * this suffix beside it in the parent, so the parent's listing shows whether it
 * exists; the mount root's is the suffix alone, inside the root. Names ending
 * in it are never shown and cannot be made.
 */
export const INDEX_SUFFIX = '.oortfs-attrs'

/** where directory renames are journaled (rename-journal.ts): at the mount's root (bucket or prefix), hidden there */
export const JOURNAL_DIR = '.oortfs-journal'

/**
 * A file `a` shadowed by a directory `a/` (both exist as keys) stays reachable
 * under this suffix: `a` is the directory, `a.oortfs-file` the file.
 */
export const SHADOWED_FILE_SUFFIX = '.oortfs-file'

/**
 * What Hadoop S3N, old s3fs and some consoles add to a directory's name for
 * the empty object that stands for it: `a_$folder$` is the directory `a`
 * (see dir-objects.ts). Names ending in it cannot be made.
 */
export const FOLDER_SUFFIX = '_$folder$'

export class Names {
  /** '' or ending in '/' */
  readonly prefix: string

  constructor (prefix: string) {
    this.prefix = prefix
  }

  /** '/a/b' -> PREFIX + 'a/b'; the root has no key of its own */
  keyOf (path: string): string {
    return this.prefix + path.slice(1)
  }

  /** the prefix a directory's children share: '/' -> PREFIX, '/a' -> PREFIX + 'a/' */
  dirPrefix (path: string): string {
    return path === '/' ? this.prefix : this.prefix + path.slice(1) + '/'
  }

  /** the key of a directory's attribute index */
  indexKey (dir: string): string {
    return dir === '/' ? this.prefix + INDEX_SUFFIX : this.keyOf(dir) + INDEX_SUFFIX
  }

  /** the path of a file's key ('a/b' -> '/a/b' under the prefix) */
  pathOfKey (key: string): string {
    return '/' + key.slice(this.prefix.length)
  }

  /** the path of a key under a directory prefix ('' if the key is the prefix itself) */
  pathOfDirPrefix (dirPrefix: string): string {
    return '/' + dirPrefix.slice(this.prefix.length).replace(/\/$/, '')
  }
}

export function splitPath (path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/')
  return { parent: i <= 0 ? '/' : path.slice(0, i), name: path.slice(i + 1) }
}

export function joinPath (dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name
}

/** A listing's child name, or undefined if no POSIX name can stand for it. */
export function usableName (name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return undefined
  if (name.includes('/') || name.includes('\0')) return undefined
  if (Buffer.byteLength(name) > NAME_MAX) return undefined
  return name
}

/** Checks a name a caller wants to create; throws the errno a POSIX fs would. */
export function checkNewName (names: Names, path: string): void {
  const { name } = splitPath(path)
  if (Buffer.byteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', 'name longer than 255 bytes', path)
  if (name.endsWith(INDEX_SUFFIX)) throw new FsError('EPERM', `names ending in ${INDEX_SUFFIX} are reserved for oortfs's attribute index`, path)
  if (name.endsWith(FOLDER_SUFFIX)) throw new FsError('EPERM', `names ending in ${FOLDER_SUFFIX} stand for directories (other tools' format)`, path)
  if (path === '/' + JOURNAL_DIR) throw new FsError('EPERM', `${JOURNAL_DIR} at the mount's root is reserved for oortfs's rename journal`, path)
  if (Buffer.byteLength(names.keyOf(path)) + 1 > KEY_MAX) throw new FsError('ENAMETOOLONG', 'key longer than 1,024 bytes', path)
}

/** S3 orders keys by their UTF-8 bytes, which JS string order does not follow above U+FFFF. */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** The key with its last character removed: a ListObjectsV2 StartAfter just before `key`. */
export function keyJustBefore (key: string): string {
  const chars = Array.from(key)
  chars.pop()
  return chars.join('')
}
