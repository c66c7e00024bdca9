// The FUSE adapter without a mount: errno mapping, Attr -> stat, callback
// shapes, and OortFuse's option string and handler fixes.
import t from 'tap'
import { Fuse } from '../../src/fuse/fuse-addon.js'
import type { Attr, Caller, ExactTimes, FileSystem, StatFs } from '../../src/fs/api.js'
import { FsError } from '../../src/errors.js'
import { fuseOps, toFuseErrno, toFuseStat, toFuseStatfs, errnoName } from '../../src/fuse/adapter.js'
import { OortFuse, escapeOption, fuseOptionList, statArray, utimeArg } from '../../src/fuse/oort-fuse.js'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { captureLog } from '../helpers/log-capture.js'

const E = Fuse as unknown as Record<string, number>
const T = new Date('2024-05-06T07:08:09.123Z')

function attr (mode: number, size = 0): Attr {
  return { mode, uid: 1000, gid: 1000, size, mtime: T, atime: T, ctime: T, nlink: 1, blocks: Math.ceil(size / 512), blksize: 4096 }
}

/** a tiny in-memory FileSystem: enough to drive every adapter callback */
class MemFs implements FileSystem {
  files = new Map<string, Buffer>([['/a', Buffer.from('hello')]])
  xattrs = new Map<string, Buffer>()
  calls: string[] = []
  callers: string[] = []
  async getattr (path: string): Promise<Attr> {
    if (path === '/') return attr(0o40755, 4096)
    const f = this.files.get(path)
    if (!f) throw new FsError('ENOENT', 'no such file', path)
    return attr(0o100644, f.length)
  }
  async fgetattr (path: string, fh: number): Promise<Attr> { this.calls.push(`fgetattr ${fh}`); return await this.getattr(path) }
  async readdir (): Promise<string[]> { return [...this.files.keys()].map(k => k.slice(1)) }
  async open (path: string): Promise<number> { await this.getattr(path); return 7 }
  async create (path: string, _mode: number, caller?: Caller): Promise<number> { this.files.set(path, Buffer.alloc(0)); this.callers.push(`create ${caller?.uid}:${caller?.gid}`); return 8 }
  async read (_fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    this.lengths.push(buf.length)
    return this.files.get('/a')!.copy(buf, 0, position, position + length)
  }
  /** the buffer lengths read and write were given */
  lengths: number[] = []
  async write (_fh: number, buf: Buffer, length: number): Promise<number> { this.lengths.push(buf.length); return length }
  async flush (): Promise<void> {}
  async fsync (_fh: number, datasync: boolean): Promise<void> { this.calls.push(`fsync ${datasync}`) }
  async release (): Promise<void> {}
  async truncate (): Promise<void> { throw new Error('kaboom') }
  async ftruncate (): Promise<void> { throw Object.assign(new Error('disk full'), { code: 'ENOSPC' }) }
  async unlink (path: string): Promise<void> { throw new FsError('EACCES', undefined, path) }
  async mkdir (_path: string, _mode: number, caller?: Caller): Promise<void> { this.callers.push(`mkdir ${caller?.uid}:${caller?.gid}`); throw new FsError('EEXIST') }
  async rmdir (): Promise<void> { throw new FsError('ENOTEMPTY') }
  async rename (): Promise<void> { throw new FsError('EXDEV') }
  async chmod (): Promise<void> { throw new FsError('EROFS') }
  async chown (): Promise<void> { throw new FsError('EPERM') }
  async utimens (path: string, a: number, m: number, exact?: ExactTimes): Promise<void> {
    this.calls.push(`utimens ${path} ${a} ${m}` + (exact ? ` ${exact.atimeNs} ${exact.mtimeNs}` : ''))
  }
  async symlink (target: string, path: string, caller?: Caller): Promise<void> { this.calls.push(`symlink ${target} ${path}`); this.callers.push(`symlink ${caller?.uid}:${caller?.gid}`) }
  async mknod (path: string, mode: number, rdev: number, caller?: Caller): Promise<void> {
    this.calls.push(`mknod ${path} 0${mode.toString(8)} ${rdev}`)
    this.callers.push(`mknod ${caller?.uid}:${caller?.gid}`)
  }
  async readlink (): Promise<string> { return 'target' }
  async setxattr (_path: string, name: string, value: Buffer): Promise<void> { this.xattrs.set(name, value) }
  async getxattr (_path: string, name: string): Promise<Buffer | undefined> { return this.xattrs.get(name) }
  async listxattr (): Promise<string[]> { return [...this.xattrs.keys()] }
  async removexattr (): Promise<void> { throw new FsError('ENODATA') }
  async statfs (): Promise<StatFs> {
    return { bsize: 4096, frsize: 4096, blocks: 2 ** 40, bfree: 2 ** 40, bavail: 2 ** 40, files: 1e6, ffree: 1e6, favail: 1e6, fsid: 0, flag: 0, namemax: 255 }
  }
  async flushAll (): Promise<void> {}
}

/** calls an op and resolves with its callback's arguments */
function call (ops: Record<string, (...a: any[]) => void>, name: string, ...args: unknown[]): Promise<unknown[]> {
  return new Promise(resolve => ops[name]!(...args, (...res: unknown[]) => resolve(res)))
}

t.test('errno names map to fuse-native numbers', async t => {
  t.equal(toFuseErrno(new FsError('ENOENT')), -2)
  t.equal(toFuseErrno(new FsError('ENODATA')), E.ENODATA)
  t.equal(toFuseErrno(new FsError('ETIMEDOUT')), -110)
  t.equal(toFuseErrno(new Error('what')), E.EIO, 'unknown -> EIO')
  t.equal(toFuseErrno(undefined), E.EIO)
  t.equal(toFuseErrno(Object.assign(new Error('x'), { code: 'ENOSPC' })), E.ENOSPC, "Node's own errors keep their code")
  t.equal(toFuseErrno(Object.assign(new Error('x'), { code: 'ERR_SOMETHING' })), E.EIO)
  t.equal(errnoName(-2), 'ENOENT')
})

t.test('Attr -> stat', async t => {
  const a = attr(0o100640, 5 * 2 ** 32 + 7)
  const st = toFuseStat(a)
  t.same(st, { mode: 0o100640, uid: 1000, gid: 1000, size: 5 * 2 ** 32 + 7, mtime: T, atime: T, ctime: T, nlink: 1, blocks: a.blocks, blksize: 4096, rdev: 0 })
  const arr = statArray(st)
  t.equal(arr[0], 0o100640)
  t.equal(arr[3], 7, 'size low word')
  t.equal(arr[4], 5, 'size high word')
  t.equal(arr[6], 1)
  t.equal(arr[9], 4096)
  t.same([arr[15], arr[16], arr[17]], [Math.floor(T.getTime() / 1000), 0, 123_000_000], 'mtime as 64-bit seconds and nanoseconds')
  t.equal(arr.length, 21, 'the patched binding reads 21 words (fuse-native 18 would be read as milliseconds)')
  // exact times win over the Dates: nanoseconds, before the epoch, and seconds far beyond a Date's range
  const exact = statArray({ ...st, atimeNs: 1_700_000_000_123_456_789n, mtimeNs: -1_500_000_000n, ctimeNs: (2n ** 62n) * 1_000_000_000n + 7n })
  t.same([exact[12], exact[13], exact[14]], [1_700_000_000, 0, 123_456_789], 'ns kept')
  t.same([exact[15], exact[16], exact[17]], [0xfffffffe, 0xffffffff, 500_000_000], '-1.5 s is -2 s + 0.5 s, as a timespec holds it')
  t.same([exact[18], exact[19], exact[20]], [0, 2 ** 30, 7], '2^62 seconds')
  // a block device 8,1 (makedev: major << 8 | minor) reaches st_rdev, in both stat paths
  const dev = toFuseStat({ ...attr(0o60660), rdev: 0x801 })
  t.equal(statArray(dev)[8], 0x801, "OortFuse's fgetattr array carries st_rdev")
  t.equal(dev.rdev, 0x801, "fuse-native's own getattr array reads stat.rdev")
  const s = toFuseStatfs({ bsize: 4096, frsize: 4096, blocks: 2 ** 40, bfree: -1, bavail: 1.5, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 0, namemax: 255 })
  t.equal(s.blocks, 0xffffffff, 'clamped, not wrapped')
  t.equal(s.bfree, 0)
  t.equal(s.bavail, 1)
})

t.test('callback shapes', async t => {
  const fs = new MemFs()
  const ops = fuseOps(fs)
  t.same(await call(ops, 'getattr', '/a'), [0, toFuseStat(attr(0o100644, 5))])
  t.same(await call(ops, 'getattr', '/nope'), [E.ENOENT])
  t.same(await call(ops, 'fgetattr', '/a', 7), [0, toFuseStat(attr(0o100644, 5))])
  t.same(fs.calls, ['fgetattr 7'])
  t.same(await call(ops, 'readdir', '/'), [0, ['.', '..', 'a']], "'.' and '..' come from the adapter")
  t.same(await call(ops, 'open', '/a', 0), [0, 7])
  t.same(await call(ops, 'open', '/b', 0), [E.ENOENT])
  t.same(await call(ops, 'create', '/c', 0o644), [0, 8])
  const buf = Buffer.alloc(10)
  t.same(await call(ops, 'read', '/a', 7, buf, 10, 1), [4], 'read answers with the byte count')
  t.equal(buf.subarray(0, 4).toString(), 'ello')
  t.same(await call(ops, 'write', '/a', 7, buf, 10, 0), [10])
  t.same(await call(ops, 'fsync', '/a', 1, 7), [0])
  t.same(await call(ops, 'flush', '/a', 7), [0])
  t.same(await call(ops, 'release', '/a', 7), [0])
  t.same(await call(ops, 'truncate', '/a', 0), [E.EIO], 'a plain Error is EIO')
  t.same(await call(ops, 'ftruncate', '/a', 7, 0), [E.ENOSPC])
  t.same(await call(ops, 'unlink', '/a'), [E.EACCES])
  t.same(await call(ops, 'mkdir', '/d', 0o755), [E.EEXIST])
  t.same(await call(ops, 'rmdir', '/d'), [E.ENOTEMPTY])
  t.same(await call(ops, 'rename', '/a', '/b'), [E.EXDEV])
  t.same(await call(ops, 'chmod', '/a', 0o600), [E.EROFS])
  t.same(await call(ops, 'chown', '/a', 1, 1), [E.EPERM])
  t.same(await call(ops, 'utimens', '/a', 1000, NaN, undefined), [0])
  t.same(await call(ops, 'utimens', '/a', 1000, NaN, { atimeNs: 1_000_000_001n }), [0], 'the exact times reach the FileSystem')
  t.same(await call(ops, 'symlink', 'target', '/l'), [0])
  t.same(await call(ops, 'mknod', '/fifo', 0o10644, 0), [0])
  t.same(await call(ops, 'readlink', '/l'), [0, 'target'])
  t.same(await call(ops, 'link', '/a', '/hard'), [E.EPERM], 'no hard links: EPERM, as link(2) says, whatever the kernel makes of ENOSYS')
  t.same(await call(ops, 'statfs', '/'), [0, toFuseStatfs(await fs.statfs())])
  t.match(fs.calls, ['fgetattr 7', 'fsync true', 'utimens /a 1000 NaN', 'utimens /a 1000 NaN 1000000001 undefined', 'symlink target /l', 'mknod /fifo 010644 0'])
  t.same(fs.callers, ['create undefined:undefined', 'mkdir undefined:undefined', 'symlink undefined:undefined', 'mknod undefined:undefined'], 'outside a FUSE request there is no caller')
})

t.test('a read or write lent a longer buffer (the patched binding\'s per-thread one) sees only its own bytes', async t => {
  const fs = new MemFs()
  const ops = fuseOps(fs)
  const lent = Buffer.alloc(131072, 0x2a)
  t.same(await call(ops, 'read', '/a', 7, lent, 3, 0), [3])
  t.same(await call(ops, 'write', '/a', 7, lent, 4096, 0), [4096])
  t.same(fs.lengths, [3, 4096], 'the FileSystem gets a view of the call\'s length')
  t.equal(lent.subarray(0, 3).toString(), 'hel', 'and the read lands at the buffer\'s start')
  t.equal(lent[3], 0x2a, 'nothing past it is touched')
})

t.test('a new object is the calling process\'s: the caller reaches create, mkdir, symlink and mknod', async t => {
  const fs = new MemFs()
  let who: Caller | undefined = { uid: 1234, gid: 99, pid: 1, umask: 0o22 }
  const ops = fuseOps(fs, { caller: () => who })
  // read when the call arrives, not when it runs: the binding knows the caller only then
  const created = call(ops, 'create', '/c', 0o644)
  who = undefined
  await created
  who = { uid: 5, gid: 6, pid: 2, umask: 0 }
  await call(ops, 'mkdir', '/d', 0o755)
  await call(ops, 'symlink', 'target', '/l')
  await call(ops, 'mknod', '/fifo', 0o10644, 0)
  t.same(fs.callers, ['create 1234:99', 'mkdir 5:6', 'symlink 5:6', 'mknod 5:6'])
})

t.test('xattrs', async t => {
  const fs = new MemFs()
  const ops = fuseOps(fs)
  t.same(await call(ops, 'getxattr', '/a', 'user.x', 0), [E.ENODATA], 'missing -> ENODATA')
  const value = Buffer.from('v1')
  t.same(await call(ops, 'setxattr', '/a', 'user.x', value, 0, 0), [0])
  value.write('XX')
  t.equal(fs.xattrs.get('user.x')!.toString(), 'v1', 'the adapter keeps a copy: libfuse reuses its buffer')
  t.same(await call(ops, 'getxattr', '/a', 'user.x', 0), [0, Buffer.from('v1')])
  t.same(await call(ops, 'listxattr', '/a'), [0, ['user.x']])
  t.same(await call(ops, 'removexattr', '/a', 'user.y'), [E.ENODATA])
})

t.test('debug logging shows calls, never data', async t => {
  const lines = captureLog(t, 'debug')
  const ops = fuseOps(new MemFs(), { debug: true })
  await call(ops, 'read', '/a', 7, Buffer.alloc(5), 5, 0)
  await call(ops, 'getattr', '/nope')
  t.match(lines[0], /^oortfs: debug: read \/a fh=7 5@0 -> 5 [\d.]+ ms$/)
  t.match(lines[1], /getattr \/nope -> ENOENT/)
  t.notMatch(lines.join('\n'), /hello/)
})

t.test('OortFuse: options', async t => {
  const base = { fsname: 'oortfs#b', allowOther: false, readOnly: false, nonEmpty: false }
  t.same(fuseOptionList(base), ['fsname=oortfs#b', 'subtype=oortfs', 'big_writes', 'max_write=1048576', 'max_read=1048576', 'auto_cache', 'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0', 'default_permissions'], 'the kernel checks modes and owners on every mount')
  t.match(fuseOptionList({ ...base, allowOther: true, readOnly: true }), ['fsname=oortfs#b', 'subtype=oortfs', 'big_writes', 'max_write=1048576', 'max_read=1048576', 'auto_cache', 'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0', 'default_permissions', 'allow_other', 'ro'])
  t.same(fuseOptionList({ ...base, kernelFlags: ['noexec', 'nosuid', 'nodev'] }).slice(-3), ['noexec', 'nosuid', 'nodev'], 'mount flags reach the kernel')
  const f = new OortFuse({ ...base, mountpoint: '/tmp/x', opTimeoutMs: 300_000 }, fuseOps(new MemFs()))
  t.equal(f._fuseOptions(), '-ofsname=oortfs#b,subtype=oortfs,big_writes,max_write=1048576,max_read=1048576,auto_cache,entry_timeout=0,attr_timeout=0,negative_timeout=0,default_permissions')
  t.match(fuseOptionList({ ...base, nonEmpty: true }), ['fsname=oortfs#b', 'subtype=oortfs', 'big_writes', 'max_write=1048576', 'max_read=1048576', 'auto_cache', 'entry_timeout=0', 'attr_timeout=0', 'negative_timeout=0', 'default_permissions', 'nonempty'])
  t.same(f.opts.timeout, {
    default: 300_000, init: false,
    // long calls: no fixed limit, they fail when their work stalls (patience.ts)
    write: false, flush: false, fsync: false, release: false, rename: false, unlink: false, rmdir: false, truncate: false, ftruncate: false,
  })
  t.throws(() => new OortFuse({ ...base, fsname: 'x'.repeat(1100), mountpoint: '/tmp/x', opTimeoutMs: 1 }, {}), /1023 bytes/)
})

t.test('OortFuse: fgetattr, utimens and xattr buffers', async t => {
  const fs = new MemFs()
  fs.xattrs.set('user.big', Buffer.from('0123456789'))
  const f = new OortFuse({ fsname: 'x', allowOther: false, readOnly: false, nonEmpty: false, mountpoint: '/tmp/x', opTimeoutMs: 1000 }, fuseOps(fs))
  const sig = (fn: (s: (...a: unknown[]) => void) => void): Promise<unknown[]> => new Promise(resolve => fn((...a) => resolve(a)))

  const [code, arr] = await sig(s => f._op_fgetattr(s, '/a', 7))
  t.equal(code, 0)
  t.equal((arr as Uint32Array)[3], 5)
  t.same(fs.calls, ['fgetattr 7'], 'fgetattr reaches the FileSystem with the handle')

  await sig(s => f._op_utimens(s, '/a', 0xffffffff, 0xffffffff, 0xfffffffe, 0xffffffff))
  const [, a, m] = fs.calls.at(-1)!.split(' ').slice(1)
  t.equal(Number(a), Infinity, 'UTIME_NOW -> Infinity: the core makes it the object date')
  t.equal(m, 'NaN', 'UTIME_OMIT -> NaN')
  t.equal(utimeArg(1000, 1), 1000 + 2 ** 32)

  t.same((await sig(s => f._op_getxattr(s, '/a', 'user.big', Buffer.alloc(0), 0)))[0], 10, 'size query')
  t.same((await sig(s => f._op_getxattr(s, '/a', 'user.big', Buffer.alloc(4), 0)))[0], E.ERANGE, 'too small -> ERANGE')
  const buf = Buffer.alloc(16)
  const [n, ab] = await sig(s => f._op_getxattr(s, '/a', 'user.big', buf, 0))
  t.equal(n, 10)
  t.ok(ab instanceof ArrayBuffer, 'the buffer goes back to the binding')
  t.equal(buf.subarray(0, 10).toString(), '0123456789')
  t.same((await sig(s => f._op_getxattr(s, '/a', 'user.none', buf, 0)))[0], E.ENODATA)

  fs.xattrs.set('user.b', Buffer.from('x'))
  t.same((await sig(s => f._op_listxattr(s, '/a', Buffer.alloc(0))))[0], 'user.big\0user.b\0'.length)
  t.same((await sig(s => f._op_listxattr(s, '/a', Buffer.alloc(3))))[0], E.ERANGE)
  const list = Buffer.alloc(64)
  t.same((await sig(s => f._op_listxattr(s, '/a', list)))[0], 16)
  t.equal(list.subarray(0, 16).toString(), 'user.big\0user.b\0')
})

t.test('a network failure from S3 reaches FUSE as EIO, not as the socket error', async t => {
  const { S3Error } = await import('../../src/s3/errors.js')
  t.equal(toFuseErrno(new S3Error('EIO', 'ECONNRESET', 0, 'put x failed with ECONNRESET')), -5)
  t.equal(toFuseErrno(Object.assign(new Error('disk full'), { code: 'ENOSPC' })), -28, 'a staging file error keeps its name')
})

t.test('names reach libfuse escaped and no shell: a comma in the target adds no option; $(...) in a mount point runs nothing', async t => {
  t.equal(escapeOption('b:/reports,2024'), 'b:/reports\\,2024')
  t.equal(escapeOption('b:/x,allow_other\\'), 'b:/x\\,allow_other\\\\')
  const o = fuseOptionList({ fsname: 'b:/x,allow_other', allowOther: false, readOnly: false, nonEmpty: false })
  t.notOk(o.includes('allow_other'), 'no allow_other slipped in')
  t.equal(o[0], 'fsname=b:/x\\,allow_other')
  const marker = join(tmpdir(), `oortfs-pwned-${process.pid}`)
  const err = await new Promise<Error | null>(resolve => (Fuse as unknown as { unmount: (m: string, cb: (e: Error | null) => void) => void })
    .unmount(`/nonexistent-mount-$(touch ${marker})`, resolve))
  t.ok(err, 'fusermount fails: no such mount')
  t.notOk(existsSync(marker), 'and nothing ran')
})
