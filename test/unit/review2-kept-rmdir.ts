// Found by a review of the directory times with the freshness bound (each a failing test first):
// a directory kept by the times writer (its last file removed here, its marker still to be
// made) keeps its parents visible, and an rmdir of a parent refuses (ENOTEMPTY).
import t from 'tap'
import { errnoOf as errno, steppedFs } from '../helpers/make-fs.js'
import { errnoOf } from '../../src/errors.js'

const BOUND = 1000
const fresh = () => steppedFs(BOUND)

t.test('rm build/out/* (build holds only out): build stays visible while out is kept', async t => {
  const { fs, store, step } = fresh()
  store.putText('build/out/a.o', 'x')
  store.putText('build/out/b.o', 'x')
  await fs.readdir('/build/out')
  await fs.unlink('/build/out/a.o')
  await fs.unlink('/build/out/b.o')
  await fs.tree.flushPending?.() // the batch of deletes lands (at most 2 s later)
  step(BOUND + 500)
  t.equal(await errno(fs.getattr('/build/out')), undefined, 'build/out is kept (its marker is on its way)')
  t.equal(await errno(fs.getattr('/build')), undefined, 'so its parent exists too')
  t.same(await fs.readdir('/'), ['build'], 'and ls / shows it')
  t.same(await fs.readdir('/build').catch(e => errnoOf(e)), ['out'])
  await fs.flushAll()
  step(BOUND + 500)
  t.same(await fs.readdir('/'), ['build'], 'after the marker landed: shown again')
})

t.test('rm d/sub/f; rmdir d: ENOTEMPTY (sub still exists), and sub is not lost', async t => {
  const { fs, store, step } = fresh()
  store.putText('d/sub/f', 'x')
  await fs.readdir('/d/sub')
  await fs.unlink('/d/sub/f')
  t.equal(await errno(fs.getattr('/d/sub')), undefined, 'd/sub is kept')
  t.equal(await errno(fs.rmdir('/d')), 'ENOTEMPTY', 'rmdir d refuses: sub is in it')
  await fs.flushAll().catch(() => {})
  step(BOUND + 500)
  t.equal(await errno(fs.getattr('/d/sub')), undefined, 'd/sub still exists')
})
