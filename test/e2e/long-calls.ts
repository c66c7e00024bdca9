// Long calls on a slow link: close() of a large file and a big mv take longer
// than op_timeout, and succeed while their requests keep moving; a chmod -R
// of hundreds of files leaves room for an ls at once (its copies go in the
// background); a fast writer waits for its parts instead of close() paying.
import t from 'tap'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { faultMount } from '../helpers/fault-mount.js'
import { keysUnder, q, seed, sh, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024

t.test('close() of a 40 MiB file over a slow link takes past op_timeout and succeeds', async t => {
  // 5 MiB parts, one at a time, 1.2 s each: close waits about 8 s, op_timeout is 3 s
  const { m, proxy } = await faultMount(t, { s3, options: ['op_timeout=3', 'part_size=5M', 'upload_concurrency=1'] })
  proxy.set({ latencyMs: 1200 })
  const started = Date.now()
  const r = await sh(`head -c ${40 * MiB} /dev/urandom > ${q(join(m.dir, 'big.bin'))}`, { timeoutMs: 120_000 })
  const secs = (Date.now() - started) / 1000
  t.equal(r.code, 0, `the copy succeeds (${r.stderr.trim() || 'no error'})`)
  t.ok(secs > 3, `and took ${secs.toFixed(1)} s, past op_timeout`)
  proxy.set({ latencyMs: 0 })
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'big.bin' }))
  t.equal(head.ContentLength, 40 * MiB, 'every byte is on the server')
})

t.test('a call whose requests make no progress for op_timeout fails with ETIMEDOUT', async t => {
  const { m, proxy } = await faultMount(t, { s3, options: ['op_timeout=3', 'retries=100'] })
  proxy.set({ down: 'hang' })
  const started = Date.now()
  const r = await sh(`echo x > ${q(join(m.dir, 'stuck.txt'))}`, { timeoutMs: 60_000 })
  t.not(r.code, 0, 'the write fails')
  t.match(r.stderr, /Connection timed out|Timer expired|timed out/i, `with ETIMEDOUT: ${r.stderr.trim()}`)
  t.ok(Date.now() - started < 30_000, 'soon after op_timeout')
  proxy.set({ down: false })
})

t.test('mv of a directory of 150 files at 10 requests/s takes past op_timeout and succeeds', async t => {
  const { m } = await faultMount(t, { s3, options: ['op_timeout=5', 'rps=10'] })
  await seed(m.client, m.bucket, Array.from({ length: 150 }, (_, i) => [`src/f${i}`, Buffer.from(String(i))] as [string, Buffer]))
  const started = Date.now()
  const r = await sh(`mv ${q(join(m.dir, 'src'))} ${q(join(m.dir, 'dst'))}`, { timeoutMs: 120_000 })
  t.equal(r.code, 0, `mv succeeds (${r.stderr.trim() || 'no error'}) in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  t.equal((await keysUnder(m.client, m.bucket, 'dst/')).length, 150)
  t.same(await keysUnder(m.client, m.bucket, 'src/'), [])
})

t.test('chmod -R of 300 files at 20 requests/s leaves room for an ls of another directory', async t => {
  const { m } = await faultMount(t, { s3, options: ['rps=20'] })
  await seed(m.client, m.bucket, [
    ...Array.from({ length: 300 }, (_, i) => [`many/f${i}`, Buffer.from('x')] as [string, Buffer]),
    ['other/a', Buffer.from('a')],
  ])
  await shOk(`ls ${q(join(m.dir, 'many'))} >/dev/null`)
  await shOk(`chmod -R 700 ${q(join(m.dir, 'many'))}`)
  // its 300 copies now take about 15 s of the rate: an ls must not wait behind them
  await sh('sleep 1.5')
  const started = Date.now()
  await shOk(`ls -l ${q(join(m.dir, 'other'))} >/dev/null`)
  const ms = Date.now() - started
  t.ok(ms < 3000, `ls of another directory answered in ${ms} ms`)
  await m.unmount()
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'many/f299' }))
  t.equal(head.Metadata?.mode, String(0o100700), 'and the copies all landed by unmount')
})
