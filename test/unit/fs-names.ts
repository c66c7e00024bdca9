import t from 'tap'
import { makeFs, errnoOf } from '../helpers/make-fs.js'

t.test('ls -l of 2,500 files costs 3 listings and no HEAD; stat after it costs nothing', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 2500; i++) store.putText(`big/f${String(i).padStart(5, '0')}`, 'x'.repeat(i % 7))
  const names = await fs.readdir('/big') // the lookup of /big is the first request
  t.equal(names.length, 2500)
  t.equal(new Set(names).size, 2500, 'no duplicates')
  store.resetCounts()
  await fs.readdir('/big')
  for (const n of names) await fs.getattr('/big/' + n)
  t.equal(store.totalRequests(), 0, 'warm readdir and getattr are free')
  const a = await fs.getattr('/big/f00003')
  t.equal(a.size, 3)
  t.equal(a.mode, 0o100644)
  t.equal(a.uid, 1000)
  t.equal(await errnoOf(fs.getattr('/big/nothere')), 'ENOENT')
  t.equal(store.totalRequests(), 0, 'a missing name in a fresh listing is free')
})

t.test('readdir pages: exactly one listing per 1,000 names', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 2500; i++) store.putText(`d/f${i}`, '')
  await fs.getattr('/d')
  store.resetCounts()
  await fs.readdir('/d')
  t.equal(store.requests.ListObjectsV2, 3)
})

t.test('implicit directories, markers and odd names', async t => {
  const { fs, store } = makeFs()
  store.putText('top/', '') // marker
  store.putText('top/inner/', '') // marker only
  store.putText('top/deep/a/b/c.txt', 'deep') // implicit dirs deep/, a/, b/
  store.putText('top/sp ace', '1')
  store.putText('top/ünï', '2')
  store.putText('top/a+b', '3')
  store.putText('top/100%', '4')
  store.putText('top/#hash', '5')
  store.putText('top/bad//name', 'x') // empty segment: not a name
  const names = (await fs.readdir('/top')).sort()
  t.same(names, ['#hash', '100%', 'a+b', 'bad', 'deep', 'inner', 'sp ace', 'ünï'].sort())
  t.equal((await fs.getattr('/top/deep')).mode & 0o170000, 0o040000)
  t.same(await fs.readdir('/top/deep/a/b'), ['c.txt'])
  t.same(await fs.readdir('/top/inner'), [], 'a marker never shows up as an empty name')
  t.same(await fs.readdir('/top/bad'), [], 'a key with an empty segment is left out, not shown broken')
})

t.test('a key that is both a file and a prefix keeps both reachable', async t => {
  const { fs, store } = makeFs()
  store.putText('x/a', 'I am the file')
  store.putText('x/a/child', 'I am below')
  const names = (await fs.readdir('/x')).sort()
  t.same(names, ['a', 'a.oortfs-file'])
  t.equal((await fs.getattr('/x/a')).mode & 0o170000, 0o040000, 'the directory keeps the name')
  t.equal((await fs.getattr('/x/a.oortfs-file')).size, 13, 'the file takes the suffix')
  t.same(await fs.readdir('/x/a'), ['child'])
})

t.test('an unlisted name costs one listing that also answers its neighbours', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 50; i++) store.putText(`n/file${i}`, 'x')
  store.putText('n/sub/inside', 'y')
  const root = await fs.getattr('/n') // one request: the window at 'n'
  t.equal(root.mode & 0o170000, 0o040000)
  store.resetCounts()
  t.equal((await fs.getattr('/n/file7')).size, 1)
  t.equal(store.totalRequests(), 1, 'one listing for the first name')
  await fs.getattr('/n/file8')
  await fs.getattr('/n/file9')
  t.equal(await errnoOf(fs.getattr('/n/file99')), 'ENOENT')
  t.equal((await fs.getattr('/n/sub')).mode & 0o170000, 0o040000)
  t.equal(store.totalRequests(), 1, 'neighbours and misses answered from that listing')
  t.equal(store.requests.HeadObject ?? 0, 0, 'no HEAD')
})

t.test('lookup in a directory of 5,000 names costs at most two requests', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 5000; i++) store.putText(`w/k${String(i).padStart(5, '0')}`, '')
  await fs.getattr('/w')
  store.resetCounts()
  t.ok(await fs.getattr('/w/k04000'))
  t.equal(await errnoOf(fs.getattr('/w/k04000x')), 'ENOENT')
  t.ok(store.totalRequests() <= 2, `${store.totalRequests()} requests`)
})

t.test('meta=head reads s3fs metadata with one HEAD per listed file and directory', async t => {
  const { fs, store } = makeFs(undefined, { metaMode: 'head' })
  store.putText('m/script', '#!/bin/sh', { mode: String(0o100755), uid: '42', gid: '43', mtime: '1600000000' })
  store.putText('m/plain', 'x')
  store.putText('m/private/', '', { mode: String(0o40700), uid: '42' }) // s3fs's mkdir + chmod
  store.putText('m/private/f', 'y')
  await fs.readdir('/m')
  const a = await fs.getattr('/m/script')
  t.equal(a.mode, 0o100755)
  t.equal(a.uid, 42)
  t.equal(a.gid, 43)
  t.equal(a.mtime.getTime(), 1600000000 * 1000)
  const d = await fs.getattr('/m/private')
  t.same([d.mode, d.uid], [0o40700, 42], "a directory's attributes from its marker")
  t.equal(store.requests.HeadObject, 4, 'm/ (found by lookup, no marker), script, plain, private/')

  const fresh = makeFs(store, { metaMode: 'head' }).fs
  store.resetCounts()
  t.equal((await fresh.getattr('/m/script')).mode, 0o100755, 'a name never listed: its HEAD too')
})

t.test('prefix mounts see only their subtree', async t => {
  const { fs, store } = makeFs(undefined, { prefix: 'sub/dir/' })
  store.putText('sub/dir/one', '1')
  store.putText('sub/other', 'no')
  t.same(await fs.readdir('/'), ['one'])
})
