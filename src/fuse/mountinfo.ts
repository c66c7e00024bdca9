// Reads /proc/self/mountinfo: the one reliable way to know what is mounted where
// without touching the mounted directory (a stat of a hung FUSE mount hangs too).
import { readFileSync } from 'node:fs'
import { sep } from 'node:path'

export interface MountEntry {
  /** the kernel's unique id of this mount: a new mount at the same point has another */
  mountId: number
  /** absolute, as the kernel shows it (escapes undone) */
  mountpoint: string
  /** e.g. 'fuse.oortfs' */
  fstype: string
  /** the fsname, e.g. 'bucket' or 'bucket:/prefix' */
  source: string
}

export const OORTFS_FSTYPE = 'fuse.oortfs'

/** mountinfo escapes space, tab, newline and backslash as \ooo */
function unescape (field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

export function parseMountinfo (text: string): MountEntry[] {
  const out: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (!line) continue
    const fields = line.split(' ')
    const dash = fields.indexOf('-', 6)
    if (dash < 0 || fields.length < dash + 3) continue
    out.push({ mountId: Number(fields[0]), mountpoint: unescape(fields[4]!), fstype: fields[dash + 1]!, source: unescape(fields[dash + 2]!) })
  }
  return out
}

export function readMounts (file = '/proc/self/mountinfo'): MountEntry[] {
  try {
    return parseMountinfo(readFileSync(file, 'utf8'))
  } catch {
    return []
  }
}

/** the last (topmost) mount at exactly `dir`, an absolute canonical path */
export function mountAt (dir: string, mounts = readMounts()): MountEntry | undefined {
  return mounts.filter(m => m.mountpoint === dir).pop()
}

/** the deepest oortfs mount that contains `path` (absolute, canonical) */
export function oortfsMountContaining (path: string, mounts = readMounts()): MountEntry | undefined {
  let best: MountEntry | undefined
  for (const m of mounts) {
    if (m.fstype !== OORTFS_FSTYPE) continue
    const inside = path === m.mountpoint || path.startsWith(m.mountpoint === sep ? sep : m.mountpoint + sep)
    if (inside && (!best || m.mountpoint.length >= best.mountpoint.length)) best = m
  }
  return best
}
