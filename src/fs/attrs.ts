// Entry -> stat(2) attributes. Stored metadata wins; what is missing comes from
// the mount's defaults (uid, gid, umask) and the object's own size and date.
import type { Attr } from './api.js'
import type { Entry } from './entry.js'
import { clampedDate, exactNs, finerThanMs, nsOfMs } from './exact-time.js'
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './metadata.js'
import { hasDeviceNumber, isSpecialType } from './special-files.js'

export interface AttrDefaults {
  uid: number
  gid: number
  umask: number
  /** directories without a marker object are dated by the mount */
  mountTime: Date
}

const BLOCK = 512

/**
 * A directory's link count when its subdirectories are not known. find's
 * leaf optimisation (its -noleaf turns it off) assumes a directory holds
 * nlink - 2 subdirectories and stops looking for more once it has seen them,
 * and gnulib's fts (find, du) takes exactly 2 as "a leaf" on FUSE: a guess
 * lower than the truth could hide a tree. 1 is what btrfs reports and what
 * those tools read as "not counted": they look at every entry. (find 4.9 on
 * this mount finds every directory with 2 too, as readdir gives no d_type and
 * it stats each entry; older tools and other libraries need not.)
 */
export const NLINK_UNKNOWN = 1

/** `subdirs`: how many subdirectories a directory has, when a listing tells */
export function attrOf (entry: Entry, d: AttrDefaults, subdirs?: number): Attr {
  const meta = entry.meta ?? {}
  const isDir = entry.kind === 'dir'
  let mode = meta.mode
  // a stored mode whose type contradicts what the bucket shows is not trusted;
  // a file object may be a FIFO, a device or a socket (mknod stores them so, as s3fs does)
  if (mode !== undefined) {
    const type = mode & S_IFMT
    if (isDir ? type !== S_IFDIR : (type !== S_IFREG && type !== S_IFLNK && !isSpecialType(mode))) mode = undefined
  }
  if (mode === undefined) mode = isDir ? S_IFDIR | (0o777 & ~d.umask) : S_IFREG | (0o666 & ~d.umask)
  const mtime = shown(meta.mtimeMs, meta.mtimeNs) ?? shown(entry.lastModified?.getTime() ?? d.mountTime.getTime())!
  const atime = shown(meta.atimeMs, meta.atimeNs) ?? mtime
  const ctime = shown(meta.ctimeMs, meta.ctimeNs) ?? (entry.lastModified ? shown(entry.lastModified.getTime())! : mtime)
  const size = isDir ? 4096 : entry.size
  return {
    mode,
    uid: meta.uid ?? d.uid,
    gid: meta.gid ?? d.gid,
    size,
    mtime: mtime.date,
    atime: atime.date,
    ctime: ctime.date,
    // '.' and the parent's entry, and each subdirectory's '..'
    nlink: isDir ? (subdirs === undefined ? NLINK_UNKNOWN : 2 + subdirs) : 1,
    blocks: Math.ceil(size / BLOCK),
    blksize: 1024 * 1024,
    rdev: hasDeviceNumber(mode) ? meta.rdev ?? 0 : 0,
    ...(mtime.ns !== undefined ? { mtimeNs: mtime.ns } : {}),
    ...(atime.ns !== undefined ? { atimeNs: atime.ns } : {}),
    ...(ctime.ns !== undefined ? { ctimeNs: ctime.ns } : {}),
  }
}

/**
 * A time as stat shows it: a Date (clamped to a Date's range), and the ns
 * where they say more: an exact time still agreeing with ms (exact-time.ts),
 * or a time beyond a Date's range.
 */
function shown (ms: number | undefined, ns?: bigint): { date: Date, ns?: bigint } | undefined {
  if (ms === undefined || !Number.isFinite(ms)) return undefined
  const date = clampedDate(ms)
  const exact = exactNs(ms, ns)
  if (exact !== undefined && finerThanMs(ms, exact)) return { date, ns: exact }
  // a ms time past a Date's range (an index record of such a time written without its ns),
  // within the 64-bit seconds stat carries
  return date.getTime() !== Math.trunc(ms) && Math.abs(ms) < 9.2e21 ? { date, ns: nsOfMs(ms) } : { date }
}

export function rootEntry (prefix: string): Entry {
  return { kind: 'dir', key: prefix, size: 0 }
}
