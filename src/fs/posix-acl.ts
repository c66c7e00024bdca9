// POSIX ACLs as Linux hands them to a filesystem, and the rules ext4 applies
// to them (the kernel's fs/posix_acl.c), which a libfuse 2.9 daemon must apply
// itself: without FUSE_POSIX_ACL the kernel passes `system.posix_acl_access`
// and `system.posix_acl_default` through as plain extended attributes, never
// checks permissions with them and never touches the mode. So:
//   - setting an access ACL sets the mode's permission bits from it, and one
//     that says no more than the mode (only its three base entries) is kept
//     as the mode alone, with no attribute (posix_acl_equiv_mode);
//   - chmod rewrites a stored access ACL's owner, mask (or group) and other
//     entries, so getfacl and ls -l agree (posix_acl_chmod);
//   - a new file or directory under a directory with a default ACL gets an
//     access ACL from it, masked by the mode asked for (posix_acl_create).
// Pure functions of bytes and modes: no store, no state.
//
// The format (include/uapi/linux/posix_acl_xattr.h): a u32 version (2), then
// one 8-byte entry per line of getfacl: u16 tag, u16 perm (rwx = 4|2|1), u32
// id (a uid or gid for named entries, 0xffffffff for the others), all little
// endian, in the order posix_acl_valid demands.
import { FsError } from '../errors.js'

export const ACL_ACCESS = 'system.posix_acl_access'
export const ACL_DEFAULT = 'system.posix_acl_default'

export const USER_OBJ = 0x01
export const USER = 0x02
export const GROUP_OBJ = 0x04
export const GROUP = 0x08
export const MASK = 0x10
export const OTHER = 0x20

const VERSION = 2
const HEADER_BYTES = 4
const ENTRY_BYTES = 8
const UNDEFINED_ID = 0xffffffff
const S_IFMT = 0o170000
const S_IFLNK = 0o120000

export interface AclEntry { tag: number, perm: number, id: number }

export function isAclName (name: string): boolean {
  return name === ACL_ACCESS || name === ACL_DEFAULT
}

/**
 * The entries of an ACL attribute, checked as the kernel checks one given to
 * setxattr (posix_acl_from_xattr, then posix_acl_valid): EINVAL if malformed.
 * No entries at all (the bare header) is a valid empty ACL: the kernel turns
 * it into a removal.
 */
export function parseAcl (value: Buffer, path?: string): AclEntry[] {
  const bad = (why: string): FsError => new FsError('EINVAL', `malformed POSIX ACL: ${why}`, path)
  if (value.length < HEADER_BYTES || (value.length - HEADER_BYTES) % ENTRY_BYTES !== 0) throw bad(`${value.length} bytes is not a header and whole entries`)
  const version = value.readUInt32LE(0)
  if (version !== VERSION) throw bad(`version ${version}, not 2`)
  const acl: AclEntry[] = []
  for (let at = HEADER_BYTES; at < value.length; at += ENTRY_BYTES) {
    const tag = value.readUInt16LE(at)
    const perm = value.readUInt16LE(at + 2)
    const named = tag === USER || tag === GROUP
    acl.push({ tag, perm, id: named ? value.readUInt32LE(at + 4) : UNDEFINED_ID })
  }
  const why = invalid(acl)
  if (why) throw bad(why)
  return acl
}

/**
 * posix_acl_valid: USER_OBJ, then USER entries, GROUP_OBJ, GROUP entries, a
 * MASK (required once there is a named entry), OTHER; perms within rwx. The
 * reason it is not valid, or undefined.
 */
function invalid (acl: AclEntry[]): string | undefined {
  if (acl.length === 0) return undefined
  const order = [USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER]
  let last = -1
  const seen = new Set<number>()
  for (const e of acl) {
    if (e.perm & ~7) return `permission bits 0x${e.perm.toString(16)} beyond rwx`
    const rank = order.indexOf(e.tag)
    if (rank < 0) return `unknown tag 0x${e.tag.toString(16)}`
    if (rank < last) return 'entries out of order'
    if (e.tag !== USER && e.tag !== GROUP && seen.has(e.tag)) return `tag 0x${e.tag.toString(16)} twice`
    if (e.id === UNDEFINED_ID && (e.tag === USER || e.tag === GROUP)) return 'a named entry without an id'
    seen.add(e.tag)
    last = rank
  }
  for (const base of [USER_OBJ, GROUP_OBJ, OTHER]) if (!seen.has(base)) return `no ${base === USER_OBJ ? 'owner' : base === GROUP_OBJ ? 'group' : 'other'} entry`
  if ((seen.has(USER) || seen.has(GROUP)) && !seen.has(MASK)) return 'named entries without a mask'
  return undefined
}

/** the attribute's bytes, as the kernel's posix_acl_to_xattr writes them (what getxattr answers on ext4) */
export function encodeAcl (acl: AclEntry[]): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + ENTRY_BYTES * acl.length)
  out.writeUInt32LE(VERSION, 0)
  acl.forEach((e, i) => {
    const at = HEADER_BYTES + ENTRY_BYTES * i
    out.writeUInt16LE(e.tag, at)
    out.writeUInt16LE(e.perm, at + 2)
    out.writeUInt32LE(e.tag === USER || e.tag === GROUP ? e.id : UNDEFINED_ID, at + 4)
  })
  return out
}

/**
 * posix_acl_equiv_mode: the permission bits the ACL gives (owner from
 * USER_OBJ, group from MASK if there is one, else from GROUP_OBJ, other from
 * OTHER), and whether the mode alone says as much (no named entry, no mask).
 */
export function aclMode (acl: AclEntry[]): { perms: number, equiv: boolean } {
  let perms = 0
  let equiv = true
  for (const e of acl) {
    if (e.tag === USER_OBJ) perms |= e.perm << 6
    else if (e.tag === GROUP_OBJ) perms |= e.perm << 3
    else if (e.tag === OTHER) perms |= e.perm
    else equiv = false
  }
  const mask = acl.find(e => e.tag === MASK)
  if (mask) perms = (perms & ~0o070) | (mask.perm << 3)
  return { perms, equiv }
}

/**
 * setxattr of an access ACL on a file of `mode`: the new mode, and the bytes
 * to store (undefined: none, the mode says it all, or an empty ACL removes
 * it). EINVAL if malformed. (ext4 also clears setgid when the caller is not
 * in the file's group; we are not told the caller.)
 */
export function setAccessAcl (value: Buffer, mode: number, path?: string): { mode: number, stored?: Buffer } {
  const acl = parseAcl(value, path)
  if (acl.length === 0) return { mode }
  const { perms, equiv } = aclMode(acl)
  return { mode: (mode & ~0o777) | perms, stored: equiv ? undefined : encodeAcl(acl) }
}

/**
 * posix_acl_chmod: a stored access ACL after chmod to `mode`: USER_OBJ,
 * OTHER, and MASK (or GROUP_OBJ when there is no mask) take the new bits;
 * named entries stay. A stored value we cannot read is left as it is.
 */
export function chmodAcl (stored: Buffer, mode: number): Buffer {
  let acl: AclEntry[]
  try { acl = parseAcl(stored) } catch { return stored }
  const hasMask = acl.some(e => e.tag === MASK)
  return encodeAcl(acl.map(e => {
    if (e.tag === USER_OBJ) return { ...e, perm: (mode >> 6) & 7 }
    if (e.tag === OTHER) return { ...e, perm: mode & 7 }
    if (e.tag === (hasMask ? MASK : GROUP_OBJ)) return { ...e, perm: (mode >> 3) & 7 }
    return e
  }))
}

/**
 * posix_acl_create: what a new file or directory of `mode` (its type bits
 * included, or not) gets under a directory whose default ACL is
 * `parentDefault`. The mode is masked by the ACL and the ACL by the mode;
 * an access ACL is kept only if it says more than the mode; a directory also
 * inherits the default ACL as its own. A symlink gets none. Without a default
 * ACL (or with one we cannot read: another tool's bytes), the mode as given.
 *
 * Linux applies the umask only when the parent has no default ACL; through
 * FUSE the kernel has already applied it to the mode we are given.
 */
export function aclOfNew (parentDefault: Buffer | undefined, mode: number, isDir: boolean): { mode: number, access?: Buffer, default?: Buffer } {
  if (!parentDefault || (mode & S_IFMT) === S_IFLNK) return { mode }
  let acl: AclEntry[]
  try { acl = parseAcl(parentDefault) } catch { return { mode } }
  if (acl.length === 0) return { mode }
  const inherited = isDir ? encodeAcl(acl) : undefined
  // posix_acl_create_masq: each base entry and the mode mask one another
  let perms = mode & 0o777
  let equiv = true
  const masked = acl.map(e => ({ ...e }))
  for (const e of masked) {
    if (e.tag === USER_OBJ) { e.perm &= (perms >> 6) & 7; perms &= (e.perm << 6) | ~0o700 }
    else if (e.tag === OTHER) { e.perm &= perms & 7; perms &= e.perm | ~0o007 }
    else if (e.tag !== GROUP_OBJ) equiv = false
  }
  const group = masked.find(e => e.tag === MASK) ?? masked.find(e => e.tag === GROUP_OBJ)!
  group.perm &= (perms >> 3) & 7
  perms &= (group.perm << 3) | ~0o070
  const out: { mode: number, access?: Buffer, default?: Buffer } = { mode: (mode & ~0o777) | (perms & 0o777) }
  if (!equiv) out.access = encodeAcl(masked)
  if (inherited) out.default = inherited
  return out
}
