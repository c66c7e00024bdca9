// mknod (src/fs/special-files.ts): FIFOs, character and block devices and
// sockets stored as s3fs stores them (an empty object, the type in
// x-amz-meta-mode), plus the device number in x-amz-meta-rdev; what a remount
// shows of them, with the attribute index and without; the other calls on them.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, errnoOf } from '../helpers/make-fs.js'
import type { FakeStore } from '../helpers/fake-store.js'
import { OortFs, type FsOptions } from '../../src/fs/filesystem.js'
import { S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK } from '../../src/fs/special-files.js'
import { writeGate } from '../../src/fuse/write-gate.js'

const S_IFMT = 0o170000
/** glibc's makedev for numbers below 4096:256, the kernel's encoding too */
const makedev = (major: number, minor: number): number => ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0

/** a new mount of the same bucket: nothing cached */
function remount (fs: OortFs, store: FakeStore, opts: Partial<FsOptions> = {}): OortFs {
  return new OortFs(store, { ...fs.opts, ...opts })
}

/** the four kinds, as mkfifo, mknod c 1 7, mknod b 8 1 and a socket's bind make them */
const NODES = [
  { name: 'fifo', mode: S_IFIFO | 0o644, rdev: 0 },
  { name: 'null', mode: S_IFCHR | 0o666, rdev: makedev(1, 7) },
  { name: 'sda1', mode: S_IFBLK | 0o660, rdev: makedev(8, 1) },
  { name: 'app.sock', mode: S_IFSOCK | 0o755, rdev: 0 },
]

async function makeNodes (fs: OortFs, dir: string): Promise<void> {
  await fs.mkdir(dir, 0o755)
  for (const n of NODES) await fs.mknod(`${dir}/${n.name}`, n.mode, n.rdev)
}

t.test('mknod of each type is one PUT of an empty object with its mode, and rdev for devices', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/dev', 0o755)
  store.resetCounts()
  for (const n of NODES) await fs.mknod(`/dev/${n.name}`, n.mode, n.rdev)
  t.same(store.requests, { PutObject: NODES.length }, 'nothing but the PUTs: the name was known free from the mkdir')
  for (const n of NODES) {
    const o = store.object(`dev/${n.name}`)!
    t.equal(o.body.length, 0, `${n.name}: empty`)
    t.equal(o.metadata.mode, String(n.mode), `${n.name}: x-amz-meta-mode carries the type bits, as s3fs stores it`)
    t.equal(o.metadata.rdev, (n.mode & S_IFMT) === S_IFCHR || (n.mode & S_IFMT) === S_IFBLK ? String(n.rdev) : undefined,
      `${n.name}: x-amz-meta-rdev only for a device`)
    t.equal(o.metadata.uid, '1000')
  }
  t.equal(store.object('dev/null')!.metadata.rdev, '263', 'c 1 7 is 263 (0x107), decimal')
  t.equal(store.object('dev/sda1')!.metadata.rdev, '2049', 'b 8 1 is 2049 (0x801)')
  t.equal(store.object('dev/fifo')!.contentType, 'application/octet-stream', 'as s3fs: the name\'s type')
})

t.test('getattr shows the type, the permission bits and the device number', async t => {
  const { fs } = makeFs()
  await makeNodes(fs, '/d')
  for (const n of NODES) {
    const a = await fs.getattr(`/d/${n.name}`)
    t.equal(a.mode, n.mode, `${n.name}: mode`)
    t.equal(a.rdev, n.rdev, `${n.name}: rdev`)
    t.equal(a.size, 0)
    t.equal(a.nlink, 1)
  }
  t.same((await fs.readdir('/d')).sort(), NODES.map(n => n.name).sort())
})

t.test('a device number above the old 8-bit minor round-trips', async t => {
  const { fs, store } = makeFs()
  const rdev = makedev(259, 300)
  await fs.mknod('/nvme', S_IFBLK | 0o600, rdev)
  t.equal((await fs.getattr('/nvme')).rdev, rdev)
  await fs.flushAll()
  t.equal((await remount(fs, store, { metaMode: 'head' }).getattr('/nvme')).rdev, rdev)
})

t.test('a remount with the attribute index shows them the same, from the listing and the index alone', async t => {
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.flushAll()
  t.ok(store.object('d.oortfs-attrs'), 'the index records them (their modes differ from the defaults)')
  const again = remount(fs, store)
  store.resetCounts()
  await again.readdir('/d')
  for (const n of NODES) {
    const a = await again.getattr(`/d/${n.name}`)
    t.same([a.mode, a.rdev], [n.mode, n.rdev], `${n.name}: mode and rdev after the remount`)
  }
  t.equal(store.requests.HeadObject ?? 0, 0, 'no HEAD per file: the index carries mode and rdev')

  // a lookup alone, no listing: the index again
  const third = remount(fs, store)
  store.resetCounts()
  const a = await third.getattr('/d/sda1')
  t.same([a.mode, a.rdev], [S_IFBLK | 0o660, makedev(8, 1)], 'lookup through the index')
  t.equal(store.requests.HeadObject ?? 0, 0)
})

t.test('a remount without the index shows them the same, from each object\'s own headers', async t => {
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.flushAll()
  // meta=head: no index at all, a HEAD per file
  const head = remount(fs, store, { metaMode: 'head' })
  await head.readdir('/d')
  for (const n of NODES) {
    const a = await head.getattr(`/d/${n.name}`)
    t.same([a.mode, a.rdev], [n.mode, n.rdev], `meta=head: ${n.name}`)
  }
  // an index that cannot be trusted (damaged): every file is HEADed
  store.putText('d.oortfs-attrs', '{"v":1,"r":{"fifo":')
  const damaged = remount(fs, store)
  await damaged.readdir('/d')
  for (const n of NODES) {
    const a = await damaged.getattr(`/d/${n.name}`)
    t.same([a.mode, a.rdev], [n.mode, n.rdev], `damaged index: ${n.name}`)
  }
})

t.test('chmod keeps the type bits and the device number, on the object and in the index', async t => {
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.chmod('/d/sda1', 0o600)
  await fs.chmod('/d/fifo', 0o4711)
  t.equal((await fs.getattr('/d/sda1')).mode, S_IFBLK | 0o600)
  t.equal((await fs.getattr('/d/fifo')).mode, S_IFIFO | 0o4711)
  await fs.flushAll()
  t.equal(store.object('d/sda1')!.metadata.mode, String(S_IFBLK | 0o600))
  t.equal(store.object('d/sda1')!.metadata.rdev, '2049', 'the rewrite keeps rdev')
  t.equal(store.object('d/fifo')!.metadata.mode, String(S_IFIFO | 0o4711))
  for (const again of [remount(fs, store), remount(fs, store, { metaMode: 'head' })]) {
    const a = await again.getattr('/d/sda1')
    t.same([a.mode, a.rdev], [S_IFBLK | 0o600, makedev(8, 1)], `after a remount (${again.opts.metaMode ?? 'list'})`)
  }
})

t.test('chown and utimens keep type and rdev', async t => {
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.chown('/d/null', 0, 0)
  await fs.utimens('/d/null', 1_500_000_000_000, 1_600_000_000_000)
  await fs.utimens('/d/fifo', NaN, 1_400_000_000_000)
  const a = await fs.getattr('/d/null')
  t.same([a.mode, a.rdev, a.uid, a.gid, a.mtime.getTime()], [S_IFCHR | 0o666, makedev(1, 7), 0, 0, 1_600_000_000_000])
  await fs.flushAll()
  const o = store.object('d/null')!
  t.same([o.metadata.mode, o.metadata.rdev, o.metadata.uid, o.metadata.mtime], [String(S_IFCHR | 0o666), '263', '0', '1600000000'])
  const again = remount(fs, store)
  const b = await again.getattr('/d/null')
  t.same([b.mode, b.rdev, b.uid, b.mtime.getTime()], [S_IFCHR | 0o666, makedev(1, 7), 0, 1_600_000_000_000], 'after a remount')
  const f = await again.getattr('/d/fifo')
  t.same([f.mode, f.mtime.getTime()], [S_IFIFO | 0o644, 1_400_000_000_000])
})

t.test('rename moves a special file with its type and number; unlink removes it', async t => {
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.mkdir('/e', 0o755)
  await fs.rename('/d/sda1', '/e/disk')
  await fs.rename('/d/fifo', '/d/pipe')
  t.equal(await errnoOf(fs.getattr('/d/sda1')), 'ENOENT')
  const a = await fs.getattr('/e/disk')
  t.same([a.mode, a.rdev], [S_IFBLK | 0o660, makedev(8, 1)])
  t.equal((await fs.getattr('/d/pipe')).mode, S_IFIFO | 0o644)
  await fs.unlink('/d/app.sock')
  t.equal(await errnoOf(fs.getattr('/d/app.sock')), 'ENOENT')
  await fs.flushAll()
  t.same(store.keys().filter(k => !k.endsWith('.oortfs-attrs')).sort(), ['d/', 'd/null', 'd/pipe', 'e/', 'e/disk'])
  t.equal(store.object('e/disk')!.metadata.rdev, '2049', 'the copy keeps its headers')
  const again = remount(fs, store)
  t.same((await again.readdir('/d')).sort(), ['null', 'pipe'])
  const b = await again.getattr('/e/disk')
  t.same([b.mode, b.rdev], [S_IFBLK | 0o660, makedev(8, 1)], 'after a remount, through the new directory\'s index')
  t.equal((await again.getattr('/d/pipe')).mode, S_IFIFO | 0o644)
  // a directory holding special files renamed whole
  await again.rename('/d', '/moved')
  const c = await again.getattr('/moved/null')
  t.same([c.mode, c.rdev], [S_IFCHR | 0o666, makedev(1, 7)])
})

t.test('a directory renamed right after a mknod or a chmod inside it: its files keep their types and modes', async t => {
  // their records were still waiting for the index's debounced write when the keys moved
  const { fs, store } = makeFs()
  await makeNodes(fs, '/d')
  await fs.chmod('/d/sda1', 0o600)
  await fs.rename('/d', '/moved')
  const want = NODES.map(n => [n.name, n.name === 'sda1' ? S_IFBLK | 0o600 : n.mode, n.rdev])
  const show = async (fs: OortFs): Promise<unknown[]> => {
    await fs.readdir('/moved')
    return Promise.all(NODES.map(async n => { const a = await fs.getattr(`/moved/${n.name}`); return [n.name, a.mode, a.rdev] }))
  }
  t.same(await show(fs), want, 'the same mount')
  await fs.flushAll()
  t.ok(store.object('moved.oortfs-attrs'), 'the index moved with the directory')
  t.same(await show(remount(fs, store)), want, 'after a remount')
})

t.test('a FIFO written by another client in s3fs\'s format shows as a FIFO', async t => {
  // s3fs's mknod: an empty object, mode S_IFIFO|0644, no rdev header
  const s3fsHeaders = { mode: String(S_IFIFO | 0o644), uid: '0', gid: '0', mtime: '1700000000', ctime: '1700000000', atime: '1700000000' }
  const { fs, store } = makeFs(undefined, { metaMode: 'head' })
  store.putText('x/pipe', '', s3fsHeaders)
  store.putText('x/dev', '', { ...s3fsHeaders, mode: String(S_IFCHR | 0o600) })
  const a = await fs.getattr('/x/pipe')
  t.same([a.mode, a.uid, a.mtime.getTime(), a.rdev], [S_IFIFO | 0o644, 0, 1_700_000_000_000, 0], 'meta=head')
  t.same([(await fs.getattr('/x/dev')).mode, (await fs.getattr('/x/dev')).rdev], [S_IFCHR | 0o600, 0], 's3fs\'s device: 0,0 as s3fs shows it')

  // meta=list: a directory with an index, the FIFO added after it by s3fs: HEADed, and so seen
  const list = makeFs()
  await list.fs.mkdir('/y', 0o700)
  await list.fs.chmod('/y', 0o700)
  await list.fs.mknod('/y/mine', S_IFIFO | 0o600, 0)
  await list.fs.flushAll()
  t.ok(list.store.object('y.oortfs-attrs'))
  await sleep(1100)
  list.store.putText('y/theirs', '', s3fsHeaders)
  const again = remount(list.fs, list.store)
  await again.readdir('/y')
  t.equal((await again.getattr('/y/theirs')).mode, S_IFIFO | 0o644, 'newer than the index: HEADed')
  t.equal((await again.getattr('/y/mine')).mode, S_IFIFO | 0o600)
})

t.test('mknod refuses a taken name, a reserved one, a read-only mount, and types it does not make', async t => {
  const { fs, store } = makeFs()
  await fs.mknod('/p', S_IFIFO | 0o644, 0)
  t.equal(await errnoOf(fs.mknod('/p', S_IFIFO | 0o644, 0)), 'EEXIST')
  await fs.mkdir('/dir', 0o755)
  t.equal(await errnoOf(fs.mknod('/dir', S_IFIFO | 0o644, 0)), 'EEXIST')
  t.equal(await errnoOf(fs.mknod('/x.oortfs-attrs', S_IFIFO | 0o644, 0)), 'EPERM')
  t.equal(await errnoOf(fs.mknod('/d2', 0o040755, 0)), 'EINVAL', 'a directory is mkdir\'s')
  t.equal(await errnoOf(fs.mknod('/l', 0o120777, 0)), 'EINVAL', 'a symlink is symlink\'s')
  // a regular file (libfuse sends those to create, but one may come): an empty file
  await fs.mknod('/plain', 0o100640, 0)
  t.equal((await fs.getattr('/plain')).mode, 0o100640)
  t.equal(store.object('plain')!.metadata.rdev, undefined)
  await fs.flushAll()
  const ro = remount(fs, store, { readOnly: true })
  t.equal(await errnoOf(ro.mknod('/q', S_IFIFO | 0o644, 0)), 'EROFS')
  t.equal((await ro.getattr('/p')).mode, S_IFIFO | 0o644, 'a read-only mount shows them')
})

t.test('a mount shutting down refuses mknod like every other change', async t => {
  const { fs, store } = makeFs()
  const gate = writeGate(fs)
  await gate.fs.mknod('/before', S_IFIFO | 0o644, 0)
  await gate.close(1000)
  t.equal(await errnoOf(gate.fs.mknod('/after', S_IFIFO | 0o644, 0)), 'EROFS')
  t.ok(store.object('before'))
  t.notOk(store.object('after'))
})

t.test('a stored special type on a directory is still not trusted', async t => {
  const { fs, store } = makeFs()
  store.putText('odd/', '', { mode: String(S_IFIFO | 0o755) })
  store.putText('odd/f', 'x')
  t.equal((await fs.getattr('/odd')).mode & S_IFMT, 0o040000, 'a prefix with children is a directory, whatever its marker says')
})
