// Paths of the mount <-> keys of the bucket. A path '/a/b' is the key
// PREFIX + 'a/b'; the directory '/a' is every key under PREFIX + 'a/'.
// Names reach S3's own limit: a whole key (prefix included) of 1,024 UTF-8
// bytes. Keys that cannot be names (empty segments from 'a//b', '.', '..', a
// name longer than a directory listing can carry) are left out of listings
// rather than shown broken, and the log names them (unnamable below).
import { FsError } from '../errors.js'
import { log } from '../util/log.js'

/**
 * The longest name, in UTF-8 bytes (what statfs reports as namemax). Linux's
 * VFS leaves a component's length to the filesystem, and FUSE's kernel module
 * refuses only names over 1,024 bytes (FUSE_NAME_MAX; measured on 6.18: 1,025
 * is ENAMETOOLONG before any call reaches us). fuse-native then copies each
 * readdir name into a 1,024-byte buffer with its NUL, cutting longer ones to
 * 1,023 bytes: a 1,024-byte name could be looked up but would be listed as
 * another name. So 1,023, and a key never needs more: only a key of exactly
 * 1,024 bytes at the root of a mount without a prefix has a longer name.
 */
export const NAME_MAX = 1023
/** S3's limit on a whole key, in UTF-8 bytes */
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

/** why no POSIX name can stand for a listing's child name, or undefined if it can be one */
export function unnamable (name: string): string | undefined {
  // the kernel resolves '.' and '..' itself and never asks for them; '' is
  // the empty segment of 'a//b'
  if (name === '' || name === '.' || name === '..') return `'${name}' is not a name`
  // '/' separates names; a C string (every name the kernel passes) ends at NUL
  if (name.includes('/') || name.includes('\0')) return 'a name cannot hold / or NUL'
  if (Buffer.byteLength(name) > NAME_MAX) return `a name longer than ${NAME_MAX} bytes cannot pass FUSE`
  return undefined
}

/** directory prefixes whose left-out keys were logged already: once each, bounded */
const toldDirs = new Set<string>()

/**
 * A key left out of a listing is never silently hidden: the first of each
 * directory is logged by its key (the SDK or another S3 tool still reaches
 * it), once per directory and mount, however often the directory is listed.
 */
export function leftOut (dirPrefix: string, key: string, why: string): void {
  if (toldDirs.has(dirPrefix)) return
  if (toldDirs.size >= 10_000) toldDirs.clear()
  toldDirs.add(dirPrefix)
  log.warn(`key ${JSON.stringify(key)} is not shown in the mount (${why}); S3 tools still reach it. Others like it under ${JSON.stringify(dirPrefix)} are not logged`)
}

/** whether a key is within S3's 1,024 bytes */
export function keyFits (key: string): boolean {
  return Buffer.byteLength(key) <= KEY_MAX
}

/**
 * Checks a name a caller wants to create as a file (or symlink) or a
 * directory (whose marker key ends in '/'); throws the errno a POSIX fs would.
 */
export function checkNewName (names: Names, path: string, kind: 'file' | 'dir' = 'file'): void {
  const { name } = splitPath(path)
  if (Buffer.byteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', `name longer than ${NAME_MAX} bytes`, path)
  if (name.endsWith(INDEX_SUFFIX)) throw new FsError('EPERM', `names ending in ${INDEX_SUFFIX} are reserved for oortfs's attribute index`, path)
  if (name.endsWith(FOLDER_SUFFIX)) throw new FsError('EPERM', `names ending in ${FOLDER_SUFFIX} stand for directories (other tools' format)`, path)
  if (path === '/' + JOURNAL_DIR) throw new FsError('EPERM', `${JOURNAL_DIR} at the mount's root is reserved for oortfs's rename journal`, path)
  const key = kind === 'dir' ? names.dirPrefix(path) : names.keyOf(path)
  if (!keyFits(key)) throw new FsError('ENAMETOOLONG', `key of ${Buffer.byteLength(key)} bytes, over S3's ${KEY_MAX}`, path)
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
