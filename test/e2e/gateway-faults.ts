// Every request ends, and ends right, however its connection is cut. The real
// gateway (SDK, queue, retries) runs 1,500 mixed requests through the fault
// proxy at far worse than "faults on": 5% 500s and 20% of responses cut mid-body
// or before their first byte, which is where a body reader can wait for ever
// (a stream closed before anyone listens never ends). Each answer is checked
// against what was stored, and no request may take longer than a slow retry.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createS3Client } from '../../src/s3/client.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { newBucket, withS3 } from '../helpers/s3-server.js'
import { startProxy } from '../helpers/fault-mount.js'
import { describeFaults } from '../../scripts/fault-proxy.js'
import { prng } from '../../scripts/prng.js'

const s3 = await withS3(t)
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex')

t.test('1,500 mixed requests through 20% cut responses: each one ends, right, within a retry', async t => {
  const bucket = await newBucket(s3, t, 'gw-faults')
  const proxy = await startProxy(t, s3, { error500: 0.05, resetMidBody: 0.2 }, 4242)
  const client = createS3Client({
    endpoint: proxy.url, region: s3.region, signature: 'v4', pathStyle: true, maxSockets: 40,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestTimeoutMs: 60_000,
  })
  t.teardown(() => client.destroy())
  // a quarter of attempts fail: 20 tries make a request that fails them all (0.25^20) as good as
  // impossible, and short backoffs keep even 12 failures in a row (0.25^12) under the bound below
  const queue = new RequestQueue({ rps: 1000, concurrency: 32, maxAttempts: 20, backoffMs: 5 })
  const g = new S3Gateway({ bucket, client, queue })

  // what the bucket holds, as we wrote it
  const stored = new Map<string, Buffer>()
  const body = (i: number): Buffer => randomBytes(i % 10 === 0 ? 300_000 : 200 + (i * 131) % 4000)
  const key = (i: number): string => `d${i % 6}/f${i}`
  const random = prng(99)

  type Op = (i: number) => Promise<string | undefined>
  /** each returns what was wrong, if anything */
  const ops: Op[] = [
    async i => { // put a new object
      const b = body(i)
      await g.put(key(i), b)
      stored.set(key(i), b)
      return undefined
    },
    async i => { // a ranged GET across part of an object
      const k = key(Math.floor(random() * 150))
      const want = stored.get(k)!
      const from = Math.floor(random() * want.length)
      const got = await g.get(k, from, from + 70_000)
      return got.equals(want.subarray(from, from + 70_000)) ? undefined : `get ${k} from ${from}: ${got.length} bytes, not the stored ones`
    },
    async () => { // a whole small object (the attribute index's read)
      const k = key(Math.floor(random() * 150))
      const got = await g.read(k)
      return got && md5(got.body) === md5(stored.get(k)!) ? undefined : `read ${k}: wrong body`
    },
    async () => { // HEAD
      const k = key(Math.floor(random() * 150))
      const h = await g.head(k)
      return h?.size === stored.get(k)!.length ? undefined : `head ${k}: size ${h?.size}`
    },
    async () => { // a delimiter listing of one directory
      const d = Math.floor(random() * 6)
      // stored before the listing began: later puts may or may not show
      const before = [...stored.keys()].filter(k => k.startsWith(`d${d}/`))
      const names = new Set<string>()
      let token: string | undefined
      do {
        const page = await g.list({ prefix: `d${d}/`, delimiter: '/', continuationToken: token, maxKeys: 40 })
        for (const o of page.objects) names.add(o.key)
        token = page.truncated ? page.nextToken : undefined
      } while (token)
      const missing = before.filter(k => !names.has(k))
      return missing.length ? `list d${d}/: ${missing.length} stored keys missing (${missing[0]})` : undefined
    },
    async () => { // metadata rewritten in place (chmod's CopyObject)
      const k = key(Math.floor(random() * 150))
      await g.copy(k, k, { metadata: { mode: '33188' } })
      const h = await g.head(k)
      return h?.metadata.mode === '33188' && h.size === stored.get(k)!.length ? undefined : `copy ${k}: ${JSON.stringify(h?.metadata)}`
    },
    async i => { // a put then a batch delete of it
      const a = `tmp/${i}-a`
      const b = `tmp/${i}-b`
      await g.put(a, Buffer.from('x'))
      await g.put(b, Buffer.from('y'))
      const r = await g.deleteMany([a, b])
      return r.failed.length ? `deleteMany: ${JSON.stringify(r.failed)}` : undefined
    },
  ]

  // the objects the readers pick from, written through the same faults
  const seedRun = Array.from({ length: 150 }, (_, i) => i)
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let i = seedRun.shift(); i !== undefined; i = seedRun.shift()) await ops[0]!(i)
  }))
  t.equal(stored.size, 150, '150 objects stored through the faults')

  const wrong: string[] = []
  const durations: number[] = []
  let next = 150
  const total = 1650
  await Promise.all(Array.from({ length: 24 }, async () => {
    while (next < total) {
      const i = next++
      const start = Date.now()
      const problem = await ops[i % ops.length]!(i).catch((err: Error) => `op ${i % ops.length} failed: ${err.message}`)
      durations.push(Date.now() - start)
      if (problem) wrong.push(problem)
    }
  }))
  const s = proxy.stats()
  t.comment(describeFaults(s))
  t.same(wrong.slice(0, 10), [], `every one of ${total - 150} requests right (${wrong.length} wrong)`)
  t.equal(durations.length, total - 150, 'every request ended')
  const slowest = Math.max(...durations)
  // a cut is seen at once and retried; only a silent connection would wait out requestTimeout (60 s)
  t.ok(slowest < 30_000, `the slowest took ${slowest} ms: none waited on a dead connection`)
  t.ok(s.resets > 300, `${s.resets} responses were cut, before or in their body`)
  t.same(queue.active(), [], 'nothing left on the wire')
})
