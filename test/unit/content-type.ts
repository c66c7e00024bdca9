// Content-Type as s3fs sets it: a new object gets its name's type (mime-db),
// a directory marker application/x-directory, a symlink
// application/octet-stream; a rename, a rewrite and an attribute change keep
// the type the object has, multipart copies of large files included.
import t from 'tap'
import { contentTypeOf } from '../../src/fs/content-type.js'
import { copyObject } from '../../src/fs/write/copy-object.js'
import { OpenFlags } from '../../src/fs/api.js'
import { FakeStore } from '../helpers/fake-store.js'
import { KiB, makeFs, pattern, writeFile } from '../helpers/make-fs.js'

/** a fake whose CopyObject takes at most 256 KiB: larger files are copied in UploadPartCopy parts, as above 5 GiB on S3 */
const smallCopies = (): FakeStore => new FakeStore({ minPartSize: 64 * KiB, maxCopySize: 256 * KiB })

t.test('the type of a name: its extension through mime-db, as s3fs looks it up', async t => {
  const cases: [string, string][] = [
    ['/notes.txt', 'text/plain'],
    ['/photo.jpg', 'image/jpeg'],
    ['/d/IMG_0001.JPG', 'image/jpeg'],
    ['/a.tar.gz', 'application/gzip'],
    ['/index.html', 'text/html'],
    ['/data.json', 'application/json'],
    ['/report.pdf', 'application/pdf'],
    ['/movie.mp4', 'video/mp4'],
    ['/song.mp3', 'audio/mpeg'],
    ['/app.js', 'text/javascript'],
    ['/feed.xml', 'application/xml'],
    ['/Makefile', 'application/octet-stream'],
    ['/.bashrc', 'application/octet-stream'],
    ['/blob.unknownext', 'application/octet-stream'],
    ['/trailing.', 'application/octet-stream'],
    ['/dir.txt/inside', 'application/octet-stream'],
    ['/.notes.txt.a1B2c3', 'text/plain'],
  ]
  for (const [path, type] of cases) t.equal(contentTypeOf(path), type, path)
  t.equal(contentTypeOf('/song.mp3'), 'audio/mpeg', 'IANA\'s type over one mime-db has from no source (audio/mp3)')
  t.equal(contentTypeOf('/app.js'), 'text/javascript', 'IANA\'s over Apache\'s (application/javascript)')
  t.equal(contentTypeOf('/clip.ra'), 'audio/x-pn-realaudio', 'Apache\'s over nginx\'s (audio/x-realaudio)')
  t.equal(contentTypeOf('/setup.exe'), 'application/x-msdos-program', 'anything over application/octet-stream')
})

t.test('new files get their extension\'s type: PutObject and multipart uploads alike', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/notes.txt', Buffer.from('hello'))
  await writeFile(fs, '/photo.jpg', pattern(10 * KiB))
  await writeFile(fs, '/a.tar.gz', pattern(3 * KiB))
  await writeFile(fs, '/README', Buffer.from('no extension'))
  await writeFile(fs, '/big.pdf', pattern(300 * KiB), 32 * KiB)
  t.ok(store.requests.CompleteMultipartUpload, 'the large one went as a multipart upload')
  t.equal(store.object('notes.txt')!.contentType, 'text/plain')
  t.equal(store.object('photo.jpg')!.contentType, 'image/jpeg')
  t.equal(store.object('a.tar.gz')!.contentType, 'application/gzip')
  t.equal(store.object('README')!.contentType, 'application/octet-stream')
  t.equal(store.object('big.pdf')!.contentType, 'application/pdf')
})

t.test('mkdir makes an application/x-directory marker, symlink an application/octet-stream object, as s3fs', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/pics.jpg', 0o755)
  await fs.symlink('notes.txt', '/link.txt')
  t.equal(store.object('pics.jpg/')!.contentType, 'application/x-directory')
  t.equal(store.object('link.txt')!.contentType, 'application/octet-stream', 'whatever its name')
  await fs.chmod('/pics.jpg', 0o700)
  await fs.utimens('/link.txt', 1_500_000_000_000, 1_500_000_000_000)
  await fs.flushAll()
  t.equal(store.object('pics.jpg/')!.metadata.mode, String(0o40700))
  t.equal(store.object('pics.jpg/')!.contentType, 'application/x-directory', 'a chmod of the directory keeps it')
  t.equal(store.object('link.txt')!.contentType, 'application/octet-stream', 'an attribute change of the link keeps it')
  t.equal(await fs.readlink('/link.txt'), 'notes.txt')
})

t.test('a directory marker another tool made keeps its type when its attributes are rewritten; a new one is application/x-directory', async t => {
  const { fs, store } = makeFs()
  store.putText('old/', '')
  store.putText('old/f.txt', 'x', {}, 'text/plain')
  await fs.chmod('/old', 0o750)
  t.equal(store.object('old/')!.contentType, 'application/octet-stream', 'only what changed is set: the mode')
  store.putText('implied/f.txt', 'x', {}, 'text/plain')
  await fs.chmod('/implied', 0o750)
  t.equal(store.object('implied/')!.contentType, 'application/x-directory', 'a directory with no object gets a marker of s3fs\'s type')
})

t.test('a rename keeps the type the file has, not its new name\'s', async t => {
  const { fs, store } = makeFs()
  // another client's object, with a type of its own we only learn from a HEAD
  store.putText('theirs.bin', 'x', {}, 'application/x-custom')
  await writeFile(fs, '/notes.txt', Buffer.from('hello'))
  await fs.rename('/notes.txt', '/notes.jpg')
  t.equal(store.object('notes.jpg')!.contentType, 'text/plain', 'a plain copy (COPY directive)')
  // attributes set just before ride in the rename's copy, with new metadata (REPLACE)
  await fs.chmod('/notes.jpg', 0o600)
  await fs.rename('/notes.jpg', '/notes')
  await fs.flushAll()
  t.equal(store.object('notes')!.metadata.mode, String(0o100600))
  t.equal(store.object('notes')!.contentType, 'text/plain', 'a copy with new metadata')
  await fs.chmod('/theirs.bin', 0o640)
  await fs.rename('/theirs.bin', '/theirs.txt')
  await fs.flushAll()
  t.equal(store.object('theirs.txt')!.contentType, 'application/x-custom')
})

t.test('a large file renamed by a multipart copy keeps its type, with or without new attributes', async t => {
  const { fs, store } = makeFs(smallCopies())
  const data = pattern(600 * KiB)
  store.putBytes('theirs', data, {}, 'video/x-custom')
  await writeFile(fs, '/photo.jpg', data, 32 * KiB)
  store.resetCounts()
  await fs.rename('/photo.jpg', '/moved.dat')
  await fs.flushAll()
  t.equal(store.requests.UploadPartCopy, 3, '600 KiB in copies of at most 256 KiB')
  t.equal(store.requests.CopyObject, undefined, 'no CopyObject: the fake refuses it above 256 KiB')
  t.equal(store.object('moved.dat')!.contentType, 'image/jpeg')
  t.ok(store.object('moved.dat')!.body.equals(data))
  await fs.chmod('/moved.dat', 0o600)
  await fs.rename('/moved.dat', '/again.txt')
  await fs.flushAll()
  t.equal(store.object('again.txt')!.contentType, 'image/jpeg', 'the rename carried the chmod in its multipart copy')
  t.equal(store.object('again.txt')!.metadata.mode, String(0o100600))
  await fs.rename('/theirs', '/theirs.jpg')
  t.equal(store.object('theirs.jpg')!.contentType, 'video/x-custom', 'another client\'s type, read from a HEAD')
})

t.test('a directory renamed keeps each object\'s type, the large ones\' too', async t => {
  const { fs, store } = makeFs(smallCopies())
  await fs.mkdir('/d', 0o755)
  await writeFile(fs, '/d/a.txt', Buffer.from('a'))
  await writeFile(fs, '/d/big.png', pattern(300 * KiB), 32 * KiB)
  await fs.rename('/d', '/e')
  t.equal(store.object('e/')!.contentType, 'application/x-directory')
  t.equal(store.object('e/a.txt')!.contentType, 'text/plain')
  t.equal(store.object('e/big.png')!.contentType, 'image/png')
})

t.test('chmod, chown, utimens and xattrs keep the type, small and large files, ours and others\'', async t => {
  const { fs, store } = makeFs(smallCopies())
  store.putText('theirs.txt', 'x', {}, 'application/x-custom')
  await writeFile(fs, '/notes.txt', Buffer.from('hello'))
  await writeFile(fs, '/big.mp4', pattern(300 * KiB), 32 * KiB)
  for (const p of ['/notes.txt', '/big.mp4', '/theirs.txt']) {
    await fs.chmod(p, 0o600)
    await fs.chown(p, 7, 8)
    await fs.utimens(p, 1_500_000_000_000, 1_500_000_000_000)
    await fs.setxattr(p, 'user.k', Buffer.from('v'), 0)
  }
  await fs.flushAll()
  t.equal(store.object('notes.txt')!.contentType, 'text/plain')
  t.equal(store.object('big.mp4')!.contentType, 'video/mp4', 'in place by a multipart copy')
  t.equal(store.object('theirs.txt')!.contentType, 'application/x-custom')
  for (const k of ['notes.txt', 'big.mp4', 'theirs.txt']) t.equal(store.object(k)!.metadata.mode, String(0o100600), k)
})

t.test('a file rewritten in place keeps its type: opened and changed, truncated, or created over', async t => {
  const { fs, store } = makeFs()
  store.putText('data.txt', 'old contents', {}, 'application/x-custom')
  const fh = await fs.open('/data.txt', OpenFlags.O_RDWR)
  await fs.write(fh, Buffer.from('NEW'), 3, 0)
  await fs.release(fh)
  t.equal(store.object('data.txt')!.body.toString(), 'NEW contents')
  t.equal(store.object('data.txt')!.contentType, 'application/x-custom')
  await writeFile(fs, '/data.txt', Buffer.from('cp over it')) // O_CREAT|O_TRUNC of an existing file
  t.equal(store.object('data.txt')!.contentType, 'application/x-custom')
  await fs.truncate('/data.txt', 2)
  t.equal(store.object('data.txt')!.body.toString(), 'cp')
  t.equal(store.object('data.txt')!.contentType, 'application/x-custom')
})

t.test('a file written, renamed while open, then written again keeps the type it was created with', async t => {
  const { fs, store } = makeFs()
  const fh = await fs.create('/draft.md', 0o644)
  await fs.write(fh, Buffer.from('# one'), 5, 0)
  await fs.rename('/draft.md', '/draft.html')
  await fs.write(fh, Buffer.from('# two'), 5, 0)
  await fs.release(fh)
  t.equal(store.object('draft.html')!.body.toString(), '# two')
  t.equal(store.object('draft.html')!.contentType, 'text/markdown')
})

t.test('a copy given new metadata but no type keeps the source\'s (one HEAD), small or multipart', async t => {
  const store = smallCopies()
  store.putText('small', 'x', { mode: '33188' }, 'text/csv')
  store.putBytes('large', pattern(300 * KiB), { mode: '33188' }, 'text/csv')
  await copyObject(store, 'small', 'small', 1, { metadata: { mode: '33152' } })
  await copyObject(store, 'large', 'large', 300 * KiB, { metadata: { mode: '33152' } })
  t.equal(store.object('small')!.contentType, 'text/csv')
  t.equal(store.object('large')!.contentType, 'text/csv')
  t.equal(store.object('large')!.metadata.mode, '33152')
  t.equal(store.requests.HeadObject, 2)
  store.resetCounts()
  await copyObject(store, 'small', 'small', 1, { metadata: { mode: '33188' }, contentType: 'text/plain' })
  t.equal(store.object('small')!.contentType, 'text/plain', 'a type given is the one stored')
  t.equal(store.requests.HeadObject, undefined, 'and needs no HEAD')
})
