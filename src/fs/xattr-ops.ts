// Extended attributes: setxattr, getxattr, listxattr, removexattr. Any name
// is stored (s3fs's x-amz-meta-xattr: xattr-header.ts) but `system.*`, whose
// names belong to the kernel, apart from the two POSIX ACLs, which the daemon
// keeps as ext4 does (posix-acl.ts): an access ACL sets the mode, and one the
// mode says as well is stored as the mode alone.
//
// Reads answer from what the mount already knows. `ls -l` asks every file for
// `system.posix_acl_access` and `security.selinux`, and the kernel asks for
// `security.capability` before writes: a HEAD per file for them would undo
// "ls -l of 1,000 files is one listing". Known are: an open file's, what we
// wrote or HEADed, and what an attribute index that records attributes says
// (attr-index.ts). When none of them says, a name outside `user.` and
// `trusted.` is taken as absent, for free: an earlier oortfs could store no
// other, and this one gives every file that has one an index record (another
// tool's objects show their attributes where their metadata is read, as
// modes do: -o meta=head). A `user.` or `trusted.` name, which an earlier
// oortfs stored without a record when the mode was the default, costs one
// HEAD then, as it always did.
import { FsError } from '../errors.js'
import { defaultMode, type FsContext, writable } from './context.js'
import { S_IFDIR, S_IFMT, type Meta } from './metadata.js'
import type { OpenFiles } from './open-files.js'
import { ACL_ACCESS, ACL_DEFAULT, isAclName, parseAcl, setAccessAcl } from './posix-acl.js'
import { storedMeta } from './stored-meta.js'
import type { DirTimes } from './write/dir-times.js'

/** setxattr(2)'s flags, and the limits Linux puts on a name and a value */
const XATTR_CREATE = 1
const XATTR_REPLACE = 2
const XATTR_NAME_MAX = 255
const XATTR_SIZE_MAX = 65536

/** rewrites path's attributes with change applied (AttrOps.setMeta) */
export type SetMeta = (path: string, change: (m: Meta) => Meta) => Promise<void>

export class XattrOps {
  constructor (
    private readonly ctx: FsContext,
    private readonly files: OpenFiles,
    private readonly dirs: DirTimes,
    private readonly setMeta: SetMeta,
  ) {}

  /** Linux's rules: flags XATTR_CREATE (EEXIST if there) and XATTR_REPLACE (ENODATA if not); sizes as ext4 answers them */
  async setxattr (path: string, name: string, value: Buffer, flags: number): Promise<void> {
    checkName(name, path)
    writable(this.ctx, path)
    if (value.length > XATTR_SIZE_MAX) throw new FsError('E2BIG', 'attribute value larger than 64 KiB', path)
    if (flags & (XATTR_CREATE | XATTR_REPLACE)) {
      const has = name in await this.xattrs(path)
      if (flags & XATTR_CREATE && has) throw new FsError('EEXIST', `${name} exists (XATTR_CREATE)`, path)
      if (flags & XATTR_REPLACE && !has) throw new FsError('ENODATA', `${name} does not exist (XATTR_REPLACE)`, path)
    }
    if (name === ACL_ACCESS) return this.setAccessAcl(path, value)
    if (name === ACL_DEFAULT) return this.setDefaultAcl(path, value)
    await this.setMeta(path, m => ({ ...m, xattr: { ...m.xattr, [name]: Buffer.from(value) } }))
  }

  async getxattr (path: string, name: string): Promise<Buffer | undefined> {
    // never stored: no need to know the file
    if (isKernelName(name)) return undefined
    return (await this.xattrs(path, name))[name]
  }

  async listxattr (path: string): Promise<string[]> {
    return Object.keys(await this.xattrs(path))
  }

  async removexattr (path: string, name: string): Promise<void> {
    writable(this.ctx, path)
    if (!(name in await this.xattrs(path, name))) {
      // removing an ACL there is none of succeeds (ext4; setfacl -b, -k); other names are ENODATA
      if (isAclName(name)) return
      throw new FsError('ENODATA', name, path)
    }
    await this.setMeta(path, m => withXattr(m, name, undefined))
  }

  /** the mode's permission bits follow the ACL; an ACL the mode says as well is not kept (ext4's posix_acl_update_mode) */
  private async setAccessAcl (path: string, value: Buffer): Promise<void> {
    parseAcl(value, path) // EINVAL before anything is asked
    const fallback = defaultMode(this.ctx, await this.isDir(path) ? 'dir' : 'file')
    await this.setMeta(path, m => {
      const { mode, stored } = setAccessAcl(value, m.mode ?? fallback, path)
      return withXattr({ ...m, mode }, ACL_ACCESS, stored)
    })
  }

  /** a default ACL: directories only (EACCES otherwise, as Linux answers); an empty one removes it */
  private async setDefaultAcl (path: string, value: Buffer): Promise<void> {
    const acl = parseAcl(value, path)
    if (!await this.isDir(path)) throw new FsError('EACCES', 'only directories have a default ACL', path)
    await this.setMeta(path, m => withXattr(m, ACL_DEFAULT, acl.length > 0 ? Buffer.from(value) : undefined))
  }

  private async isDir (path: string): Promise<boolean> {
    if (path === '/') return true
    const e = await this.files.existing(path)
    return e.kind === 'dir' || ((e.meta?.mode ?? 0) & S_IFMT) === S_IFDIR
  }

  /**
   * The attributes path has, from what is known (see the top of this file);
   * `name`: the one asked for, which decides whether an unknown file costs a
   * HEAD. listxattr (no name) pays it, as it always did.
   */
  private async xattrs (path: string, name?: string): Promise<Record<string, Buffer>> {
    if (path === '/') return (await this.dirs.rootEntry()).meta?.xattr ?? {}
    const open = this.files.knownMeta(path)
    if (open) return open.xattr ?? {}
    // what the mount holds, fresh or not: the kernel looked the name up just before asking, and
    // `ls -l` asks twice per file; a lookup of its own would list a long directory again once
    // the listing is older than the freshness bound
    const e = this.ctx.ns.previous(path) ?? await this.files.existing(path)
    if (e.metaKnown || e.meta?.xattr) return e.meta?.xattr ?? {}
    if (name !== undefined && !earlierOortfsStored(name)) return {}
    return (await storedMeta(this.ctx, path, e)).meta.xattr ?? {}
  }
}

/** Linux's limits and our one refusal, in the order ext4 checks them */
function checkName (name: string, path: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > XATTR_NAME_MAX) throw new FsError('ERANGE', 'attribute name empty or longer than 255 bytes', path)
  if (isKernelName(name)) throw new FsError('ENOTSUP', `${name}: system.* attributes belong to the kernel (only the POSIX ACLs are stored)`, path)
}

/** system.* names other than the ACLs: the kernel's own (system.nfs4_acl, system.sockprotoname...), never stored */
function isKernelName (name: string): boolean {
  return name.startsWith('system.') && !isAclName(name)
}

/** the only namespaces an earlier oortfs stored, sometimes without an index record */
function earlierOortfsStored (name: string): boolean {
  return name.startsWith('user.') || name.startsWith('trusted.')
}

/** m with one attribute set, or removed (undefined) */
function withXattr (m: Meta, name: string, value: Buffer | undefined): Meta {
  const xattr = { ...m.xattr }
  if (value) xattr[name] = value
  else delete xattr[name]
  return { ...m, xattr }
}
