// FileSystem (promises, errno names) -> fuse-native's ops (callbacks, negative
// numbers). Thin on purpose: conversions, errno mapping and debug timing only.
import { Fuse } from './fuse-addon.js'
import type { Attr, Caller, ExactTimes, FileSystem, StatFs } from '../fs/api.js'
import { errnoOf, FsError } from '../errors.js'
import { log } from '../util/log.js'
import { requestCaller, requestWrote } from './fuse-request.js'

/** fuse-native's stat shape (its getStatArray reads these): the core's Attr as it is */
export type FuseStat = Attr

export interface AdapterOptions {
  /** log every call with its duration and result (-d) */
  debug?: boolean
  /** a lookup of a PING_PREFIX name: the process asking whether the mount is still its own (answered ENOENT) */
  onPing?: (name: string) => void
  /** the calling process of the request being dispatched (tests give their own; default: the binding's) */
  caller?: () => Caller | undefined
  /** what the binding's own pwrite of the write being dispatched did, if it made one (default: the binding's) */
  wrote?: () => number | undefined
}

/** names a mount looks up in itself to learn whether the mount there is still its own */
export const PING_PREFIX = '/.oortfs-ping-'

type Cb = (code: number, ...rest: any[]) => void
export type FuseOps = Record<string, (...args: any[]) => void>

const FUSE = Fuse as unknown as Record<string, number>

/** anything thrown -> fuse-native's negative errno; unknown failures are EIO */
export function toFuseErrno (err: unknown): number {
  let name: string = errnoOf(err)
  // Node's own errors (staging files) carry the name in `code`, not `errno`; an
  // FsError's errno is final (S3 network failures carry ECONNRESET... as `code`, and are EIO)
  const code = (err as { code?: unknown })?.code
  if (!(err instanceof FsError) && name === 'EIO' && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) name = code
  return FUSE[ALIASES[name] ?? name] ?? FUSE.EIO!
}

/** names fuse-native has no constant for, and the one it has for the same number */
const ALIASES: Record<string, string> = {
  // 95 on Linux: cp -p reads it on setxattr(system.posix_acl_access) as "no ACLs here" and
  // falls back to chmod; as EIO, cp fails with "preserving permissions: Input/output error"
  ENOTSUP: 'EOPNOTSUPP',
}

export function toFuseStat (a: Attr): FuseStat {
  return {
    mode: a.mode, uid: a.uid, gid: a.gid, size: a.size,
    mtime: a.mtime, atime: a.atime, ctime: a.ctime,
    nlink: a.nlink, blocks: a.blocks, blksize: a.blksize, rdev: a.rdev ?? 0,
    atimeNs: a.atimeNs, mtimeNs: a.mtimeNs, ctimeNs: a.ctimeNs,
  }
}

const U32 = 0xffffffff
/** fuse-native packs statfs into a Uint32Array: clamp, or 2^32 blocks wrap to 0 */
export function toFuseStatfs (s: StatFs): StatFs {
  const c = (n: number): number => Math.max(0, Math.min(U32, Math.floor(n)))
  return {
    bsize: c(s.bsize), frsize: c(s.frsize), blocks: c(s.blocks), bfree: c(s.bfree), bavail: c(s.bavail),
    files: c(s.files), ffree: c(s.ffree), favail: c(s.favail), fsid: c(s.fsid), flag: c(s.flag), namemax: c(s.namemax),
  }
}

/** the call's bytes of a lent I/O buffer */
function ioView (buf: Buffer, len: number): Buffer {
  return buf.length === len ? buf : buf.subarray(0, len)
}

export function fuseOps (fs: FileSystem, opts: AdapterOptions = {}): FuseOps {
  const debug = opts.debug ?? false
  // who asks: read at once, while the binding still dispatches this request
  const caller = opts.caller ?? requestCaller
  const wrote = opts.wrote ?? requestWrote

  /**
   * Runs one call. `ok` turns the result into the callback's arguments;
   * `label` is what the debug line shows (paths, handles, sizes: never data).
   */
  function run<T> (op: string, label: string, cb: Cb, call: () => Promise<T>, ok: (r: T) => unknown[]): void {
    const start = debug ? performance.now() : 0
    let p: Promise<T>
    try {
      p = call()
    } catch (err) {
      p = Promise.reject(err)
    }
    p.then(r => {
      const args = ok(r)
      if (debug) log.debug(`${op} ${label} -> ${describe(args)} ${(performance.now() - start).toFixed(1)} ms`)
      cb(...(args as [number, ...unknown[]]))
    }, err => {
      const code = toFuseErrno(err)
      if (code === FUSE.EIO && !(err as { errno?: unknown })?.errno) {
        // not an FsError: a bug or an unexpected failure, worth a line even without -d
        log.warn(`${op} ${label}: ${(err as Error)?.message ?? String(err)}`)
      }
      if (debug) log.debug(`${op} ${label} -> ${errnoName(code)} ${(performance.now() - start).toFixed(1)} ms`)
      cb(code)
    })
  }

  const done = (): unknown[] => [0]

  return {
    init: (cb: Cb) => cb(0),
    getattr: (path: string, cb: Cb) => {
      if (opts.onPing && path.startsWith(PING_PREFIX)) { opts.onPing(path); cb(FUSE.ENOENT!); return }
      run('getattr', path, cb, () => fs.getattr(path), a => [0, toFuseStat(a)])
    },
    // only reached through OortFuse's _op_fgetattr: stock fuse-native calls getattr instead
    fgetattr: (path: string, fh: number, cb: Cb) =>
      run('fgetattr', `${path} fh=${fh}`, cb, () => fs.fgetattr(path, fh), a => [0, toFuseStat(a)]),
    // libfuse's high-level readdir adds nothing: '.' and '..' must come from here
    readdir: (path: string, cb: Cb) =>
      run('readdir', path, cb, () => fs.readdir(path), names => [0, ['.', '..', ...names]]),
    open: (path: string, flags: number, cb: Cb) =>
      run('open', `${path} flags=0${flags.toString(8)}`, cb, () => fs.open(path, flags), fh => [0, fh]),
    create: (path: string, mode: number, cb: Cb) => {
      const who = caller()
      run('create', `${path} mode=0${mode.toString(8)}`, cb, () => fs.create(path, mode, who), fh => [0, fh])
    },
    // read and write answer with the byte count in the errno position. The
    // patched binding lends each FUSE thread's own I/O buffer, which may be
    // longer than the call: only its first len bytes are this call's.
    read: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
      run('read', `${path} fh=${fh} ${len}@${pos}`, cb, () => fs.read(fh, ioView(buf, len), len, pos), n => [n]),
    write: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Cb) => {
      // made into the staging file by the binding already (an armed handle): the core records it
      const made = fs.written ? wrote() : undefined
      if (made !== undefined) return run('write', `${path} fh=${fh} ${len}@${pos} (made: ${made})`, cb, () => fs.written!(fh, made, len, pos), n => [n])
      run('write', `${path} fh=${fh} ${len}@${pos}`, cb, () => fs.write(fh, ioView(buf, len), len, pos), n => [n])
    },
    flush: (path: string, fh: number, cb: Cb) =>
      run('flush', `${path} fh=${fh}`, cb, () => fs.flush(fh), done),
    fsync: (path: string, datasync: number, fh: number, cb: Cb) =>
      run('fsync', `${path} fh=${fh}`, cb, () => fs.fsync(fh, !!datasync), done),
    release: (path: string, fh: number, cb: Cb) =>
      run('release', `${path} fh=${fh}`, cb, () => fs.release(fh), done),
    truncate: (path: string, size: number, cb: Cb) =>
      run('truncate', `${path} ${size}`, cb, () => fs.truncate(path, size), done),
    ftruncate: (path: string, fh: number, size: number, cb: Cb) =>
      run('ftruncate', `${path} fh=${fh} ${size}`, cb, () => fs.ftruncate(fh, size), done),
    unlink: (path: string, cb: Cb) => run('unlink', path, cb, () => fs.unlink(path), done),
    mkdir: (path: string, mode: number, cb: Cb) => {
      const who = caller()
      run('mkdir', `${path} mode=0${mode.toString(8)}`, cb, () => fs.mkdir(path, mode, who), done)
    },
    rmdir: (path: string, cb: Cb) => run('rmdir', path, cb, () => fs.rmdir(path), done),
    rename: (from: string, to: string, cb: Cb) => run('rename', `${from} ${to}`, cb, () => fs.rename(from, to), done),
    chmod: (path: string, mode: number, cb: Cb) =>
      run('chmod', `${path} 0${mode.toString(8)}`, cb, () => fs.chmod(path, mode), done),
    chown: (path: string, uid: number, gid: number, cb: Cb) =>
      run('chown', `${path} ${uid}:${gid}`, cb, () => fs.chown(path, uid, gid), done),
    // ms since the epoch; NaN: leave unchanged, Infinity: now (OortFuse decodes
    // UTIME_NOW/OMIT); `exact`: the same times in ns, where the binding gives them
    utimens: (path: string, atime: number, mtime: number, exact: ExactTimes | undefined, cb: Cb) =>
      run('utimens', `${path} ${exact?.atimeNs ?? atime} ${exact?.mtimeNs ?? mtime}`, cb, () => fs.utimens(path, atime, mtime, exact), done),
    // fuse-native passes (link target, link path), the FileSystem's order too
    symlink: (target: string, path: string, cb: Cb) => {
      const who = caller()
      run('symlink', `${path} -> ${target}`, cb, () => fs.symlink(target, path, who), done)
    },
    // mkfifo, mknod, a Unix socket's bind: fuse-native passes st_rdev as the kernel encodes it
    mknod: (path: string, mode: number, dev: number, cb: Cb) => {
      const who = caller()
      run('mknod', `${path} mode=0${mode.toString(8)} dev=${dev}`, cb, () => fs.mknod(path, mode, dev, who), done)
    },
    readlink: (path: string, cb: Cb) => run('readlink', path, cb, () => fs.readlink(path), t => [0, t]),
    // no hard links on S3: EPERM, as link(2) documents for a filesystem without
    // them. Without this op libfuse answers ENOSYS, which only kernels since
    // 2025 ("fuse: Return EPERM rather than ENOSYS from link()") turn into EPERM
    link: (from: string, to: string, cb: Cb) => {
      if (debug) log.debug(`link ${from} ${to} -> EPERM`)
      cb(FUSE.EPERM!)
    },
    // the value points into libfuse's memory, gone once we answer: keep a copy
    setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Cb) =>
      run('setxattr', `${path} ${name} ${value.length} bytes`, cb, () => fs.setxattr(path, name, Buffer.from(value), flags), done),
    getxattr: (path: string, name: string, _position: number, cb: Cb) =>
      run('getxattr', `${path} ${name}`, cb, () => fs.getxattr(path, name),
        v => v === undefined ? [FUSE.ENODATA] : [0, v]),
    listxattr: (path: string, cb: Cb) => run('listxattr', path, cb, () => fs.listxattr(path), names => [0, names]),
    removexattr: (path: string, name: string, cb: Cb) =>
      run('removexattr', `${path} ${name}`, cb, () => fs.removexattr(path, name), done),
    statfs: (path: string, cb: Cb) => run('statfs', path, cb, () => fs.statfs(path), s => [0, toFuseStatfs(s)]),
  }
}

let names: Map<number, string> | undefined
export function errnoName (code: number): string {
  if (!names) {
    names = new Map()
    for (const [k, v] of Object.entries(FUSE)) if (typeof v === 'number' && /^E[A-Z0-9]+$/.test(k) && !names.has(v)) names.set(v, k)
  }
  return names.get(code) ?? String(code)
}

function describe (args: unknown[]): string {
  const [code, value] = args
  if (typeof code === 'number' && code < 0) return errnoName(code)
  if (args.length === 1) return String(code)
  if (Array.isArray(value)) return `${value.length} entries`
  if (Buffer.isBuffer(value)) return `${value.length} bytes`
  if (typeof value === 'number') return `fh=${value}`
  return 'ok'
}
