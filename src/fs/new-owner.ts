// Whose a new file, directory, symlink or special file is. The caller's, as on
// a local filesystem: the uid and gid of the process that made it (the FUSE
// request's), so on a mount shared with allow_other each user owns what they
// create and the kernel's permission checks (default_permissions) treat it so.
// With System V's rule for a setgid directory, as ext4 applies it: what is
// made in it takes the directory's group, and a new directory keeps the setgid
// bit, so a team folder's files stay the team's. The kernel has already
// applied the caller's umask to the mode, and stripped a file's setgid bit
// where the caller may not keep it.
import type { Caller } from './api.js'
import type { Meta } from './metadata.js'
import { S_IFDIR, S_IFMT } from './metadata.js'

export const S_ISGID = 0o2000

/** the effective owner and mode of the directory something is made in */
export interface ParentAttrs {
  mode: number
  gid: number
}

/** the mode, uid and gid of something new; `mode` carries its file type */
export function ownerOfNew (mode: number, caller: Caller | undefined, fallback: { uid: number, gid: number }, parent: ParentAttrs | undefined): Pick<Meta, 'mode' | 'uid' | 'gid'> {
  const uid = caller?.uid ?? fallback.uid
  let gid = caller?.gid ?? fallback.gid
  if (parent && parent.mode & S_ISGID) {
    gid = parent.gid
    if ((mode & S_IFMT) === S_IFDIR) mode |= S_ISGID
  }
  return { mode, uid, gid }
}
