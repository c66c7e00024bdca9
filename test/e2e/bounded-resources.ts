// 64 tools at once on one mount: 32 dd writers of 8 MiB each and 32 readers of
// 16 MiB files another client wrote. The mount process's memory must stay
// bounded by what its options allow (the block cache, the request bodies the
// queue can have in flight, a fixed margin for Node and the SDK), whatever the
// number of open files; the request rate at the server must stay under -o rps;
// and every byte must be right. (readahead=2M: with the default 64M, 32 readers'
// windows overflow the cache and blocks are fetched again and again, 20 GB
// for 512 MiB read: a read-path problem of its own.) A GET is at most
// readahead/4 here, under a part.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { q, sh } from '../helpers/mount.js'
import { boostProxy, describeFaults, faultMount, sampleRss, UNBOOSTED } from '../helpers/fault-mount.js'
import { wireCounter } from '../helpers/wire-count.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024
const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex')

const CACHE = 128 * MiB
// 32 windows of 2 MiB fit in the cache
const READAHEAD = 2 * MiB
const PART = 5 * MiB
const CONCURRENCY = 32
const RPS = 100
// Node, the SDK, fuse-native and the code itself: what an idle mount holds, and then some
const MARGIN = 160 * MiB

t.test('32 dd writers and 32 readers at once: bounded memory, the rate limit holds, every byte right', async t => {
  const { m, proxy } = await faultMount(t, {
    s3,
    options: [`cache_size=${CACHE / MiB}M`, `readahead=${READAHEAD / MiB}M`, `part_size=${PART / MiB}M`, `concurrency=${CONCURRENCY}`, `rps=${RPS}`],
  })
  const work = tmpDir(t)
  // the readers' files, written by another client
  const seeded = new Map<string, string>()
  await Promise.all(Array.from({ length: 32 }, async (_, i) => {
    const body = randomBytes(16 * MiB)
    seeded.set(`in/r${i}.bin`, sha(body))
    await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: `in/r${i}.bin`, Body: body }))
  }))
  // the writers' sources
  const sources: string[] = []
  const written = new Map<string, string>()
  for (let i = 0; i < 32; i++) {
    const body = randomBytes(8 * MiB)
    const src = join(work, `w${i}.bin`)
    writeFileSync(src, body)
    sources.push(src)
    written.set(`out/w${i}.bin`, sha(body))
  }
  await sh(`mkdir ${q(join(m.dir, 'out'))}`)
  await m.settle(500)
  const idle = sampleRss(m.pid()!).stop()
  proxy.resetStats()

  // one shell starts the 64 jobs: 64 spawns from here would stall this process,
  // and with it the proxy's clock, for the first few hundred ms
  const results = join(work, 'results')
  const script = [
    `mkdir -p ${q(results)}`,
    ...sources.map((src, i) => `(dd if=${q(src)} of=${q(join(m.dir, 'out', `w${i}.bin`))} bs=1M status=none 2>${q(join(results, `w${i}.err`))}; echo $? > ${q(join(results, `w${i}.code`))}) &`),
    ...[...seeded.keys()].map((key, i) => `(sha256sum < ${q(join(m.dir, key))} > ${q(join(results, `r${i}.out`))} 2>&1; echo $? > ${q(join(results, `r${i}.code`))}) &`),
    'wait',
  ].join('\n')
  boostProxy(t)
  const wire = await wireCounter(t, proxy.port)
  const rss = sampleRss(m.pid()!, 50)
  const started = Date.now()
  const run = await sh(UNBOOSTED + script, { timeoutMs: 240_000 })
  const secs = (Date.now() - started) / 1000
  await m.settle(1000)
  const peak = rss.stop()
  const s = proxy.stats()
  const onWire = await wire.stop()
  t.equal(run.code, 0, 'the 64 jobs ran')
  t.comment(`mount: ${JSON.stringify((await m.stats()).requests)}`)
  t.comment(`64 jobs in ${secs.toFixed(1)} s; RSS idle ${(idle / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB; ${describeFaults(s)}`)

  const result = (name: string): string => readFileSync(join(results, name), 'utf8').trim()
  t.same(sources.flatMap((_, i) => result(`w${i}.code`) === '0' ? [] : [`w${i}: ${result(`w${i}.err`)}`]), [], 'every dd succeeds')
  const keys = [...seeded.keys()]
  const badReads = keys.flatMap((key, i) => result(`r${i}.code`) === '0' && result(`r${i}.out`).split(' ')[0] === seeded.get(key) ? [] : [`${key}: ${result(`r${i}.out`)}`])
  t.same(badReads, [], 'every reader sees the sha256 of its file')
  const badWrites: string[] = []
  for (const [key, want] of written) {
    const o = await m.client.send(new GetObjectCommand({ Bucket: m.bucket, Key: key }))
    if (sha(await o.Body!.transformToByteArray()) !== want) badWrites.push(key)
  }
  t.same(badWrites, [], 'every written object has the sha256 of its source')

  const bound = CACHE + CONCURRENCY * PART + MARGIN
  t.ok(peak <= bound, `peak RSS ${(peak / MiB).toFixed(0)} MiB <= cache ${CACHE / MiB} + ${CONCURRENCY} requests x ${PART / MiB} MiB parts + ${MARGIN / MiB} MiB = ${(bound / MiB).toFixed(0)} MiB`)
  t.equal(onWire.requests, s.requests, 'the wire count sees every request the proxy took')
  t.ok(onWire.maxPerSecond <= RPS, `at most ${RPS} requests in any 1 s window on the wire (saw ${onWire.maxPerSecond}; the proxy's own clock saw ${s.maxPerSecond})`)
})
