// The freshness bound (attr_ttl): what another client did longer ago than the
// bound is what the mount shows, paid for with the listings the mount's own
// calls make anyway (one per directory and bound, however many calls ask),
// while its own changes show at once and are never undone by a listing that
// was asked for before they reached the server.
import t from 'tap'
import { errnoOf as errno, makeFs, readFile, steppedFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'

const BOUND = 1000

/** the server's clock moves with the test's: LastModified tells versions apart */
const fresh = () => steppedFs(BOUND)

const lists = (store: FakeStore): number => store.requests.ListObjectsV2 ?? 0

t.test("another client's new file: not shown within the bound, shown after it at one listing", async t => {
  const { fs, store, step } = fresh()
  store.putText('d/a', 'a')
  t.same(await fs.readdir('/d'), ['a'])
  store.putText('d/b', 'bee') // the second client
  store.resetCounts()
  step(BOUND - 1)
  t.same(await fs.readdir('/d'), ['a'], 'within the bound the listing answers')
  t.equal(await errno(fs.getattr('/d/b')), 'ENOENT')
  t.equal(store.totalRequests(), 0, 'at no request')
  step(1)
  const [names, attr] = await Promise.all([fs.readdir('/d'), fs.getattr('/d/b'), fs.getattr('/d/a'), fs.getattr('/d/c').catch(() => undefined)])
  t.same(names.sort(), ['a', 'b'])
  t.equal(attr.size, 3)
  t.equal((await readFile(fs, '/d/b')).toString(), 'bee')
  t.ok(lists(store) <= 2, `readdir and lookups at once share the re-listing (${lists(store)} listings)`)
})

t.test("another client's overwrite and delete are seen after the bound, with the new bytes", async t => {
  const { fs, store, step } = fresh()
  store.putText('d/keep', 'k')
  store.putText('d/f', 'old')
  t.equal((await readFile(fs, '/d/f')).toString(), 'old')
  store.putText('d/f', 'a longer new version')
  step(BOUND)
  t.equal((await fs.getattr('/d/f')).size, 20, 'the new size')
  t.equal((await readFile(fs, '/d/f')).toString(), 'a longer new version', 'the new bytes, never the cached old ones')
  await store.delete('d/f')
  step(BOUND)
  t.equal(await errno(fs.getattr('/d/f')), 'ENOENT')
  t.same(await fs.readdir('/d'), ['keep'])
  await store.delete('d/keep')
  step(BOUND)
  t.equal(await errno(fs.getattr('/d')), 'ENOENT', 'an implied directory goes with its last key')
})

t.test("another client's metadata change (an in-place copy) is seen after the bound", async t => {
  const { fs, store, step } = fresh()
  store.putText('d/f', 'x', { mode: String(0o100644) })
  t.equal((await fs.getattr('/d/f')).mode & 0o777, 0o644)
  step(BOUND)
  await store.copy('d/f', 'd/f', { metadata: { mode: String(0o100600), mtime: '1600000000' } })
  step(BOUND)
  const a = await fs.getattr('/d/f')
  t.equal(a.mode & 0o777, 0o600, 'the new mode')
  t.equal(a.mtime.getTime(), 1_600_000_000_000, 'the stored mtime')
})

t.test('an implied directory another client makes shows after the bound', async t => {
  const { fs, store, step } = fresh()
  store.putText('d/a', 'a')
  t.same(await fs.readdir('/d'), ['a'])
  store.putText('d/sub/deep/x', 'x')
  step(BOUND)
  t.same((await fs.readdir('/d')).sort(), ['a', 'sub'])
  t.same(await fs.readdir('/d/sub'), ['deep'])
})

t.test('a burst of lookups in a directory older than the bound costs one listing, not one each', async t => {
  const { fs, store, step } = fresh()
  for (let i = 0; i < 50; i++) store.putText(`d/f${String(i).padStart(2, '0')}`, 'x')
  await fs.readdir('/d')
  step(BOUND)
  store.resetCounts()
  await Promise.all(Array.from({ length: 50 }, (_, i) => fs.getattr(`/d/f${String(i).padStart(2, '0')}`)))
  t.equal(store.totalRequests(), 1, `one listing for 50 lookups (${JSON.stringify(store.requests)})`)
})

t.test('a path walk does not list every directory above: keys seen below prove they exist', async t => {
  const { fs, store, step } = fresh()
  store.putText('a/b/c/x', 'x')
  for (const p of ['/a', '/a/b', '/a/b/c']) await fs.getattr(p)
  await fs.readdir('/a/b/c')
  step(BOUND)
  store.resetCounts()
  // what the kernel asks for an open of a new name: each component, then the name
  for (const p of ['/a', '/a/b', '/a/b/c']) await fs.getattr(p)
  t.equal(await errno(fs.getattr('/a/b/c/new')), 'ENOENT')
  // /a lists a itself (which answers for b), /a/b/c lists c itself (which answers for new)
  t.equal(lists(store), 2, `a walk from the top lists the directories it needs, not their parents too (${lists(store)} listings)`)
  step(BOUND)
  store.resetCounts()
  t.equal(await errno(fs.getattr('/a/b/c/new2')), 'ENOENT', 'a miss in the leaf lists the leaf')
  for (const p of ['/a', '/a/b', '/a/b/c']) await fs.getattr(p)
  t.equal(lists(store), 1, `then the walk above it costs nothing (${lists(store)} listings)`)
})

t.test('an unlink is not undone by a listing taken while its delete waits for its batch', async t => {
  const { fs, store, step } = fresh()
  store.putText('d/a', 'a')
  store.putText('d/b', 'b')
  await fs.readdir('/d')
  const del = store.hold('DeleteObject', 'd/a')
  await fs.unlink('/d/a')
  step(BOUND) // the listing is older than the bound: the next call lists again
  t.same(await fs.readdir('/d'), ['b'], 'the delete is still to be sent: the name stays gone')
  t.equal(await errno(fs.getattr('/d/a')), 'ENOENT')
  await del.arrived
  step(BOUND)
  t.same(await fs.readdir('/d'), ['b'], 'nor while it is on its way')
  del.release()
  await fs.flushAll()
  step(BOUND)
  t.same(await fs.readdir('/d'), ['b'], 'nor after')
})

t.test('a listing asked for before a delete landed, answered after, does not bring the name back', async t => {
  // a listing that reads the bucket when it is asked for and answers later (a slow server)
  class SlowAnswers extends FakeStore {
    gate?: Promise<void>
    arrived?: () => void
    override async list (...args: Parameters<FakeStore['list']>) {
      const page = await super.list(...args)
      const gate = args[0].prefix === 'd/' ? this.gate : undefined
      if (gate) { this.gate = undefined; this.arrived?.(); await gate }
      return page
    }
  }
  let mono = 1_000_000
  const store = new SlowAnswers({ minPartSize: 64 * 1024 })
  const { fs } = makeFs(store, { attrTtlMs: BOUND, monotonic: () => mono })
  store.putText('d/a', 'a')
  store.putText('d/b', 'b')
  await fs.readdir('/d')
  await fs.unlink('/d/a')
  mono += BOUND
  let open!: () => void
  store.gate = new Promise(resolve => { open = resolve })
  const asked = new Promise<void>(resolve => { store.arrived = resolve })
  const names = fs.readdir('/d')
  await asked
  await fs.flushAll() // the delete lands while the listing's answer is on its way
  t.equal(store.object('d/a'), undefined, 'deleted on the server')
  open()
  t.same(await names, ['b'], 'the answer still shows d/a: it is hidden')
})

t.test('a file renamed: the old name stays gone while its delete waits', async t => {
  const { fs, store, step } = fresh()
  store.putText('d/a', 'a')
  await fs.readdir('/d')
  const del = store.hold('DeleteObject', 'd/a')
  await fs.rename('/d/a', '/d/z')
  step(BOUND)
  t.same(await fs.readdir('/d'), ['z'])
  del.release()
  await fs.flushAll()
})

t.test('a file written here shows at once, and after the bound as the server has it', async t => {
  const { fs, store, step } = fresh()
  await fs.mkdir('/d', 0o755)
  await writeFile(fs, '/d/mine', Buffer.from('mine'))
  t.equal((await fs.getattr('/d/mine')).size, 4, 'at once')
  step(BOUND)
  t.same(await fs.readdir('/d'), ['mine'])
  store.putText('d/mine', 'replaced elsewhere')
  step(BOUND)
  t.equal((await fs.getattr('/d/mine')).size, 18, "another client's replacement wins after the bound")
})

t.test("another client's rewrite of a directory's marker (a chmod elsewhere) is read at the directory's next listing", async t => {
  const { fs, store, step } = fresh()
  store.putText('d/', '', { mode: String(0o40755) })
  store.putText('d/a', 'a')
  await fs.getattr('/d')
  t.same(await fs.readdir('/d'), ['a'])
  step(2 * BOUND)
  await store.copy('d/', 'd/', { metadata: { mode: String(0o40750), uid: '77' } })
  store.resetCounts()
  step(BOUND)
  const a = await fs.getattr('/d')
  t.equal(a.mode & 0o777, 0o750, 'the new mode')
  t.equal(a.uid, 77)
  t.same(store.requests, { ListObjectsV2: 1, HeadObject: 1 }, 'one listing of the directory, one HEAD of its marker')
  step(BOUND)
  store.resetCounts()
  await fs.getattr('/d')
  t.same(store.requests, { ListObjectsV2: 1 }, 'an unchanged marker costs no HEAD')
  await fs.chmod('/d', 0o700)
  step(BOUND)
  store.resetCounts()
  t.equal((await fs.getattr('/d')).mode & 0o777, 0o700)
  t.same(store.requests, { ListObjectsV2: 1 }, 'nor does our own rewrite of it')
})

t.test('a chmod still on its way is not undone by a re-listing, nor after it lands', async t => {
  const { fs, store, step } = fresh()
  store.putText('d/f', 'x')
  await fs.getattr('/d/f')
  const copy = store.hold('CopyObject', 'd/f')
  await fs.chmod('/d/f', 0o600)
  await copy.arrived
  step(BOUND)
  t.equal((await fs.getattr('/d/f')).mode & 0o777, 0o600, 'the listing shows the old version: the change pending on it shows')
  copy.release()
  await fs.flushAll()
  step(BOUND)
  t.equal((await fs.getattr('/d/f')).mode & 0o777, 0o600, 'and the new version, once it landed')
})

t.test('a delete that failed and waits to be tried again keeps the name hidden', async t => {
  const { serverError } = await import('../helpers/fake-errors.js')
  const { fs, store, step } = fresh()
  store.putText('d/a', 'a')
  store.putText('d/b', 'b')
  await fs.readdir('/d')
  store.failNext('DeleteObject', serverError('AccessDenied', 403, 'delete'), 1)
  await fs.unlink('/d/a')
  await fs.flushAll().catch(() => {}) // the first try fails: the key waits for its next one
  t.ok(store.object('d/a'), 'still on the server')
  step(BOUND)
  t.same(await fs.readdir('/d'), ['b'], 'a listing after the bound does not bring it back')
})

t.test("rm of an implied directory's last files leaves the directory until rmdir, past the bound too", async t => {
  const { fs, store, step } = fresh()
  for (let i = 0; i < 1000; i++) store.putText(`gone/f${String(i).padStart(4, '0')}`, 'x')
  await fs.getattr('/gone')
  for (const n of await fs.readdir('/gone')) { await fs.unlink('/gone/' + n); step(3) }
  step(BOUND)
  t.ok((await fs.getattr('/gone')).mode & 0o040000, 'still a directory: its deletes wait in their batch, its marker (its new times) in its own')
  t.same(await fs.readdir('/'), ['gone'])
  t.same(await fs.readdir('/gone'), [])
  await fs.rmdir('/gone')
  t.equal(await errno(fs.getattr('/gone')), 'ENOENT', 'gone once rmdir-ed')
  await fs.flushAll()
  step(BOUND)
  t.same((await fs.readdir('/')).filter(n => !n.startsWith('.')), [], 'and after the bound')
  t.same(store.keys().filter(k => !k.includes('.oortfs-attrs')), [], 'nothing left on the server')
})
