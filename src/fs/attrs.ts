// Entry -> stat(2) attributes. Stored metadata wins; what is missing comes from
// the mount's defaults (uid, gid, umask) and the object's own size and date.
import type { Attr } from './api.js'
import type { Entry } from './entry.js'
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

export function attrOf (entry: Entry, d: AttrDefaults): Attr {
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
  const mtime = meta.mtimeMs !== undefined ? new Date(meta.mtimeMs) : (entry.lastModified ?? d.mountTime)
  const size = isDir ? 4096 : entry.size
  return {
    mode,
    uid: meta.uid ?? d.uid,
    gid: meta.gid ?? d.gid,
    size,
    mtime,
    atime: meta.atimeMs !== undefined ? new Date(meta.atimeMs) : mtime,
    ctime: meta.ctimeMs !== undefined ? new Date(meta.ctimeMs) : (entry.lastModified ?? mtime),
    nlink: isDir ? 2 : 1,
    blocks: Math.ceil(size / BLOCK),
    blksize: 1024 * 1024,
    rdev: hasDeviceNumber(mode) ? meta.rdev ?? 0 : 0,
  }
}

export function rootEntry (prefix: string): Entry {
  return { kind: 'dir', key: prefix, size: 0 }
}
