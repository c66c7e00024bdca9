// Whether this process's FUSE session still lives. libfuse holds the
// /dev/fuse descriptor for as long as the kernel keeps the connection, and
// closes it once the connection ends. After `umount -l` (a lazy unmount) the
// kernel keeps the connection, detached from every path, until the last file
// open there (or a process's cwd there) lets go: the files open then must go
// on working, and only after that may the mount save and exit. A plain
// `umount` ends the connection at once, so the descriptor closes at once.
import { readdirSync, readlinkSync } from 'node:fs'

const FD_DIR = '/proc/self/fd'

/** descriptor numbers of this process linked to /dev/fuse */
export function fuseDescriptors (): Set<string> {
  const out = new Set<string>()
  let fds: string[] = []
  try { fds = readdirSync(FD_DIR) } catch { return out }
  for (const fd of fds) {
    try { if (readlinkSync(`${FD_DIR}/${fd}`) === '/dev/fuse') out.add(fd) } catch { /* closed meanwhile */ }
  }
  return out
}

export interface FuseSession {
  /** true while the kernel keeps the connection (libfuse still holds its descriptor) */
  alive(): boolean
}

/**
 * The session of the mount made between `before` (descriptors taken before
 * mounting) and now: the /dev/fuse descriptors that are new. Unknown (no
 * /proc, nothing new found) means not alive, so an unmount is taken as final.
 */
export function sessionSince (before: Set<string>): FuseSession {
  const mine = [...fuseDescriptors()].filter(fd => !before.has(fd))
  return {
    alive: () => {
      if (mine.length === 0) return false
      const now = fuseDescriptors()
      return mine.some(fd => now.has(fd))
    },
  }
}
