// Write backpressure (uploader.drain) when parts cannot go: writes never spin
// or resend for ever, and only parts written here count as unsent.
import t from 'tap'
import { makeFs, KiB } from '../helpers/make-fs.js'
import { serverError } from '../helpers/fake-errors.js'
import { setTimeout as sleep } from 'node:timers/promises'

t.test('CreateMultipartUpload refused: write() must not spin on parts that can never go', async t => {
  const { fs, store } = makeFs()
  store.failNext('CreateMultipartUpload', serverError('AccessDenied', 403, 'create'), 1)
  const up = (fs as any).files.uploader
  const orig = up.sendPart.bind(up)
  let calls = 0
  up.sendPart = (...a: unknown[]) => {
    if (++calls > 5000) throw new Error(`sendPart called ${calls} times: drain() spins`)
    return orig(...a)
  }
  const fh = await fs.create('/big', 0o644)
  const chunk = Buffer.alloc(64 * KiB, 1)
  let err: unknown
  try {
    for (let i = 0; i < 20; i++) await fs.write(fh, chunk, chunk.length, i * chunk.length)
  } catch (e) { err = e }
  t.equal(err, undefined, `writes return (sendPart calls: ${calls}; error: ${(err as Error)?.message})`)
  t.ok(calls < 100, `a bounded number of part sends (${calls})`)
  t.equal(store.requests.CreateMultipartUpload, 1)
})

t.test('parts refused for good (NoSuchUpload: the upload expired or was aborted elsewhere): write() must not resend them for ever', async t => {
  const { fs, store } = makeFs()
  store.failNext('UploadPart', serverError('NoSuchUpload', 404, 'part'), 20_000)
  let parts = 0
  store.onRequest = (op) => { if (op === "UploadPart") parts++ }
  const fh = await fs.create('/big', 0o644)
  const chunk = Buffer.alloc(64 * KiB, 1)
  const writes = (async () => { for (let i = 0; i < 20; i++) await fs.write(fh, chunk, chunk.length, i * chunk.length) })()
  const r = await Promise.race([writes.then(() => 'returned', (e: Error) => `failed: ${e.message}`), new Promise(res => setTimeout(() => res('still waiting after 2 s'), 2000))])
  t.ok(parts < 200, `UploadPart requests while 20 writes ran: ${parts}; writes: ${r}`)
})

t.test('an append to a large existing file does not wait: unchanged server parts are not "unsent"', async t => {
  const { fs, store } = makeFs()
  store.putBytes('log', Buffer.alloc(40 * 64 * KiB, 7))
  await fs.getattr('/log')
  const part = store.hold('UploadPart')
  const fh = await fs.open('/log', 0o2 | 0o2000) // O_RDWR | O_APPEND
  const chunk = Buffer.alloc(64 * KiB + 1, 1)
  const w = fs.write(fh, chunk, chunk.length, 0)
  await part.arrived
  const r = await Promise.race([w.then(() => 'returned'), sleep(500).then(() => 'blocked')])
  part.release()
  await w
  t.equal(r, 'returned', 'write() returns: only one written part is unsent, far below 2 x upload_concurrency')
  await fs.release(fh)
})
