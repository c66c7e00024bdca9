// The Content-Type a new object gets, as s3fs gives it: the MIME type of its
// name's extension, so a browser shown a presigned URL (or a web server in
// front of the bucket) plays, displays or downloads it as it should, and
// tools reading a bucket s3fs wrote see what they expect. The table is
// mime-db's, the one the `mime-types` package reads, kept up to date upstream
// (s3fs reads /etc/mime.types, which a machine may lack or have old).
// Only a new object takes its name's type: a rename, a rewrite or an
// attribute change keeps the type the object has (see README, Attributes).
import { createRequire } from 'node:module'

interface MimeEntry { source?: string, extensions?: string[] }

/** what s3fs sends when the name tells nothing (and what S3 itself would store) */
export const DEFAULT_TYPE = 'application/octet-stream'
/** a directory's `dir/` marker, as s3fs's mkdir makes it (s3fs reads this type, or a trailing '/', as a directory) */
export const DIRECTORY_TYPE = 'application/x-directory'
/** s3fs stores a symlink's target with this type, whatever its name */
export const SYMLINK_TYPE = 'application/octet-stream'

/** where two types claim an extension: the registered (IANA) one, then Apache's, as `mime-types` decides */
const SOURCE_RANK: Record<string, number> = { iana: 3, apache: 1, nginx: 0 }
const UNRANKED = 2

/**
 * Where the rule above picks a type almost no such file has: .mp4 ties
 * between application/mp4 and video/mp4 (both IANA's), but RFC 4337 keeps
 * application/mp4 for files with neither audio nor video; s3fs (Debian's
 * /etc/mime.types) says video/mp4, which browsers play inline.
 */
const OVERRIDES: Record<string, string> = { mp4: 'video/mp4' }

/** built once, when the module loads (at mount start, not in a FUSE call) */
const byExtension: Map<string, string> = (() => {
  const db = createRequire(import.meta.url)('mime-db') as Record<string, MimeEntry>
  const rank = (type: string): number => SOURCE_RANK[db[type]?.source ?? ''] ?? UNRANKED
  const map = new Map<string, string>()
  for (const [type, entry] of Object.entries(db)) {
    for (const ext of entry.extensions ?? []) {
      const had = map.get(ext)
      // as mime-types: a better source wins; on a tie an application/ type stays
      if (had && had !== DEFAULT_TYPE && (rank(had) > rank(type) || (rank(had) === rank(type) && had.startsWith('application/')))) continue
      map.set(ext, type)
    }
  }
  for (const [ext, type] of Object.entries(OVERRIDES)) map.set(ext, type)
  return map
})()

/**
 * The type of a new file at path, as s3fs's LookupMimeType: its last
 * extension's, else the one before it (`.notes.txt.1a2b3c`, the temporary
 * name rsync writes before its rename, is text/plain), else
 * application/octet-stream. Case does not matter (`IMG.JPG`).
 */
export function contentTypeOf (path: string): string {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase()
  const parts = name.split('.')
  if (parts.length < 2) return DEFAULT_TYPE
  const last = byExtension.get(parts[parts.length - 1]!)
  if (last) return last
  // s3fs looks one extension further only when the name has two dots or more
  return (parts.length > 2 && byExtension.get(parts[parts.length - 2]!)) || DEFAULT_TYPE
}
