// Each mounting process has a staging folder of its own, made when it starts
// serving: staging-<mount key>-<pid>-<random>, inside the parent the user gave
// (staging_dir=, which is never chmod-ed: the folder inside it is private) or
// this user's private runtime folder. So a new mount at the same point never
// shares, or loses, its files to an old process still exiting (a systemd
// restart, `umount; mount` at once); and one that finds what an earlier mount
// of the same point could not save says so, and leaves it be.
import { mkdtemp, readdir, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { mountKey } from './config.js'

export interface StagingFolder {
  dir: string
  /** earlier mounts' folders still holding files: theirs to recover, never ours to remove */
  leftovers: { dir: string, files: number, pid: number, running: boolean }[]
}

function namePrefix (mountpoint: string): string {
  return `staging-${mountKey(mountpoint)}-`
}

/** makes this process's folder (mode 0700) in parent, and reports earlier ones with files in them */
export async function makeStagingFolder (parent: string, mountpoint: string): Promise<StagingFolder> {
  const prefix = namePrefix(mountpoint)
  const dir = await mkdtemp(join(parent, `${prefix}${process.pid}-`))
  const leftovers: StagingFolder['leftovers'] = []
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const path = join(parent, name)
    if (!name.startsWith(prefix) || path === dir) continue
    const pid = Number(name.slice(prefix.length).split('-')[0])
    const files = (await readdir(path).catch(() => [])).length
    if (files === 0) {
      // an empty folder of a process that is gone: nothing in it to keep
      if (!alive(pid)) await rmdir(path).catch(() => {})
      continue
    }
    leftovers.push({ dir: path, files, pid, running: alive(pid) })
  }
  return { dir, leftovers }
}

/** the lines a mount logs about what earlier mounts left */
export function describeLeftovers (f: StagingFolder, mountpoint: string): string[] {
  return f.leftovers.map(l => l.running
    ? `another oortfs (pid ${l.pid}) still has ${l.files} unsaved file(s) of ${mountpoint} in ${l.dir}: it is still saving them`
    : `an earlier mount of ${mountpoint} (pid ${l.pid}) left ${l.files} unsaved file(s) in ${l.dir}: kept there, with the bytes it could not upload`)
}

/** every staging folder of a mount point in parent, this process's and others' */
export async function stagingFoldersOf (parent: string, mountpoint: string): Promise<string[]> {
  const prefix = namePrefix(mountpoint)
  return (await readdir(parent).catch(() => [] as string[])).filter(n => n.startsWith(prefix)).map(n => join(parent, n))
}

/** removes the folder if nothing is left in it (everything saved) */
export async function removeIfEmpty (dir: string): Promise<void> {
  await rmdir(dir).catch(() => {})
}

function alive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}
