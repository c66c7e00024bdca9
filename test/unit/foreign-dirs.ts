// Directories other tools wrote their own way (src/fs/dir-objects.ts):
// `dir_$folder$`, a slashless zero-byte `dir` with a directory Content-Type or
// an S_IFDIR mode, and `dir/` markers with foreign headers.
import t from 'tap'
import { errnoOf, makeFs, writeFile } from '../helpers/make-fs.js'
import type { FakeStore } from '../helpers/fake-store.js'

const S_IFMT = 0o170000
const S_IFDIR = 0o040000

/** what another client's PutObject of an empty object leaves (not counted) */
async function putEmpty (store: FakeStore, key: string, contentType?: string, metadata: Record<string, string> = {}): Promise<void> {
  await store.put(key, Buffer.alloc(0), { contentType, metadata })
  store.resetCounts()
}

const isDir = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR

t.test('_$folder$: a directory of its own name, with or without children; with a dir/ prefix, one directory', async t => {
  const { fs, store } = makeFs()
  store.putText('top/old_$folder$', '')
  store.putText('top/both_$folder$', '')
  store.putText('top/both/a', 'a')
  store.putText('top/kids/b', 'b')
  t.same((await fs.readdir('/top')).sort(), ['both', 'kids', 'old'], 'no name ending in _$folder$, each directory once')
  t.ok(isDir((await fs.getattr('/top/old')).mode), 'old is a directory')
  t.ok(isDir((await fs.getattr('/top/both')).mode), 'both is a directory')
  t.same(await fs.readdir('/top/old'), [], 'an empty directory')
  t.same(await fs.readdir('/top/both'), ['a'])
  t.equal(store.requests.HeadObject ?? 0, 0, 'seen from the listing alone')
  t.equal(await errnoOf(fs.getattr('/top/old_$folder$')), 'ENOENT')
})

t.test('_$folder$ found by a lookup, even past 1,200 siblings that sort between the name and its folder object', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 1200; i++) store.putText(`w/d${String(i).padStart(4, '0')}`, 'x')
  store.putText('w/d_$folder$', '')
  t.ok(isDir((await fs.getattr('/w/d')).mode), 'a window that stops before d_$folder$ does not answer "no such name"')
  const fresh = makeFs(store).fs
  store.putText('v/solo_$folder$', '')
  t.ok(isDir((await fresh.getattr('/v/solo')).mode), 'a lookup with nothing listed')
})

t.test('rmdir of a _$folder$ directory deletes its folder object (and the marker, if any)', async t => {
  const { fs, store } = makeFs()
  store.putText('top/old_$folder$', '')
  store.putText('top/both_$folder$', '')
  store.putText('top/both/', '')
  store.putText('top/both/a', 'a')
  await fs.readdir('/top')
  await fs.rmdir('/top/old')
  t.notOk(store.object('top/old_$folder$'), 'folder object deleted')
  await fs.unlink('/top/both/a')
  await fs.rmdir('/top/both')
  t.same(store.keys(), [], 'nothing left behind')
  t.same(await fs.readdir('/top').catch(() => []), [])
  // a fresh mount does not see them again
  t.equal(await errnoOf(makeFs(store).fs.getattr('/top/old')), 'ENOENT')
})

t.test('rename of a _$folder$ directory moves its folder object to the new name', async t => {
  const { fs, store } = makeFs()
  store.putText('top/old_$folder$', '', { color: 'blue' })
  store.putText('top/full_$folder$', '')
  store.putText('top/full/a', 'a')
  await fs.rename('/top/old', '/top/new')
  await fs.rename('/top/full', '/top/moved')
  t.same(store.keys(), ['top/moved/a', 'top/moved_$folder$', 'top/new_$folder$'], 'no folder object left at the old names')
  t.equal(store.object('top/new_$folder$')!.metadata.color, 'blue', 'the copy keeps its headers')
  t.same((await fs.readdir('/top')).sort(), ['moved', 'new'])
  t.same((await makeFs(store).fs.readdir('/top')).sort(), ['moved', 'new'], 'as a fresh mount sees it')
})

t.test('chmod of a _$folder$ directory: its folder object is rewritten in place, foreign headers kept', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'top/old_$folder$', 'binary/octet-stream', { color: 'blue' })
  await fs.chmod('/top/old', 0o700)
  const o = store.object('top/old_$folder$')!
  t.equal(o.metadata.color, 'blue', 'foreign header kept')
  t.equal(o.contentType, 'binary/octet-stream', 'Content-Type kept')
  t.equal(Number(o.metadata.mode), S_IFDIR | 0o700, 'mode stored on it')
  t.notOk(store.object('top/old/'), 'no marker made beside it')
  t.equal((await fs.getattr('/top/old')).mode, S_IFDIR | 0o700)
  t.equal((await makeFs(store, { metaMode: 'head' }).fs.getattr('/top/old')).mode, S_IFDIR | 0o700, 'meta=head reads it from the folder object')
})

t.test('a slashless zero-byte application/x-directory object with children: one directory, no .oortfs-file', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'legacy', 'application/x-directory', { mode: String(S_IFDIR | 0o750) })
  store.putText('legacy/a.txt', 'a')
  t.same(await fs.readdir('/'), ['legacy'])
  const a = await fs.getattr('/legacy')
  t.equal(a.mode, S_IFDIR | 0o750, 'a directory, with the mode stored on the object')
  t.same(await fs.readdir('/legacy'), ['a.txt'])
  t.equal(store.requests.HeadObject, 1, 'one HEAD: the zero-byte object, which a listing cannot tell from an empty file')
})

t.test('a slashless zero-byte httpd/unix-directory object without children, with meta=head: an empty directory; rmdir deletes it', async t => {
  // (in list mode a zero-byte key alone is taken for the empty file it nearly always is: no HEAD)
  const { fs, store } = makeFs(undefined, { metaMode: 'head' })
  await putEmpty(store, 'empty', 'httpd/unix-directory')
  t.same(await fs.readdir('/'), ['empty'])
  t.ok(isDir((await fs.getattr('/empty')).mode))
  t.same(await fs.readdir('/empty'), [])
  t.equal(await errnoOf(fs.unlink('/empty')), 'EISDIR')
  await fs.rmdir('/empty')
  t.same(store.keys(), [], 'the object is gone')
  t.equal(await errnoOf(fs.getattr('/empty')), 'ENOENT')
})

t.test('a slashless directory object found by a lookup (stat before any ls), and with meta=head', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'empty', 'application/x-directory')
  store.putText('empty/child', 'c')
  await putEmpty(store, 'moded', undefined, { mode: String(S_IFDIR | 0o755) })
  store.putText('moded/child', 'c')
  await putEmpty(store, 'plain')
  await putEmpty(store, 'alone', 'application/x-directory')
  t.ok(isDir((await fs.getattr('/empty')).mode), 'Content-Type')
  t.ok(isDir((await fs.getattr('/moded')).mode), 'an S_IFDIR mode')
  t.same((await fs.readdir('/')).sort(), ['alone', 'empty', 'moded', 'plain'], 'the objects beside their prefixes are the directories, no shadow names')
  t.equal((await fs.getattr('/plain')).mode, 0o100644, 'an empty file stays a file')
  t.equal((await fs.getattr('/alone')).mode, 0o100644, 'in list mode, a zero-byte key alone is a file: no HEAD for it')
  await putEmpty(store, 'empty', 'application/x-directory')
  await store.delete('empty/child')
  await store.delete('moded/child')
  const head = makeFs(store, { metaMode: 'head' }).fs
  t.same((await Promise.all((await head.readdir('/')).sort().map(async n => [n, isDir((await head.getattr('/' + n)).mode)]))),
    [['alone', true], ['empty', true], ['moded', true], ['plain', false]], 'meta=head: every one, children or not')
})

t.test('rmdir of a slashless directory whose children were listed first (the object was still a shadow name)', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'p/legacy', 'application/x-directory')
  store.putText('p/legacy/a.txt', 'a')
  t.ok(isDir((await fs.getattr('/p/legacy')).mode), 'looked up: a directory from its prefix')
  await fs.unlink('/p/legacy/a.txt')
  await fs.rmdir('/p/legacy')
  t.same(store.keys(), [], 'the slashless object went too')
})

t.test('rename of a slashless directory copies its object to the new name, headers and Content-Type kept', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'legacy', 'application/x-directory', { mode: String(S_IFDIR | 0o750), color: 'red' })
  store.putText('legacy/a.txt', 'a')
  await fs.readdir('/')
  await fs.rename('/legacy', '/moved')
  t.same(store.keys().filter(k => !k.endsWith('.oortfs-attrs')), ['moved', 'moved/a.txt'])
  const o = store.object('moved')!
  t.equal(o.contentType, 'application/x-directory')
  t.same(o.metadata, { mode: String(S_IFDIR | 0o750), color: 'red' })
  t.equal((await fs.getattr('/moved')).mode, S_IFDIR | 0o750)
  t.same(await makeFs(store).fs.readdir('/'), ['moved'], 'a fresh mount sees one directory (the index written before the rename has no record of it)')
})

t.test('chmod of a directory object another tool wrote keeps its foreign headers and Content-Type, adding only the mode', async t => {
  for (const key of ['marked/', 'legacy']) {
    await t.test(key, async t => {
      // a slashless one alone is found with meta=head (in list mode a zero-byte key alone is a file)
      const { fs, store } = makeFs(undefined, key === 'legacy' ? { metaMode: 'head' } : {})
      await putEmpty(store, key, 'application/x-directory', { foo: 'bar' })
      await fs.readdir('/')
      await fs.chmod('/' + key.replace('/', ''), 0o700)
      const o = store.object(key)!
      t.equal(o.contentType, 'application/x-directory', 'same Content-Type')
      const { ctime, ...rest } = o.metadata
      t.same(rest, { foo: 'bar', mode: String(S_IFDIR | 0o700) }, 'foo=bar kept, the new mode added, nothing else')
      t.ok(ctime, 'and the chmod\'s ctime')
      t.equal(store.keys().length, 1, 'rewritten in place, nothing beside it')
      t.equal((await makeFs(store, { metaMode: 'head' }).fs.getattr('/' + key.replace('/', ''))).mode, S_IFDIR | 0o700)
    })
  }
})

t.test('a directory we made: chmod costs one request, as before', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/d', 0o755)
  store.resetCounts()
  await fs.chmod('/d', 0o700)
  t.same(store.requests, { PutObject: 1 })
  t.equal(Number(store.object('d/')!.metadata.mode), S_IFDIR | 0o700)
})

t.test('cost: zero-byte files alone are never HEADed, nor files with data; one beside a same-name prefix is, once', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 1000; i++) await writeFile(fs, `/d/f${i}`, Buffer.from('data'))
  await writeFile(fs, '/e/empty', Buffer.alloc(0))
  await fs.flushAll()
  const again = makeFs(store).fs
  store.resetCounts()
  await again.readdir('/d')
  for (let i = 0; i < 1000; i++) await again.getattr(`/d/f${i}`)
  // the root's listing, d's (two pages: 1,000 files and the marker that holds d's times) and the
  // root's index (d's times recorded there)
  t.same(store.requests, { ListObjectsV2: 3, GetObject: 1 }, 'ls -l of 1,000 files written through the mount: the lookup and the listing, no HEAD')

  store.resetCounts()
  await again.readdir('/e')
  t.equal((await again.getattr('/e/empty')).mode, 0o100644)
  t.notOk(store.requests.HeadObject, 'an empty file alone: no HEAD')
  store.putText('e/empty/under', 'x') // a prefix of the same name: the empty key may be its directory object
  const third = makeFs(store).fs
  store.resetCounts()
  t.same((await third.readdir('/e')).sort(), ['empty', 'empty.oortfs-file'])
  t.equal(store.requests.HeadObject, 1, 'one HEAD tells it is a plain empty file')
  await third.flushAll()
  const fourth = makeFs(store).fs
  store.resetCounts()
  await fourth.readdir('/e')
  t.notOk(store.requests.HeadObject, 'the next mount: the index vouches for it')
})

t.test('a directory object a HEAD showed is remembered by the attribute index: the next mount needs no HEAD', async t => {
  const { fs, store } = makeFs()
  await putEmpty(store, 'x/empty', 'httpd/unix-directory')
  store.putText('x/empty/child', 'c')
  await fs.readdir('/x')
  await fs.flushAll()
  const again = makeFs(store).fs
  store.resetCounts()
  t.same(await again.readdir('/x'), ['empty'])
  t.ok(isDir((await again.getattr('/x/empty')).mode))
  t.notOk(store.requests.HeadObject, 'no HEAD')
  // and a second listing after the TTL is not a reason to ask again either
  const clock = { t: 0 }
  const timed = makeFs(store, { monotonic: () => clock.t }).fs
  await timed.readdir('/x')
  clock.t += 120_000
  store.resetCounts()
  t.same(await timed.readdir('/x'), ['empty'])
  t.ok(isDir((await timed.getattr('/x/empty')).mode))
  t.notOk(store.requests.HeadObject, 'relisted: no HEAD')
})

t.test('names ending in _$folder$ cannot be made', async t => {
  const { fs } = makeFs()
  t.equal(await errnoOf(fs.create('/a_$folder$', 0o644)), 'EPERM')
  t.equal(await errnoOf(fs.mkdir('/b_$folder$', 0o755)), 'EPERM')
})
