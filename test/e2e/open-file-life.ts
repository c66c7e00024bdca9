// An open file is one object, one version: the scenarios of issue 12 on a real
// mount, with real tools and python's os, each run twice: straight to the
// server, and through the fault proxy adding 60 ms to every request (as a
// remote gateway does; loopback hides every race). A second client (the SDK,
// called directly) replaces objects while the mount reads them.
import t from 'tap'
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { withS3 } from '../helpers/s3-server.js'
import { keysUnder, objectBytes, py, q, seed, sh, shOk, type Mount } from '../helpers/mount.js'
import { mountWithLatency } from '../helpers/fault-mount.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024

/** what a fresh mount takes, with or without 60 ms added to every request */


/** polls an async condition until it holds or ms pass; whether it held */
async function until (cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (await cond()) return true
    if (Date.now() > end) return false
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** the deletes go out in batches at most 2 s after an unlink: wait for the key to be gone */
async function goneFromServer (m: Mount, key: string): Promise<boolean> {
  return await until(async () => (await objectBytes(m.client, m.bucket, key)) === undefined, 8000)
}

for (const slow of [false, true]) {
  const how = slow ? ' (60 ms per request)' : ''

  t.test(`touch then chmod 600: the object's x-amz-meta-mode is 0600, after a remount too${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 60 : 0)
    await shOk(`touch ${q(join(m.dir, 'x'))} && chmod 600 ${q(join(m.dir, 'x'))}`)
    // the mode reaches the server within a second of the chmod
    await until(async () => {
      const h = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'x' })).catch(() => undefined)
      return h?.Metadata?.mode === String(0o100600)
    }, 3000)
    const h = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'x' }))
    t.equal(h.Metadata?.mode, String(0o100600), 'the object carries mode 0100600')
    await m.remount()
    t.equal((await shOk(`stat -c %a ${q(join(m.dir, 'x'))}`)).trim(), '600', 'a fresh mount shows 600')
  })

  t.test(`touch then rm at once: the file is gone, on the server too${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 60 : 0)
    await shOk(`touch ${q(join(m.dir, 'f'))} && rm ${q(join(m.dir, 'f'))}`)
    t.ok(await goneFromServer(m, 'f'), 'no object f')
    await sh('sleep 1')
    t.equal(await objectBytes(m.client, m.bucket, 'f'), undefined, 'and none comes back after the upload would have landed')
    await m.remount()
    t.equal((await sh(`ls ${q(join(m.dir, 'f'))}`)).code, 2, 'a fresh mount has no f')
  })

  t.test(`logrotate: a reader of log keeps reading its own bytes after mv log log.1 and a new log${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 60 : 0)
    const log = join(m.dir, 'log')
    await shOk(`printf 'old line 1\\nold line 2\\n' > ${q(log)}`)
    const out = await py(`
import os, sys, subprocess
log = sys.argv[1]
fd = os.open(log, os.O_RDONLY)
first = os.pread(fd, 11, 0)
subprocess.run(['mv', log, log + '.1'], check=True)
with open(log, 'w') as f: f.write('NEW FILE, other bytes\\n')
rest = os.pread(fd, 100, 11)
print(repr(first + rest))
print(os.fstat(fd).st_size)
os.close(fd)
`, log)
    t.same(out.trim().split('\n'), [String.raw`b'old line 1\nold line 2\n'`, '22'], 'the old handle reads the old file to its end')
    t.equal((await objectBytes(m.client, m.bucket, 'log.1'))?.toString(), 'old line 1\nold line 2\n')
    t.equal((await objectBytes(m.client, m.bucket, 'log'))?.toString(), 'NEW FILE, other bytes\n')
  })

  t.test(`an unlinked open file stays readable and writable until the last close${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 60 : 0)
    const f = join(m.dir, 'scratch')
    await shOk(`head -c ${3 * MiB} /dev/urandom > ${q(f)}`)
    const want = (await objectBytes(m.client, m.bucket, 'scratch'))!
    const out = await py(`
import os, sys, hashlib, time
path = sys.argv[1]
fd = os.open(path, os.O_RDWR)
os.unlink(path)
time.sleep(3)  # the batched delete reaches the server
data = os.pread(fd, ${4 * MiB}, 0)
print(hashlib.sha256(data).hexdigest())
os.pwrite(fd, b'written after unlink', 100)
print(os.pread(fd, 20, 100).decode())
print(os.path.exists(path))
os.close(fd)
`, f)
    const [digest, back, exists] = out.trim().split('\n')
    t.equal(digest, (await import('node:crypto')).createHash('sha256').update(want).digest('hex'), 'every byte read after the delete')
    t.equal(back, 'written after unlink', 'writes read back')
    t.equal(exists, 'False', 'the name is gone')
    t.equal(await objectBytes(m.client, m.bucket, 'scratch'), undefined, 'no object, and nothing uploaded at the last close')
  })

  t.test(`rm a/1 a/2 && rmdir a removes the a/ marker (one-character names)${how}`, async t => {
    const m = await mountWithLatency(t, s3, slow ? 60 : 0)
    await seed(m.client, m.bucket, [['a/', Buffer.alloc(0)], ['a/1', Buffer.from('1')], ['a/2', Buffer.from('2')]])
    await shOk(`rm ${q(join(m.dir, 'a/1'))} ${q(join(m.dir, 'a/2'))} && rmdir ${q(join(m.dir, 'a'))}`)
    // but, soon, the mount root's own attributes (the rmdir moved its times)
    t.same((await keysUnder(m.client, m.bucket, '')).filter(k => k !== '..oortfs-attrs'), [], 'no key left')
    await m.remount()
    t.equal((await sh(`ls -d ${q(join(m.dir, 'a'))}`)).code, 2, 'the directory does not come back')
  })
}

t.test('a 48 MiB read while another client replaces the object: the old version or ESTALE, never a mix', async t => {
  // a small read-ahead, so the reader still needs the server after the replacement
  const m = await mountWithLatency(t, s3, 60, ['readahead=1M', 'cache_size=8M'])
  const size = 48 * MiB
  await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'big', Body: Buffer.alloc(size, 0x11) }))
  // the reader is this process's async fs (libuv threads): the mount is another process
  const fh = await open(join(m.dir, 'big'), 'r')
  const seen = new Set<number>()
  let got = 0
  let error: string | undefined
  try {
    const buf = Buffer.alloc(MiB)
    for (;;) {
      if (got === 4 * MiB) await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'big', Body: Buffer.alloc(size, 0x22) }))
      const { bytesRead } = await fh.read(buf, 0, MiB, got)
      if (bytesRead === 0) break
      for (let i = 0; i < bytesRead; i += 4096) seen.add(buf[i]!)
      got += bytesRead
    }
  } catch (err) {
    // libuv has no name for ESTALE (116): it says "Unknown system error -116"
    const e = err as NodeJS.ErrnoException
    error = e.errno === -116 ? 'ESTALE' : e.code
  } finally {
    await fh.close()
  }
  t.comment(`read ${got} bytes, then ${error ?? 'the end'}`)
  t.same([...seen], [0x11], 'every byte read is the old version\'s')
  t.ok(error === 'ESTALE' || (error === undefined && got === size), 'the read ends with ESTALE, or has the whole old version')
  t.equal(error, 'ESTALE', 'with a 1 MiB read-ahead, the read reaches the server after the change: ESTALE')
  const again = await sh(`od -An -tx1 -N1 -j ${40 * MiB} ${q(join(m.dir, 'big'))}`)
  t.equal(again.stdout.trim(), '22', 'opened again, the new version')
})
