// When the server fails for good (the gateway gave up retrying), the core
// must say so and lose nothing: close/flush/fsync reject with EIO, the data
// stays readable from the open file's staging copy, a later flush uploads it
// once the server is back, and a failed multipart upload is aborted.
import t from 'tap'
import { OpenFlags } from '../../src/fs/api.js'
import { makeFs, readFile, pattern, errnoOf, KiB } from '../helpers/make-fs.js'
import { serverError } from '../helpers/fake-errors.js'

const internal = (what = 'put'): ReturnType<typeof serverError> => serverError('InternalError', 500, what)
const slowDown = (what = 'put'): ReturnType<typeof serverError> => serverError('SlowDown', 503, what)

/**
 * Every request of the given ops (or all, with '*') fails with `err` until
 * stop(): a server down for longer than the gateway's retries.
 */
function outage (store: ReturnType<typeof makeFs>['store'], ops: string[], err = internal()): { stop(): void } {
  const before = store.onRequest
  store.onRequest = (op, key) => {
    before?.(op, key)
    if (ops.includes(op) || ops.includes('*')) throw err
  }
  return { stop: () => { store.onRequest = before } }
}

/** reads a whole file through a new handle; its close may fail (it tries to save the file again) */
async function readBack (fs: ReturnType<typeof makeFs>['fs'], path: string): Promise<{ data: Buffer, closeErrno?: string }> {
  const fh = await fs.open(path, OpenFlags.O_RDONLY)
  const size = (await fs.getattr(path)).size
  const buf = Buffer.alloc(size)
  let at = 0
  while (at < size) {
    const n = await fs.read(fh, buf.subarray(at), Math.min(64 * KiB, size - at), at)
    if (n === 0) break
    at += n
  }
  return { data: buf.subarray(0, at), closeErrno: await errnoOf(fs.release(fh)) }
}

/** writes `data` to a new file in 4 KiB writes, leaving it open */
async function writeOpen (fs: ReturnType<typeof makeFs>['fs'], path: string, data: Buffer, chunk = 4 * KiB): Promise<number> {
  const fh = await fs.create(path, 0o644)
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, Math.min(data.length, at + chunk))
    await fs.write(fh, piece, piece.length, at)
  }
  return fh
}

t.test('small file: a failed PutObject makes flush and close EIO; the data stays and a later flush saves it', async t => {
  const { fs, store } = makeFs()
  const data = pattern(10 * KiB, 3)
  const fh = await writeOpen(fs, '/small.bin', data)
  const down = outage(store, ['PutObject'])
  t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'flush (close) answers EIO')
  t.equal(await errnoOf(fs.release(fh)), 'EIO', 'release tries again and answers EIO')
  t.equal(store.object('small.bin'), undefined, 'nothing half-written on the server')

  t.equal((await fs.getattr('/small.bin')).size, data.length, 'the file is still there, at its size')
  const back = await readBack(fs, '/small.bin')
  t.ok(back.data.equals(data), 'and reads back from its staging copy while the server is still down')
  t.equal(back.closeErrno, 'EIO', '(closing that reader tries to save the file again, and says it failed)')

  // the server is back: the next flush of the file saves it
  down.stop()
  const again = await fs.open('/small.bin', OpenFlags.O_RDWR)
  await fs.fsync(again, false)
  t.ok(store.object('small.bin')?.body.equals(data), 'fsync after recovery uploads the whole file')
  await fs.release(again)
  t.equal(fs.dirtyBytes(), 0, 'nothing left unsaved')
})

t.test('a file that failed to save is saved by flushAll (unmount)', async t => {
  const { fs, store } = makeFs()
  const data = pattern(3 * KiB, 4)
  const fh = await writeOpen(fs, '/later.txt', data)
  store.failNext('PutObject', slowDown(), 2)
  t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'SlowDown past the retries is EIO too')
  t.equal(await errnoOf(fs.release(fh)), 'EIO')
  t.ok(fs.dirtyBytes() >= data.length, 'counted as unsaved')
  await fs.flushAll()
  t.ok(store.object('later.txt')?.body.equals(data), 'flushAll saves it')
  t.equal(fs.dirtyBytes(), 0)
})

t.test('multipart: a failed part aborts the upload; the data stays; a later flush completes a new one', async t => {
  const { fs, store } = makeFs()
  const data = pattern(600 * KiB + 17, 5)
  const fh = await writeOpen(fs, '/big.bin', data)
  const down = outage(store, ['UploadPart'])
  t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'flush answers EIO')
  t.same(store.uploadsInProgress(), [], 'the multipart upload was aborted')
  t.equal(store.object('big.bin'), undefined, 'no object')
  t.ok((await readFile(fs, '/big.bin')).equals(data), 'the data reads back from the staging copy')

  down.stop()
  await fs.flush(fh)
  t.ok(store.object('big.bin')?.body.equals(data), 'the next flush uploads every byte')
  t.same(store.uploadsInProgress(), [], 'and leaves no upload behind')
  await fs.release(fh)
})

t.test('multipart: a failed CompleteMultipartUpload aborts the upload and loses nothing', async t => {
  const { fs, store } = makeFs()
  const data = pattern(300 * KiB, 6)
  const fh = await writeOpen(fs, '/c.bin', data)
  store.failNext('CompleteMultipartUpload', internal('complete'), 1)
  t.equal(await errnoOf(fs.flush(fh)), 'EIO')
  t.same(store.uploadsInProgress(), [], 'aborted')
  t.equal(store.object('c.bin'), undefined)
  await fs.flush(fh)
  t.ok(store.object('c.bin')?.body.equals(data), 'saved by the next flush')
  await fs.release(fh)
})

t.test('multipart over an existing object: failure keeps the old object whole, then the new one replaces it', async t => {
  const { fs, store } = makeFs()
  const old = pattern(400 * KiB, 7)
  const w = await writeOpen(fs, '/f.bin', old)
  await fs.release(w)
  t.ok(store.object('f.bin')!.body.equals(old))

  const fh = await fs.open('/f.bin', OpenFlags.O_RDWR)
  const patch = pattern(70 * KiB, 8)
  await fs.write(fh, patch, patch.length, 100 * KiB)
  const want = Buffer.from(old)
  patch.copy(want, 100 * KiB)
  const down = outage(store, ['UploadPartCopy'])
  t.equal(await errnoOf(fs.flush(fh)), 'EIO')
  t.ok(store.object('f.bin')!.body.equals(old), 'the old object is untouched')
  t.same(store.uploadsInProgress(), [], 'aborted')
  t.ok((await readFile(fs, '/f.bin')).equals(want), 'the file reads as written')
  down.stop()
  await fs.release(fh)
  t.ok(store.object('f.bin')!.body.equals(want), 'close after recovery saves the new content')
})

t.test('an early part that fails in the background is sent again at flush: no error', async t => {
  const { fs, store } = makeFs()
  const data = pattern(500 * KiB, 9)
  store.failNext('UploadPart', internal('upload part'), 2)
  const fh = await writeOpen(fs, '/bg.bin', data)
  await fs.flush(fh)
  t.ok(store.object('bg.bin')?.body.equals(data), 'every byte, in spite of two lost parts')
  t.same(store.uploadsInProgress(), [])
  await fs.release(fh)
})

t.test('a CreateMultipartUpload that fails while the file is written: flush starts the upload again, and saves it', async t => {
  const { fs, store } = makeFs()
  store.failNext('CreateMultipartUpload', internal('start upload'), 1)
  const data = pattern(200 * KiB, 10)
  const fh = await writeOpen(fs, '/cm.bin', data)
  await fs.flush(fh)
  t.ok(store.object('cm.bin')?.body.equals(data))
  t.equal(store.requests.CreateMultipartUpload, 2, 'the failed one, and the flush\'s')
  t.same(store.uploadsInProgress(), [])
  await fs.release(fh)
})

t.test('an upload whose abort fails while the server is down is aborted once it is back', async t => {
  const { fs, store } = makeFs()
  const data = pattern(300 * KiB, 11)
  const fh = await writeOpen(fs, '/leak.bin', data)
  const down = outage(store, ['CompleteMultipartUpload', 'AbortMultipartUpload'])
  t.equal(await errnoOf(fs.flush(fh)), 'EIO', 'flush answers EIO')
  down.stop()
  await fs.flush(fh)
  t.ok(store.object('leak.bin')?.body.equals(data), 'the next flush saves the file')
  await fs.release(fh)
  await fs.flushAll()
  t.same(store.uploadsInProgress().map(u => u.key), [], 'no upload left on the server')
})
