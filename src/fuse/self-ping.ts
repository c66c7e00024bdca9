// Is the mount at our mount point still ours? After `umount; mount` at once
// it is a new process's (the kernel even reuses the mount id): this process
// must neither take it for its own, nor unmount it, nor answer for it on the
// control socket. It asks by a lookup of a name only it would hear about.
// The unmount watcher and control requests ask at the same time: each ping
// waits for its own name.
import { stat as fspStat } from 'node:fs/promises'
import { join } from 'node:path'
import { PING_PREFIX } from './adapter.js'
import { mountAt } from './mountinfo.js'

export interface SelfPing {
  /** to be called by the FUSE adapter with each PING_PREFIX name it is asked to look up */
  heard(path: string): void
  stillOurs(): Promise<boolean>
}

export function selfPing (mp: string, opts: { timeoutMs?: number, mounted?: () => boolean, stat?: (path: string) => Promise<unknown> } = {}): SelfPing {
  const { timeoutMs = 5000, mounted = () => !!mountAt(mp), stat = fspStat } = opts
  let serial = 0
  /** names of pings in flight -> whether our adapter heard them; names we did not send are not kept */
  const waiting = new Map<string, boolean>()
  /**
   * a lookup of ours that outlived its ping (the mount busy: a long rename
   * holds the root's lock). It holds one of libuv's 4 threads until it ends,
   * and the staging reads and DNS lookups of the uploads need them: no other
   * lookup is sent while it hangs, and the mount is taken for ours (busy).
   */
  let stuck: Promise<unknown> | undefined
  const ping = async (): Promise<boolean> => {
    const name = `${PING_PREFIX}${process.pid}-${++serial}`
    waiting.set(name, false)
    try {
      // a busy or hung mount of ours answers late: that is no proof it is another's
      const looked = stat(join(mp, name.slice(1))).then(() => true, () => true)
      const settled = await Promise.race([looked, new Promise<boolean>(resolve => setTimeout(() => resolve(false), timeoutMs).unref())])
      if (!settled) {
        stuck = looked
        void looked.finally(() => { if (stuck === looked) stuck = undefined })
      }
      return waiting.get(name) === true || !settled
    } finally {
      waiting.delete(name)
    }
  }
  return {
    heard: path => { if (waiting.has(path)) waiting.set(path, true) },
    stillOurs: async () => {
      if (!mounted()) return false
      if (stuck) return true
      return await ping()
    },
  }
}
