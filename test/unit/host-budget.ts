// The processes of one account on one machine share its rps: each joins the
// account's folder, the others lower their share at once, a process that
// ends (or died) gives its share back, and the split is max-min fair.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { budgetKey, fairShares, HostBudget } from '../../src/s3/host-budget.js'
import { RateLimiter } from '../../src/s3/rate-limiter.js'
import { FakeClock } from '../helpers/fake-clock.js'

function folder (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-budget-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** a process's view: the share it was last told */
async function member (t: Test, dir: string, rps: number): Promise<{ b: HostBudget, told: () => number }> {
  let told = rps
  const b = await HostBudget.join(dir, rps, share => { told = share }, 200)
  t.teardown(() => b.close())
  return { b, told: () => told }
}

async function until (cond: () => boolean, ms = 2000): Promise<boolean> {
  for (let waited = 0; waited < ms && !cond(); waited += 20) await sleep(20)
  return cond()
}

t.test('a second process of the account halves the first one\'s share at once; its end gives it back', async t => {
  const dir = folder(t)
  const a = await member(t, dir, 100)
  t.equal(a.told(), 100, 'alone: the whole rps')
  const b = await member(t, dir, 100)
  t.equal(b.told(), 50, 'the newcomer takes its share before its first request')
  t.ok(await until(() => a.told() === 50, 150), 'the first one is down to 50 within 150 ms (inotify), not at its next rescan')
  await b.b.close()
  t.ok(await until(() => a.told() === 100), 'back to 100 once the other has ended')
})

t.test('a process that died without cleaning up (kill -9) is dropped and its file removed', async t => {
  const dir = folder(t)
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString()
  writeFileSync(join(dir, `${gone}-dead.json`), JSON.stringify({ pid: Number(gone), rps: 100 }))
  const a = await member(t, dir, 100)
  t.equal(a.told(), 100, 'the dead process takes no share')
  t.same(readdirSync(dir).filter(n => n.startsWith(`${gone}-`)), [], 'and its file is gone')
})

t.test('shares are max-min fair and never sum past the largest rps', async t => {
  t.same(fairShares([100, 100]), [50, 50])
  t.same(fairShares([100, 10]), [90, 10], 'an fsck at rps=10 leaves the mount 90')
  t.same(fairShares([30, 70, 100]), [30, 35, 35])
  const dir = folder(t)
  const mount = await member(t, dir, 100)
  const fsck = await member(t, dir, 10)
  t.equal(fsck.told(), 10)
  t.ok(await until(() => mount.told() === 90), `the mount keeps 90 (${mount.told()})`)
})

t.test('accounts are told apart by endpoint and access key', async t => {
  t.not(budgetKey('https://s3.oortech.com', 'AK1'), budgetKey('https://s3.oortech.com', 'AK2'))
  t.not(budgetKey('https://s3.oortech.com', 'AK1'), budgetKey('https://s3-standard.oortech.com', 'AK1'))
  t.notMatch(budgetKey('e', 'AKIASECRETLOOKING'), /AKIA/, 'the key id is not in the folder name')
})

t.test('a lower share holds in the rate window at once', async t => {
  const clock = new FakeClock()
  const limiter = new RateLimiter(100, 1000, clock)
  limiter.setMax(10)
  let got = 0
  for (let i = 0; i < 30; i++) void limiter.acquire().then(s => { s.sent(); got++ })
  await clock.advance(1000)
  t.ok(got <= 10, `at most 10 in the first second (${got})`)
  limiter.setMax(100)
  await clock.advance(200)
  t.equal(got, 30, 'a higher share is taken at once')
})
