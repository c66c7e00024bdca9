// The write shortcut: the FUSE binding makes an armed handle's pwrite into the
// staging file itself, then hands the call to the core, which records it
// before it is answered (scripts/fuse-shortcuts.c; here its JS model,
// test/helpers/model-shortcut.ts). A change of the staging file the core
// makes another way (a truncate, server bytes fetched into it, its close)
// must never interleave with such a pwrite: each waits until every write the
// binding took has reached the core. Each race is held open here: the
// binding's pwrite is done, its hand-off to the core still on its way.
import t from 'tap'
import { makeFs, pattern, KiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { ModelWrites } from '../helpers/model-shortcut.js'
import { OpenFlags } from '../../src/fs/api.js'
import { errnoOf } from '../../src/errors.js'
import { prng } from '../../scripts/prng.js'

const { O_RDWR, O_WRONLY, O_APPEND } = OpenFlags
const settle = (n = 3): Promise<void> => new Promise(resolve => { let k = n; const go = (): void => { if (--k <= 0) resolve(); else setImmediate(go) }; setImmediate(go) })

function setup (store = new FakeStore({ minPartSize: 64 * KiB })): { fs: ReturnType<typeof makeFs>['fs'], store: FakeStore, w: ModelWrites } {
  const { fs } = makeFs(store)
  const w = new ModelWrites()
  fs.attachWriteShortcut(w)
  return { fs, store, w }
}

async function readAll (fs: ReturnType<typeof makeFs>['fs'], fh: number, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size + 100)
  const n = await fs.read(fh, buf, size + 100, 0)
  return buf.subarray(0, n)
}

t.test('after a write of its own, a handle is armed: its next writes are made by the binding and recorded before they are answered', async t => {
  const { fs, store, w } = setup()
  const fh = await fs.create('/f', 0o644)
  const data = pattern(600 * KiB)
  t.notOk(w.isArmed(fh), 'not armed before its first write (no staging file yet)')
  await fs.write(fh, data.subarray(0, 128 * KiB), 128 * KiB, 0)
  t.ok(w.isArmed(fh), 'armed after it')
  for (let at = 128 * KiB; at < data.length; at += 128 * KiB) {
    const piece = data.subarray(at, at + 128 * KiB)
    const r = w.write(fs, fh, piece, at)
    t.equal(r.by, 'shortcut')
    t.equal(await r.answer, piece.length)
  }
  t.equal(fs.shortcutWrites, 4, 'four made by the binding')
  t.same((await fs.fgetattr('/f', fh)).size, data.length, 'the size counts them')
  t.ok((await readAll(fs, fh, data.length)).equals(data), 'reads see them')
  await fs.release(fh)
  t.notOk(w.isArmed(fh), 'disarmed at release')
  await fs.flushAll()
  t.ok(store.object('f')?.body.equals(data), 'uploaded whole')
})

t.test('O_APPEND and read-only handles are never armed', async t => {
  const { fs, w } = setup()
  const a = await fs.create('/a', 0o644)
  await fs.release(a)
  const fh = await fs.open('/a', O_WRONLY | O_APPEND)
  await fs.write(fh, Buffer.from('one'), 3, 0)
  await fs.write(fh, Buffer.from('two'), 3, 0)
  t.notOk(w.isArmed(fh), 'an appender: the offset is the core\'s to choose')
  await fs.release(fh)
})

t.test('a truncate waits for a write the binding made and the core has not heard of yet', async t => {
  const { fs, store, w } = setup()
  const fh = await fs.create('/f', 0o644)
  await fs.write(fh, pattern(64 * KiB), 64 * KiB, 0)
  const late = w.write(fs, fh, Buffer.alloc(64 * KiB, 7), 64 * KiB, { hold: true })
  t.equal(late.by, 'shortcut')
  let truncated = false
  const truncating = fs.ftruncate(fh, 100 * KiB).then(() => { truncated = true })
  await settle(10)
  t.notOk(truncated, 'the truncate waits: the binding\'s write came first')
  // meanwhile another handle writes through the core: it is not armed while the truncate is on its way
  const other = await fs.open('/f', O_RDWR)
  await fs.write(other, Buffer.from('zz'), 2, 10)
  t.notOk(w.isArmed(other), 'no handle of the file is armed while a truncate waits')
  late.deliver()
  t.equal(await late.answer, 64 * KiB)
  await truncating
  const got = await readAll(fs, fh, 100 * KiB)
  t.equal(got.length, 100 * KiB, 'the size the truncate gave, not the write\'s end')
  t.ok(got.subarray(64 * KiB).equals(Buffer.alloc(36 * KiB, 7)), 'the write\'s bytes up to it')
  t.notOk(w.isArmed(fh), 'disarmed by the truncate')
  await fs.release(other)
  await fs.write(fh, Buffer.from('x'), 1, 0)
  t.ok(w.isArmed(fh), 'armed again by its next write through the core')
  await fs.release(fh)
  await fs.flushAll()
  t.equal(store.object('f')?.body.length, 100 * KiB)
})

t.test('an unlink of an open file fetches the server\'s bytes into its staging file only after the binding\'s writes are in', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  const old = pattern(256 * KiB, 3)
  store.putBytes('f', old)
  const { fs, w } = setup(store)
  const fh = await fs.open('/f', O_RDWR)
  await fs.write(fh, Buffer.from('head'), 4, 0)
  // into a range only the server has: the fetch at unlink fills such gaps
  const late = w.write(fs, fh, Buffer.alloc(8 * KiB, 9), 128 * KiB, { hold: true })
  const get = store.hold('GetObject', 'f')
  let fetching = false
  void get.arrived.then(() => { fetching = true })
  const unlinking = fs.unlink('/f')
  await settle(20)
  t.notOk(fetching, 'the fetch waits for the binding\'s write to reach the core')
  if (fetching) { get.release(); await settle(20) } // (the bug: the fetch fills the write's range with the server's bytes)
  late.deliver()
  await late.answer
  if (!fetching) { await get.arrived; get.release() }
  await unlinking
  const got = await readAll(fs, fh, old.length)
  t.ok(got.subarray(128 * KiB, 136 * KiB).equals(Buffer.alloc(8 * KiB, 9)), 'the write survives the fetch of the server\'s bytes')
  t.ok(got.subarray(136 * KiB).equals(old.subarray(136 * KiB)), 'the server\'s bytes beside it')
  t.equal(got.subarray(0, 4).toString(), 'head')
  await fs.release(fh)
})

t.test('the shutdown waits for the binding\'s writes on their way, then every write goes through the core', async t => {
  const { fs, w } = setup()
  const fh = await fs.create('/f', 0o644)
  await fs.write(fh, Buffer.alloc(1000, 1), 1000, 0)
  const late = w.write(fs, fh, Buffer.alloc(1000, 2), 1000, { hold: true })
  let quiet = false
  const quieting = fs.quietWrites().then(() => { quiet = true })
  await settle(10)
  t.notOk(quiet, 'not quiet while a write the binding made is on its way')
  late.deliver()
  await late.answer
  await quieting
  t.notOk(w.isArmed(fh), 'nothing armed')
  await fs.write(fh, Buffer.alloc(10, 3), 10, 2000)
  t.notOk(w.isArmed(fh), 'and nothing armed again')
  t.equal((await fs.fgetattr('/f', fh)).size, 2010, 'every write recorded')
  await fs.release(fh)
})

t.test('a pwrite the binding could not make: the error, and nothing recorded', async t => {
  const { fs, w } = setup()
  const fh = await fs.create('/f', 0o644)
  await fs.write(fh, Buffer.alloc(100, 1), 100, 0)
  const r = w.write(fs, fh, Buffer.alloc(100, 2), 100, { fail: 28 })
  t.equal(await r.answer.catch(errnoOf), 'ENOSPC')
  t.equal((await fs.fgetattr('/f', fh)).size, 100, 'the size is as before')
  await fs.release(fh)
})

t.test('random writes by the binding (some heard of late), through the core, truncates, reads, fsyncs and reopens: the file is always as written', async t => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = prng(seed)
    const pick = (n: number): number => Math.floor(next() * n)
    const { fs, store, w } = setup()
    const first = await fs.create('/f', 0o644)
    await fs.release(first)
    let truth = Buffer.alloc(0)
    const handles = [await fs.open('/f', O_RDWR), await fs.open('/f', O_RDWR)]
    const pending: { deliver: () => void, answer: Promise<number> }[] = []
    const wrong: string[] = []
    for (let step = 0; step < 250 && wrong.length === 0; step++) {
      const r = next()
      const fh = handles[pick(handles.length)]!
      if (r < 0.5) {
        const at = pick(truth.length + 100 * KiB)
        const bytes = pattern(1 + pick(80 * KiB), seed * 1000 + step)
        const hold = next() < 0.3
        const made = w.write(fs, fh, bytes, at, { hold })
        // one the binding made is in the file at once, whenever the core hears of it; one through
        // the core is in once answered (two writes on their way at once may land in either order)
        if (hold && made.by === 'shortcut') pending.push(made)
        else await made.answer
        if (at + bytes.length > truth.length) truth = Buffer.concat([truth, Buffer.alloc(at + bytes.length - truth.length)])
        bytes.copy(truth, at)
      } else if (r < 0.6 && pending.length > 0) {
        const p = pending.splice(pick(pending.length), 1)[0]!
        p.deliver()
        await p.answer
      } else if (r < 0.7) {
        // a truncate waits for held writes: deliver them (they came first)
        const to = pick(truth.length + 50 * KiB)
        const done = fs.ftruncate(fh, to)
        await settle()
        for (const p of pending.splice(0)) { p.deliver(); await p.answer }
        await done
        truth = to <= truth.length ? Buffer.from(truth.subarray(0, to)) : Buffer.concat([truth, Buffer.alloc(to - truth.length)])
      } else if (r < 0.85) {
        for (const p of pending.splice(0)) { p.deliver(); await p.answer }
        const got = await readAll(fs, fh, truth.length)
        if (!got.equals(truth)) wrong.push(`seed ${seed} step ${step}: the file read differs from what was written (${got.length} vs ${truth.length} bytes)`)
      } else if (r < 0.93) {
        for (const p of pending.splice(0)) { p.deliver(); await p.answer }
        await fs.fsync(fh, false)
      } else {
        for (const p of pending.splice(0)) { p.deliver(); await p.answer }
        const i = pick(handles.length)
        await fs.release(handles[i]!)
        handles[i] = await fs.open('/f', O_RDWR)
      }
    }
    for (const p of pending.splice(0)) { p.deliver(); await p.answer }
    for (const fh of handles) await fs.release(fh)
    await fs.flushAll()
    const stored = store.object('f')?.body ?? Buffer.alloc(0)
    if (!stored.equals(truth)) wrong.push(`seed ${seed}: the object uploaded differs from what was written`)
    t.same(wrong, [], `seed ${seed}: ${fs.shortcutWrites} writes made by the binding, the file always as written`)
  }
})
