// mknod: FIFOs, character and block devices and sockets (mkfifo, mknod, a Unix
// socket's bind), so `tar x` and `rsync -a` of a root filesystem or a chroot
// go through. Each is stored as s3fs stores one: an empty object whose
// x-amz-meta-mode carries the file-type bits, so s3fs shows ours as special
// files and we show its. A device's number goes in x-amz-meta-rdev (decimal
// st_rdev): s3fs keeps none (its mknod drops it, and it shows 0,0), but
// ignores the header and keeps it through its own rewrites.
// Nothing here serves the special file itself: the kernel opens a FIFO, a
// device or a socket on its own (a FUSE filesystem never gets their open,
// read or write), and every other call (chmod, chown, utimens, rename,
// unlink) treats it as the empty file it is stored as.
import type { Caller } from './api.js'
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import { contentTypeOf } from './content-type.js'
import type { FsContext } from './context.js'
import type { Entry } from './entry.js'
import { encodeMeta, S_IFMT, S_IFREG, type Meta } from './metadata.js'
import { checkNewName, splitPath } from './names.js'
import type { DeleteBatcher } from './write/delete-batcher.js'

export const S_IFIFO = 0o010000
export const S_IFCHR = 0o020000
export const S_IFBLK = 0o060000
export const S_IFSOCK = 0o140000

const SPECIAL = new Set([S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK])

/** a FIFO, device or socket mode: a file object of the bucket may carry one (s3fs's mknod writes them) */
export function isSpecialType (mode: number): boolean {
  return SPECIAL.has(mode & S_IFMT)
}

/** only devices have a number; a FIFO's or a socket's st_rdev is 0 */
export function hasDeviceNumber (mode: number): boolean {
  const type = mode & S_IFMT
  return type === S_IFCHR || type === S_IFBLK
}

/** what the special-file calls need of the open files: whether a name is taken (pending creates count) */
export interface NameLookup {
  entry(path: string): Promise<Entry | undefined>
  /** the mode, uid and gid of something new made at path (new-owner.ts) */
  ownerOfNew(path: string, mode: number, caller: Caller | undefined): Promise<Pick<Meta, 'mode' | 'uid' | 'gid'>>
}

export class SpecialFiles {
  constructor (
    private readonly ctx: FsContext,
    private readonly files: NameLookup,
    private readonly deletes: DeleteBatcher,
    /** a name made in a directory moves its mtime and ctime (write/dir-times.ts) */
    private readonly dirs: { entryChanged(dir: string): void },
  ) {}

  /**
   * One PUT of an empty object. `rdev` is the kernel's encoding of the device
   * number (glibc's makedev), kept as it is so stat shows the same major and
   * minor; it is stored for devices only.
   */
  async mknod (path: string, mode: number, rdev: number, caller?: Caller): Promise<void> {
    const type = mode & S_IFMT
    // libfuse sends regular files to create() instead; one that still comes here is an empty file
    if (!SPECIAL.has(type) && type !== S_IFREG && type !== 0) throw new FsError('EINVAL', `mknod of file type 0${type.toString(8)}`, path)
    checkNewName(this.ctx.names, path)
    if (await this.files.entry(path)) throw new FsError('EEXIST', undefined, path)
    const meta: Meta = await this.files.ownerOfNew(path, (type || S_IFREG) | (mode & 0o7777), caller)
    if (hasDeviceNumber(mode)) meta.rdev = rdev >>> 0
    const key = this.ctx.names.keyOf(path)
    const headers = encodeMeta(meta)
    // as s3fs: the type of the name's extension (a socket `app.sock` is application/octet-stream)
    const contentType = contentTypeOf(path)
    await this.deletes.before(key)
    const r = await this.ctx.store.put(key, Buffer.alloc(0), { metadata: headers, contentType, priority: Priority.Metadata })
    this.ctx.ns.changed(path, {
      kind: 'file', key, size: 0, etag: r.etag, lastModified: r.serverDate ?? new Date(this.ctx.now()),
      meta, metaKnown: true, headers, contentType,
    })
    this.dirs.entryChanged(splitPath(path).parent)
  }
}
