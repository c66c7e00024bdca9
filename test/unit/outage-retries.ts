// Retries that ride out an outage (src/s3/request-queue.ts, retry-policy.ts,
// outage-log.ts), on the fake clock: a request is retried until it has gone
// its budget without progress (reads 60 s, writes op_timeout), not for a fixed
// number of attempts; pauses stay short so the server's return is seen
// within 2 s; Retry-After is honoured; the log says when an outage begins and
// when it ends, once each; an abort ends a pause at once.
import t from 'tap'
import { RequestQueue, type QueueOptions } from '../../src/s3/request-queue.js'
import { Priority } from '../../src/s3/store.js'
import { S3Error } from '../../src/s3/errors.js'
import { serverError } from '../helpers/fake-errors.js'
import { FakeClock, settle } from '../helpers/fake-clock.js'
import { captureLog } from '../helpers/log-capture.js'

const SECOND = 1000

function queue (clock: FakeClock, o: Partial<QueueOptions> = {}): RequestQueue {
  return new RequestQueue({ rps: 100, concurrency: 8, readMs: 60 * SECOND, writeMs: 300 * SECOND, server: 'http://s3.test', clock, ...o })
}

const refused = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })

/** a server that refuses connections until `until` (fake ms), then answers */
function downUntil (clock: FakeClock, until: number, attempts: number[] = []): (sent: () => void) => Promise<string> {
  return async sent => {
    sent()
    attempts.push(clock.now())
    if (clock.now() < until) throw refused()
    return 'ok'
  }
}

interface Outcome<T> { value?: T, error?: S3Error, at?: number }

function watch<T> (clock: FakeClock, p: Promise<T>): Outcome<T> {
  const o: Outcome<T> = {}
  p.then(v => { o.value = v; o.at = clock.now() }, (e: S3Error) => { o.error = e; o.at = clock.now() })
  return o
}

t.test('a 10 s outage: a write, a read and a multipart completion all succeed once the server is back', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  const runs = [
    watch(clock, q.run('PutObject', 'put small', Priority.Data, downUntil(clock, 10 * SECOND))),
    watch(clock, q.run('GetObject', 'get big', Priority.Data, downUntil(clock, 10 * SECOND))),
    watch(clock, q.run('CompleteMultipartUpload', 'complete big', Priority.Data, downUntil(clock, 10 * SECOND))),
  ]
  await clock.runUntil(() => runs.every(r => r.at !== undefined), 30 * SECOND, 50)
  for (const r of runs) {
    t.equal(r.value, 'ok', `succeeds (${r.error?.message ?? 'no error'})`)
    t.ok(r.at! >= 10 * SECOND && r.at! <= 12.1 * SECOND, `within 2 s of the server's return (${r.at} ms)`)
  }
  t.match(q.stats(), { failed: 0 })
})

t.test('a server away for good: a read gives up after 60 s without progress, a write after op_timeout (300 s)', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  const read = watch(clock, q.run('HeadObject', 'head k', Priority.Metadata, downUntil(clock, Infinity)))
  const write = watch(clock, q.run('UploadPart', 'upload part 1 of k', Priority.Data, downUntil(clock, Infinity)))
  await clock.runUntil(() => write.at !== undefined, 400 * SECOND, 250)
  t.match(read.error, { errno: 'EIO', code: 'ECONNREFUSED' }, 'the read fails with EIO')
  t.ok(read.at! >= 60 * SECOND && read.at! <= 61 * SECOND, `at its deadline (${read.at} ms)`)
  t.match(write.error, { errno: 'EIO', code: 'ECONNREFUSED' }, 'the write fails with EIO')
  t.ok(write.at! >= 300 * SECOND && write.at! <= 301 * SECOND, `at op_timeout (${write.at} ms)`)
})

t.test('retries=N still caps the attempts, whatever the time left', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { maxAttempts: 2 })
  const attempts: number[] = []
  const r = watch(clock, q.run('PutObject', 'put k', Priority.Data, downUntil(clock, Infinity, attempts)))
  await clock.runUntil(() => r.at !== undefined, 10 * SECOND)
  t.equal(attempts.length, 2)
  t.match(r.error, { errno: 'EIO' })
})

t.test('a GET whose every attempt moves bytes goes on past the budget: the time counts without progress', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { readMs: 10 * SECOND })
  let attempts = 0
  const r = watch(clock, q.run('GetObject', 'get k', Priority.Data, async (sent, moved) => {
    sent()
    if (++attempts === 30) return 'every byte'
    moved() // some of the body came, then the connection broke
    throw new S3Error('EIO', 'TruncatedBody', 0, 'get k: body cut short')
  }))
  await clock.runUntil(() => r.at !== undefined, 120 * SECOND, 50)
  t.equal(r.value, 'every byte', `the read completes (${r.error?.message ?? ''})`)
  t.ok(r.at! > 10 * SECOND, `after more than its 10 s budget (${r.at} ms), since each try made progress`)
})

t.test('pauses stay under 2 s through a long outage, so the server\'s return is seen quickly', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  const attempts: number[] = []
  const r = watch(clock, q.run('PutObject', 'put k', Priority.Data, downUntil(clock, 40 * SECOND, attempts)))
  await clock.runUntil(() => r.at !== undefined, 60 * SECOND, 50)
  t.equal(r.value, 'ok')
  const gaps = attempts.slice(1).map((a, i) => a - attempts[i]!)
  t.ok(Math.max(...gaps) <= 2000, `no pause over 2 s (longest ${Math.max(...gaps)} ms, ${attempts.length} attempts)`)
  t.ok(r.at! - 40 * SECOND <= 2000, `success ${r.at! - 40 * SECOND} ms after the server came back`)
})

t.test('Retry-After is honoured, and capped at 30 s', async t => {
  for (const [asked, waited] of [[5, 5], [120, 30]] as const) {
    const clock = new FakeClock()
    const q = queue(clock)
    const attempts: number[] = []
    const r = watch(clock, q.run('PutObject', 'put k', Priority.Data, async sent => {
      sent()
      attempts.push(clock.now())
      if (attempts.length === 1) throw new S3Error('EIO', 'SlowDown', 503, 'put k failed with SlowDown', undefined, { retryAfterMs: asked * SECOND })
      return 'ok'
    }))
    await clock.runUntil(() => r.at !== undefined, 60 * SECOND, 50)
    t.equal(r.value, 'ok')
    const gap = attempts[1]! - attempts[0]!
    t.ok(gap >= waited * SECOND && gap < waited * SECOND + 100, `Retry-After: ${asked}: the next try ${gap} ms later`)
  }
})

t.test('only throttling halves the rate: a 503 InternalError (a copy answered 200 with an error) does not', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  const once = (err: S3Error): ((sent: () => void) => Promise<string>) => {
    let n = 0
    return async sent => { sent(); if (n++ === 0) throw err; return 'ok' }
  }
  const copy = watch(clock, q.run('CopyObject', 'copy a to b', Priority.Data, once(serverError('InternalError', 503, 'copy a to b', 'S3 aborted request'))))
  await clock.runUntil(() => copy.at !== undefined, 10 * SECOND)
  t.equal(copy.value, 'ok', 'the copy is retried and succeeds')
  t.equal(q.limiter.limit, 100, 'and the rate stays at 100/s')
  const put = watch(clock, q.run('PutObject', 'put k', Priority.Data, once(serverError('SlowDown', 503, 'put k'))))
  await clock.runUntil(() => put.at !== undefined, 10 * SECOND)
  t.equal(q.limiter.limit, 50, 'a SlowDown halves it')
  t.match(q.stats(), { throttled: 1 })
})

t.test('errors no retry cures are tried once (501), a clock skew three times', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  for (const [code, status, tries] of [['NotImplemented', 501, 1], ['RequestTimeTooSkewed', 403, 3]] as const) {
    let n = 0
    const r = watch(clock, q.run('UploadPartCopy', 'copy part 1 of k', Priority.Data, async sent => { sent(); n++; throw serverError(code, status, 'copy part 1 of k') }))
    await clock.runUntil(() => r.at !== undefined, 10 * SECOND)
    t.equal(n, tries, `${code}: ${tries} attempt(s)`)
    t.match(r.error, { code, errno: 'EIO' })
  }
})

t.test('an outage is logged twice: its first failure at once, and the recovery with how long and how many requests', async t => {
  const lines = captureLog(t, 'warn')
  const clock = new FakeClock()
  const q = queue(clock)
  const runs = Array.from({ length: 5 }, (_, i) => watch(clock, q.run('PutObject', `put f${i}`, Priority.Data, downUntil(clock, 10 * SECOND))))
  await clock.advance(1)
  t.equal(lines.length, 1, 'one line as soon as the first request fails')
  t.match(lines[0], /^oortfs: warning: http:\/\/s3\.test: put f\d failed with ECONNREFUSED.*; retrying reads for up to 60 s, writes for up to 300 s/)
  await clock.runUntil(() => runs.every(r => r.at !== undefined), 30 * SECOND, 50)
  t.equal(lines.length, 2, `no line per retry (${q.stats().retries} retries)`)
  t.match(lines[1], /^oortfs: warning: http:\/\/s3\.test reachable again after 1\d\.\d s, 5 request\(s\) retried$/)
})

t.test('a server that fails now and then does not fill the log: a failure soon after a recovery is a debug line', async t => {
  const lines = captureLog(t, 'warn')
  const clock = new FakeClock()
  const q = queue(clock)
  for (let i = 0; i < 10; i++) {
    let n = 0
    const r = watch(clock, q.run('PutObject', `put f${i}`, Priority.Data, async sent => { sent(); if (n++ === 0) throw serverError('InternalError', 500, `put f${i}`); return 'ok' }))
    await clock.runUntil(() => r.at !== undefined, 5 * SECOND)
    await clock.advance(2 * SECOND)
  }
  t.equal(lines.length, 2, `the first blip told (start and end), the next nine not: ${lines.join(' | ')}`)
})

t.test('an abort ends a long pause at once', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  const ac = new AbortController()
  let attempts = 0
  const r = watch(clock, q.run('GetObject', 'get k', Priority.Data, async sent => {
    sent()
    attempts++
    throw new S3Error('EIO', 'SlowDown', 503, 'get k failed with SlowDown', undefined, { retryAfterMs: 20 * SECOND })
  }, ac.signal))
  await clock.advance(100)
  ac.abort()
  await settle()
  t.ok(r.at !== undefined, 'the run ends without the clock moving on')
  t.equal(r.at, 100, 'at the abort')
  t.equal(attempts, 1, 'and no retry after it')
})

t.test('a clock skew after refused connections still gets its own retries (the network came up before the clock was fixed)', async t => {
  const clock = new FakeClock()
  const q = queue(clock)
  let n = 0
  const r = watch(clock, q.run('HeadObject', 'check bucket b', Priority.Metadata, async sent => {
    sent()
    n++
    if (n <= 3) throw refused()
    if (n === 4) throw serverError('RequestTimeTooSkewed', 403, 'check bucket b')
    return 'ok'
  }))
  await clock.runUntil(() => r.at !== undefined, 30 * SECOND)
  t.equal(r.value, 'ok', 'the retry signed with the corrected clock succeeds')
  t.equal(n, 5)
})

t.test('a retry\'s wait in the queue is not time without progress: a backlog is the mount at work', async t => {
  const clock = new FakeClock()
  const q = queue(clock, { concurrency: 1 })
  let n = 0
  const read = watch(clock, q.run('GetObject', 'get a', Priority.Data, async sent => {
    sent()
    n++
    if (n <= 2) throw serverError('InternalError', 500, 'get a')
    return 'a'
  }))
  // the one slot is busy for 70 s (a long upload) while the read's retry waits for it
  const long = watch(clock, q.run('PutObject', 'put b', Priority.Data, async sent => { sent(); await clock.sleep(70 * SECOND); return 'b' }))
  await clock.runUntil(() => read.at !== undefined && long.at !== undefined, 200 * SECOND)
  t.equal(long.value, 'b')
  t.equal(read.value, 'a', 'the read is retried after its 70 s wait, and succeeds')
  t.equal(n, 3)
})
