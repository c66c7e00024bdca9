// Found by a review of the directory times with the freshness bound (a failing test first).
// Another client's rm -r of a directory, while this mount's times write of it
// is still pending (1 to 5 s after our last change in it), is undone: the
// times writer PUTs the marker from the entry it holds (storeDir reads
// ns.previous, fresh or not) and the directory exists again, for every client.
import t from 'tap'
import { makeFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { errnoOf } from '../../src/errors.js'

const BOUND = 1000
async function errno (p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return errnoOf(err) }
}

t.test("another client's rm -r of a directory we just wrote into stays done", async t => {
  let mono = 1_000_000
  let wall = 1_750_000_000_000
  const store = new FakeStore({ minPartSize: 64 * 1024, now: () => wall })
  const { fs } = makeFs(store, { attrTtlMs: BOUND, monotonic: () => mono, now: () => wall })
  const step = (ms: number): void => { mono += ms; wall += ms }
  await fs.mkdir('/d', 0o755)
  await fs.flushAll()
  step(10_000)
  await writeFile(fs, '/d/b', Buffer.from('b')) // d's times now pending (written within 1-5 s)
  // another machine: rm -r d, 0.5 s later
  step(500)
  for (const k of store.keys().filter(k => k.startsWith('d/') || k === 'd.oortfs-attrs')) await store.delete(k)
  t.same(store.keys().filter(k => k.startsWith('d')), [], 'd is gone from the server')
  await fs.flushAll() // what the timer does a moment later
  step(BOUND + 500)
  t.same(store.keys().filter(k => k.startsWith('d')), [], `nothing brought back: ${JSON.stringify(store.keys())}`)
  t.equal(await errno(fs.getattr('/d')), 'ENOENT', 'more than the bound after the other rm -r, d is gone here too')
})
