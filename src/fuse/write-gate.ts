// The gate a mount closes when it starts shutting down (SIGTERM, SIGINT, an
// external umount, `oortfs unmount`): from then on every call that would change
// something answers EROFS, and closing waits for the changes already under way.
// The final save then sees every byte a write() was ever acknowledged for:
// without the gate, a writer still running (dd, a log appender) could get bytes
// acknowledged after the save and before the unmount, and they would be lost.
import { OpenFlags, type FileSystem } from '../fs/api.js'
import { FsError } from '../errors.js'

/** calls that change the filesystem; open() only with write access or O_TRUNC */
const CHANGES = new Set<string>([
  'create', 'write', 'written', 'truncate', 'ftruncate', 'unlink', 'mkdir', 'rmdir', 'rename', 'chmod', 'chown',
  'utimens', 'symlink', 'mknod', 'setxattr', 'removexattr',
])

function changes (name: string, args: unknown[]): boolean {
  if (name === 'open') {
    const flags = Number(args[1])
    return (flags & OpenFlags.O_ACCMODE) !== OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) !== 0
  }
  return CHANGES.has(name)
}

export interface WriteGate {
  /** the filesystem with the gate in front of it: give this to the FUSE adapter */
  readonly fs: FileSystem
  readonly closed: boolean
  /** changing calls under way */
  readonly pending: number
  /** refuses changes from now on; resolves once those under way have ended (or after `maxWaitMs`) */
  close(maxWaitMs: number): Promise<boolean>
}

export function writeGate (inner: FileSystem): WriteGate {
  let closed = false
  const running = new Set<Promise<unknown>>()
  const fs = new Proxy(inner, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof prop !== 'string' || typeof value !== 'function' || prop === 'flushAll') return value
      return (...args: unknown[]) => {
        if (!changes(prop, args)) return (value as (...a: unknown[]) => unknown).apply(target, args)
        // a write the FUSE binding made already (the write shortcut) is under way, not new: it is recorded, and waited for
        if (closed && prop !== 'written') return Promise.reject(new FsError('EROFS', 'the mount is shutting down: no more changes are accepted'))
        let p: Promise<unknown>
        try {
          p = Promise.resolve((value as (...a: unknown[]) => Promise<unknown>).apply(target, args))
        } catch (err) {
          p = Promise.reject(err)
        }
        running.add(p)
        void p.finally(() => running.delete(p)).catch(() => {})
        return p
      }
    },
  })
  return {
    fs,
    get closed () { return closed },
    get pending () { return running.size },
    async close (maxWaitMs: number): Promise<boolean> {
      closed = true
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<false>(resolve => { timer = setTimeout(() => resolve(false), maxWaitMs) })
      // the writes the binding took before now reach the core (as written(), counted above) before the wait ends
      const settled = Promise.resolve(inner.quietWrites?.()).then(() => Promise.allSettled([...running])).then(() => true as const)
      try {
        return await Promise.race([settled, timeout])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
