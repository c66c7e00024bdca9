// Long calls wait as long as their work moves. close(), fsync() and a rename
// of a directory of 30,000 keys may take minutes at 100 requests/s over a slow
// link: a fixed timeout would fail them with ETIMEDOUT while the work goes on
// and later succeeds. These calls get no fixed timeout from fuse-native;
// instead each fails with ETIMEDOUT only once the mount's transfers have made
// no progress (no request succeeded, no byte moved) for `stallMs`. Every other
// call keeps op_timeout as its plain limit.
import type { FileSystem } from '../fs/api.js'
import { FsError } from '../errors.js'
import { monotonic } from '../util/clock.js'

/** the calls whose work can be long, and so wait on progress, not on a clock */
export const PATIENT_CALLS = ['write', 'flush', 'fsync', 'release', 'rename', 'unlink', 'rmdir', 'truncate', 'ftruncate'] as const

export function patient (inner: FileSystem, progress: () => number, stallMs: number): FileSystem {
  // written(): a write the binding made, recorded and waited for as write() is
  const calls = new Set<string>([...PATIENT_CALLS, 'written'])
  return new Proxy(inner, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof prop !== 'string' || typeof value !== 'function' || !calls.has(prop)) return value
      return (...args: unknown[]) => whileMoving((value as (...a: unknown[]) => Promise<unknown>).apply(target, args), prop, progress, stallMs)
    },
  })
}

/** p, unless nothing moved for stallMs first: then ETIMEDOUT (the work itself goes on) */
export function whileMoving<T> (p: Promise<T>, what: string, progress: () => number, stallMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let last = progress()
    let since = monotonic()
    const timer = setInterval(() => {
      const now = progress()
      if (now !== last) { last = now; since = monotonic(); return }
      if (monotonic() - since < stallMs) return
      clearInterval(timer)
      reject(new FsError('ETIMEDOUT', `${what}: the server made no progress for ${Math.round(stallMs / 1000)} s (op_timeout)`))
    }, Math.max(10, Math.min(1000, stallMs / 4)))
    p.then(v => { clearInterval(timer); resolve(v) }, (err: unknown) => { clearInterval(timer); reject(err) })
  })
}
