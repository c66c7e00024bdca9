// Outages a mount rides out (issue 18): the gateway away for 10 s (the fault
// proxy refusing connections, or holding them) while `cp` copies a 40 MiB file
// and 50 small ones into the mount; a cold read through 30 s of refused
// connections. Every copy succeeds with every byte right, and the log tells
// the outage once when it begins and once when it ends. And a server that
// ignores Range (answers with the whole object): reads fail with EIO or give
// the right bytes, never bytes from the wrong offset.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { withS3 } from '../helpers/s3-server.js'
import { faultMount } from '../helpers/fault-mount.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { objectBytes, q, seed, sh, sha, shOk } from '../helpers/mount.js'
import type { DownMode } from '../../scripts/fault-proxy.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

for (const mode of ['refuse', 'hold'] as DownMode[]) {
  t.test(`the gateway away for 10 s (${mode}) during cp of a 40 MiB file and of 50 small files: every copy succeeds, every byte right`, async t => {
    // latency stretches the copies so that the outage lands in the middle of them
    const { m, proxy } = await faultMount(t, { s3, options: ['part_size=5M', 'upload_concurrency=2'] })
    const work = tmpDir(t)
    const big = randomBytes(40 * MiB + 12345)
    writeFileSync(join(work, 'big.bin'), big)
    const small = join(work, 'small')
    mkdirSync(small)
    const want = new Map<string, Buffer>([['big.bin', big]])
    for (let i = 0; i < 50; i++) {
      const body = randomBytes(1 + (i * 7919) % (64 * 1024))
      writeFileSync(join(small, `f${i}.txt`), body)
      want.set(`small/f${i}.txt`, body)
    }
    proxy.set({ latencyMs: 200 })
    const copies = Promise.all([
      sh(`cp ${q(join(work, 'big.bin'))} ${q(join(m.dir, 'big.bin'))}`, { timeoutMs: 240_000 }),
      sh(`cp -r ${q(small)} ${q(m.dir)}/`, { timeoutMs: 240_000 }),
    ])
    await sleep(500)
    const started = Date.now()
    await proxy.pause(10_000, mode)
    t.comment(`server back after ${Date.now() - started} ms`)
    const [cpBig, cpSmall] = await copies
    proxy.set({ latencyMs: 0 })
    t.equal(cpBig.code, 0, `cp of the 40 MiB file succeeds (${cpBig.stderr.trim() || 'no error'})`)
    t.equal(cpSmall.code, 0, `cp -r of 50 small files succeeds (${cpSmall.stderr.trim() || 'no error'})`)
    // refused connections never reach the proxy: the mount's log tells that it met them
    const met = mode === 'refuse' ? /retrying reads for up to/.test(m.log()) : proxy.stats().held > 0
    t.ok(met, `the outage was met (${proxy.stats().refused} connections cut, ${proxy.stats().held} requests held)`)

    const wrong: string[] = []
    for (const [key, body] of want) {
      const got = await objectBytes(m.client, m.bucket, key)
      if (!got || sha(got) !== sha(body)) wrong.push(`${key}: ${got ? `${got.length} bytes, not the ones written` : 'missing'}`)
    }
    t.same(wrong, [], 'every file is on the server, whole')
    const back = await sh(`cmp ${q(join(work, 'big.bin'))} ${q(join(m.dir, 'big.bin'))} && diff -r ${q(small)} ${q(join(m.dir, 'small'))}`)
    t.equal(back.code, 0, `and reads back through the mount as written ${back.stdout}${back.stderr}`)

    if (mode === 'refuse') {
      const log = m.log()
      const begun = log.split('\n').filter(l => /warning: .*retrying reads for up to/.test(l))
      t.equal(begun.length, 1, `the outage's start is logged once: ${begun.join(' | ')}`)
      t.match(log, /reachable again after \d+\.\d s, \d+ request\(s\) retried/, 'and its end')
    }
  })
}

t.test('a cold read through 30 s of refused connections succeeds with the right bytes', async t => {
  const { m, proxy } = await faultMount(t, { s3 })
  const body = randomBytes(20 * MiB + 7)
  await seed(m.client, m.bucket, [['data.bin', body]])
  await shOk(`ls -l ${q(m.dir)} >/dev/null`) // listed: the read needs only GETs
  const back = proxy.pause(30_000, 'refuse')
  const read = sh(`sha256sum < ${q(join(m.dir, 'data.bin'))}`, { timeoutMs: 120_000 })
  await back
  const r = await read
  t.equal(r.code, 0, `the read succeeds (${r.stderr.trim() || 'no error'})`)
  t.equal(r.stdout.split(' ')[0], sha(body), 'every byte right')
})

t.test('a server that ignores Range (200 with the whole object): reads fail with EIO or are right, never wrong bytes', async t => {
  // SigV2 does not sign Range: the proxy can drop it and the server still accepts the request
  const { m, proxy } = await faultMount(t, { s3, options: ['sigv2'] })
  const body = randomBytes(3 * MiB + 99)
  await seed(m.client, m.bucket, [['whole.bin', body]])
  await shOk(`ls -l ${q(m.dir)} >/dev/null`)
  proxy.set({ rangeAsWhole: true })
  const offset = 1000 * 1024
  const dd = await sh(`dd if=${q(join(m.dir, 'whole.bin'))} bs=4096 skip=${offset / 4096} count=1 status=none | sha256sum`, { timeoutMs: 120_000 })
  if (!/Input\/output error/.test(dd.stderr)) {
    t.equal(dd.stdout.split(' ')[0], sha(body.subarray(offset, offset + 4096)), 'a read that succeeds has the right bytes')
  } else t.pass(`a read at ${offset} fails with EIO: ${dd.stderr.trim()}`)
  const cat = await sh(`sha256sum < ${q(join(m.dir, 'whole.bin'))}`, { timeoutMs: 120_000 })
  t.ok(cat.code !== 0 ? /Input\/output error/.test(cat.stderr) : cat.stdout.startsWith(sha(body)),
    `cat fails with EIO or reads right: ${cat.code} ${cat.stderr.trim()}`)
  t.ok(proxy.stats().rangesIgnored > 0, `ranges were ignored (${proxy.stats().rangesIgnored})`)
  t.match(m.log(), /BadResponse|does not match the request/, 'the log names the mismatch')
  proxy.set({ rangeAsWhole: false })
  const right = await sh(`sha256sum < ${q(join(m.dir, 'whole.bin'))}`, { timeoutMs: 120_000 })
  t.equal(right.stdout.split(' ')[0], sha(body), 'once ranges are honoured, the file reads right')
})
