// POSIX attributes stored on an object as s3fs stores them, so s3fs, rclone and
// oortfs read each other's buckets: x-amz-meta-mode is the decimal st_mode with
// the file-type bits; uid/gid decimal; rdev (ours alone: s3fs keeps no device
// number) decimal; mtime/ctime/atime as `seconds` or
// `seconds.fraction` (to the ns: exact-time.ts); xattr as URL-encoded JSON of
// base64 values, byte for byte as s3fs writes it (xattr-header.ts).
import { FsError } from '../errors.js'
import { exactNs, formatNs, msOfNs, nsOfMs, parseNs } from './exact-time.js'
import { decodeXattrHeader, encodeXattrHeader } from './xattr-header.js'

export interface Meta {
  mode?: number
  uid?: number
  gid?: number
  /** a character or block device's number, as stat(2)'s st_rdev shows it (special-files.ts) */
  rdev?: number
  mtimeMs?: number
  atimeMs?: number
  ctimeMs?: number
  /**
   * the same times to the ns, of any 64-bit second value; each counts only
   * while it agrees with its ms field (exact-time.ts): whoever moves a time
   * sets the ms field, and a stale exact value is then ignored
   */
  mtimeNs?: bigint
  atimeNs?: bigint
  ctimeNs?: bigint
  /**
   * extended attributes by name. On an entry whose attributes are only the
   * attribute index's word (not metaKnown), `{}` says it has none and
   * absence says nobody knows (xattr-ops.ts)
   */
  xattr?: Record<string, Buffer>
}

export const S_IFMT = 0o170000
export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000

export function decodeMeta (headers: Record<string, string> | undefined): Meta {
  const meta: Meta = {}
  if (!headers) return meta
  for (const field of ['mode', 'uid', 'gid', 'rdev'] as const) {
    const n = parseIntStrict(headers[field])
    if (n !== undefined) meta[field] = n
  }
  for (const field of ['mtime', 'atime', 'ctime'] as const) {
    const ns = parseNs(headers[field])
    if (ns === undefined) continue
    meta[`${field}Ms`] = msOfNs(ns)
    meta[`${field}Ns`] = ns
  }
  const xattr = decodeXattrHeader(headers.xattr)
  if (xattr && Object.keys(xattr).length > 0) meta.xattr = xattr
  return meta
}

export function encodeMeta (meta: Meta): Record<string, string> {
  const out: Record<string, string> = {}
  if (meta.mode !== undefined) out.mode = String(meta.mode)
  if (meta.uid !== undefined) out.uid = String(meta.uid)
  if (meta.gid !== undefined) out.gid = String(meta.gid)
  if (meta.rdev !== undefined) out.rdev = String(meta.rdev)
  for (const field of ['mtime', 'atime', 'ctime'] as const) {
    const ms = meta[`${field}Ms`]
    // the exact time while it still agrees with the ms one, else the ms one (to the ns it holds)
    if (ms !== undefined && Number.isFinite(ms)) out[field] = formatNs(exactNs(ms, meta[`${field}Ns`]) ?? nsOfMs(ms))
  }
  const xattr = meta.xattr && encodeXattrHeader(meta.xattr)
  if (xattr) out.xattr = xattr
  return out
}

const OURS = new Set(['mode', 'uid', 'gid', 'rdev', 'mtime', 'atime', 'ctime', 'xattr'])

/** x-amz-meta entries that are not ours to interpret, kept when we rewrite an object */
export function foreignHeaders (headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (!OURS.has(k)) out[k] = v
  return out
}

function parseIntStrict (s: string | undefined): number | undefined {
  if (s === undefined || !/^\s*\d+\s*$/.test(s)) return undefined
  return Number(s)
}


/** S3's limit on an object's user metadata: the UTF-8 bytes of every x-amz-meta- name and value */
export const METADATA_MAX_BYTES = 2048

/** the size S3 counts for a set of user metadata headers */
export function metadataBytes (headers: Record<string, string>): number {
  let n = 0
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v)
  return n
}

/** what ext4 answers when an inode has no room left for another attribute: ENOSPC, before any upload could fail */
export function checkMetadataSize (headers: Record<string, string>, path: string): void {
  const n = metadataBytes(headers)
  if (n > METADATA_MAX_BYTES) {
    throw new FsError('ENOSPC', `the attributes would take ${n} bytes of S3 metadata, over its ${METADATA_MAX_BYTES}-byte limit`, path)
  }
}
