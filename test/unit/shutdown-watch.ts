// What a slow unmount says while it waits: the request queue names the
// attempts on the wire (their age and try), the write gate counts changing
// calls under way, and watchStage logs both every so often until the stage ends.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { Priority } from '../../src/s3/store.js'
import { writeGate } from '../../src/fuse/write-gate.js'
import { watchStage } from '../../src/fuse/stage-watch.js'
import { captureLog } from '../helpers/log-capture.js'
import { serverError } from '../helpers/fake-errors.js'
import { FakeClock } from '../helpers/fake-clock.js'
import type { FileSystem } from '../../src/fs/api.js'

t.test('the queue names the attempts on the wire, with their age and try', async t => {
  const clock = new FakeClock()
  const q = new RequestQueue({ rps: 1000, concurrency: 4, maxAttempts: 3, backoffMs: 100, clock })
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  let tries = 0
  let secondAt = 0
  const done = q.run('PutObject', 'put a/b.txt', Priority.Data, async sent => {
    sent()
    if (++tries === 1) throw serverError('InternalError', 500, 'put a/b.txt')
    secondAt = clock.now()
    await held
    return 'ok'
  })
  await clock.runUntil(() => tries === 2, 5000)
  await clock.advance(1500)
  t.same(q.active(), [{ what: 'put a/b.txt', ms: clock.now() - secondAt, attempt: 2 }], 'the second try, with its age')
  t.ok(clock.now() - secondAt >= 1500, 'which is at least the 1.5 s it has run')
  release()
  t.equal(await done, 'ok')
  t.same(q.active(), [], 'nothing once it answered')
})

t.test('the gate counts changing calls under way, not reads', async t => {
  let finish!: () => void
  const slow = new Promise<void>(resolve => { finish = resolve })
  const inner = { write: async () => { await slow; return 3 }, getattr: async () => ({}) } as unknown as FileSystem
  const gate = writeGate(inner)
  const w = (gate.fs as unknown as { write: () => Promise<number> }).write()
  await (gate.fs as unknown as { getattr: () => Promise<unknown> }).getattr()
  t.equal(gate.pending, 1, 'the write, not the getattr')
  finish()
  await w
  await sleep(0)
  t.equal(gate.pending, 0, 'none once it ended')
})

t.test('watchStage says what a stage waits for until it ends, then stops', async t => {
  const lines = captureLog(t)
  let waits = 2
  const told: string[] = []
  const r = await watchStage('saving before unmount', sleep(130).then(() => 'saved'), () => `${waits--} request(s) in flight`, line => told.push(line), 50)
  t.equal(r, 'saved', 'the stage\'s own result')
  t.ok(lines.length >= 2, `logged while it waited (${lines.length} lines)`)
  t.match(lines[0], /^oortfs: warning: saving before unmount: still waiting after \d+ s: 2 request\(s\) in flight$/)
  t.same(told, lines.map(l => l.replace(/^oortfs: warning: /, '')), 'and the waiting caller is told the same')
  const n = lines.length
  await sleep(150)
  t.equal(lines.length, n, 'no line after the stage ended')
})
