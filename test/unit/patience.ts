// Long calls (close, fsync, rename...) wait while the work moves and fail with
// ETIMEDOUT only when it stalls; writes wait for the upload once too much is
// written and unsent, so close() does not pay for all of it.
import t from 'tap'
import { whileMoving, patient } from '../../src/fuse/patience.js'
import { makeFs, pattern, KiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FileSystem } from '../../src/fs/api.js'

t.test('a call whose work keeps moving waits past the limit; one that stalls fails with ETIMEDOUT', async t => {
  let moved = 0
  const ticker = setInterval(() => moved++, 20)
  const long = whileMoving(sleep(300).then(() => 'done'), 'close', () => moved, 100)
  t.equal(await long, 'done', 'three times the limit, while bytes move')
  clearInterval(ticker)
  const stalled = whileMoving(sleep(1000), 'close', () => moved, 100)
  await t.rejects(stalled, { errno: 'ETIMEDOUT', message: /close: the server made no progress for 0 s/ })
})

t.test('the wrapper applies to long calls only', async t => {
  let calls = 0
  const inner = { flush: async () => { calls++; await sleep(200) }, getattr: async () => ({}) } as unknown as FileSystem
  const fs = patient(inner, () => 0, 50)
  await t.rejects(fs.flush(1), { errno: 'ETIMEDOUT', message: /no progress/ })
  t.equal(calls, 1)
  t.same(await fs.getattr('/'), {}, 'other calls are passed as they are')
})

t.test('a fast writer waits for its parts once 2 x upload_concurrency of them are unsent', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  const { fs } = makeFs(store, { partSize: 64 * KiB, uploadConcurrency: 2 })
  const parts: { release: () => void }[] = []
  for (let i = 0; i < 2; i++) parts.push(store.hold('UploadPart', 'w', i))
  const fh = await fs.create('/w', 0o644)
  let written = 0
  const writer = (async () => {
    for (let at = 0; at < 20 * 64 * KiB; at += 64 * KiB) { await fs.write(fh, pattern(64 * KiB), 64 * KiB, at); written++ }
  })()
  await sleep(100)
  t.ok(written <= 7, `the writer waits with ${written} parts written: 2 on their way, at most 4 more unsent`)
  for (const p of parts) p.release()
  await writer
  t.equal(written, 20, 'and goes on as they land')
  await fs.release(fh)
  t.equal(store.object('w')!.body.length, 20 * 64 * KiB)
})
