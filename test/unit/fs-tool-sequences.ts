// FUSE call sequences that ordinary tools make (seen in the debug log of a
// real mount, test/e2e/*-tools.ts), replayed on the fake store.
import t from 'tap'
import { makeFs } from '../helpers/make-fs.js'
import { toFuseErrno } from '../../src/fuse/adapter.js'
import { OortFs } from '../../src/fs/filesystem.js'

t.test('touch of a new file: create, flush (dup2 closes a copy), utimens while open, release: no HEAD', async t => {
  const { fs, store } = makeFs()
  await fs.readdir('/')
  store.resetCounts()
  const heads: string[] = []
  store.onRequest = (op, key) => { if (op === 'HeadObject') heads.push(key) }
  // GNU touch opens the file onto stdin (fd_reopen): the close of the first fd flushes
  const fh = await fs.create('/new.txt', 0o644)
  await fs.flush(fh)
  await fs.utimens('/new.txt', Date.now(), Date.now())
  await fs.flush(fh)
  await fs.release(fh)
  await fs.flushAll()
  t.same(heads.filter(k => k === 'new.txt'), [], `what we just uploaded needs no HEAD (${JSON.stringify(store.requests)})`)
  t.equal(store.object('new.txt')?.metadata.mode, String(0o100644))
  // the root's times, moved by the new name: read once per mount, then written
  t.same(store.requests, { PutObject: 2, HeadObject: 1 }, 'one upload, and the root\'s times')
  t.ok(store.object('new.txt'), 'the file exists')
})

t.test('cp -p: setxattr of the ACL the mode says (u::rw-,g::r--,o::---) is its chmod; a kernel system.* name answers EOPNOTSUPP, not EIO', async t => {
  const { fs } = makeFs()
  const fh = await fs.create('/p.txt', 0o600)
  // what cp -p sends for a 0640 source without an ACL (strace: 28 bytes, three entries)
  const acl = Buffer.from('AgAAAAEABgD/////BAAEAP////8gAAAA/////w==', 'base64')
  await fs.setxattr('/p.txt', 'system.posix_acl_access', acl, 0)
  t.equal((await fs.getattr('/p.txt')).mode & 0o7777, 0o640, 'the mode is the ACL\'s')
  t.same(await fs.listxattr('/p.txt'), [], 'and no attribute is kept')
  let err: unknown
  try { await fs.setxattr('/p.txt', 'system.nfs4_acl', Buffer.alloc(28), 0) } catch (e) { err = e }
  t.equal((err as { errno?: string })?.errno, 'ENOTSUP')
  t.equal(toFuseErrno(err), -95, 'EOPNOTSUPP (ENOTSUP on Linux), not EIO')
  await fs.release(fh)
  t.equal((await fs.getattr('/p.txt')).mode & 0o7777, 0o640)
})

t.test('chmod, stat of a sibling, chmod again (in a directory listed before the index existed): no re-GET, no record lost', async t => {
  const { fs, store } = makeFs()
  for (const n of ['a', 'b', 'c']) store.putText(n, n)
  await fs.readdir('/') // the listing shows no index
  await fs.chmod('/a', 0o755)
  await fs.flushAll() // the index now exists, written by us
  store.resetCounts()
  t.equal((await fs.getattr('/b')).mode, 0o100644, 'stat of a sibling')
  t.same(store.requests, {}, 'stat of a listed file after our own index write costs nothing')
  await fs.chmod('/c', 0o700)
  await fs.flushAll()
  const again = new OortFs(store, { ...fs.opts })
  await again.readdir('/')
  t.same([(await again.getattr('/a')).mode, (await again.getattr('/b')).mode, (await again.getattr('/c')).mode],
    [0o100755, 0o100644, 0o100700], 'after a remount both modes are still there')
})
