// Writes through a real mount, the other side: what they cost in S3 requests
// (cp, mv, chmod +x of 10 of 1,000 files then ls -l after a remount), a server
// that goes away while a file is being closed (a TCP proxy the test cuts), and
// a read-only mount refusing every write.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { describeRequests, keysUnder, lines, mountBucket, objectBytes, q, seed, sh, sha, sha256sum, shOk } from '../helpers/mount.js'
import { tcpProxy } from '../helpers/tcp-proxy.js'
import { faultMount } from '../helpers/fault-mount.js'

const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())

t.test('request counts of small writes; chmod +x of 10 of 1,000 files seen after a remount', async t => {
  // the 1,000 files at the mount's root, a prefix of the bucket
  const bucket = await newBucket(s3, t, 'write-counts')
  await seed(client, bucket, Array.from({ length: 1000 }, (_, i) => [`root/f${String(i).padStart(4, '0')}`, Buffer.from(`${i}\n`)]))
  const m = await mountBucket(t, { s3, bucket, prefix: 'root' })
  const p = (rel: string): string => q(join(m.dir, rel))
  const work = tmpDir(t)
  writeFileSync(join(work, 'four-k'), randomBytes(4096))
  const report: string[] = []
  const count = async (what: string, cmd: string): Promise<{ total: number; byType: Record<string, number> }> => {
    // each measurement starts once the mount is quiet, past the freshness bound: an ls just
    // before the command lists the directory again (one listing, not counted), so the command
    // itself runs in a directory just listed
    // (what that ls costs alone, past the bound as well, is measured just before and taken off).
    // A plain ls (a readdir, no stat of each name) is over in far less than the bound: an ls -l of
    // 1,000 names may outlast it and list once more, which made the subtraction off by one
    const ls = `ls ${q(m.dir)} > /dev/null`
    const alone = await m.measure(ls)
    const r = await m.measure(`${ls} && ${cmd}`)
    t.equal(r.out.code, 0, `${what}: ${r.out.stderr}`)
    const byType: Record<string, number> = {}
    for (const [k, v] of Object.entries(r.requests.byType)) {
      const n = v - (alone.requests.byType[k] ?? 0)
      if (n) byType[k] = n
    }
    const own = { total: r.requests.total - alone.requests.total, byType }
    report.push(`${what}: ${describeRequests(own)}`)
    return own
  }

  t.equal(Number(await shOk(`ls ${q(m.dir)} | wc -l`)), 1000, 'the directory is listed')
  const cp = await count('cp of a 4 KiB file into a listed directory', `cp ${q(join(work, 'four-k'))} ${p('new.bin')}`)
  t.ok(cp.total <= 2, `cp of 4 KiB: ${describeRequests(cp)} (at most 2)`)
  const mv = await count('mv of a small file', `mv ${p('new.bin')} ${p('renamed.bin')}`)
  // the copy and the delete; the directory's new times (a rename moves its mtime and ctime: the
  // root's marker), and its index recording the mtime the file keeps (its copy's new date would move it)
  t.ok(mv.total <= 5, `mv of a small file: ${describeRequests(mv)} (at most 5)`)
  t.equal(await sha256sum(join(m.dir, 'renamed.bin')), await sha256sum(join(work, 'four-k')))
  await count('rm of a file', `rm ${p('renamed.bin')}`)
  await count('mkdir', `mkdir ${p('newdir')}`)
  await count('rmdir', `rmdir ${p('newdir')}`)
  await count('touch of a new file', `touch ${p('t.txt')}`)
  await count('echo >> of a small file', `echo more >> ${p('t.txt')}`)
  await count('touch of an existing file', `touch ${p('f0001')}`)
  await count('chmod of one file', `chmod 600 ${p('f0002')}`)
  const stat = await count('stat of a listed file', `stat ${p('f0500')} > /dev/null`)
  t.equal(stat.total, 0, 'stat of a listed file costs nothing')
  const cat = await count('cat of a small file', `cat ${p('f0600')} > /dev/null`)
  t.same(cat.byType, { GetObject: 1 }, 'cat of a small file: one GET')

  const chosen = Array.from({ length: 10 }, (_, i) => `f${String(i * 97 + 5).padStart(4, '0')}`)
  const ch = await count('chmod +x of 10 files', `cd ${q(m.dir)} && chmod +x ${chosen.join(' ')}`)
  // objects another client wrote: a HEAD each keeps their own metadata, a copy each stores the mode
  // (the index may be written twice: once as the modes change, again as the copies land)
  t.ok(ch.byType.CopyObject === 10 && (ch.byType.HeadObject ?? 0) <= 10 && (ch.byType.PutObject ?? 0) <= 2 && ch.total <= 22,
    `chmod +x of 10 files: ${describeRequests(ch)} (at most a HEAD and a copy each, and two index writes)`)
  await shOk(`rm ${p('t.txt')}`)
  await m.remount()
  const before = await m.stats()
  const ls = await m.measure(`ls -ln --quoting-style=literal ${q(m.dir)}`)
  t.equal(ls.out.code, 0)
  const exec = lines(ls.out.stdout).filter(l => /^-..x/.test(l)).map(l => l.split(/\s+/).at(-1))
  t.same(exec.sort(), chosen, 'after an unmount and a remount, ls -l shows exactly those 10 as executable')
  t.match(lines(ls.out.stdout).find(l => / f0002$/.test(l)), /^-rw------- /, 'and the chmod 600')
  t.equal(lines(ls.out.stdout).filter(l => /^-rw-r--r--/.test(l)).length, 989, 'and the other 989 as 644')
  // the kernel checks the directory's mode before each name (default_permissions): an ls -l
  // longer than the freshness bound (1 s) proves the directory once more, one listing
  t.ok(ls.requests.total <= 4, `ls -l of 1,000 files with 10 modes changed, fresh mount: ${describeRequests(ls.requests)} (at most 4)`)
  t.notOk(ls.requests.byType.HeadObject, 'no HeadObject')
  report.push(`ls -l of 1,000 files, 10 chmodded, after remount: ${describeRequests(ls.requests)}; with the bucket check ${describeRequests({ total: before.requests.total + ls.requests.total, byType: {} })}`)
  t.comment(report.join('\n'))
})

t.test('a server that goes away during close: cp fails, no broken object', async t => {
  const proxy = await tcpProxy(s3.endpoint, t)
  const m = await mountBucket(t, { s3, options: [`endpoint=${proxy.url}`, 'retries=2'] })
  const work = tmpDir(t)
  const small = randomBytes(4096)
  const large = randomBytes(20 * 1024 * 1024 + 5)
  writeFileSync(join(work, 'small'), small)
  writeFileSync(join(work, 'large'), large)
  await shOk(`echo ok > ${q(join(m.dir, 'before.txt'))} && ls -l ${q(m.dir)}`) // listed: creating needs no request

  proxy.cut()
  const cp = await sh(`cp ${q(join(work, 'small'))} ${q(join(m.dir, 'small.bin'))}`, { timeoutMs: 60_000 })
  t.not(cp.code, 0, 'cp of a small file exits non-zero when the upload at close fails')
  t.match(cp.stderr, /Input\/output error|Connection|Transport endpoint|failed to close/i, `cp says why: ${cp.stderr.trim()}`)
  const big = await sh(`cp ${q(join(work, 'large'))} ${q(join(m.dir, 'large.bin'))}`, { timeoutMs: 120_000 })
  t.not(big.code, 0, 'cp of a 20 MiB file (multipart) exits non-zero')
  const dd = await sh(`dd if=${q(join(work, 'small'))} of=${q(join(m.dir, 'dd.bin'))} conv=fsync status=none`, { timeoutMs: 60_000 })
  t.not(dd.code, 0, 'dd conv=fsync exits non-zero')

  proxy.restore()
  // whatever the mount retries later, a key holds the whole file or nothing
  for (const [key, data] of [['small.bin', small], ['large.bin', large], ['dd.bin', small]] as const) {
    const got = await objectBytes(m.client, m.bucket, key)
    t.ok(got === undefined || sha(got) === sha(data), `${key}: not in the bucket, or complete`)
  }
  await shOk(`echo after > ${q(join(m.dir, 'after.txt'))}`)
  t.equal((await objectBytes(m.client, m.bucket, 'after.txt'))?.toString(), 'after\n', 'once the server is back, writes work again')
})

t.test('-o ro: every write fails with "Read-only file system"', async t => {
  const bucket = await newBucket(s3, t, 'write-ro')
  await seed(client, bucket, [['seed.txt', Buffer.from('seeded\n')], ['dir/inner.txt', Buffer.from('inner\n')]])
  const m0 = await mountBucket(t, { s3, bucket, options: ['ro'], foreground: true })
  const p = (rel: string): string => q(join(m0.dir, rel))
  t.equal(await shOk(`cat ${p('seed.txt')}`), 'seeded\n', 'reads work')
  for (const cmd of [
    `touch ${p('new.txt')}`, `echo x > ${p('new.txt')}`, `echo x >> ${p('seed.txt')}`, `mkdir ${p('d')}`,
    `rm ${p('seed.txt')}`, `rm -r ${p('dir')}`, `mv ${p('seed.txt')} ${p('moved.txt')}`, `chmod 755 ${p('seed.txt')}`,
    `ln -s seed.txt ${p('link')}`, `truncate -s 0 ${p('seed.txt')}`, `touch ${p('seed.txt')}`, `cp /etc/hostname ${p('dir/')}`,
    `setfattr -n user.x -v 1 ${p('seed.txt')}`,
  ]) {
    const r = await sh(cmd)
    t.ok(r.code !== 0 && /Read-only file system/.test(r.stderr), `${cmd.replace(m0.dir, 'MNT')}: ${r.stderr.trim() || `exit ${r.code}`}`)
  }
  t.same((await keysUnder(m0.client, m0.bucket, '')).sort(), ['dir/inner.txt', 'seed.txt'], 'the bucket is untouched')
})

t.test('-o ro sends no write request of any kind: ls -l, stat, getfattr, cat over a stale attribute index', async t => {
  const bucket = await newBucket(s3, t, 'read-only-requests')
  // a read-write mount leaves an index (chmod), then another tool rewrites the files behind it
  const rw = await mountBucket(t, { s3, bucket })
  await shOk(`mkdir ${q(join(rw.dir, 'd'))} && for i in 1 2 3; do echo $i > ${q(join(rw.dir, 'd'))}/f$i; done && chmod 700 ${q(join(rw.dir, 'd'))}/f*`)
  await rw.unmount()
  await sh('sleep 1.1')
  await seed(client, bucket, [['d/f1', Buffer.from('rewritten\n')], ['d/f2', Buffer.from('rewritten\n')], ['d/new', Buffer.from('new\n')]])
  const { m, proxy } = await faultMount(t, { s3, bucket, options: ['ro'] })
  const d = q(join(m.dir, 'd'))
  await shOk(`ls -l ${d} && stat ${d}/f1 ${d}/f3 ${d}/new >/dev/null && getfattr -d ${d}/f1 ${d}/f3; cat ${d}/f1 ${d}/f2 ${d}/f3 ${d}/new >/dev/null`)
  await sh('sleep 3') // past the attribute index's write delay
  await m.unmount()
  const methods = proxy.stats().byMethod
  t.comment(`requests through the proxy: ${JSON.stringify(methods)}`)
  t.same(Object.keys(methods).filter(k => k !== 'GET' && k !== 'HEAD'), [], 'GET and HEAD only: no PUT, POST or DELETE')
})

t.test('rm while the server is away: the deletes are kept, unmount refuses naming them, and they land once the server is back', async t => {
  const bucket = await newBucket(s3, t, 'delete-outage')
  const names = ['doomed1.txt', 'doomed2.txt', 'doomed3.txt']
  await seed(client, bucket, names.map(n => [n, Buffer.from('x\n')] as [string, Buffer]))
  const { m, proxy } = await faultMount(t, { s3, bucket, options: ['retries=2'] })
  await shOk(`cat ${names.map(n => q(join(m.dir, n))).join(' ')} >/dev/null`)
  proxy.set({ down: 'refuse' })
  await shOk(`rm ${names.map(n => q(join(m.dir, n))).join(' ')}`)
  await sh('sleep 3') // the batch goes, and fails
  const refused = await m.unmount().then(() => '', (err: Error) => err.message)
  t.match(refused, /not unmounted: .*3 delete\(s\) did not reach the server: doomed/, 'oortfs unmount refuses, naming the keys')
  t.same((await keysUnder(client, bucket, '')).sort(), names, 'the server still has them')
  proxy.set({ down: false })
  const background = (await m.stats()).app.background as { deleteFailures: number, deletesNotDone: number }
  t.ok(background.deleteFailures > 0 && background.deletesNotDone === 3, `oortfs stats counts them: ${JSON.stringify(background)}`)
  await m.unmount()
  // what is left is the mount root's own attributes: the rm moved its times
  t.same(await keysUnder(client, bucket, ''), ['..oortfs-attrs'], 'the server back: the deletes landed before the unmount')
  t.equal(proxy.stats().byMethod.DELETE ?? 0, 0, 'tried again as a batch (DeleteObjects), never one DeleteObject per key')
})
