// getxattr without requests where it is asked of every file: `ls -l` asks for
// system.posix_acl_access and security.selinux, the kernel for
// security.capability before writes. Answered from what the mount knows (an
// open file, our own writes, a HEAD, and the attribute index, which records
// each file's extended attributes); with nothing known, a name outside user.
// and trusted. is absent at no cost, and a user. one costs the one HEAD it
// always did (an earlier oortfs stored those without an index record).
import t from 'tap'
import { makeFs, steppedFs, writeFile } from '../helpers/make-fs.js'
import type { FakeStore } from '../helpers/fake-store.js'
import { OortFs } from '../../src/fs/filesystem.js'
import { ACL_ACCESS, ACL_DEFAULT, encodeAcl, USER_OBJ, USER, GROUP_OBJ, MASK, OTHER } from '../../src/fs/posix-acl.js'

const U = 0xffffffff
const NOBODY_RWX = encodeAcl([
  { tag: USER_OBJ, perm: 6, id: U }, { tag: USER, perm: 7, id: 65534 }, { tag: GROUP_OBJ, perm: 4, id: U },
  { tag: MASK, perm: 4, id: U }, { tag: OTHER, perm: 4, id: U },
])
/** the calls `ls -l` makes of each name, and what it learns: mode and ACL */
async function lsL (fs: OortFs, dir: string): Promise<Map<string, { mode: number, acl: boolean }>> {
  const out = new Map<string, { mode: number, acl: boolean }>()
  for (const name of await fs.readdir(dir)) {
    const path = `${dir}/${name}`
    const { mode } = await fs.getattr(path)
    await fs.getxattr(path, 'security.selinux')
    let acl = !!await fs.getxattr(path, ACL_ACCESS)
    if (!acl && (mode & 0o170000) === 0o040000) acl = !!await fs.getxattr(path, ACL_DEFAULT)
    out.set(name, { mode, acl })
  }
  return out
}
const remount = (fs: OortFs, store: FakeStore): OortFs => new OortFs(store, { ...fs.opts })

t.test('ls -l of 200 files, 3 with an ACL (mode unchanged: the mask is the group bits) and 2 with a user. attribute: after a remount, no HEAD, and + where it belongs', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 200; i++) store.putText(`d/f${String(i).padStart(3, '0')}`, 'x')
  await fs.readdir('/d')
  for (const i of [5, 50, 150]) await fs.setxattr(`/d/f${String(i).padStart(3, '0')}`, ACL_ACCESS, NOBODY_RWX, 0)
  for (const i of [7, 70]) await fs.setxattr(`/d/f${String(i).padStart(3, '0')}`, 'user.tag', Buffer.from('t'), 0)
  await fs.mkdir('/d/sub', 0o755)
  await fs.flushAll()
  const again = remount(fs, store)
  store.resetCounts()
  const ls = await lsL(again, '/d')
  t.equal(ls.size, 201)
  t.same([...ls].filter(([, v]) => v.acl).map(([n]) => n), ['f005', 'f050', 'f150'], 'ls -l shows + on the three')
  t.equal(ls.get('f005')?.mode, 0o100644)
  t.equal(store.requests.HeadObject ?? 0, 0, `no HEAD: ${JSON.stringify(store.requests)}`)
  t.ok(Object.keys(store.requests).every(op => op === 'ListObjectsV2' || op === 'GetObject') && (store.requests.GetObject ?? 0) <= 2,
    `listings and the indexes of d and of the root (d's own times) only: ${JSON.stringify(store.requests)}`)
  store.resetCounts()
  t.equal((await again.getxattr('/d/f070', 'user.tag'))?.toString(), 't', 'getfattr of a user. attribute: from the index')
  t.same(await again.listxattr('/d/f150'), [ACL_ACCESS], 'listxattr too')
  t.equal(store.totalRequests(), 0, 'no request for these')
  // /d was there before its first index: a file without a record may hold a user. attribute an
  // earlier oortfs kept without one, so it is asked (review3-xattr-claim.ts)
  t.equal(await again.getxattr('/d/f071', 'user.tag'), undefined, 'a file with no record has none')
  t.same(await again.listxattr('/d/f151'), [])
  t.equal(store.requests.HeadObject, 2, 'each read by its own HEAD')
})

t.test('in a directory made by this mount, a file without a record has no extended attributes: no request', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/n', 0o755)
  for (const name of ['a', 'b', 'c']) await writeFile(fs, `/n/${name}`, Buffer.from(name))
  await fs.setxattr('/n/a', 'user.tag', Buffer.from('t'), 0)
  await fs.flushAll()
  t.equal(JSON.parse(store.object('n.oortfs-attrs')!.body.toString()).x, 1, 'its index says it records them all')
  const again = remount(fs, store)
  await again.readdir('/n')
  store.resetCounts()
  t.equal((await again.getxattr('/n/a', 'user.tag'))?.toString(), 't')
  t.equal(await again.getxattr('/n/b', 'user.tag'), undefined)
  t.same(await again.listxattr('/n/c'), [])
  t.equal(store.totalRequests(), 0, 'no request for any of these')
})

t.test('a directory of files at the defaults keeps no index: ls -l asks nothing, getfattr of a user. name pays the HEAD it always did', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 50; i++) store.putText(`plain/f${i}`, 'x')
  const again = remount(fs, store)
  await lsL(again, '/plain')
  t.equal(store.requests.HeadObject ?? 0, 0, `ls -l: no HEAD (${JSON.stringify(store.requests)})`)
  store.resetCounts()
  for (const name of [ACL_ACCESS, 'security.capability', 'security.selinux', 'key1']) await again.getxattr('/plain/f1', name)
  t.equal(store.totalRequests(), 0, 'names no earlier oortfs stored: absent, free')
  await again.getxattr('/plain/f1', 'user.x')
  t.equal(store.requests.HeadObject, 1, 'user.x: one HEAD')
  await again.getxattr('/plain/f1', 'user.y')
  t.equal(store.requests.HeadObject, 1, 'then known')
  await again.listxattr('/plain/f2')
  t.equal(store.requests.HeadObject, 2, 'listxattr of such a file: one HEAD too (cp -a and rsync -X ask it of each)')
})

t.test('an earlier oortfs\'s index (no "x" flag): user. attributes of files without a record are read by HEAD; ACL names stay free', async t => {
  const { fs, store } = makeFs()
  store.putText('old/plain', 'x', { xattr: encodeURIComponent(JSON.stringify({ 'user.note': Buffer.from('kept').toString('base64') })) })
  store.putText('old/exec', 'x', { mode: String(0o100755) })
  const rec = (key: string) => { const o = store.object(key)!; return { e: o.etag, s: o.body.length, t: o.lastModified.getTime(), m: 0o100755 } }
  await new Promise(resolve => setTimeout(resolve, 1100)) // the index is newer than the files
  store.putText('old.oortfs-attrs', JSON.stringify({ v: 1, r: { exec: rec('old/exec') } }))
  const again = remount(fs, store)
  await lsL(again, '/old')
  t.equal(store.requests.HeadObject ?? 0, 0, `ls -l: no HEAD (${JSON.stringify(store.requests)})`)
  store.resetCounts()
  t.equal((await again.getxattr('/old/plain', 'user.note'))?.toString(), 'kept', 'the attribute is found')
  t.equal(store.requests.HeadObject, 1, 'by one HEAD')
})

t.test('an earlier oortfs\'s index rewritten by this one (merged) still does not say files without a record have none', async t => {
  const { fs, store } = makeFs()
  store.putText('old/plain', 'x', { xattr: encodeURIComponent(JSON.stringify({ 'user.note': Buffer.from('kept').toString('base64') })) })
  store.putText('old/other', 'y')
  await new Promise(resolve => setTimeout(resolve, 1100))
  store.putText('old.oortfs-attrs', JSON.stringify({ v: 1, r: {} }))
  const rw = remount(fs, store)
  await rw.readdir('/old')
  await rw.chmod('/old/other', 0o600)
  await rw.flushAll()
  const index = JSON.parse(store.object('old.oortfs-attrs')!.body.toString())
  t.ok(index.r.other, 'the index was rewritten with our record')
  t.equal(index.x, undefined, 'and without the flag: it is not ours whole')
  const again = remount(fs, store)
  await again.readdir('/old')
  t.equal((await again.getxattr('/old/plain', 'user.note'))?.toString(), 'kept', 'the record-less file\'s attribute is still found')
})

t.test('open files answer security.capability from what they hold: no request before each write', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/log', Buffer.from('a'))
  const again = remount(fs, store)
  const fh = await again.open('/log', 1)
  store.resetCounts()
  for (let i = 0; i < 5; i++) {
    t.equal(await again.getxattr('/log', 'security.capability'), undefined)
    await again.write(fh, Buffer.from('b'), 1, 1 + i)
  }
  t.equal(store.totalRequests(), 0)
  await again.release(fh)
})

t.test('another mount\'s merge keeps each file\'s recorded attributes, and an index it rewrites without the flag is no longer trusted for absence', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/m', 0o755)
  await writeFile(fs, '/m/a', Buffer.from('a'))
  await writeFile(fs, '/m/b', Buffer.from('b'))
  await fs.setxattr('/m/a', 'user.k', Buffer.from('1'), 0)
  await fs.flushAll()
  const index = JSON.parse(store.object('m.oortfs-attrs')!.body.toString())
  t.equal(index.x, 1, 'our index says it records extended attributes')
  t.same(index.r.a.x, { 'user.k': 'MQ==' })
  // an earlier oortfs rewrites it: the records pass through, the flag is lost
  store.putText('m.oortfs-attrs', JSON.stringify({ v: 1, r: index.r }))
  const again = remount(fs, store)
  await again.readdir('/m')
  store.resetCounts()
  t.equal((await again.getxattr('/m/a', 'user.k'))?.toString(), '1', 'a record with attributes still answers')
  t.equal(store.totalRequests(), 0)
  await again.getxattr('/m/b', 'user.k')
  t.equal(store.requests.HeadObject, 1, 'a file without a record is no longer known to have none')
})

t.test('getxattr answers from the entry the kernel just looked up, fresh or not: an ls -l that outlasts the freshness bound lists no more for it', async t => {
  const { fs, store, step } = steppedFs(1000)
  for (let i = 0; i < 20; i++) store.putText(`big/f${i}`, 'x')
  await fs.readdir('/big')
  await fs.getattr('/big/f3')
  step(1500) // the listing is older than the bound now
  store.resetCounts()
  for (const name of [ACL_ACCESS, 'security.selinux', 'security.capability']) t.equal(await fs.getxattr('/big/f3', name), undefined)
  t.equal(store.totalRequests(), 0, `no listing again for them: ${JSON.stringify(store.requests)}`)
  t.same(await fs.listxattr('/big/f3'), [])
  t.same(store.requests, { HeadObject: 1 }, 'listxattr of a file nothing vouches for: its HEAD, and no listing either')
})
