// Races found by a review of the freshness bound (issue 15): each was a failing test first.
import t from 'tap'
import { errnoOf as errno, makeFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'

const BOUND = 1000

/** a listing read at the moment it is asked for, answered when the test opens the gate */
class SlowAnswers extends FakeStore {
  gates: { prefix: string, gate: Promise<void>, arrived: () => void }[] = []
  slow (prefix: string) {
    let open!: () => void
    let arrived!: () => void
    const a = new Promise<void>(r => { arrived = r })
    this.gates.push({ prefix, gate: new Promise<void>(r => { open = r }), arrived })
    return { open, asked: a }
  }
  override async list (...args: Parameters<FakeStore['list']>) {
    const page = await super.list(...args)
    const i = this.gates.findIndex(g => g.prefix === args[0].prefix)
    if (i >= 0) { const [g] = this.gates.splice(i, 1); g!.arrived(); await g!.gate }
    return page
  }
}

function fresh (store = new SlowAnswers({ minPartSize: 64 * 1024, now: () => clock.wall })) {
  const { fs } = makeFs(store, { attrTtlMs: BOUND, monotonic: () => clock.mono, now: () => clock.wall })
  return { fs, store }
}
const clock = { mono: 1_000_000, wall: 1_750_000_000_000 }
const step = (ms: number) => { clock.mono += ms; clock.wall += ms }

t.test('A: an older full listing answered last replaces a newer one and drops our new file', async t => {
  const { fs, store } = fresh()
  store.putText('d/a', 'a')
  await fs.readdir('/d')
  const put = store.hold('PutObject', 'd/new')
  const w = writeFile(fs, '/d/new', Buffer.from('mine'))
  await put.arrived
  step(BOUND)
  const p = store.slow('d/')
  const stat = fs.getattr('/d') // proveDir: asked now, before d/new reaches the server
  await p.asked
  put.release()
  await w // d/new is on the server, and the namespace knows
  step(1)
  await fs.readdir('/') // the root is listed again (someone's ls /)
  // a readdir meanwhile shares the listing on its way (never a second one at once, answering in any order)
  const names = fs.readdir('/d')
  p.open()
  t.same((await names).sort(), ['a', 'new'], 'the listing asked before our file landed does not hide it')
  await stat
  t.same((await fs.readdir('/d')).sort(), ['a', 'new'], 'nor later')
  t.equal(await errno(fs.getattr('/d/new')), undefined, 'stat of our new file')
  t.same(store.requests.ListObjectsV2, 4, 'one listing of /d for the stat and the readdir (and the others before)')
})

t.test('B: a tree walk stores keys read long ago as a listing of now', async t => {
  const { fs, store } = fresh()
  store.putText('p/a/x', 'x')
  store.putText('p/b/x', 'x')
  for (let i = 0; i < 1000; i++) store.putText(`p/c/k${String(i).padStart(4, '0')}`, 'x')
  await fs.readdir('/p')
  await fs.readdir('/p/a')
  await fs.readdir('/p/b') // a walk of /p: its first page ends inside c
  step(10_000)
  await fs.unlink('/p/c/k0001')
  await fs.flushAll()
  t.equal(store.object('p/c/k0001'), undefined, 'deleted on the server')
  store.putText('p/c/k0002', 'replaced by another client, longer')
  await store.delete('p/c/k0003') // another client
  step(5_000)
  t.same((await fs.readdir('/p')).sort(), ['a', 'b', 'c'], 'ls /p (the walk goes on from where it stopped)')
  const names = await fs.readdir('/p/c')
  t.notOk(names.includes('k0001'), 'our unlink 5 s ago stays')
  t.notOk(names.includes('k0003'), "another client's delete 5 s ago is seen")
  t.equal((await fs.getattr('/p/c/k0002')).size, 34, "another client's rewrite 5 s ago is seen")
})

t.test("C: another oortfs mount's chmod of a directory (index record) is never seen", async t => {
  const store = new SlowAnswers({ minPartSize: 64 * 1024, now: () => clock.wall })
  const { fs: a } = fresh(store)
  const { fs: b } = fresh(store)
  store.putText('d/sub/x', 'x')
  store.putText('d/f', 'f')
  t.equal((await a.getattr('/d/sub')).mode & 0o777, 0o755)
  await a.readdir('/d')
  await b.readdir('/d')
  await b.chmod('/d/sub', 0o700)
  await b.flushAll()
  step(31_000)
  t.equal((await b.getattr('/d/sub')).mode & 0o777, 0o700, 'b sees its chmod')
  await a.readdir('/d')
  t.equal((await a.getattr('/d/sub')).mode & 0o777, 0o700, 'a sees it after the index TTL')
  step(31_000)
  await a.readdir('/d/sub')
  await a.readdir('/d')
  t.equal((await a.getattr('/d/sub')).mode & 0o777, 0o700, 'nor after listing both')
})

t.test('D: a listing of the new name asked during a directory rename stores a partial copy', async t => {
  const { fs, store } = fresh()
  store.putText('src/a', 'a')
  store.putText('src/b', 'b')
  await fs.readdir('/src')
  const cp = store.hold('CopyObject', 'dst/b')
  const mv = fs.rename('/src', '/dst')
  await cp.arrived
  step(BOUND) // the negative answer for dst is older than the bound
  const p = store.slow('dst/')
  const ls = fs.readdir('/dst') // lists dst: a copied, b not yet
  await p.asked
  cp.release()
  await mv
  p.open()
  t.same((await ls).sort(), ['a'], 'that ls saw the rename half way (fine)')
  t.same((await fs.readdir('/dst')).sort(), ['a', 'b'], 'after the rename returned: every file under its new name')
})

t.test('E: a marker another client adds to a directory we listed without one is never read', async t => {
  const { fs, store } = fresh()
  store.putText('d/x', 'x')
  t.same(await fs.readdir('/d'), ['x'])
  t.equal((await fs.getattr('/d')).mode & 0o777, 0o755)
  step(BOUND)
  store.putText('d/', '', { mode: String(0o40700), uid: '77' }) // s3fs: chmod 700 d
  step(BOUND)
  await fs.readdir('/d')
  step(BOUND)
  await fs.readdir('/d')
  const a = await fs.getattr('/d')
  t.equal(a.mode & 0o777, 0o700, 'the new mode')
  t.equal(a.uid, 77)
})

t.test('G: a delete that landed a moment ago is forgotten once 10,000 others landed (rm -r of 20,001 files)', async t => {
  const { DeleteBatcher } = await import('../../src/fs/write/delete-batcher.js')
  const store = new FakeStore()
  let now = 5_000
  const b = new DeleteBatcher(store, { now: () => now })
  const at = now // a listing asked now
  now += 1
  for (let i = 0; i <= 20_000; i++) b.delete(`k${i}`)
  await b.flush()
  t.ok(b.deletedSince('k20000', at), 'the newest is hidden from the listing asked before')
  t.ok(b.deletedSince('k0', at), 'so is the oldest, landed 0 ms later (LANDED_MS is 10 minutes)')
})

t.test("H: a directory renamed within 30 s of learning it had no index leaves another mount's new index behind", async t => {
  const store = new SlowAnswers({ minPartSize: 64 * 1024, now: () => clock.wall })
  const { fs: a } = fresh(store)
  const { fs: b } = fresh(store)
  store.putText('p/d/f', 'f')
  store.putText('p/d/g', 'g')
  await a.readdir('/p')
  t.same((await a.readdir('/p/d')).sort(), ['f', 'g'])
  await b.chmod('/p/d/f', 0o600) // another oortfs mount
  await b.flushAll()
  t.ok(store.object('p/d.oortfs-attrs'), "b wrote d's index")
  step(2 * BOUND)
  t.same((await a.readdir('/p')).sort(), ['d'], "a's listing of /p shows the index")
  await a.rename('/p/d', '/p/e')
  await a.flushAll()
  t.notOk(store.object('p/d.oortfs-attrs'), 'no index left at the old name')
  t.ok(store.object('p/e.oortfs-attrs'), 'the index moved with it')
  step(31_000)
  t.equal((await a.getattr('/p/e/f')).mode & 0o777, 0o600, 'f keeps its mode through the rename')
})
