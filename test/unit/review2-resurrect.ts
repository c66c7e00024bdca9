// Found by a review of the directory times with the freshness bound (a failing test first):
// another client's rm -r of a directory, while this mount's times write of it is still
// pending (1 to 5 s after our last change in it), stays done: the batched write first
// lists a key under the directory, and writes no marker for a directory removed elsewhere.
import t from 'tap'
import { errnoOf as errno, steppedFs, writeFile } from '../helpers/make-fs.js'

const BOUND = 1000

t.test("another client's rm -r of a directory we just wrote into stays done", async t => {
  const { fs, store, step } = steppedFs(BOUND)
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
