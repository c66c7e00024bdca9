// What the patched binding (scripts/patch-fuse-native.mjs) tells about the
// request now being dispatched: who asks, and a utimens call's exact times.
// Valid only synchronously inside an op's first call: the binding clears it
// once the op returns to the event loop.
import type { Caller } from '../fs/api.js'
import { fuseBinding } from './fuse-addon.js'

/** the request's 8 words: uid, gid, pid, umask, atime s, atime ns, mtime s, mtime ns */
function words (): BigInt64Array | undefined {
  const buf = fuseBinding().fuse_native_request?.()
  if (!buf || buf.length < 64) return undefined
  return new BigInt64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 64))
}

/** the calling process of the op being dispatched; undefined outside one */
export function requestCaller (): Caller | undefined {
  const w = words()
  if (!w) return undefined
  return { uid: Number(w[0]), gid: Number(w[1]), pid: Number(w[2]), umask: Number(w[3]) }
}

/** Linux's UTIME_NOW / UTIME_OMIT in tv_nsec */
const UTIME_NOW = (1n << 30n) - 1n
const UTIME_OMIT = (1n << 30n) - 2n

/** a utimens call's times as nanoseconds since the epoch; undefined for UTIME_NOW and UTIME_OMIT (the ms arguments say which) */
export function requestTimes (): { atimeNs?: bigint, mtimeNs?: bigint } | undefined {
  const w = words()
  if (!w) return undefined
  const ns = (sec: bigint, nsec: bigint): bigint | undefined =>
    nsec === UTIME_NOW || nsec === UTIME_OMIT ? undefined : sec * 1_000_000_000n + nsec
  return { atimeNs: ns(w[4]!, w[5]!), mtimeNs: ns(w[6]!, w[7]!) }
}

/** the write being dispatched was made by the binding itself (the write shortcut): its bytes, or -errno; undefined if not */
export function requestWrote (): number | undefined {
  return (fuseBinding() as { oortfs_sc_wrote?: () => number | undefined }).oortfs_sc_wrote?.()
}
