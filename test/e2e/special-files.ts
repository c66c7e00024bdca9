// FIFOs, character and block devices and sockets through a real mount: made
// by mkfifo, mknod and a Python socket's bind, by tar x and by rsync -a, then
// moved, chmod-ed and removed. What stat shows is compared with the same
// commands on a local directory, again after a remount; s3fs reads them too.
import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { describeRequests, keysUnder, lines, mountBucket, q, sh, shOk } from '../helpers/mount.js'
import { s3fsMount } from '../helpers/s3fs-mount.js'

const s3 = await withS3(t)

/** one of each, as a chroot's /dev holds them; `big` has a major and minor past 8 bits */
const MAKE = [
  'mkfifo fifo', 'mknod null c 1 7', 'mknod sda1 b 8 1', 'mknod big b 259 300',
  `python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('app.sock')"`,
].join(' && ')

/** type, major and minor (hex, as stat prints them), mode, owner, and mtime unless told not to, of everything under dir */
async function statTree (dir: string, mtime = true): Promise<string[]> {
  const fmt = `%n|%F|%t|%T|%a|%u|%g${mtime ? '|%Y' : ''}`
  return lines(await shOk(`cd ${q(dir)} && find . -mindepth 1 -exec stat -c '${fmt}' {} + | LC_ALL=C sort`))
}

t.test('mkfifo, mknod c 1 7, mknod b 8 1 and a socket\'s bind: stat shows each, the bucket holds s3fs\'s format, a remount shows the same', async t => {
  // -d: the log shows every FUSE call, so it shows the kernel never asks us to open a FIFO
  const m = await mountBucket(t, { s3, debug: true })
  const local = tmpDir(t)
  const dev = join(m.dir, 'dev')
  mkdirSync(dev)
  await shOk(`cd ${q(local)} && ${MAKE}`)
  const made = await sh(`cd ${q(dev)} && ${MAKE}`)
  t.same([made.code, made.stderr], [0, ''], 'the same commands succeed on the mount')
  const want = await statTree(local, false)
  t.same(await statTree(dev, false), want, 'stat shows what it shows on a local directory')
  t.same(want, [
    './app.sock|socket|0|0|755|0|0',
    './big|block special file|103|12c|644|0|0',
    './fifo|fifo|0|0|644|0|0',
    './null|character special file|1|7|644|0|0',
    './sda1|block special file|8|1|644|0|0',
  ], 'and that is what was asked for')

  // the kernel serves the FIFO itself: bytes pass through it, no request, no open reaches oortfs
  // (the attribute index is written 2 s after the last change: let it go first)
  await m.settle(3000)
  const before = await m.mark()
  t.equal(await shOk(`cd ${q(dev)} && { printf through > fifo & } && timeout 10 cat fifo; wait`), 'through', 'a FIFO on the mount works')
  // (a lookup past attr_ttl lists the directory again: that is the only request allowed)
  const used = await m.requestsSince(before)
  t.ok(Object.keys(used.byType).every(k => k === 'ListObjectsV2'), `the bytes never go to the bucket: ${describeRequests(used)}`)
  t.match(m.log(), /mknod \/dev\/fifo mode=010644 dev=0/, 'the -d log shows the FUSE calls about the FIFO (its mknod)')
  t.notMatch(m.log(), /\b(open|read|write) \/dev\/fifo\b/, 'and the kernel never sent open, read or write of it')
  const nodev = await sh(`head -c 1 ${q(join(dev, 'null'))}`)
  t.match(nodev.stderr, /Permission denied/, 'a FUSE mount is nodev: the kernel refuses to open the device')

  const head = async (key: string): Promise<Record<string, string>> =>
    (await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: key }))).Metadata ?? {}
  const sda1 = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'dev/sda1' }))
  t.equal(sda1.ContentLength, 0, 'an empty object')
  t.equal(sda1.Metadata?.mode, String(0o60644), 'x-amz-meta-mode: S_IFBLK | 0644, decimal')
  t.equal(sda1.Metadata?.rdev, String(8 << 8 | 1), 'x-amz-meta-rdev: makedev(8, 1), decimal')
  t.equal((await head('dev/null')).rdev, '263')
  t.equal((await head('dev/fifo')).mode, String(0o10644), 'S_IFIFO | 0644')
  t.equal((await head('dev/fifo')).rdev, undefined, 'a FIFO has no device number')
  t.equal((await head('dev/app.sock')).mode, String(0o140755), 'S_IFSOCK | 0755')

  await m.remount()
  t.same(await statTree(dev, false), want, 'after a remount: the same (listing and attribute index)')
  await m.remount()
  t.same(lines(await shOk(`cd ${q(dev)} && stat -c '%n|%F|%t|%T' sda1 fifo`)), ['sda1|block special file|8|1', 'fifo|fifo|0|0'], 'by name, never listed')
})

t.test('a Unix socket bound on the mount serves connections while its server lives (the kernel finds it by inode)', async t => {
  const m = await mountBucket(t, { s3 })
  const server = `import socket, os
s = socket.socket(socket.AF_UNIX)
s.bind('live.sock'); s.listen(1)
print('ready', flush=True)
c, _ = s.accept(); c.sendall(b'hello over the mount'); c.close()`
  const client = `import socket
c = socket.socket(socket.AF_UNIX); c.connect('live.sock'); print(c.recv(100).decode())`
  const out = await shOk(`cd ${q(m.dir)} && { python3 -c ${q(server)} > ready.log & } && ` +
    'for i in $(seq 100); do grep -q ready ready.log 2>/dev/null && break; sleep 0.1; done && ' +
    `timeout 10 python3 -c ${q(client)}; wait`)
  t.equal(out.trim(), 'hello over the mount')
  t.equal((await shOk(`stat -c '%F' ${q(join(m.dir, 'live.sock'))}`)).trim(), 'socket')
})

t.test('-o dev: a device on the mount opens as the device itself (the kernel\'s driver, not the bucket)', async t => {
  const m = await mountBucket(t, { s3, options: ['dev'] })
  await shOk(`cd ${q(m.dir)} && mknod full c 1 7`)
  t.equal((await shOk(`head -c 4 ${q(join(m.dir, 'full'))} | od -An -tx1`)).trim(), '00 00 00 00', '/dev/full reads zeros')
  t.match((await sh(`printf x > ${q(join(m.dir, 'full'))}`)).stderr, /No space left on device/, 'and refuses writes')
  t.equal((await shOk(`stat -c '%s' ${q(join(m.dir, 'full'))}`)).trim(), '0', 'nothing reached the object')
})

t.test('tar c of special files on the mount, tar x into the mount: stat as a local tar x shows it', async t => {
  const m = await mountBucket(t, { s3 })
  const work = tmpDir(t)
  const src = join(m.dir, 'src')
  mkdirSync(src)
  await shOk(`cd ${q(src)} && ${MAKE} && printf data > file && chmod 600 sda1 && chmod 1777 fifo && chown 12:34 null && ` +
    'touch -h -d @1500000000 fifo null sda1 big app.sock file')
  const archive = join(work, 'dev.tar')
  const c = await sh(`tar cf ${q(archive)} -C ${q(src)} .`)
  t.equal(c.code, 0, 'tar c of the mount')
  t.match(c.stderr, /app\.sock: socket ignored/, 'tar leaves the socket out, as on a local disk')
  t.match(await shOk(`tar tvf ${q(archive)}`), /^crw-r--r-- 12\/\S+ +1,7 .* \.\/null$/m, 'the archive has the device and its numbers')

  const local = join(work, 'x')
  mkdirSync(local)
  await shOk(`tar xf ${q(archive)} -C ${q(local)}`)
  const into = join(m.dir, 'x')
  mkdirSync(into)
  const x = await sh(`tar xf ${q(archive)} -C ${q(into)}`)
  t.same([x.code, x.stderr], [0, ''], 'tar x into the mount')
  const want = await statTree(local)
  t.same(await statTree(into), want, 'type, numbers, mode, owner and mtime as on a local directory')
  t.ok(want.includes('./fifo|fifo|0|0|1777|0|0|1500000000'), 'the sticky FIFO')
  t.ok(want.includes('./sda1|block special file|8|1|600|0|0|1500000000'))
  await m.remount()
  t.same(await statTree(into), want, 'after a remount')
})

t.test('rsync -a of a local directory holding a FIFO and devices: the mount shows them as the source, and a second rsync finds nothing to do', async t => {
  const m = await mountBucket(t, { s3 })
  const local = tmpDir(t)
  const src = join(local, 'src')
  mkdirSync(join(src, 'sub'), { recursive: true })
  await shOk(`cd ${q(src)} && ${MAKE} && rm app.sock && mkfifo sub/pipe && mknod sub/tty c 4 1 && printf x > sub/f && ` +
    'chmod 620 sub/tty && chown 0:5 sub/tty && chmod 600 fifo && touch -h -d @1400000000 fifo null sda1 big sub/pipe sub/tty sub/f sub')
  const dst = join(m.dir, 'r')
  const r = await sh(`rsync -a ${q(src + '/')} ${q(dst + '/')}`)
  t.same([r.code, r.stderr], [0, ''], 'rsync -a into the mount')
  const want = await statTree(src)
  t.same(await statTree(dst), want, 'stat of the copy is stat of the source')
  const again = await shOk(`rsync -ai ${q(src + '/')} ${q(dst + '/')}`)
  t.equal(again, '', 'a second rsync -a sees every file as it is: nothing to send')
  await m.remount()
  t.same(await statTree(dst), want, 'after a remount')
  // -O: the top directory, looked up by its path before its parent is listed, shows its
  // marker's date, not its stored mtime (directories' times are not this test's subject)
  t.equal(await shOk(`rsync -aiO ${q(src + '/')} ${q(dst + '/')}`), '', 'and still nothing to send')
})

t.test('mv, chmod, chown, touch and rm of special files, as on a local directory, through a remount', async t => {
  const m = await mountBucket(t, { s3 })
  const local = tmpDir(t)
  const d = join(m.dir, 'd')
  mkdirSync(d)
  const change = 'mkdir sub && mv sda1 sub/disk && mv fifo pipe && chmod 640 pipe && chmod 600 sub/disk && chown 7:8 null && ' +
    'touch -h -d @1300000000 null sub/disk && mv app.sock sub/ && mv sub moved'
  await shOk(`cd ${q(local)} && ${MAKE} && ${change}`)
  const r = await sh(`cd ${q(d)} && ${MAKE} && ${change}`)
  t.same([r.code, r.stderr], [0, ''], 'the same commands on the mount')
  const want = await statTree(local, false)
  t.same(await statTree(d, false), want, 'stat as on the local directory')
  t.same(lines(await shOk(`cd ${q(d)} && stat -c '%n|%Y' null moved/disk`)), ['null|1300000000', 'moved/disk|1300000000'])
  t.ok(want.includes('./moved/disk|block special file|8|1|600|0|0'), 'moved twice (a file, then its directory), chmod-ed, still 8,1')
  await m.remount()
  t.same(await statTree(d, false), want, 'after a remount')
  const rm = await sh(`cd ${q(d)} && rm pipe null big moved/disk moved/app.sock && rmdir moved`)
  t.same([rm.code, rm.stderr], [0, ''], 'rm')
  t.same(await statTree(d, false), [], 'gone')
  await m.unmount()
  t.same(await keysUnder(m.client, m.bucket, 'd/'), ['d/'], 'only the directory\'s marker is left in the bucket')
})

t.test('s3fs shows what oortfs made as special files (its device numbers as 0,0); oortfs -o meta=head shows what s3fs made', async t => {
  const m = await mountBucket(t, { s3 })
  await shOk(`cd ${q(m.dir)} && mkfifo fifo && mknod null c 1 7 && mknod sda1 b 8 1`)
  await m.unmount()
  const s = await s3fsMount(t, s3, m.bucket)
  t.same(lines(await shOk(`cd ${q(s.dir)} && stat -c '%n|%F|%a' fifo null sda1`)),
    ['fifo|fifo|644', 'null|character special file|644', 'sda1|block special file|644'], 's3fs: the types and modes')
  // s3fs's chmod rewrites the object's headers from the ones it read: ours (rdev) among them
  await shOk(`cd ${q(s.dir)} && mkfifo theirs && chmod 600 theirs && chmod 640 sda1`)
  await s.unmount()
  const again = await mountBucket(t, { s3, bucket: m.bucket, options: ['meta=head'] })
  t.same(lines(await shOk(`cd ${q(again.dir)} && stat -c '%n|%F|%t|%T|%a' theirs sda1`)),
    ['theirs|fifo|0|0|600', 'sda1|block special file|8|1|640'], 'oortfs: s3fs\'s FIFO, and our device\'s number kept through s3fs\'s chmod')
})
