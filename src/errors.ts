// One error type for the whole core: it carries the errno name a FUSE caller
// will see. Only the FUSE adapter turns the name into fuse-native's number.
import { constants as osConstants } from 'node:os'

const ERRNOS = [
  'EPERM', 'ENOENT', 'EIO', 'EBADF', 'EAGAIN', 'ENOMEM', 'EACCES', 'EBUSY',
  'EEXIST', 'EXDEV', 'ENOTDIR', 'EISDIR', 'EINVAL', 'EFBIG', 'ENOSPC',
  'EROFS', 'ENAMETOOLONG', 'ENOSYS', 'ENOTEMPTY', 'ELOOP', 'ENODATA',
  'ERANGE', 'ENOTSUP', 'ETIMEDOUT', 'ECONNREFUSED', 'E2BIG', 'ESTALE',
] as const

export type Errno = typeof ERRNOS[number]

export class FsError extends Error {
  readonly errno: Errno
  readonly path?: string
  constructor (errno: Errno, message?: string, path?: string, options?: { cause?: unknown }) {
    super(message ? `${errno}: ${message}` : errno, options)
    this.name = 'FsError'
    this.errno = errno
    this.path = path
  }
}

export function fsError (errno: Errno, path?: string, message?: string): FsError {
  return new FsError(errno, message ?? path, path)
}

/** The errno name of anything thrown below the adapter; unknown failures are EIO. */
export function errnoOf (err: unknown): Errno {
  if (err instanceof FsError) return err.errno
  const errno = (err as { errno?: unknown })?.errno
  if (typeof errno === 'string') return errno as Errno
  return 'EIO'
}

const KNOWN = new Set<string>(ERRNOS)
/** the core's name of each errno number (11 is EAGAIN, not EWOULDBLOCK; 95 ENOTSUP, not EOPNOTSUPP) */
const ERRNO_NAMES = new Map<number, Errno>(Object.entries(osConstants.errno as Record<string, number>)
  .filter(([name]) => KNOWN.has(name)).map(([name, n]) => [n, name as Errno]))

/** an errno number's name (28 -> ENOSPC) if the core has it, else EIO */
export function errnoName (n: number): Errno {
  return ERRNO_NAMES.get(n) ?? 'EIO'
}
