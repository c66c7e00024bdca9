// POSIX times kept apart, as s3fs stores them (issue 15): ctime moves alone on
// chmod, chown, xattrs and rename; utimens sets atime and mtime; writes move
// mtime and ctime; stored times win over LastModified; a directory's mtime and
// ctime move with its entries, at once and stored soon, batched; the mount
// root keeps the mode, owner and times given to it.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OortFs, type FsOptions } from '../../src/fs/filesystem.js'
import { OpenFlags } from '../../src/fs/api.js'

/** a wall clock the test moves: the mount's dates and the server's LastModified */
function clocked (opts: Partial<FsOptions> = {}): { fs: OortFs, store: FakeStore, at: (ms: number) => void, now: () => number } {
  let wall = 1_700_000_000_000
  const now = (): number => wall
  const store = new FakeStore({ minPartSize: 64 * 1024, now })
  const { fs } = makeFs(store, { now, ...opts })
  return { fs, store, now, at: ms => { wall = ms } }
}

function remount (fs: OortFs, store: FakeStore, opts: Partial<FsOptions> = {}): OortFs {
  return new OortFs(store, { ...fs.opts, ...opts })
}

const times = async (fs: OortFs, path: string): Promise<{ a: number, m: number, c: number }> => {
  const st = await fs.getattr(path)
  return { a: st.atime.getTime(), m: st.mtime.getTime(), c: st.ctime.getTime() }
}

const T0 = 1_700_000_000_000

t.test('chmod, chown, setxattr, removexattr: ctime moves alone; a file with no stored mtime keeps its LastModified as mtime', async t => {
  for (const [what, op] of [
    ['chmod', (fs: OortFs) => fs.chmod('/f', 0o600)],
    ['chown', (fs: OortFs) => fs.chown('/f', 7, 8)],
    ['setxattr', (fs: OortFs) => fs.setxattr('/f', 'user.k', Buffer.from('v'), 0)],
  ] as const) {
    const { fs, store, at } = clocked()
    store.putText('f', 'data') // another tool's object: no stored times at all
    await fs.readdir('/')
    const before = await times(fs, '/f')
    t.equal(before.m, T0, `${what}: mtime is LastModified`)
    at(T0 + 60_000)
    await op(fs)
    t.same(await times(fs, '/f'), { a: T0, m: T0, c: T0 + 60_000 }, `${what}: ctime now, mtime and atime as they were, at once`)
    await fs.flushAll()
    const m = store.object('f')!.metadata
    t.equal(m.mtime, String(T0 / 1000), `${what}: the mtime it showed is stored, so the copy's date does not move it`)
    t.equal(m.ctime, String((T0 + 60_000) / 1000), `${what}: ctime stored`)
    t.equal(store.object('f')!.lastModified.getTime(), T0 + 60_000, 'the copy moved LastModified')
    t.same(await times(remount(fs, store), '/f'), { a: T0, m: T0, c: T0 + 60_000 }, `${what}: the same after a remount`)
    t.same(await times(remount(fs, store, { metaMode: 'head' }), '/f'), { a: T0, m: T0, c: T0 + 60_000 }, `${what}: and from the object's own metadata`)
    if (what === 'setxattr') {
      at(T0 + 120_000)
      await fs.removexattr('/f', 'user.k')
      t.same(await times(fs, '/f'), { a: T0, m: T0, c: T0 + 120_000 }, 'removexattr: ctime alone')
    }
  }
})

t.test('rename of a file: ctime now, mtime and atime kept, stored on the new object', async t => {
  const { fs, store, at } = clocked()
  store.putText('d/a', 'data')
  await fs.readdir('/d')
  at(T0 + 30_000)
  await fs.rename('/d/a', '/d/b')
  t.same(await times(fs, '/d/b'), { a: T0, m: T0, c: T0 + 30_000 })
  await fs.flushAll()
  t.equal(store.object('d/b')!.metadata.mtime, String(T0 / 1000))
  t.equal(store.object('d/b')!.metadata.ctime, String((T0 + 30_000) / 1000))
  const again = remount(fs, store)
  await again.readdir('/d')
  t.same(await times(again, '/d/b'), { a: T0, m: T0, c: T0 + 30_000 }, 'after a remount, from the listing and index')
})

t.test('rename of a directory: its ctime moves, its mtime stays; both parents\' mtime and ctime move', async t => {
  const { fs, store, at } = clocked()
  await fs.mkdir('/p', 0o755)
  await fs.mkdir('/q', 0o755)
  await fs.mkdir('/p/d', 0o755)
  await writeFile(fs, '/p/d/f', Buffer.from('x'))
  await fs.flushAll()
  const d = await times(fs, '/p/d')
  at(T0 + 50_000)
  await fs.rename('/p/d', '/q/e')
  const e = await times(fs, '/q/e')
  t.equal(e.m, d.m, 'mtime kept')
  t.equal(e.c, T0 + 50_000, 'ctime now')
  for (const parent of ['/p', '/q']) {
    const p = await times(fs, parent)
    t.equal(p.m, T0 + 50_000, `${parent}: mtime now`)
    t.equal(p.c, T0 + 50_000, `${parent}: ctime now`)
  }
  await fs.flushAll()
  t.equal(store.object('q/e/')!.metadata.ctime, String((T0 + 50_000) / 1000), 'stored on the moved marker')
  const again = remount(fs, store)
  await again.readdir('/q')
  t.same(await times(again, '/q/e'), e, 'after a remount')
})

t.test('utimens sets atime and mtime as given and ctime to now; touch -a (the kernel passes the mtime it has) keeps mtime', async t => {
  const { fs, store, at } = clocked()
  await writeFile(fs, '/f', Buffer.from('x'))
  await fs.flushAll()
  at(T0 + 10_000)
  await fs.utimens('/f', 1_500_000_000_000, 1_600_000_000_250)
  t.same(await times(fs, '/f'), { a: 1_500_000_000_000, m: 1_600_000_000_250, c: T0 + 10_000 })
  at(T0 + 20_000)
  // touch -a: atime now, mtime as the kernel has it from our getattr
  const { m } = await times(fs, '/f')
  await fs.utimens('/f', T0 + 20_000, m)
  t.same(await times(fs, '/f'), { a: T0 + 20_000, m: 1_600_000_000_250, c: T0 + 20_000 })
  await fs.flushAll()
  const meta = store.object('f')!.metadata
  t.same([meta.atime, meta.mtime, meta.ctime], [String((T0 + 20_000) / 1000), '1600000000.250000000', String((T0 + 20_000) / 1000)])
  const again = remount(fs, store)
  await again.readdir('/')
  t.same(await times(again, '/f'), { a: T0 + 20_000, m: 1_600_000_000_250, c: T0 + 20_000 }, 'ls -lu and --time=ctime after a remount: from the index, no HEAD')
  t.equal(store.requests.HeadObject ?? 0, 1, 'the only HEAD is the root\'s own attributes, read once by the first mount')
})

t.test('a write moves mtime and ctime to the write time, even after a chmod stored a ctime', async t => {
  const { fs, store, at } = clocked()
  await writeFile(fs, '/f', Buffer.from('one'))
  at(T0 + 5_000)
  await fs.chmod('/f', 0o600)
  await fs.utimens('/f', T0 + 1_000, T0 + 6_000)
  await fs.flushAll()
  t.same(await times(fs, '/f'), { a: T0 + 1_000, m: T0 + 6_000, c: T0 + 5_000 })
  at(T0 + 90_000)
  const fh = await fs.open('/f', OpenFlags.O_RDWR)
  await fs.write(fh, Buffer.from('two'), 3, 0)
  t.same(await times(fs, '/f'), { a: T0 + 1_000, m: T0 + 90_000, c: T0 + 90_000 }, 'at once; atime stays')
  await fs.flush(fh)
  await fs.release(fh)
  t.same(await times(fs, '/f'), { a: T0 + 1_000, m: T0 + 90_000, c: T0 + 90_000 }, 'after the upload')
  const meta = store.object('f')!.metadata
  t.equal(meta.mtime, undefined, 'the date is the object\'s own')
  t.equal(meta.ctime, undefined, 'no stale ctime')
  t.equal(meta.mode, String(0o100600))
})

t.test('stored times win over LastModified, for objects other tools wrote too (seconds and seconds.nanoseconds)', async t => {
  const { fs, store, at } = clocked({ metaMode: 'head' })
  store.putText('s3fs', 'x', { mtime: '1600000000.5', atime: '1600000001', ctime: '1600000002.123456789' })
  store.putText('neg', 'x', { mtime: '-1.5' })
  t.same(await times(fs, '/s3fs'), { a: 1_600_000_001_000, m: 1_600_000_000_500, c: 1_600_000_002_123 })
  t.equal((await fs.getattr('/neg')).mtime.getTime(), -1500, 'before the epoch')
  // the default meta=list: a directory the mount keeps an index for HEADs what is newer than it
  const list = remount(fs, store, { metaMode: 'list' })
  await list.chmod('/neg', 0o600)
  await list.flushAll()
  at(T0 + 10_000) // written later than the index: it is HEADed
  store.putText('late', 'x', { mtime: '1600000000.5' })
  const again = remount(fs, store, { metaMode: 'list' })
  await again.readdir('/')
  t.equal((await again.getattr('/late')).mtime.getTime(), 1_600_000_000_500)
})

t.test('a directory\'s mtime and ctime move when an entry is created, removed or renamed in it: at once, and stored on its marker within seconds', async t => {
  const { fs, store, at } = clocked()
  await fs.mkdir('/d', 0o755)
  t.same(await times(fs, '/d'), { a: T0, m: T0, c: T0 }, 'a new directory is dated now')
  await fs.flushAll()
  const steps: [string, () => Promise<unknown>][] = [
    ['create', () => writeFile(fs, '/d/f', Buffer.from('x'))],
    ['mkdir', () => fs.mkdir('/d/sub', 0o755)],
    ['symlink', () => fs.symlink('f', '/d/l')],
    ['rename within', () => fs.rename('/d/f', '/d/g')],
    ['unlink', () => fs.unlink('/d/g')],
    ['rmdir', () => fs.rmdir('/d/sub')],
  ]
  let when = T0
  for (const [what, step] of steps) {
    when += 10_000
    at(when)
    await step()
    const d = await times(fs, '/d')
    t.equal(d.m, when, `${what}: mtime now, at once`)
    t.equal(d.c, when, `${what}: ctime now`)
  }
  t.equal(store.object('d/')!.metadata.mtime, String(T0 / 1000), 'not written at each change')
  await sleep(1300) // quiet for QUIET_MS: written
  t.equal(store.object('d/')!.metadata.mtime, String(when / 1000), 'stored on the marker within seconds, without an unmount')
  t.equal(store.object('d/')!.metadata.ctime, String(when / 1000))
  t.equal(store.object('d/')!.metadata.mode, String(0o040755), 'the marker keeps its mode')
  await fs.flushAll()
  const again = remount(fs, store)
  await again.readdir('/')
  t.same(await times(again, '/d'), { a: when, m: when, c: when }, 'after a remount, from the parent\'s listing and index')
  t.same(await times(remount(fs, store, { metaMode: 'head' }), '/d'), { a: when, m: when, c: when }, 'and from the marker')
})

t.test('a directory with no marker gets one (as s3fs makes) holding its times; foreign metadata on a marker survives', async t => {
  const { fs, store, at } = clocked()
  store.putText('implied/a', 'a')
  store.putText('marked/', '', { mode: String(0o040700), uid: '5', 'x-other': 'keep' })
  await fs.readdir('/')
  at(T0 + 1000)
  await writeFile(fs, '/implied/b', Buffer.from('b'))
  await writeFile(fs, '/marked/b', Buffer.from('b'))
  await fs.flushAll()
  t.equal(store.object('implied/')!.metadata.mtime, String((T0 + 1000) / 1000))
  const m = store.object('marked/')!.metadata
  t.same([m.mode, m.uid, m['x-other'], m.mtime], [String(0o040700), '5', 'keep', String((T0 + 1000) / 1000)])
})

t.test('tar x of 500 files into one directory: at most 3 extra requests for the directory\'s times', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/d', 0o755)
  await fs.flushAll()
  store.resetCounts()
  for (let i = 0; i < 500; i++) await writeFile(fs, `/d/f${i}`, Buffer.from('x'))
  await fs.flushAll()
  const extra = store.totalRequests() - 500
  t.equal(store.requests.PutObject! >= 500, true)
  // the marker, the parent's index read and written, and one key listed to see the directory is still there
  t.ok(extra <= 4, `${extra} extra requests: ${JSON.stringify(store.requests)}`)
  t.comment(`500 files: ${JSON.stringify(store.requests)}`)
})

t.test('rm -r: a directory whose times were written after its listing was cached is removed with its marker', async t => {
  const { fs, store } = makeFs()
  store.putText('d/a', 'a')
  await fs.readdir('/d')
  await fs.unlink('/d/a')
  await sleep(1300) // the times go: d/ gets a marker the cached listing does not show
  t.ok(store.object('d/'))
  await fs.rmdir('/d')
  await fs.flushAll()
  t.same(store.keys().filter(k => k.startsWith('d')), [], 'nothing brings it back')
  t.notOk((await remount(fs, store).readdir('/')).includes('d'))
})

t.test('the mount root: chmod, chown, touch are kept, its mtime moves with its entries, hidden, and survive a remount', async t => {
  for (const prefix of ['', 'pre/']) {
    const { fs, store, at } = clocked({ prefix })
    await fs.chmod('/', 0o700)
    await fs.chown('/', 42, 43)
    at(T0 + 5_000)
    await fs.utimens('/', 1_600_000_000_000, 1_650_000_000_000)
    const st = await fs.getattr('/')
    t.same([st.mode, st.uid, st.gid, st.mtime.getTime(), st.ctime.getTime()], [0o040700, 42, 43, 1_650_000_000_000, T0 + 5_000], `${prefix || 'bucket'}: at once`)
    const key = prefix || '..oortfs-attrs'
    t.ok(store.object(key), `stored on ${key}`)
    t.same(await fs.readdir('/'), [], 'hidden from the listing')
    const again = remount(fs, store)
    const back = await again.getattr('/')
    t.same([back.mode, back.uid, back.gid, back.atime.getTime(), back.mtime.getTime()], [0o040700, 42, 43, 1_600_000_000_000, 1_650_000_000_000], 'a new mount sees them')
    at(T0 + 9_000)
    await writeFile(again, '/new', Buffer.from('x'))
    t.equal((await again.getattr('/')).mtime.getTime(), T0 + 9_000, 'a new entry moves the root\'s mtime')
    await again.flushAll()
    const third = remount(fs, store)
    const r = await third.getattr('/')
    t.same([r.mode, r.mtime.getTime(), r.ctime.getTime()], [0o040700, T0 + 9_000, T0 + 9_000], 'stored, mode kept')
    t.same(await third.readdir('/'), ['new'])
  }
})

t.test('an index written before atime and ctime were recorded still reads', async t => {
  const { fs, store } = makeFs()
  store.putText('d/f', 'x')
  const o = store.object('d/f')!
  store.putText('d.oortfs-attrs', JSON.stringify({ v: 1, r: { f: { e: o.etag, s: 1, t: o.lastModified.getTime(), m: 0o100700, mt: 1_000_000_000_000 } } }))
  await fs.readdir('/')
  await fs.readdir('/d')
  const st = await fs.getattr('/d/f')
  t.same([st.mode, st.mtime.getTime(), st.atime.getTime()], [0o100700, 1_000_000_000_000, 1_000_000_000_000])
})
