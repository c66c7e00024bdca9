// setxattr as Linux answers it: XATTR_CREATE and XATTR_REPLACE honoured, and
// S3's 2 KB of user metadata checked up front (ENOSPC, as ext4 when an inode
// is full), so an `rsync -X` of a long attribute never leaves a file whose
// every upload fails with MetadataTooLarge.
import t from 'tap'
import { makeFs, writeFile, errnoOf } from '../helpers/make-fs.js'

const XATTR_CREATE = 1
const XATTR_REPLACE = 2

t.test('XATTR_CREATE fails with EEXIST on an attribute there, XATTR_REPLACE with ENODATA on one missing', async t => {
  const { fs } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  t.equal(await errnoOf(fs.setxattr('/f', 'user.a', Buffer.from('1'), XATTR_REPLACE)), 'ENODATA')
  await fs.setxattr('/f', 'user.a', Buffer.from('1'), XATTR_CREATE)
  t.equal(await errnoOf(fs.setxattr('/f', 'user.a', Buffer.from('2'), XATTR_CREATE)), 'EEXIST')
  await fs.setxattr('/f', 'user.a', Buffer.from('3'), XATTR_REPLACE)
  t.equal((await fs.getxattr('/f', 'user.a'))?.toString(), '3')
})

t.test('an attribute over S3\'s metadata limit is refused with ENOSPC; the file saves, and others fit', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/closed', Buffer.from('x'))
  const url = Buffer.from('https://example.invalid/' + 'a'.repeat(1800))
  t.equal(await errnoOf(fs.setxattr('/closed', 'user.xdg.origin.url', url, 0)), 'ENOSPC', 'a closed file')
  const fh = await fs.create('/open', 0o644)
  await fs.write(fh, Buffer.from('data'), 4, 0)
  t.equal(await errnoOf(fs.setxattr('/open', 'user.xdg.origin.url', url, 0)), 'ENOSPC', 'a file being written')
  await fs.setxattr('/open', 'user.small', Buffer.from('ok'), 0)
  await fs.release(fh)
  await fs.flushAll()
  t.equal(store.object('open')?.body.toString(), 'data', 'the file is saved')
  t.equal((await fs.getxattr('/open', 'user.small'))?.toString(), 'ok')
  t.equal(await errnoOf(fs.setxattr('/closed', 'user.n'.padEnd(300, 'x'), Buffer.from('1'), 0)), 'ERANGE', 'a name over 255 bytes')
  t.equal(await errnoOf(fs.setxattr('/closed', 'user.big', Buffer.alloc(70_000), 0)), 'E2BIG', 'a value over 64 KiB')
})
