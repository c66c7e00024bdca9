// Memory at scale, as the README's Semantics state the bound: the block cache,
// one part buffer per request in flight, the listing cache's entries, and a
// fixed margin; never a cost per open file or per key of the bucket.
// - 8 writers of 100 MiB files at once: a part's buffer is taken only when its
//   request may leave, so with concurrency=8 the mount holds at most 8 parts,
//   where buffers taken at once would be 8 files x upload_concurrency 6 parts.
// - `find` over 30,000 keys another client wrote, three times what the
//   listing cache may keep (list_cache=10000): every entry is looked up (find
//   -printf %s stats each one), and the cache drops the least recent ones to
//   stay within its bound. (Seeded with signed raw PUTs: test/helpers/bulk-put.ts.)
import t from 'tap'
import { createHash } from 'node:crypto'
import { openSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { mountBucket, q, sh, sha256sum } from '../helpers/mount.js'
import { sampleRss } from '../helpers/fault-mount.js'
import { prng } from '../../scripts/prng.js'
import { putEmptyObjects } from '../helpers/bulk-put.js'

// 30,000 keys to seed and to find, and 800 MiB to write: past the run's per-file timeout
t.setTimeout(900_000)
const s3 = await withS3(t)
const MiB = 1024 * 1024
const CACHE = 64 * MiB
const PART = 8 * MiB
const CONCURRENCY = 8
// Node, the SDK, fuse-native and the code itself: what an idle mount holds, and then some
const MARGIN = 160 * MiB
// a listing cache a third of the keys, and what the README says an entry costs at most
const LIST_CACHE = 10_000
const ENTRY_BYTES = 1024

t.test('8 writers of 100 MiB at once: at most one part buffer per request in flight', async t => {
  const m = await mountBucket(t, { s3, options: [`cache_size=${CACHE / MiB}M`, `part_size=${PART / MiB}M`, `concurrency=${CONCURRENCY}`] })
  const work = tmpDir(t)
  const sources: string[] = []
  for (let i = 0; i < 8; i++) {
    // pseudo-random bytes, written 1 MiB at a time: 800 MiB never sits in this process
    const src = join(work, `w${i}.bin`)
    const fd = openSync(src, 'w')
    const next = prng(1000 + i)
    const chunk = Buffer.alloc(MiB)
    for (let j = 0; j < 100; j++) {
      for (let k = 0; k < MiB; k += 4) chunk.writeUInt32LE(Math.floor(next() * 2 ** 32), k)
      writeSync(fd, chunk)
    }
    closeSync(fd)
    sources.push(src)
  }
  await m.settle(500)
  const rss = sampleRss(m.pid()!, 50)
  const script = [
    ...sources.map((src, i) => `dd if=${q(src)} of=${q(join(m.dir, `w${i}.bin`))} bs=1M status=none &`),
    'wait',
  ].join('\n')
  const run = await sh(script, { timeoutMs: 600_000 })
  const peak = rss.stop()
  t.equal(run.code, 0, `the 8 dd ran: ${run.stderr}`)
  const bad: string[] = []
  for (let i = 0; i < 8; i++) {
    const o = await m.client.send(new GetObjectCommand({ Bucket: m.bucket, Key: `w${i}.bin` }))
    const h = createHash('sha256')
    for await (const chunk of o.Body as AsyncIterable<Uint8Array>) h.update(chunk)
    if (h.digest('hex') !== await sha256sum(sources[i]!)) bad.push(`w${i}.bin`)
  }
  t.same(bad, [], 'every object has its source\'s bytes')
  const bound = CACHE + CONCURRENCY * PART + MARGIN
  const held = 8 * 6 * PART
  t.ok(peak <= bound, `peak RSS ${(peak / MiB).toFixed(0)} MiB <= cache ${CACHE / MiB} + ${CONCURRENCY} requests x ${PART / MiB} MiB + ${MARGIN / MiB} MiB = ${(bound / MiB).toFixed(0)} MiB (buffers taken ahead of their turn: ${held / MiB} MiB of parts alone)`)
})

t.test('find over 30,000 keys, three times the listing cache: memory within the cache, the listing cache\'s entries and the margin', async t => {
  const m = await mountBucket(t, { s3, options: [`cache_size=${CACHE / MiB}M`, `list_cache=${LIST_CACHE}`] })
  // 20 directories of 1,000 and 2 of 5,000: a directory whose listing
  // alone is half the listing cache, beside many ordinary ones
  const keys: string[] = []
  for (let d = 0; d < 20; d++) for (let f = 0; f < 1000; f++) keys.push(`tree/d${String(d).padStart(3, '0')}/file-${String(f).padStart(6, '0')}.dat`)
  for (let d = 0; d < 2; d++) for (let f = 0; f < 5_000; f++) keys.push(`tree/big${d}/file-${String(f).padStart(6, '0')}.dat`)
  const started = Date.now()
  await putEmptyObjects(s3, m.bucket, keys)
  t.comment(`seeded ${keys.length} keys in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  await m.settle(500)
  const idle = sampleRss(m.pid()!).stop()
  const rss = sampleRss(m.pid()!, 50)
  // -printf %s: a lookup (stat) of every name, answered from the listings
  const found = await sh(`find ${q(join(m.dir, 'tree'))} -type f -printf '%s\\n' | wc -l`, { timeoutMs: 600_000 })
  const peak = rss.stop()
  t.equal(found.code, 0, `find ran: ${found.stderr}`)
  t.equal(Number(found.stdout.trim()), keys.length, 'find sees every key')
  const s = await m.stats()
  t.comment(`find: ${JSON.stringify(s.requests.byType)}; RSS idle ${(idle / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB`)
  t.ok((s.requests.byType.ListObjectsV2 ?? 0) <= 2 * (keys.length / 1000 + 22), 'each directory listed about once (a page per 1,000 keys)')
  // no writes here: no part buffers
  const bound = CACHE + MARGIN + LIST_CACHE * ENTRY_BYTES
  t.ok(peak <= bound, `peak RSS ${(peak / MiB).toFixed(0)} MiB <= cache ${CACHE / MiB} + list_cache ${LIST_CACHE} entries x ${ENTRY_BYTES} B + ${MARGIN / MiB} MiB = ${(bound / MiB).toFixed(0)} MiB`)
})
