// The read shortcut on a real mount: the patched binding answers reads of
// cached blocks in the FUSE threads (scripts/fuse-shortcuts.c). What it
// answers must be what the core would, byte for byte: a cold `cat` of an
// object another client wrote; a reader whose file another handle writes
// (the kernel's page cache dropped, so the read reaches the mount), straight
// to the server and through the fault proxy adding 50 ms to every request;
// and with `noread_shortcut`, nothing answered by it.
import t from 'tap'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { withS3 } from '../helpers/s3-server.js'
import { mountBucket, py, q, sh, sha, sha256sum, type Mount } from '../helpers/mount.js'
import { mountWithLatency } from '../helpers/fault-mount.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024



async function shortcutReads (m: Mount): Promise<number> {
  const cache = (await m.stats()).app.cache as { shortcutReads?: number }
  return Number(cache.shortcutReads ?? NaN)
}

const drop = 'sync; echo 3 > /proc/sys/vm/drop_caches'

for (const slow of [false, true]) {
  const how = slow ? ' (50 ms per request)' : ''

  // once, straight to the server: its point is the bytes, and the GET count beside noread_shortcut's
  if (!slow) t.test('a cold cat of a 24 MiB object: every byte as written, most reads answered by the shortcut, no more GETs than without it', async t => {
    const body = randomBytes(24 * MiB + 12345)
    const cat = async (options: string[]): Promise<{ sum: string, gets: number, served: number, byType: Record<string, number> }> => {
      const m = await mountWithLatency(t, s3, slow ? 50 : 0, options)
      await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'big.bin', Body: body }))
      await sh(drop)
      const before = await shortcutReads(m)
      const { out, requests } = await m.measure(`cat ${q(join(m.dir, 'big.bin'))} | sha256sum`)
      return { sum: out.stdout.split(' ')[0]!, gets: requests.byType.GetObject ?? 0, served: await shortcutReads(m) - before, byType: requests.byType }
    }
    const on = await cat([])
    const off = await cat(['noread_shortcut'])
    t.equal(on.sum, sha(body), 'cat reads the object as the other client wrote it')
    t.equal(off.sum, sha(body), 'and so it does without the shortcut')
    // 24 MiB is 193 reads of 128 KiB: the shortcut answers those whose blocks came in before the kernel asked
    t.ok(on.served >= 60, `the shortcut answered ${on.served} reads`)
    t.equal(off.served, 0)
    // the read-ahead follows reads it only hears of afterwards, as well as those it answers itself
    t.ok(on.gets <= off.gets, `${on.gets} GETs with the shortcut, ${off.gets} without (${JSON.stringify(on.byType)})`)
  })

  t.test(`a reader bound to the shortcut sees another handle's write at its next read${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 50 : 0)
    const body = randomBytes(6 * MiB)
    await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'f.bin', Body: body }))
    await sh(drop)
    const before = await shortcutReads(m)
    const out = await py(`
import os, sys
p = sys.argv[1]
r = os.open(p, os.O_RDONLY)
old = b''.join(os.pread(r, 131072, at) for at in range(0, 4 * 1048576, 131072))
w = os.open(p, os.O_RDWR)
os.pwrite(w, b'NEW!', 1048576 + 10)
# the page cache holds what the reader read: drop it, so the read reaches the mount
os.posix_fadvise(r, 0, 0, os.POSIX_FADV_DONTNEED)
print(os.pread(r, 8, 1048576 + 8).hex())
print(os.pread(r, 4, 3 * 1048576).hex())
print(len(old))
os.close(w)
os.close(r)
`, join(m.dir, 'f.bin'))
    const [around, far, n] = out.trim().split('\n')
    t.equal(n, String(4 * MiB))
    const want = Buffer.concat([body.subarray(MiB + 8, MiB + 10), Buffer.from('NEW!'), body.subarray(MiB + 14, MiB + 16)])
    t.equal(around, want.toString('hex'), 'the reader sees the write, and the bytes beside it as they were')
    t.equal(far, body.subarray(3 * MiB, 3 * MiB + 4).toString('hex'), 'and the rest of the object as it is')
    t.ok(await shortcutReads(m) - before > 0, 'the reader was answered by the shortcut before the write')
    const file = await sha256sum(join(m.dir, 'f.bin'))
    body.write('NEW!', MiB + 10)
    t.equal(file, sha(body), 'the file is the object with the write')
  })
}

t.test('noread_shortcut: every read goes through the core, with the same bytes', async t => {
  const m = await mountBucket(t, { s3, options: ['noread_shortcut'] })
  const body = randomBytes(6 * MiB + 1)
  await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'x.bin', Body: body }))
  await sh(drop)
  t.equal(await sha256sum(join(m.dir, 'x.bin')), sha(body))
  t.equal(await shortcutReads(m), 0, 'the shortcut answered nothing')
})
