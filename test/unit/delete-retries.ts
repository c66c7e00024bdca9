// The delete batcher's retries: a pause of each key's own, a new file at the
// name never deleted by a late retry, and one key's failure not failing others' rmdir or mv.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile, readFile, errnoOf } from '../helpers/make-fs.js'
import { serverError } from '../helpers/fake-errors.js'

const down = (): ReturnType<typeof serverError> => serverError('InternalError', 500, 'request')

t.test('rm f, then a new f written while the delete is on the wire and fails: the retry must not delete the new file', async t => {
  const { fs, store } = makeFs()
  store.putText('f', 'old')
  await fs.getattr('/f')
  const del = store.hold('DeleteObject', 'f')
  await fs.unlink('/f')
  await del.arrived // the batch is in flight
  const writing = writeFile(fs, '/f', Buffer.from('new content'))
  await sleep(50) // the new file's upload waits for the delete in flight (deletes.before)
  del.fail(down())
  await writing
  t.equal(store.object('f')?.body.toString(), 'new content', 'close() returned: the new file is on the server')
  await fs.flushAll().catch(() => {})
  t.equal(store.object('f')?.body.toString(), 'new content', 'and still is after the next flush (unmount)')
  t.same((await readFile(fs, '/f')).toString(), 'new content')
})

t.test('a delete given up elsewhere does not fail the rmdir of an unrelated empty directory', async t => {
  const { fs, store } = makeFs()
  store.putText('keep', 'x')
  store.putText('b/', '')
  await fs.getattr('/keep')
  await fs.readdir('/b')
  store.failNext('DeleteObject', serverError('AccessDenied', 403, 'delete'), 6)
  await fs.unlink('/keep')
  for (let i = 0; i < 6; i++) await fs.flushAll().catch(() => {}) // given up: the name shows again
  const r = await errnoOf(fs.rmdir('/b'))
  t.equal(store.object('b/'), undefined, 'the marker is gone from the server')
  t.equal(r, undefined, `so rmdir succeeds (got ${r})`)
  t.equal(await errnoOf(fs.getattr('/b')), 'ENOENT', 'and the mount no longer shows /b')
})

t.test('a delete given up elsewhere does not fail a later mv of a directory', async t => {
  const { fs, store } = makeFs()
  store.putText('keep', 'x')
  for (const n of ['1', '2']) store.putText(`src/${n}`, n)
  await fs.getattr('/keep')
  store.failNext('DeleteObject', serverError('AccessDenied', 403, 'delete'), 6)
  await fs.unlink('/keep')
  for (let i = 0; i < 6; i++) await fs.flushAll().catch(() => {}) // given up: the name shows again
  t.ok(await fs.getattr('/keep'))
  const r = await errnoOf(fs.rename('/src', '/dst'))
  t.equal(r, undefined, `mv /src /dst succeeds (got ${r})`)
  t.same(store.keys().filter(k => k.startsWith('src/') || k.startsWith('dst/')).sort(), ['dst/1', 'dst/2'], 'the server has moved every key')
  t.equal(await errnoOf(fs.getattr('/src')), 'ENOENT', 'the mount agrees')
})

t.test('rm -r during a short outage: a failed key waits its own pause, and is not given up within seconds', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 8; i++) store.putText(`d/f${i}`, 'x')
  await fs.readdir('/d')
  store.failNext('DeleteObjects', down(), 6)
  store.failNext('DeleteObject', down(), 6)
  const started = Date.now()
  for (let i = 0; i < 8; i++) { await fs.unlink(`/d/f${i}`); await sleep(250) } // rm -r, a name every 250 ms
  const shown = await fs.readdir('/d')
  t.same(shown, [], `${Date.now() - started} ms after the outage began, rm'd names are still gone (shown again: ${shown.join(' ')}); ${store.requests.DeleteObjects ?? 0} DeleteObjects + ${store.requests.DeleteObject ?? 0} DeleteObject sent`)
})
