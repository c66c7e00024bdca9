// Work done in the background (batched deletes, attribute copies) that fails
// is never swallowed: it is tried again (a batch as a batch), counted, and an
// unmount names what was not done; a delete given up shows the name again.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile, errnoOf } from '../helpers/make-fs.js'
import { serverError } from '../helpers/fake-errors.js'

const down = (): ReturnType<typeof serverError> => serverError('InternalError', 500, 'request')

t.test('rm whose batched delete fails: tried again as a batch, unmount says so, and it lands once the server is back', async t => {
  const { fs, store } = makeFs()
  for (const n of ['a', 'b', 'c']) store.putText(`d/${n}`, n)
  await fs.readdir('/d')
  store.failNext('DeleteObjects', down(), 2)
  for (const n of ['a', 'b', 'c']) await fs.unlink(`/d/${n}`)
  t.same(await fs.readdir('/d'), [], 'rm answers at once')
  await sleep(400) // the quiet pause: the batch goes, and fails
  const err = await fs.flushAll().then(() => undefined, (e: Error) => e)
  t.match(err?.message, /3 delete\(s\) did not reach the server: d\/a/, 'unmount names the keys not deleted')
  t.equal(store.requests.DeleteObjects, 2, 'each try is one DeleteObjects')
  t.equal(store.requests.DeleteObject ?? 0, 0, 'never a delete per key')
  // d/ stays, a marker with its new times (an emptied directory is still there, as in POSIX), and the root's index records them
  const files = (): string[] => store.keys().filter(k => k.startsWith('d/') && k !== 'd/')
  t.same(files().sort(), ['d/a', 'd/b', 'd/c'], 'the server still has them')
  await fs.flushAll()
  t.same(files(), [], 'the server back: the next flush deletes them')
  t.equal(store.requests.DeleteObjects, 3)
})

t.test('a delete given up shows the name again, since the server still has it', async t => {
  const { fs, store } = makeFs()
  store.putText('keep', 'x')
  await fs.getattr('/keep')
  store.failNext('DeleteObject', serverError('AccessDenied', 403, 'delete'), 100)
  await fs.unlink('/keep')
  t.equal(await errnoOf(fs.getattr('/keep')), 'ENOENT')
  for (let i = 0; i < 6; i++) await fs.flushAll().catch(() => {})
  t.equal(await errnoOf(fs.flushAll()), 'EIO', 'still reported at unmount')
  t.equal((await fs.getattr('/keep')).size, 1, 'given up: the name shows again')
  t.ok(store.object('keep'))
})

t.test('a chmod whose background copy fails is tried again, reported at unmount if never stored, then stored', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  store.failNext('CopyObject', down(), 2)
  await fs.chmod('/f', 0o600)
  await sleep(1200) // the writer's delay: the first copy fails, a retry is queued
  t.equal(store.requests.CopyObject, 1)
  const err = await fs.flushAll().then(() => undefined, (e: Error) => e)
  t.match(err?.message, /attributes of 1 file\(s\) not stored: \/f/, 'unmount names it')
  t.equal(store.object('f')!.metadata.mode, String(0o100644), 'not stored yet')
  await fs.flushAll()
  t.equal(store.object('f')!.metadata.mode, String(0o100600), 'stored at the next try')
})
