// Exact times (issue 16, utimensat's edge cases): a utimens call's times to
// the ns, of any 64-bit second value, UTIME_NOW and UTIME_OMIT for each of
// atime and mtime, on every kind of file, kept exact through the headers, the
// attribute index, the caches and a remount (src/fs/exact-time.ts); a time
// moved for another reason (a write, a chmod's ctime) never keeps an old
// exact value.
import t from 'tap'
import { makeFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OortFs, type FsOptions } from '../../src/fs/filesystem.js'
import { OpenFlags, type Attr, type ExactTimes } from '../../src/fs/api.js'
import { decodeMeta, encodeMeta } from '../../src/fs/metadata.js'
import { exactNs, formatNs, msOfNs, parseNs } from '../../src/fs/exact-time.js'
import { S_IFIFO } from '../../src/fs/special-files.js'
import { toFuseStat } from '../../src/fuse/adapter.js'
import { statArray } from '../../src/fuse/oort-fuse.js'

const S = 1_000_000_000n
const T0 = 1_700_000_000_000

function clocked (opts: Partial<FsOptions> = {}): { fs: OortFs, store: FakeStore, at: (ms: number) => void } {
  let wall = T0
  const store = new FakeStore({ minPartSize: 64 * 1024, now: () => wall })
  const { fs } = makeFs(store, { now: () => wall, ...opts })
  return { fs, store, at: ms => { wall = ms } }
}

const remount = (fs: OortFs, store: FakeStore, opts: Partial<FsOptions> = {}): OortFs => new OortFs(store, { ...fs.opts, ...opts })

/** a stat time as the kernel gets it: the exact ns, else the Date's ms */
const ns = (exact: bigint | undefined, d: Date): bigint => exact ?? BigInt(d.getTime()) * 1_000_000n
const times = (st: Attr): { a: bigint, m: bigint, c: bigint } =>
  ({ a: ns(st.atimeNs, st.atime), m: ns(st.mtimeNs, st.mtime), c: ns(st.ctimeNs, st.ctime) })
const nsOfMs = (ms: number): bigint => BigInt(ms) * 1_000_000n

/** times of every edge: ns, before the epoch, 2^40 s, near the 64-bit ends */
const EDGES: [string, bigint][] = [
  ['ns', 1_700_000_000_123_456_789n],
  ['before the epoch', -1_234_567_890_123_456_789n],
  ['less than a second before the epoch', -1n],
  ['2^40 s', (2n ** 40n) * S + 5n],
  ['2^62 s', (2n ** 62n) * S + 7n],
  ['-2^62 s', -(2n ** 62n) * S - 999_999_999n],
  ['the largest 64-bit second', (2n ** 63n - 1n) * S + 999_999_999n],
  ['the smallest 64-bit second', -(2n ** 63n) * S],
]

t.test('codec: ns and 64-bit seconds round trip through x-amz-meta-mtime; s3fs\'s whole seconds come first', async t => {
  for (const [what, v] of EDGES) {
    const h = encodeMeta({ mtimeMs: msOfNs(v), mtimeNs: v })
    const back = decodeMeta(h)
    t.equal(back.mtimeNs, v, `${what}: ${h.mtime}`)
    t.equal(exactNs(back.mtimeMs, back.mtimeNs), v, `${what}: the exact value agrees with its ms`)
    const whole = v < 0n ? -((-v) / S) : v / S
    t.match(h.mtime, new RegExp(`^${v < 0n && whole === 0n ? '-0' : String(whole)}(\\.\\d{9})?$`), `${what}: the integer seconds s3fs reads`)
  }
  t.equal(formatNs(-1_500_000_000n), '-1.500000000', 'the fraction carries the seconds\' sign, as before')
  t.equal(formatNs(1_600_000_000n * S), '1600000000', 'whole seconds: no fraction')
  t.equal(parseNs('1600000000.5'), 1_600_000_000_500_000_000n, 'a short fraction')
  t.equal(parseNs('1600000000.1234567891'), 1_600_000_000_123_456_789n, 'digits past the ns dropped')
  t.equal(parseNs('-0.5'), -500_000_000n)
  t.equal(parseNs('1e9'), undefined)
})

t.test('an exact value counts only while it agrees with its ms: a time moved to another value, however near, drops it', async t => {
  const exact = 1_700_000_000_000_000_100n // 100 ns past a whole ms: rounding alone would make its ms whole
  const ms = msOfNs(exact)
  t.notOk(Number.isInteger(ms), 'the ms of a time with a sub-ms part is never a whole number')
  t.equal(exactNs(ms, exact), exact)
  t.equal(exactNs(1_700_000_000_000, exact), undefined, 'now() of that very ms is another time')
  t.equal(encodeMeta({ mtimeMs: 1_700_000_000_000, mtimeNs: exact }).mtime, '1700000000', 'the header says the ms time')
  t.equal(exactNs(msOfNs(-exact), -exact), -exact, 'before the epoch too')
  t.notOk(Number.isInteger(msOfNs(-exact)))
})

/** the kinds of file a utimens reaches; each made fresh */
const KINDS: [string, (fs: OortFs) => Promise<void>][] = [
  ['file', fs => writeFile(fs, '/x', Buffer.from('data'))],
  ['directory', fs => fs.mkdir('/x', 0o755)],
  ['mount root', async () => {}],
  ['symlink', fs => fs.symlink('target', '/x')],
  ['FIFO', fs => fs.mknod('/x', S_IFIFO | 0o644, 0)],
]
const pathOf = (kind: string): string => kind === 'mount root' ? '/' : '/x'

type Given = { what: string, ms: number, ns?: bigint }
const A1 = 1_600_000_000_111_222_333n
const M1 = 1_650_000_000_444_555_666n
const CHOICES = (exact: bigint): Given[] => [
  { what: 'exact', ms: Number(exact / 1_000_000n), ns: exact },
  { what: 'UTIME_NOW', ms: Infinity },
  { what: 'UTIME_OMIT', ms: NaN },
]

t.test('utimens: each of NOW, OMIT and an exact time for atime and mtime, on a file, a directory, the root, a symlink, a FIFO; the same after a remount', async t => {
  for (const [kind, make] of KINDS) {
    for (const a of CHOICES(-1_234_567_890_987_654_321n)) {
      for (const m of CHOICES(1_700_000_000_123_456_789n)) {
        const label = `${kind}: atime ${a.what}, mtime ${m.what}`
        const { fs, store, at } = clocked()
        await make(fs)
        const path = pathOf(kind)
        // known exact times first: OMIT must keep them to the ns
        await fs.utimens(path, Number(A1 / 1_000_000n), Number(M1 / 1_000_000n), { atimeNs: A1, mtimeNs: M1 })
        await fs.flushAll()
        const T1 = T0 + 60_000
        at(T1)
        const exact: ExactTimes = { atimeNs: a.ns, mtimeNs: m.ns }
        await fs.utimens(path, a.ms, m.ms, exact)
        const want = {
          a: a.ns ?? (a.what === 'UTIME_NOW' ? nsOfMs(T1) : A1),
          m: m.ns ?? (m.what === 'UTIME_NOW' ? nsOfMs(T1) : M1),
          // both UTIME_OMIT changes nothing (the kernel does not even send it: utimensat answers 0 itself)
          c: a.what === 'UTIME_OMIT' && m.what === 'UTIME_OMIT' ? nsOfMs(T0) : nsOfMs(T1),
        }
        t.same(times(await fs.getattr(path)), want, `${label}: at once`)
        await fs.flushAll()
        t.same(times(await fs.getattr(path)), want, `${label}: once stored`)
        const again = remount(fs, store)
        await again.readdir('/')
        t.same(times(await again.getattr(path)), want, `${label}: a new mount, from the listing and index`)
        t.same(times(await remount(fs, store, { metaMode: 'head' }).getattr(path)), want, `${label}: from the object's own headers`)
      }
    }
  }
})

t.test('touch -h: a symlink\'s times are its own, its target keeps its own', async t => {
  const { fs } = clocked()
  await writeFile(fs, '/target', Buffer.from('x'))
  await fs.symlink('target', '/l')
  await fs.flushAll()
  const before = times(await fs.getattr('/target'))
  const v = 1_234_567_890_123_456_789n
  await fs.utimens('/l', Number(v / 1_000_000n), Number(v / 1_000_000n), { atimeNs: v, mtimeNs: v })
  await fs.flushAll()
  t.same([times(await fs.getattr('/l')).a, times(await fs.getattr('/l')).m], [v, v])
  t.same(times(await fs.getattr('/target')), before)
})

t.test('a file still being written (open, not uploaded): exact times show at once, go up with its bytes, and survive a remount', async t => {
  for (const a of CHOICES(-5_000_000_000_000_000_123n)) {
    for (const m of CHOICES(1_700_000_000_123_456_789n).filter(c => c.what !== 'UTIME_NOW')) {
      const label = `atime ${a.what}, mtime ${m.what}`
      const { fs, store, at } = clocked()
      const fh = await fs.create('/f', 0o644)
      await fs.write(fh, Buffer.from('data'), 4, 0)
      await fs.utimens('/f', Number(A1 / 1_000_000n), Number(M1 / 1_000_000n), { atimeNs: A1, mtimeNs: M1 })
      const T1 = T0 + 30_000
      at(T1)
      await fs.utimens('/f', a.ms, m.ms, { atimeNs: a.ns, mtimeNs: m.ns })
      const want = { a: a.ns ?? (a.what === 'UTIME_NOW' ? nsOfMs(T1) : A1), m: m.ns ?? M1 }
      const shown = (st: Attr): { a: bigint, m: bigint } => { const x = times(st); return { a: x.a, m: x.m } }
      t.same(shown(await fs.fgetattr('/f', fh)), want, `${label}: at once`)
      t.equal(store.object('f'), undefined, 'not uploaded yet')
      await fs.flush(fh)
      await fs.release(fh)
      t.same(shown(await fs.getattr('/f')), want, `${label}: uploaded`)
      await fs.flushAll()
      const again = remount(fs, store)
      await again.readdir('/')
      t.same(shown(await again.getattr('/f')), want, `${label}: a new mount`)
    }
  }
})

t.test('a write after an exact utimens moves mtime to the write time: the old exact value is gone from stat, the header and the index', async t => {
  const { fs, store, at } = clocked()
  await writeFile(fs, '/f', Buffer.from('one'))
  const v = 1_600_000_000_123_456_789n
  await fs.utimens('/f', NaN, Number(v / 1_000_000n), { mtimeNs: v })
  await fs.flushAll()
  t.equal(store.object('f')!.metadata.mtime, '1600000000.123456789')
  at(T0 + 90_000)
  const fh = await fs.open('/f', OpenFlags.O_RDWR)
  await fs.write(fh, Buffer.from('two'), 3, 0)
  const open = await fs.getattr('/f')
  t.equal(open.mtimeNs, undefined, 'no exact mtime at once')
  t.equal(open.mtime.getTime(), T0 + 90_000, 'the write time')
  await fs.flush(fh)
  await fs.release(fh)
  await fs.flushAll()
  t.equal(store.object('f')!.metadata.mtime, undefined, 'the object\'s date is its mtime')
  const again = remount(fs, store)
  await again.readdir('/')
  const st = await again.getattr('/f')
  t.same([st.mtimeNs, st.mtime.getTime()], [undefined, T0 + 90_000], 'a new mount')
  // a chmod stores the mtime it shows: the write time, not the exact one of before
  await fs.chmod('/f', 0o600)
  await fs.flushAll()
  t.equal(store.object('f')!.metadata.mtime, String((T0 + 90_000) / 1000), 'a chmod after it stores the write time')
})

t.test('a chmod keeps the exact mtime and atime, and moves ctime to now, without its old exact value', async t => {
  const { fs, store, at } = clocked()
  store.putText('f', 'x', { mtime: '1600000000.123456789', atime: '1500000000.000000001', ctime: '1600000001.987654321' })
  await fs.readdir('/')
  at(T0 + 5_000)
  await fs.chmod('/f', 0o600)
  await fs.flushAll()
  const h = store.object('f')!.metadata
  t.same([h.mtime, h.atime, h.ctime], ['1600000000.123456789', '1500000000.000000001', String((T0 + 5_000) / 1000)])
  t.same(times(await remount(fs, store).getattr('/f')),
    { a: 1_500_000_000_000_000_001n, m: 1_600_000_000_123_456_789n, c: nsOfMs(T0 + 5_000) })
})

t.test('touch -m on a file whose atime showed its mtime: atime keeps that time; touch -a stores now', async t => {
  const { fs, at } = clocked()
  await writeFile(fs, '/f', Buffer.from('x'))
  await fs.flushAll()
  at(T0 + 10_000)
  await fs.utimens('/f', NaN, Infinity) // touch -m
  t.same(times(await fs.getattr('/f')), { a: nsOfMs(T0), m: nsOfMs(T0 + 10_000), c: nsOfMs(T0 + 10_000) })
  at(T0 + 20_000)
  await fs.utimens('/f', Infinity, NaN) // touch -a
  t.same(times(await fs.getattr('/f')), { a: nsOfMs(T0 + 20_000), m: nsOfMs(T0 + 10_000), c: nsOfMs(T0 + 20_000) })
  at(T0 + 30_000)
  await fs.utimens('/f', Infinity, Infinity) // touch
  t.same(times(await fs.getattr('/f')), { a: nsOfMs(T0 + 30_000), m: nsOfMs(T0 + 30_000), c: nsOfMs(T0 + 30_000) })
})

t.test('the exact times win over the binding\'s ms: 1 and 2 ms before the epoch are not UTIME_NOW and UTIME_OMIT', async t => {
  const { fs } = clocked()
  await writeFile(fs, '/f', Buffer.from('x'))
  // the binding's 64-bit ms of -1 ms and -2 ms are 2^64-1 and 2^64-2: what it sends for NOW and OMIT
  await fs.utimens('/f', Infinity, NaN, { atimeNs: -1_000_000n, mtimeNs: -2_000_000n })
  const st = times(await fs.getattr('/f'))
  t.same([st.a, st.m], [-1_000_000n, -2_000_000n])
})

t.test('times beyond a Date\'s range: stat carries them in ns with clamped Dates, and the kernel gets 64-bit seconds', async t => {
  const { fs, store } = clocked()
  await writeFile(fs, '/f', Buffer.from('x'))
  const big = (2n ** 62n) * S + 7n
  const small = -(2n ** 62n) * S
  await fs.utimens('/f', NaN, NaN, { atimeNs: small, mtimeNs: big })
  const st = await fs.getattr('/f')
  t.same([st.atimeNs, st.mtimeNs], [small, big])
  t.equal(st.mtime.getTime(), 8.64e15, 'clamped to the last Date')
  t.equal(st.atime.getTime(), -8.64e15)
  const words = statArray(toFuseStat(st))
  const sec = (i: number): bigint => BigInt.asIntN(64, BigInt(words[i]!) | (BigInt(words[i + 1]!) << 32n))
  t.same([sec(15), words[17]], [2n ** 62n, 7], 'mtime: int64 seconds, ns')
  t.same([sec(12), words[14]], [-(2n ** 62n), 0])
  await fs.flushAll()
  t.equal(store.object('f')!.metadata.mtime, '4611686018427387904.000000007')
  // an index record of such a time from a mount that wrote only ms (or lost the ns): no crash, the ms value
  store.putText('g', 'x')
  const o = store.object('g')!
  store.putText('.oortfs-attrs', JSON.stringify({ v: 1, r: { g: { e: o.etag, s: 1, t: o.lastModified.getTime(), m: 0o100644, mt: 4.611686018427388e21 } } }))
  const again = remount(fs, store)
  await again.readdir('/')
  const g = await again.getattr('/g')
  t.equal(g.mtime.getTime(), 8.64e15)
  t.equal(g.mtimeNs! / S, 2n ** 62n, 'seconds as the ms number tells them')

  // past 64-bit seconds: no time at all (a header as one that does not parse; a record's number as a Date's end)
  const huge = '1' + '0'.repeat(400)
  t.same(decodeMeta({ mtime: huge, atime: String(2n ** 63n) }), {}, 'headers past 64-bit seconds are no times')
  t.equal(parseNs(String(2n ** 63n - 1n) + '.999999999'), (2n ** 63n - 1n) * S + 999_999_999n, 'the last one is')
  t.equal(parseNs('-' + String(2n ** 63n)), -(2n ** 63n) * S, 'and the first')
  store.putText('h', 'x', { mtime: huge })
  store.putText('i', 'x')
  const oi = store.object('i')!
  const idx = JSON.parse(store.object('.oortfs-attrs')!.body.toString()) as { v: 1, r: Record<string, unknown> }
  idx.r.i = { e: oi.etag, s: 1, t: oi.lastModified.getTime(), m: 0o100644, mt: 1e300 }
  store.putText('.oortfs-attrs', JSON.stringify(idx))
  const third = remount(fs, store, { metaMode: 'list' })
  await third.readdir('/')
  t.equal((await third.getattr('/h')).mtime.getTime(), store.object('h')!.lastModified.getTime(), 'its date instead')
  const i = await third.getattr('/i')
  t.same([i.mtime.getTime(), i.mtimeNs], [8.64e15, undefined], 'a Date\'s end, no ns past 64-bit seconds')
  await third.chmod('/i', 0o600)
  await third.flushAll()
  t.ok(store.object('i')!.metadata.mtime, 'and a rewrite does not crash')
})

t.test('the attribute index keeps the ns: no HEAD after a remount; records written with ms numbers alone still read', async t => {
  const { fs, store } = clocked()
  await fs.mkdir('/d', 0o755)
  await writeFile(fs, '/d/f', Buffer.from('x'))
  const v = 1_700_000_000_123_456_789n // within a second of the object's date: a ms time that near would need no record
  await fs.utimens('/d/f', Number(v / 1_000_000n), Number(v / 1_000_000n), { atimeNs: v, mtimeNs: v })
  await fs.flushAll()
  store.resetCounts()
  const again = remount(fs, store)
  await again.readdir('/d')
  t.same(times(await again.getattr('/d/f')), { ...times(await fs.getattr('/d/f')), m: v, a: v })
  t.equal(store.requests.HeadObject ?? 0, 0, 'from the index')

  // an older mount's record: ms numbers (sub-ms ones too), no ns
  store.putText('e/f', 'x')
  const o = store.object('e/f')!
  store.putText('e.oortfs-attrs', JSON.stringify({ v: 1, r: { f: { e: o.etag, s: 1, t: o.lastModified.getTime(), m: 0o100700, mt: 1_600_000_002_123.457, at: 1_000_000_000_000 } } }))
  // and one whose ms number another mount changed after ours wrote the ns beside it
  store.putText('e/g', 'x')
  const og = store.object('e/g')!
  const gRec = { e: og.etag, s: 1, t: og.lastModified.getTime(), m: 0o100644, mt: 1_650_000_000_000, mtn: '1600000000.123456789' }
  const idx = JSON.parse(store.object('e.oortfs-attrs')!.body.toString()) as { v: 1, r: Record<string, unknown> }
  idx.r.g = gRec
  store.putText('e.oortfs-attrs', JSON.stringify(idx))
  const third = remount(fs, store)
  await third.readdir('/')
  await third.readdir('/e')
  const f = await third.getattr('/e/f')
  t.same([f.mode, f.mtime.getTime(), f.atime.getTime()], [0o100700, 1_600_000_002_123, 1_000_000_000_000], 'an old record reads as before')
  const g = await third.getattr('/e/g')
  t.same([g.mtime.getTime(), g.mtimeNs], [1_650_000_000_000, undefined], 'an exact value that no longer agrees is not shown')
})

t.test('an exact utimens costs the requests a ms one does', async t => {
  const counts: string[] = []
  for (const exact of [false, true]) {
    const { fs, store } = clocked()
    await writeFile(fs, '/f', Buffer.from('x'))
    await fs.utimens('/f', 1_000, 2_000)
    await fs.flushAll()
    store.resetCounts()
    if (exact) await fs.utimens('/f', 1_600_000_000_000, 1_600_000_000_000, { atimeNs: 1_600_000_000_000_000_001n, mtimeNs: 1_600_000_000_000_000_002n })
    else await fs.utimens('/f', 1_600_000_000_000, 1_600_000_000_001)
    await fs.flushAll()
    counts.push(JSON.stringify(store.requests))
  }
  t.equal(counts[1], counts[0], counts[0])
})

t.test('a record the index keeps anyway (a mode, an mtime) keeps the ctime too, however near the object\'s date; a touch alone writes no index', async t => {
  const { fs, store, at } = clocked()
  await writeFile(fs, '/f', Buffer.from('x'))
  await writeFile(fs, '/g', Buffer.from('x'))
  await fs.flushAll()
  at(T0 + 10_000)
  await fs.chmod('/f', 0o600)
  await fs.utimens('/g', Infinity, Infinity) // touch
  at(T0 + 10_300) // the copies land 0.3 s later: their LastModified
  await fs.flushAll()
  t.equal(store.object('f')!.lastModified.getTime(), T0 + 10_300)
  t.equal(store.object('.oortfs-attrs') !== undefined, true, 'the chmod needs a record')
  const idx = JSON.parse(store.object('.oortfs-attrs')!.body.toString()) as { r: Record<string, unknown> }
  t.same(Object.keys(idx.r), ['f'], 'the touch needs none: its times are the object\'s date')
  const again = remount(fs, store)
  await again.readdir('/')
  t.equal((await again.getattr('/f')).ctime.getTime(), T0 + 10_000, 'the chmod\'s ctime, not the copy\'s date')
  t.equal((await again.getattr('/g')).mtime.getTime(), T0 + 10_300, 'touch: the copy\'s date')
})
