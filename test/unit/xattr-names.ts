// Extended attributes of any name, as s3fs accepts them (`setfattr -n key1`),
// stored in x-amz-meta-xattr byte for byte as s3fs 1.90 writes it (names in
// byte order, s3fs's URL encoding: `/` of base64 kept, upper-case %XX), and
// read back from s3fs's headers, from an earlier oortfs's and from names
// s3fs cannot parse. system.* names other than the two ACLs are the
// kernel's: ENOTSUP.
import t from 'tap'
import { makeFs, writeFile, errnoOf } from '../helpers/make-fs.js'
import { decodeXattrHeader, encodeXattrHeader } from '../../src/fs/xattr-header.js'

t.test('any name but system.*: key1, security.*, user.*, trusted.*; system.foo is ENOTSUP, an empty name ERANGE', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  for (const name of ['key1', 'security.selinux', 'user.a', 'trusted.b', 'btrfs.compression']) {
    await fs.setxattr('/f', name, Buffer.from(name.length.toString()), 0)
  }
  t.same((await fs.listxattr('/f')).sort(), ['btrfs.compression', 'key1', 'security.selinux', 'trusted.b', 'user.a'])
  t.equal((await fs.getxattr('/f', 'key1'))?.toString(), '4')
  t.equal(await errnoOf(fs.setxattr('/f', 'system.nfs4_acl', Buffer.from('1'), 0)), 'ENOTSUP', 'the kernel\'s own system.* names')
  t.equal(await fs.getxattr('/f', 'system.sockprotoname'), undefined, 'and they read as absent')
  t.equal(await errnoOf(fs.setxattr('/f', '', Buffer.from('1'), 0)), 'ERANGE')
  await fs.removexattr('/f', 'key1')
  t.equal(await fs.getxattr('/f', 'key1'), undefined)
  await fs.flushAll()
  t.same(Object.keys(decodeXattrHeader(store.object('f')?.metadata.xattr)!).sort(), ['btrfs.compression', 'security.selinux', 'trusted.b', 'user.a'], 'on the object')
})

t.test('the header is s3fs\'s bytes: sorted names, base64 values, s3fs\'s urlEncodePath (alphanumerics and .-_~/ kept)', async t => {
  // 0xfb 0xff -> base64 "+/8=": its `/` stays, `+` and `=` are %2B %3D
  const header = encodeXattrHeader({ 'user.z': Buffer.from([0xfb, 0xff]), key1: Buffer.from('v'), 'user.é': Buffer.from('') })
  t.equal(header, '%7B%22key1%22%3A%22dg%3D%3D%22%2C%22user.z%22%3A%22%2B/8%3D%22%2C%22user.%C3%A9%22%3A%22%22%7D')
  t.equal(encodeXattrHeader({}), '', 'none: no header')
  const back = decodeXattrHeader(header)!
  t.same(Object.keys(back), ['key1', 'user.z', 'user.é'])
  t.same(back['user.z'], Buffer.from([0xfb, 0xff]))
})

t.test('headers read back: s3fs\'s, an earlier oortfs\'s (encodeURIComponent), s3fs\'s empty one, and names s3fs cannot parse', async t => {
  t.same(decodeXattrHeader('%7B%22user.tag%22%3A%22czNmcw%3D%3D%22%7D'), { 'user.tag': Buffer.from('s3fs') }, 's3fs')
  t.same(decodeXattrHeader(encodeURIComponent(JSON.stringify({ 'user.color': Buffer.from('blue').toString('base64') }))), { 'user.color': Buffer.from('blue') }, 'an earlier oortfs')
  t.same(decodeXattrHeader('%7B%7D'), {}, 's3fs after its last removexattr')
  t.equal(decodeXattrHeader('not json'), undefined)
  // s3fs writes names raw: a backslash is not JSON, its own parse reads it
  t.same(decodeXattrHeader('%7B%22user.a%5Cq%22%3A%22MQ%3D%3D%22%2C%22user.b%22%3A%22Mg%3D%3D%22%7D'), { 'user.a\\q': Buffer.from('1'), 'user.b': Buffer.from('2') }, 's3fs\'s raw backslash')
  const odd = { 'user.a"b': Buffer.from('1'), 'user.c,d:e': Buffer.from('2'), 'user.f\\g': Buffer.from('3') }
  t.same(decodeXattrHeader(encodeXattrHeader(odd)), odd, 'quotes, commas, colons, backslashes: round-trip here')
})

t.test('any name on a directory and on the mount root, after a remount too', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/d', 0o755)
  await fs.setxattr('/d', 'key1', Buffer.from('dir'), 0)
  await fs.setxattr('/', 'key2', Buffer.from('root'), 0)
  await fs.flushAll()
  const again = makeFs(store).fs
  await again.readdir('/')
  t.equal((await again.getxattr('/d', 'key1'))?.toString(), 'dir')
  t.equal((await again.getxattr('/', 'key2'))?.toString(), 'root')
})
