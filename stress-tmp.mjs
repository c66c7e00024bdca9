// hunts for requests that never end: many mixed requests through a nasty fault proxy
import { startLocalS3 } from './dist/scripts/local-s3.js'
import { startFaultProxy } from './dist/scripts/fault-proxy.js'
import { createS3Client } from './dist/src/s3/client.js'
import { S3Gateway } from './dist/src/s3/gateway.js'
import { RequestQueue } from './dist/src/s3/request-queue.js'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'

const s3 = await startLocalS3()
try {
  const raw = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } })
  await raw.send(new CreateBucketCommand({ Bucket: 'stress' }))
  const proxy = await startFaultProxy({ target: s3.endpoint, error500: 0.05, resetMidBody: Number(process.env.RESET ?? 0.3), rps: 0, seed: Number(process.env.SEED ?? 7) })
  const client = createS3Client({ endpoint: proxy.url, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, signature: 'v4', pathStyle: true, maxSockets: 64, requestTimeoutMs: 60_000 })
  const queue = new RequestQueue({ rps: 1000, concurrency: 32, maxAttempts: 20, backoffMs: 20 })
  const g = new S3Gateway({ bucket: 'stress', client, queue })
  const N = Number(process.env.N ?? 3000)
  let done = 0, failed = 0
  const started = new Map()
  const watch = setInterval(() => {
    const now = Date.now()
    for (const [id, [what, t]] of started) if (now - t > 20_000) console.log(`SLOW ${what} ${(now - t) / 1000}s`)
  }, 5000)
  const ops = [
    async i => { await g.put(`d${i % 7}/f${i}`, randomBytes(i % 5 === 0 ? 200_000 : 300)) },
    async i => { await g.list({ prefix: `d${i % 7}/`, delimiter: '/' }) },
    async i => { await g.head(`d${i % 7}/f${i - 1}`) },
    async i => { await g.get(`d${i % 7}/f${i - 5}`, 0, 100_000) },
    async i => { await g.read(`d${i % 7}/f${i - 10}`) },
    async i => { await g.copy(`d${i % 7}/f${i - 7}`, `d${i % 7}/f${i - 7}`, { metadata: { mode: '420' } }).catch(e => { if (e.status !== 404) throw e }) },
    async i => { await g.deleteMany([`d${i % 7}/f${i - 30}`, `d${i % 7}/f${i - 31}`]) },
  ]
  let next = 0
  const worker = async () => {
    while (next < N) {
      const i = next++
      const op = ops[i % ops.length]
      started.set(i, [`${i % ops.length}:${i}`, Date.now()])
      try { await op(i) } catch (e) { failed++; if (!/NoSuch|404/.test(String(e.code ?? e.message))) console.log('fail', i % ops.length, e.code, e.message.slice(0, 100)) }
      started.delete(i)
      done++
    }
  }
  const t0 = Date.now()
  await Promise.all(Array.from({ length: 24 }, worker))
  clearInterval(watch)
  console.log(`done ${done} failed ${failed} in ${(Date.now() - t0) / 1000}s`, JSON.stringify(proxy.stats().resets), 'resets', proxy.stats().requests, 'requests')
  await proxy.close()
  client.destroy()
} finally {
  await s3.stop()
}
