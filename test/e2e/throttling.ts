// OORT Storage answers 503 SlowDown past its request rate. Through the fault
// proxy limiting to 50 req/s, a mount left at its default -o rps=100 must find
// the real limit (AIMD) and stay under it: `cp -r` of 1,000 small files
// finishes with every byte right and under 5% of its requests refused. And the
// mount's own limit holds at the server: never more than -o rps requests in
// any one-second window, as the proxy counts them.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { INDEX_SUFFIX } from '../../src/fs/names.js'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { q, sh } from '../helpers/mount.js'
import { boostProxy, describeFaults, faultMount, UNBOOSTED } from '../helpers/fault-mount.js'
import { wireCounter } from '../helpers/wire-count.js'

const s3 = await withS3(t)
const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** n small files in 10 directories; returns relative path -> sha256 */
function makeTree (root: string, n: number): Map<string, string> {
  const want = new Map<string, string>()
  for (let i = 0; i < n; i++) {
    const rel = `d${i % 10}/f${i}.txt`
    mkdirSync(join(root, `d${i % 10}`), { recursive: true })
    const body = randomBytes(100 + (i * 53) % 2000)
    writeFileSync(join(root, rel), body)
    want.set(rel, sha(body))
  }
  return want
}

/** sha256 of every object under prefix, read with a plain S3 client */
async function bucketShas (client: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    keys.push(...(page.Contents ?? []).map(o => o.Key!).filter(k => !k.endsWith('/') && !k.endsWith(INDEX_SUFFIX)))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  const out = new Map<string, string>()
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < keys.length) {
      const key = keys[next++]!
      const o = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      out.set(key.slice(prefix.length), sha(await o.Body!.transformToByteArray()))
    }
  }))
  return out
}

t.test('cp -r of 1,000 files against a 50 req/s server: AIMD finds the limit', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: { rps: 50 } })
  const work = tmpDir(t)
  const want = makeTree(join(work, 'tree'), 1000)
  boostProxy(t)
  proxy.resetStats()
  const started = Date.now()
  const cp = await sh(UNBOOSTED + `cp -r ${q(join(work, 'tree'))} ${q(join(m.dir, 'tree'))}`, { timeoutMs: 240_000 })
  t.same([cp.code, cp.stderr], [0, ''], 'cp -r succeeds')
  await m.settle(1500)
  const s = proxy.stats()
  const secs = (Date.now() - started) / 1000
  t.comment(`cp -r of 1,000 files in ${secs.toFixed(1)} s: ${describeFaults(s)}; mount: ${JSON.stringify((await m.stats()).requests)}`)

  const got = await bucketShas(m.client, m.bucket, 'tree/')
  t.equal(got.size, 1000, '1,000 objects in the bucket')
  const wrong = [...want].filter(([rel, h]) => got.get(rel) !== h).map(([rel]) => rel)
  t.same(wrong, [], 'every object has the content of its file')

  t.ok(s.slowDown > 0, `the server did throttle (${s.slowDown} SlowDown answers)`)
  t.ok(s.slowDown < 0.05 * s.requests, `503s are under 5% of all requests: ${s.slowDown} of ${s.requests} (${(100 * s.slowDown / s.requests).toFixed(1)}%)`)
})

t.test('-o rps=20: never more than 20 requests in any one-second window at the server', async t => {
  const { m, proxy } = await faultMount(t, { s3, options: ['rps=20'] })
  const work = tmpDir(t)
  const want = makeTree(join(work, 'small'), 150)
  boostProxy(t)
  proxy.resetStats()
  const wire = await wireCounter(t, proxy.port)
  const started = Date.now()
  const cp = await sh(UNBOOSTED + `cp -r ${q(join(work, 'small'))} ${q(join(m.dir, 'small'))} && ls -lR ${q(join(m.dir, 'small'))} > /dev/null`, { timeoutMs: 120_000 })
  t.same([cp.code, cp.stderr], [0, ''], 'cp -r and ls -lR succeed')
  await m.settle(1500)
  const s = proxy.stats()
  const onWire = await wire.stop()
  const secs = (Date.now() - started) / 1000
  t.comment(`${describeFaults(s)} in ${secs.toFixed(1)} s (${(s.requests / secs).toFixed(1)} req/s on average); on the wire: ${JSON.stringify(onWire)}`)
  t.ok(onWire.requests >= 150, `the workload sent enough requests to hit the limit (${onWire.requests})`)
  t.ok(onWire.maxPerSecond <= 20, `at most 20 requests in any 1 s window on the wire (saw ${onWire.maxPerSecond})`)
  t.ok(onWire.maxPerSecond >= 15, `and the limit is used, not undershot (${onWire.maxPerSecond})`)
  const got = await bucketShas(m.client, m.bucket, 'small/')
  t.same([...want].filter(([rel, h]) => got.get(rel) !== h), [], 'contents right')
})
