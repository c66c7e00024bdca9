// The read shortcut answers reads of bound handles from the block cache's
// mirrored blocks without the core (scripts/fuse-shortcuts.c; here its JS
// model, test/helpers/model-shortcut.ts). What it answers must be what the
// core would: a handle is bound only while its file reads the server's bytes
// as they are, and unbound before any change of them is answered, and before
// its release is. Each race is held open in the fake store.
import t from 'tap'
import { makeFs, pattern, KiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { ModelShortcut } from '../helpers/model-shortcut.js'
import { OpenFlags } from '../../src/fs/api.js'
import { prng } from '../../scripts/prng.js'

const { O_RDONLY, O_RDWR } = OpenFlags
const BS = 16 * KiB

function setup (size: number, opts: { cacheSize?: number, readahead?: number, shortcut?: boolean } = {}): { fs: ReturnType<typeof makeFs>['fs'], store: FakeStore, sc: ModelShortcut, data: Buffer } {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  const data = pattern(size)
  store.putBytes('f', data)
  const { fs } = makeFs(store, { blockSize: BS, cacheSize: opts.cacheSize ?? 1024 * KiB, readahead: opts.readahead ?? 256 * KiB })
  const sc = new ModelShortcut(BS, fs)
  if (opts.shortcut !== false) fs.attachReadShortcut(sc)
  return { fs, store, sc, data }
}

const settle = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

t.test('a handle reading a file as it is: the shortcut answers its reads with the core\'s bytes, and its read-ahead follows', async t => {
  const size = 2048 * KiB + 123
  const { fs, store, sc, data } = setup(size)
  const fh = await fs.open('/f', O_RDONLY)
  const got: Buffer[] = []
  let core = 0
  for (let at = 0; at < size; at += 128 * KiB) {
    const r = await sc.read(fs, fh, at, 128 * KiB)
    if (r.by === 'core') core++
    got.push(r.data)
    await settle()
  }
  t.ok(Buffer.concat(got).equals(data), 'every byte as the object has it, the short end included')
  t.ok(sc.served > 0, `the shortcut answered ${sc.served} of ${Math.ceil(size / (128 * KiB))} reads`)
  t.ok(core <= 4, `the core answered ${core}: the first, and those the read-ahead had not fetched yet`)
  t.equal(sc.serve(fh, size, 4096)?.length ?? 0, 0, 'at the end: nothing (EOF), or the core')
  t.same(sc.changed, [], 'no published block changed while published')
  await fs.release(fh)
  // served() kept the stream's read-ahead going: no more GETs than the core alone makes
  const alone = setup(size, { shortcut: false })
  const fh2 = await alone.fs.open('/f', O_RDONLY)
  for (let at = 0; at < size; at += 128 * KiB) {
    await alone.fs.read(fh2, Buffer.alloc(128 * KiB), 128 * KiB, at)
    await settle()
  }
  await alone.fs.release(fh2)
  t.ok(store.requests.GetObject! <= alone.store.requests.GetObject!, `${store.requests.GetObject} GETs, the core alone ${alone.store.requests.GetObject}`)
})

t.test('a write through another handle unbinds the reader before the write is answered', async t => {
  const { fs, sc, data } = setup(512 * KiB)
  const reader = await fs.open('/f', O_RDONLY)
  await sc.read(fs, reader, 0, 128 * KiB)
  await settle()
  t.ok(sc.serve(reader, 64 * KiB, 4 * KiB), 'the reader is bound and its blocks are there')
  const writer = await fs.open('/f', O_RDWR)
  await fs.write(writer, Buffer.from('NEW!'), 4, 64 * KiB)
  t.equal(sc.serve(reader, 64 * KiB, 4 * KiB), undefined, 'once write() resolved, the shortcut no longer answers the reader')
  const r = await sc.read(fs, reader, 64 * KiB, 8)
  t.equal(r.data.subarray(0, 4).toString(), 'NEW!', 'the reader sees the write')
  t.ok(r.data.subarray(4).equals(data.subarray(64 * KiB + 4, 64 * KiB + 8)), 'and the old bytes beside it')
  t.equal(r.by, 'core')
  await fs.release(writer)
  await fs.release(reader)
})

t.test('a read on its way when a write lands binds nothing: the next read sees the write', async t => {
  const { fs, store, sc } = setup(512 * KiB)
  const reader = await fs.open('/f', O_RDONLY)
  // the reader's blocks of [0, 64K) come in; then its read of [256K, ...) waits on a held GET
  await sc.read(fs, reader, 0, 64 * KiB)
  await settle()
  const writer = await fs.open('/f', O_RDWR)
  await fs.write(writer, Buffer.from('x'), 1, 0) // unbinds the reader
  const get = store.hold('GetObject', 'f')
  const far = fs.read(reader, Buffer.alloc(4096), 4096, 400 * KiB)
  await get.arrived
  await fs.write(writer, Buffer.from('NEW!'), 4, 8 * KiB) // lands while that read is on its way
  get.release()
  await far
  t.equal(sc.serve(reader, 8 * KiB, 4), undefined, 'the read that was on its way did not bind the reader again')
  t.equal((await sc.read(fs, reader, 8 * KiB, 4)).data.toString(), 'NEW!', 'the next read sees the write')
  await fs.release(writer)
  await fs.release(reader)
})

t.test('a truncate unbinds every handle of the file; a release unbinds its own before it resolves', async t => {
  const { fs, sc } = setup(256 * KiB)
  const a = await fs.open('/f', O_RDONLY)
  const b = await fs.open('/f', O_RDONLY)
  for (const fh of [a, b]) await sc.read(fs, fh, 0, 32 * KiB)
  await settle()
  t.ok(sc.binds.has(a) && sc.binds.has(b), 'both bound')
  await fs.release(b)
  t.notOk(sc.binds.has(b), 'the released handle is unbound (its number may be another file\'s next)')
  t.ok(sc.binds.has(a), 'the other one stays')
  await fs.truncate('/f', 10)
  t.notOk(sc.binds.has(a), 'the truncate unbound it')
  const r = await sc.read(fs, a, 0, 32 * KiB)
  t.equal(r.data.length, 10, 'the reader sees the new size')
  await fs.release(a)
  t.equal(sc.binds.size, 0)
})

t.test('random reads, writes, truncates, uploads and reopens: what the shortcut answers is always the file as written', async t => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const next = prng(seed)
    const pick = (n: number): number => Math.floor(next() * n)
    const size = 300 * KiB + pick(40 * KiB)
    // a cache of a few blocks: blocks are evicted and their buffers reused all the time
    const { fs, sc, data } = setup(size, { cacheSize: 12 * BS, readahead: 4 * BS })
    let truth = Buffer.from(data)
    const handles: { fh: number, flags: number }[] = []
    const open = async (flags: number): Promise<void> => { handles.push({ fh: await fs.open('/f', flags), flags }) }
    await open(O_RDONLY)
    await open(O_RDONLY)
    await open(O_RDWR)
    const wrong: string[] = []
    let byShortcut = 0
    for (let step = 0; step < 300 && wrong.length === 0; step++) {
      const r = next()
      const h = handles[pick(handles.length)]!
      if (r < 0.6) {
        // sequential-ish or random, sometimes across block edges and the end
        const at = next() < 0.5 ? pick(truth.length + BS) : Math.max(0, truth.length - pick(3 * BS))
        const len = 1 + pick(3 * BS)
        const got = await sc.read(fs, h.fh, at, len)
        if (got.by === 'shortcut') byShortcut++
        const want = truth.subarray(Math.min(at, truth.length), Math.min(at + len, truth.length))
        if (!got.data.equals(want)) wrong.push(`seed ${seed} step ${step}: read ${len}@${at} by the ${got.by} differs from the file`)
      } else if (r < 0.75) {
        const w = handles.find(x => x.flags === O_RDWR)!
        const at = pick(truth.length + 2 * BS)
        const bytes = pattern(1 + pick(2 * BS), seed * 1000 + step)
        await fs.write(w.fh, bytes, bytes.length, at)
        if (at + bytes.length > truth.length) truth = Buffer.concat([truth, Buffer.alloc(at + bytes.length - truth.length)])
        bytes.copy(truth, at)
      } else if (r < 0.8) {
        const to = pick(truth.length + BS)
        await fs.truncate('/f', to)
        truth = to <= truth.length ? Buffer.from(truth.subarray(0, to)) : Buffer.concat([truth, Buffer.alloc(to - truth.length)])
      } else if (r < 0.88) {
        // an upload: the file's base becomes the version it sent
        await fs.fsync(handles.find(x => x.flags === O_RDWR)!.fh, false)
      } else if (r < 0.95) {
        const i = pick(handles.length)
        const old = handles.splice(i, 1)[0]!
        await fs.release(old.fh)
        if (sc.binds.has(old.fh)) wrong.push(`seed ${seed} step ${step}: fh ${old.fh} still bound after its release`)
        await open(old.flags)
      } else {
        // all closed: the last close uploads, and the next open reads the version it sent, as it is
        for (const x of handles.splice(0)) await fs.release(x.fh)
        await fs.flushAll()
        if (sc.binds.size > 0) wrong.push(`seed ${seed} step ${step}: handles bound with none open`)
        await open(O_RDONLY)
        await open(O_RDONLY)
        await open(O_RDWR)
      }
      await settle()
      if (sc.changed.length > 0) wrong.push(`seed ${seed} step ${step}: published blocks changed: ${sc.changed.join(', ')}`)
    }
    t.same(wrong, [], `seed ${seed}: the shortcut answered ${byShortcut} reads, each as the core would`)
    for (const h of handles) await fs.release(h.fh)
    t.equal(sc.binds.size, 0, `seed ${seed}: nothing bound once all are released`)
    await fs.flushAll()
  }
})
