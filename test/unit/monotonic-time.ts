// Intervals are measured on the monotonic clock: when the wall clock steps
// (timesyncd at boot, a VM resume, `date -s`), the rate window, the retry
// pauses, the "no progress" limit and the listing TTLs go on as if nothing
// happened. Each test steps Date.now() by an hour while the work is under way.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RateLimiter, realClock } from '../../src/s3/rate-limiter.js'
import { DeleteBatcher } from '../../src/fs/write/delete-batcher.js'
import { whileMoving } from '../../src/fuse/patience.js'
import { FakeStore } from '../helpers/fake-store.js'
import { makeFs } from '../helpers/make-fs.js'
import { serverError } from '../helpers/fake-errors.js'

const HOUR = 3600_000
const realNow = Date.now

/** Date.now() (and new Date()) from now on runs `by` ms off; undone after the test */
function stepWallClock (t: Test, by: number): void {
  const before = Date.now
  Date.now = () => before() + by
  t.teardown(() => { Date.now = realNow })
}

t.test('the rate window does not hang when the wall clock steps back an hour', async t => {
  const limiter = new RateLimiter(5, 200, realClock)
  for (let i = 0; i < 5; i++) (await limiter.acquire()).sent() // the window is full
  stepWallClock(t, -HOUR)
  const started = performance.now()
  const slot = await Promise.race([limiter.acquire(), sleep(3000).then(() => undefined)])
  t.ok(slot, `the sixth request gets its slot once the window moves on (${Math.round(performance.now() - started)} ms), not an hour later`)
  slot?.release()
})

t.test('a failed delete is retried after its pause when the wall clock steps back an hour', async t => {
  const store = new FakeStore()
  store.putText('k', 'x')
  store.failNext('DeleteObjects', serverError('InternalError', 500, 'delete'), 1)
  store.failNext('DeleteObject', serverError('InternalError', 500, 'delete'), 1)
  const deletes = new DeleteBatcher(store, { quietMs: 5, maxWaitMs: 20, retryMs: 50 })
  deletes.delete('k')
  await sleep(30) // the first batch went and failed
  stepWallClock(t, -HOUR)
  for (let i = 0; i < 60 && store.object('k'); i++) await sleep(50)
  t.equal(store.object('k'), undefined, 'the retry went within 3 s and deleted the key')
})

t.test('a long call is not timed out when the wall clock steps forward an hour', async t => {
  const work = sleep(1500).then(() => 'done')
  const call = whileMoving(work, 'close', () => 0, 10 * 60_000)
  stepWallClock(t, HOUR)
  t.equal(await call, 'done', 'no progress for 1.5 s is not "no progress for 10 min"')
})

t.test('listings expire after the TTL when the wall clock steps back an hour', async t => {
  let wall = 1_700_000_000_000
  let mono = 1000
  const { fs, store } = makeFs(undefined, { now: () => wall, monotonic: () => mono, attrTtlMs: 30_000 })
  store.putText('d/a', 'a')
  t.same(await fs.readdir('/d'), ['a'])
  store.putText('d/b', 'b') // another client adds a file
  wall -= HOUR
  mono += 31_000
  t.same(await fs.readdir('/d'), ['a', 'b'], 'the listing is asked again once the TTL has passed')
})
