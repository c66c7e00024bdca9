// oortfs and s3fs-fuse read each other's buckets, metadata included: what one
// writes (content, mode, owner, mtime, symlinks, xattrs of any name, POSIX
// ACLs, directories), the other shows the same, and both write
// x-amz-meta-xattr in the same bytes. s3fs is Debian's (scripts/setup.sh
// installs it).
import t from 'tap'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { mountBucket, q, sh, shOk } from '../helpers/mount.js'
import { s3fsMount } from '../helpers/s3fs-mount.js'

const s3 = await withS3(t)

/** "name mode uid gid mtime type" of each path, one line each (a directory's size differs: s3fs says 0) */
const statLines = (dir: string, names: string[]): Promise<string> =>
  shOk(`cd ${q(dir)} && stat -c '%n %a %u %g %Y %F' ${names.map(q).join(' ')}`)

t.test('s3fs reads what oortfs wrote: bytes, mode, owner, mtime, symlink, xattr, directories', async t => {
  const m = await mountBucket(t, { s3 })
  const big = join(tmpDir(t), 'big.bin')
  await shOk(`head -c 12582912 /dev/urandom > ${q(big)}`) // 12 MiB: a multipart upload
  await shOk([
    `cd ${q(m.dir)}`,
    'printf hello > a.txt', 'chmod 640 a.txt', 'chown 1234:5678 a.txt', "touch -d '2001-02-03 04:05:06 UTC' a.txt",
    'setfattr -n user.color -v blue a.txt',
    'mkdir -p sub/deep', 'chmod 750 sub', 'printf x > sub/deep/f', 'ln -s a.txt link',
    `cp ${q(big)} big.bin`,
  ].join(' && '))
  const names = ['a.txt', 'sub', 'sub/deep/f', 'big.bin']
  const want = await statLines(m.dir, names)
  await m.unmount()

  const s = await s3fsMount(t, s3, m.bucket)
  t.equal(await statLines(s.dir, names), want, `s3fs shows what oortfs showed:\n${want}`)
  t.match(want, /^a\.txt 640 1234 5678 981173106 regular file$/m, 'and that is what was set')
  t.equal(await shOk(`readlink ${q(join(s.dir, 'link'))}`), 'a.txt\n', 'the symlink')
  t.equal(await shOk(`cat ${q(join(s.dir, 'a.txt'))}`), 'hello')
  t.equal((await shOk(`getfattr --only-values -n user.color ${q(join(s.dir, 'a.txt'))}`)), 'blue', 'the xattr')
  t.equal((await sh(`cmp ${q(big)} ${q(join(s.dir, 'big.bin'))}`)).code, 0, 'the multipart file, byte for byte')
  await s.unmount()
})

t.test('s3fs reads the ACLs and any-name attributes oortfs wrote, and writes the same x-amz-meta-xattr bytes for them', async t => {
  const m = await mountBucket(t, { s3 })
  const attrs = 'setfacl -m u:nobody:rwx,g:nogroup:r-x f && setfattr -n key1 -v v1 f && setfattr -n user.bin -v 0s+/8= f'
  await shOk(`cd ${q(m.dir)} && echo hi > f && ${attrs} && mkdir d && setfacl -d -m u:nobody:rx,o::- d`)
  const show = (dir: string): Promise<string> =>
    shOk(`cd ${q(dir)} && getfacl -p f d && getfattr -d -m - f && stat -c '%n %A' f d`)
  const want = await show(m.dir)
  t.match(want, /user:nobody:rwx\n.*\n.*group:nogroup:r-x\n/, 'oortfs shows the ACL')
  t.match(want, /default:user:nobody:r-x/, 'and the default ACL')
  t.match(want, /^key1="v1"$/m, 'and key1')
  await m.unmount()

  const s = await s3fsMount(t, s3, m.bucket)
  t.equal(await show(s.dir), want, `s3fs shows the same ACLs, attributes and modes:\n${want}`)
  // the same attributes set through s3fs, on a file of the same mode
  await shOk(`cd ${q(s.dir)} && echo hi > f && echo hi > g && ${attrs.replaceAll(' f', ' g')}`)
  await s.unmount()
  const header = async (key: string): Promise<string | undefined> =>
    (await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: key }))).Metadata?.xattr
  const ours = await header('f')
  t.ok(ours?.includes('%22key1%22') && ours.includes('/8%3D'), `ours: ${ours}`)
  t.equal(await header('g'), ours, 'x-amz-meta-xattr byte for byte as s3fs writes it')
})

// s3fs keeps attributes only on the objects, which listings do not show:
// -o meta=head reads them (a HEAD per file and directory), as s3fs does
t.test('oortfs -o meta=head reads what s3fs wrote: by a listing, and by name', async t => {
  const holder = await mountBucket(t, { s3 }) // a fresh bucket, handed to s3fs
  await holder.unmount()
  const s = await s3fsMount(t, s3, holder.bucket)
  await shOk([
    `cd ${q(s.dir)}`,
    'printf hello > a.txt', 'chmod 600 a.txt', 'chown 42:43 a.txt', "touch -d '2002-03-04 05:06:07 UTC' a.txt",
    'setfattr -n user.tag -v s3fs a.txt', 'setfattr -n key1 -v any a.txt', 'setfacl -m u:nobody:rwx a.txt',
    'mkdir d', 'chmod 700 d', 'printf y > d/g', 'ln -s d/g link',
  ].join(' && '))
  const names = ['a.txt', 'd', 'd/g']
  const want = await statLines(s.dir, names)
  const acl = await shOk(`cd ${q(s.dir)} && getfacl -p a.txt`)
  t.match(acl, /user:nobody:rwx/, 's3fs shows the ACL it stored')
  await s.unmount()
  t.match(want, /^a\.txt 600 42 43 1015218367 regular file$/m, 's3fs kept what was set')

  for (const listFirst of [true, false]) {
    const m = await mountBucket(t, { s3, bucket: holder.bucket, options: ['meta=head'] })
    const how = listFirst ? 'after ls -l' : 'by name, never listed'
    if (listFirst) await shOk(`ls -l ${q(m.dir)} ${q(join(m.dir, 'd'))} > /dev/null`)
    t.equal(await statLines(m.dir, names), want, `${how}: oortfs shows what s3fs showed`)
    t.equal(await shOk(`readlink ${q(join(m.dir, 'link'))}`), 'd/g\n', `${how}: the symlink`)
    t.equal(await shOk(`getfattr --only-values -n user.tag ${q(join(m.dir, 'a.txt'))}`), 's3fs', `${how}: the xattr`)
    t.equal(await shOk(`getfattr --only-values -n key1 ${q(join(m.dir, 'a.txt'))}`), 'any', `${how}: key1`)
    t.equal(await shOk(`cd ${q(m.dir)} && getfacl -p a.txt`), acl, `${how}: the ACL`)
    t.equal(await shOk(`cat ${q(join(m.dir, 'a.txt'))}`), 'hello')
    await m.unmount()
  }
})
