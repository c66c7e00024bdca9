// fuse-native's Fuse with the mount options and the fixes oortfs needs:
// - _fuseOptions(): big writes, fsname/subtype, allow_other, ro (fuse-native has
//   no option for big_writes; without it writes arrive 4 KiB at a time).
// - _op_fgetattr: stock fuse-native answers fgetattr with ops.getattr(path), so
//   a just-created or unlinked open file would be looked up by name.
// - _op_utimens: the patched binding (scripts/patch-fuse-native.mjs) sends
//   UTIME_NOW / UTIME_OMIT as 2^64-1 / 2^64-2, which differ only in the low word,
//   and the exact timespecs through fuse-request.ts.
// - _op_getattr/_op_fgetattr: the patched binding's stat layout, with 64-bit
//   seconds and nanoseconds (statArray).
// - _op_getxattr/_op_listxattr: stock fuse-native copies a value larger than
//   the caller's buffer anyway and returns its full length; answer ERANGE.
import { execFile } from 'node:child_process'
import { Fuse } from './fuse-addon.js'
import type { Config } from '../config-types.js'
import type { FuseOps, FuseStat } from './adapter.js'
import { requestTimes } from './fuse-request.js'
import { PATIENT_CALLS } from './patience.js'

type Signal = (code: number, ...rest: unknown[]) => void
const E = Fuse as unknown as Record<string, number>

// fuse-native unmounts (at close, and before a forced mount) with exec() of
// `fusermount -uz "PATH"`, through a shell: a mount point with $ or a backquote
// in its name was unmounted wrong, and $(...) in it ran a command. The same
// call, without a shell.
;(Fuse as unknown as { unmount: (mnt: string, cb: (err: Error | null) => void) => void }).unmount =
  (mnt, cb) => { execFile('fusermount', ['-uz', mnt], err => cb(err)) }

/** a value inside libfuse's -o list: its commas and backslashes escaped, so no name can add an option */
export function escapeOption (value: string): string {
  return value.replace(/[\\,]/g, c => '\\' + c)
}

/** The -o list handed to libfuse 2.9 (each was checked on a real mount). */
export function fuseOptionList (config: Pick<Config, 'fsname' | 'allowOther' | 'readOnly' | 'nonEmpty'> & Partial<Pick<Config, 'kernelFlags'>>): string[] {
  const o = [
    `fsname=${escapeOption(config.fsname)}`,
    'subtype=oortfs',
    // libfuse 2.9 caps max_write at its 128 KiB channel buffer: a 1 MiB dd
    // arrives as 128 KiB writes (still 30x fewer calls than 4 KiB ones)
    'big_writes', 'max_write=1048576', 'max_read=1048576',
    // keep the page cache across opens while mtime and size stay the same
    'auto_cache',
    // the kernel keeps no name or attribute of its own (libfuse's default is
    // 1 s each): the freshness bound (attr_ttl) is then ours alone, an open
    // sees the size and mtime our cache holds, and auto_cache drops the pages
    // of an object another client replaced. Our cache answers these calls
    // without a request.
    'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0',
  ]
  // the kernel checks every call against the modes and owners we report, as
  // on a local filesystem: who may open, create, unlink in a sticky directory,
  // chmod, chown or set times (EACCES/EPERM). Without it any user let in
  // (the mounting one, or all with allow_other) could do anything.
  o.push('default_permissions')
  if (config.allowOther) o.push('allow_other')
  if (config.readOnly) o.push('ro')
  if (config.nonEmpty) o.push('nonempty')
  // noexec, nosuid, nodev, sync...: the kernel enforces them
  o.push(...config.kernelFlags ?? [])
  return o
}

/**
 * The stat array the patched binding reads: fuse-native's getStatArray layout
 * (18 uint32) up to the times, which are each an int64 of seconds (two words)
 * and the nanoseconds: 21 words. Exact times (atimeNs...) win over the Dates.
 */
export const STAT_WORDS = 21
export function statArray (st?: Partial<FuseStat>): Uint32Array {
  const ints = new Uint32Array(STAT_WORDS)
  const put64 = (i: number, n: number): void => {
    ints[i] = n % 4294967296
    ints[i + 1] = Math.floor(n / 4294967296)
  }
  // a file time as seconds and nanoseconds; no date at all: wall time
  const putTime = (i: number, ns: bigint | undefined, d: Date | undefined): void => {
    const ms = d?.getTime()
    const t = ns ?? BigInt(ms !== undefined && Number.isFinite(ms) ? ms : Date.now()) * 1_000_000n
    let sec = t / 1_000_000_000n
    let nsec = t % 1_000_000_000n
    // BigInt division truncates toward zero: a time before the epoch borrows a second
    if (nsec < 0n) { sec -= 1n; nsec += 1_000_000_000n }
    const raw = BigInt.asUintN(64, sec)
    ints[i] = Number(raw & 0xffffffffn)
    ints[i + 1] = Number(raw >> 32n)
    ints[i + 2] = Number(nsec)
  }
  ints[0] = st?.mode ?? 0
  ints[1] = st?.uid ?? 0
  ints[2] = st?.gid ?? 0
  put64(3, st?.size ?? 0)
  ints[6] = st?.nlink || 1
  ints[8] = st?.rdev ?? 0
  ints[9] = st?.blksize ?? 0
  put64(10, st?.blocks ?? 0)
  putTime(12, st?.atimeNs, st?.atime)
  putTime(15, st?.mtimeNs, st?.mtime)
  putTime(18, st?.ctimeNs, st?.ctime)
  return ints
}

/** a utimens time as the patched binding sends it -> ms, Infinity (UTIME_NOW) or NaN (UTIME_OMIT) */
export function utimeArg (low: number, high: number): number {
  if (high === 0xffffffff && low === 0xffffffff) return Infinity
  if (high === 0xffffffff && low === 0xfffffffe) return NaN
  return low + high * 4294967296
}

export class OortFuse extends Fuse {
  private readonly optionList: string[]

  constructor (config: Pick<Config, 'mountpoint' | 'fsname' | 'allowOther' | 'readOnly' | 'nonEmpty' | 'opTimeoutMs'> & Partial<Pick<Config, 'kernelFlags'>>, ops: FuseOps) {
    // fuse-native answers ETIMEDOUT after 15 s by default: far too short for
    // calls waiting behind the rate-limited queue. Long calls get none at all:
    // they time out when their work stops moving (patience.ts)
    const timeout: Record<string, number | false> = { default: config.opTimeoutMs, init: false }
    for (const call of PATIENT_CALLS) timeout[call] = false
    super(config.mountpoint, ops, { timeout })
    this.optionList = fuseOptionList(config)
    if (this._fuseOptions().length > 1023) throw new Error('mount options longer than the 1023 bytes fuse-native accepts; shorten fsname=')
  }

  override _fuseOptions (): string {
    return '-o' + this.optionList.join(',')
  }

  // stock fuse-native packs the 18-word, millisecond layout
  override _op_getattr (signal: Signal, path: string): void {
    this.ops.getattr!(path, (err: number, stat?: FuseStat) => { err ? signal(err) : signal(0, statArray(stat)) })
  }

  override _op_fgetattr (signal: Signal, path: string, fd: number): void {
    const answer = (err: number, stat?: FuseStat): void => { err ? signal(err) : signal(0, statArray(stat)) }
    // fh 0: libfuse had no file info; only the name is left
    if (fd === 0) this.ops.getattr!(path, answer)
    else this.ops.fgetattr!(path, fd, answer)
  }

  override _op_utimens (signal: Signal, path: string, aLow: number, aHigh: number, mLow: number, mHigh: number): void {
    // the ms arguments say UTIME_NOW / UTIME_OMIT; the request's own timespecs give the exact times
    this.ops.utimens!(path, utimeArg(aLow, aHigh), utimeArg(mLow, mHigh), requestTimes(), (err: number) => signal(err))
  }

  override _op_getxattr (signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void {
    this.ops.getxattr!(path, name, position, (err: number, value?: Buffer) => {
      // every answer must carry the buffer back: the binding detaches it
      if (err) return signal(err, valueBuf.buffer)
      if (!value) return signal(E.ENODATA!, valueBuf.buffer)
      if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer) // size query
      if (value.length > valueBuf.length) return signal(E.ERANGE!, valueBuf.buffer)
      value.copy(valueBuf)
      signal(value.length, valueBuf.buffer)
    })
  }

  override _op_listxattr (signal: Signal, path: string, listBuf: Buffer): void {
    this.ops.listxattr!(path, (err: number, list?: string[]) => {
      if (err || !list) return signal(err || 0, listBuf.buffer)
      const packed = Buffer.from(list.map(n => n + '\0').join(''))
      if (listBuf.length === 0) return signal(packed.length, listBuf.buffer) // size query
      if (packed.length > listBuf.length) return signal(E.ERANGE!, listBuf.buffer)
      packed.copy(listBuf)
      signal(packed.length, listBuf.buffer)
    })
  }
}

export function mountFuse (fuse: OortFuse): Promise<void> {
  return new Promise((resolve, reject) => fuse.mount(err => err ? reject(err) : resolve()))
}

export function unmountFuse (fuse: OortFuse): Promise<void> {
  return new Promise((resolve, reject) => fuse.unmount(err => err ? reject(err) : resolve()))
}
