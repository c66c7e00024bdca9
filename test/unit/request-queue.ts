// The request queue (src/s3/request-queue.ts) and its rate limiter
// (src/s3/rate-limiter.ts): the rate holds in every one-second window, counted
// from when requests leave; priorities order the queue; retryable errors are
// retried with exponential backoff and jitter, others never; SlowDown halves
// the rate once per window of requests and success brings it back.
import t from 'tap'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { RateLimiter } from '../../src/s3/rate-limiter.js'
import { Priority, Urgency } from '../../src/s3/store.js'
import type { S3Error } from '../../src/s3/errors.js'
import { serverError } from '../helpers/fake-errors.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { maxInWindow } from '../helpers/rate-window.js'

function queue (clock: FakeClock, o: Partial<{ rps: number, concurrency: number, maxAttempts: number, backoffMs: number }> = {}): RequestQueue {
  return new RequestQueue({ rps: 20, concurrency: 8, maxAttempts: 6, backoffMs: 100, clock, ...o })
}

/** the outcome of p, moving the fake clock until it settles */
async function drive<T> (clock: FakeClock, p: Promise<T>): Promise<T | S3Error> {
  let out: { v: T | S3Error } | undefined
  p.then(v => { out = { v } }, (e: S3Error) => { out = { v: e } })
  await clock.runUntil(() => out !== undefined, 60_000)
  return out!.v
}

const netError = (code: string): Error => Object.assign(new Error(`read ${code}`), { code })
const slowDown = (): S3Error => serverError('SlowDown', 503, 'put k', 'Please reduce your request rate.')

t.test('never more than rps requests in any 1 s window (fake clock, 200 requests at rps=20)', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { rps: 20, concurrency: 32 })
  const sentAt: number[] = []
  let done = 0
  for (let i = 0; i < 200; i++) {
    void q.run('PutObject', `put ${i}`, Priority.Data, async sent => { sent(); sentAt.push(clock.now()) }).then(() => done++)
  }
  t.ok(await clock.runUntil(() => done === 200, 20_000), 'all 200 finish')
  t.equal(maxInWindow(sentAt), 20, 'at most 20 in any second, and the limit is reached')
  const last = Math.max(...sentAt)
  t.ok(last >= 9 * 1000 && last <= 10 * 1050, `the 200th leaves after 9 windows, not much later (${last} ms)`)
})

t.test('the window counts from when a request leaves, not from when it was let go', async t => {
  // the first request spends 300 ms being signed (a large part is hashed) before it goes
  const clock = new FakeClock()
  const q = queue(clock, { rps: 2 })
  const sentAt: number[] = []
  const slowSign = q.run('UploadPart', 'part 1', Priority.Data, async sent => {
    await clock.sleep(300)
    sent()
    sentAt.push(clock.now())
  })
  const fast = Array.from({ length: 4 }, (_, i) => q.run('HeadObject', `head ${i}`, Priority.Data, async sent => { sent(); sentAt.push(clock.now()) }))
  await clock.runUntil(() => sentAt.length === 5, 5000)
  await Promise.all([slowSign, ...fast])
  t.equal(sentAt.length, 5)
  t.equal(maxInWindow(sentAt), 2, `at most 2 in any second by the times they left (${sentAt.join(', ')})`)
})

t.test('real clock: rps=20 holds over 50 requests (about 2 s)', async t => {
  const q = new RequestQueue({ rps: 20, concurrency: 16, maxAttempts: 1, backoffMs: 100 })
  const sentAt: number[] = []
  const started = Date.now()
  await Promise.all(Array.from({ length: 50 }, (_, i) => q.run('GetObject', `get ${i}`, Priority.Data, async sent => {
    sent()
    sentAt.push(Date.now())
    await new Promise(resolve => setTimeout(resolve, 5))
  })))
  t.ok(maxInWindow(sentAt) <= 20, `at most 20 in any second (${maxInWindow(sentAt)})`)
  t.ok(Date.now() - started >= 2000, `50 requests at 20/s take two windows or more (${Date.now() - started} ms)`)
})

/** a queue of one slot, held by a first request until open(): what is queued meanwhile shows its order */
async function busyQueue (): Promise<{ clock: FakeClock, q: RequestQueue, order: string[], open: () => void, first: Promise<void> }> {
  const clock = new FakeClock()
  const q = queue(clock, { concurrency: 1, rps: 1000 })
  const order: string[] = []
  let open!: () => void
  const gate = new Promise<void>(resolve => { open = resolve })
  const first = q.run('GetObject', 'first', Priority.Data, async sent => { sent(); await gate; order.push('first') })
  await settle()
  return { clock, q, order, open, first }
}

t.test('priority: metadata before data before background', async t => {
  const { clock, q, order, open, first } = await busyQueue()
  const runs = [
    q.run('GetObject', 'readahead', Priority.Background, async sent => { sent(); order.push('background') }),
    q.run('GetObject', 'read', Priority.Data, async sent => { sent(); order.push('data') }),
    q.run('HeadObject', 'lookup', Priority.Metadata, async sent => { sent(); order.push('metadata') }),
    q.run('UploadPart', 'early part', Priority.Background, async sent => { sent(); order.push('background 2') }),
    q.run('ListObjectsV2', 'ls', Priority.Metadata, async sent => { sent(); order.push('metadata 2') }),
  ]
  open()
  await clock.runUntil(() => order.length === 6, 1000)
  await Promise.all([first, ...runs])
  t.same(order, ['first', 'metadata', 'metadata 2', 'data', 'background', 'background 2'])
})

t.test('priority follows the waiter: a queued background request someone waits for goes before queued data', async t => {
  const { clock, q, order, open, first } = await busyQueue()
  const ahead = new Urgency(Priority.Background)
  const runs = [
    q.run('GetObject', 'a read', Priority.Data, async sent => { sent(); order.push('data') }),
    q.run('GetObject', 'read-ahead', ahead, async sent => { sent(); order.push('read-ahead, now waited for') }),
    q.run('GetObject', 'other read-ahead', Priority.Background, async sent => { sent(); order.push('background') }),
    q.run('ListObjectsV2', 'ls', Priority.Metadata, async sent => { sent(); order.push('metadata') }),
  ]
  ahead.raise(Priority.Metadata) // the reader now waits for it
  ahead.raise(Priority.Data) // lowering is not a thing
  open()
  await clock.runUntil(() => order.length === 5, 1000)
  await Promise.all([first, ...runs])
  t.same(order, ['first', 'metadata', 'read-ahead, now waited for', 'data', 'background'])
})

t.test('retryable errors are retried with exponential backoff and jitter', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { rps: 1000, backoffMs: 100 })
  const errors = [serverError('InternalError', 500, 'get k'), netError('ECONNRESET'), slowDown(), serverError('HTTP502', 502, 'get k')]
  let attempts = 0
  let result: string | undefined
  void q.run('GetObject', 'get k', Priority.Data, async sent => {
    sent()
    const err = errors[attempts++]
    if (err) throw err
    return 'body'
  }).then(r => { result = r })
  await clock.runUntil(() => result !== undefined, 10_000)
  t.equal(result, 'body', 'the fifth attempt succeeds')
  t.equal(attempts, 5)
  const backoffs = clock.sleeps.filter(ms => ms >= 40)
  t.equal(backoffs.length, 4, 'one backoff per failure')
  backoffs.forEach((ms, i) => {
    const cap = 100 * 2 ** i
    t.ok(ms >= cap / 2 && ms <= cap, `backoff ${i + 1}: ${ms} ms in [${cap / 2}, ${cap}]`)
  })
  t.match(q.stats(), { retries: 4, failed: 0, throttled: 1, total: 5 })
})

t.test('4xx answers are not retried', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { rps: 1000 })
  for (const [code, status, errno] of [['NoSuchKey', 404, 'ENOENT'], ['AccessDenied', 403, 'EACCES'], ['InvalidArgument', 400, 'EINVAL'], ['PreconditionFailed', 412, 'EEXIST']] as const) {
    let attempts = 0
    const err = await drive(clock, q.run('GetObject', 'get k', Priority.Data, async sent => {
      sent()
      attempts++
      throw serverError(code, status, 'get k')
    }))
    t.equal(attempts, 1, `${status} ${code}: one attempt`)
    t.match(err, { code, status, errno }, `${status} ${code} reaches the caller as ${errno}`)
  }
  t.equal(q.stats().retries, 0)
})

t.test('a retryable error that persists gives up after maxAttempts with EIO', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { rps: 1000, maxAttempts: 4 })
  let attempts = 0
  let err: S3Error | undefined
  void q.run('PutObject', 'put k', Priority.Data, async sent => {
    sent()
    attempts++
    throw serverError('InternalError', 500, 'put k')
  }).catch((e: S3Error) => { err = e })
  await clock.runUntil(() => err !== undefined, 20_000)
  t.equal(attempts, 4)
  t.match(err, { errno: 'EIO', code: 'InternalError', status: 500 })
  t.match(q.stats(), { retries: 3, failed: 1 })
})

t.test('an abort stops the retries', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { rps: 1000 })
  const ac = new AbortController()
  let attempts = 0
  let err: unknown
  void q.run('GetObject', 'get k', Priority.Data, async sent => {
    sent()
    attempts++
    throw netError('ECONNRESET')
  }, ac.signal).catch(e => { err = e })
  await clock.advance(10)
  ac.abort()
  await clock.runUntil(() => err !== undefined, 5000)
  t.ok(err, 'the run ends')
  t.ok(attempts <= 2, `no retries after the abort (${attempts} attempts)`)
})

t.test('AIMD: SlowDown halves the rate once per window of requests, success brings it back', async t => {
  const clock = new FakeClock()
  const limiter = new RateLimiter(100, 1000, clock)
  t.equal(limiter.limit, 100)
  const before = clock.now()
  await clock.advance(10)
  limiter.throttled(before)
  t.equal(limiter.limit, 50, 'the first SlowDown halves the limit')
  limiter.throttled(before)
  limiter.throttled(clock.now())
  t.equal(limiter.limit, 50, 'SlowDowns of requests sent before the decrease change nothing more')
  await clock.advance(10)
  limiter.throttled(clock.now())
  t.equal(limiter.limit, 25, 'a SlowDown of a request sent after it halves again')
  for (let i = 0; i < 10; i++) { limiter.throttled(); }
  t.equal(limiter.limit, 1, 'never below 1 request per second')
  // recovery, counted when requests ask for slots: a tenth per window, at least 1, at most max/20
  const limits: number[] = []
  for (let s = 0; s < 45; s++) {
    await clock.advance(1000)
    const slot = await limiter.acquire()
    slot.sent()
    limits.push(limiter.limit)
  }
  t.same(limits.slice(0, 5), [2, 3, 4, 5, 6], 'from 1/s: one more per window, not max/20 (a server holding us low is not overshot by double)')
  t.ok(limits.every((l, i) => i === 0 || l >= limits[i - 1]!), 'it only grows')
  const half = limits.indexOf(50)
  const full = limits.indexOf(100)
  t.ok(half > 0 && full - half <= 10, `from 50 to 100 in ${full - half} windows`)
  t.equal(limits[44], 100, 'back to the configured limit, and no further')
})

t.test('AIMD in the queue: a server limiting to 50/s is found, and few requests are refused', async t => {
  // the server answers SlowDown past 50 requests in any second; the queue starts at 100/s
  const clock = new FakeClock()
  const q = queue(clock, { rps: 100, concurrency: 32, backoffMs: 100 })
  const accepted: number[] = []
  let refused = 0
  let total = 0
  let done = 0
  const serverAccepts = (now: number): boolean => accepted.filter(a => a > now - 1000).length < 50
  for (let i = 0; i < 1000; i++) {
    void q.run('PutObject', `put ${i}`, Priority.Data, async sent => {
      sent()
      total++
      const now = clock.now()
      if (!serverAccepts(now)) { refused++; throw slowDown() }
      accepted.push(now)
    }).then(() => done++)
  }
  t.ok(await clock.runUntil(() => done === 1000, 60_000, 5), 'all 1,000 succeed')
  t.ok(refused < 0.05 * total, `SlowDown answers are under 5% of requests (${refused} of ${total})`)
  const secs = Math.max(...accepted) / 1000
  t.ok(1000 / secs > 35, `the throughput stays near the server's limit (${(1000 / secs).toFixed(1)}/s)`)
})
