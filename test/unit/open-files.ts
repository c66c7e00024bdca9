// An open file's life, interleaving by interleaving: the fake store holds a
// chosen request (a PUT, a Complete, a copy) until the test lets it go, so
// each race the owner of open files must win is one test with its name.
import t from 'tap'
import { makeFs, writeFile, readFile, pattern, errnoOf, KiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OpenFlags } from '../../src/fs/api.js'
import { S_IFREG } from '../../src/fs/metadata.js'
import { Priority } from '../../src/s3/store.js'

const { O_RDONLY, O_RDWR } = OpenFlags
const modeOf = (store: FakeStore, key: string): number => Number(store.object(key)?.metadata.mode)

async function readAll (fs: ReturnType<typeof makeFs>['fs'], fh: number, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size)
  const n = await fs.read(fh, buf, size, 0)
  return buf.subarray(0, n)
}

t.test('touch then chmod while the PUT is in flight: the object gets the new mode', async t => {
  const sent: string[] = []
  const { fs, store } = makeFs(new FakeStore({ minPartSize: 64 * KiB, onRequest: (op, key) => sent.push(`${op} ${key}`) }))
  const put = store.hold('PutObject', 'x')
  const fh = await fs.create('/x', 0o644)
  await fs.flush(fh) // close(2) returns here; the kernel's release comes after
  const released = fs.release(fh)
  await put.arrived
  await fs.chmod('/x', 0o600)
  t.equal((await fs.getattr('/x')).mode, S_IFREG | 0o600, 'the mount shows it at once')
  put.release()
  await released
  await fs.flushAll()
  t.equal(modeOf(store, 'x'), S_IFREG | 0o600, 'and the object carries it')
  t.same(sent.filter(r => r.endsWith(' x')), ['PutObject x', 'CopyObject x'], 'one PUT, and one copy in place for the mode that came during it')
})

t.test('chown and utimens during a multipart upload reach the object', async t => {
  const { fs, store } = makeFs()
  const complete = store.hold('CompleteMultipartUpload', 'big')
  const writing = writeFile(fs, '/big', pattern(300 * KiB))
  await complete.arrived
  await fs.chown('/big', 1234, 5678)
  await fs.utimens('/big', NaN, 1_600_000_000_000)
  complete.release()
  await writing
  await fs.flushAll()
  const meta = store.object('big')!.metadata
  t.equal(meta.uid, '1234')
  t.equal(meta.gid, '5678')
  t.equal(meta.mtime, '1600000000')
  t.ok(store.object('big')!.body.equals(pattern(300 * KiB)), 'the bytes are the ones written')
})

t.test('an unlink while the upload of a just-closed file is in flight leaves it gone on the server', async t => {
  const { fs, store } = makeFs()
  const put = store.hold('PutObject', 'gone')
  const fh = await fs.create('/gone', 0o644)
  await fs.write(fh, Buffer.from('bytes'), 5, 0)
  const closing = fs.flush(fh).then(() => fs.release(fh))
  await put.arrived
  const unlinking = fs.unlink('/gone')
  put.release()
  await Promise.all([closing, unlinking])
  await fs.flushAll()
  t.equal(store.object('gone'), undefined, 'no object left')
  t.equal(await errnoOf(fs.getattr('/gone')), 'ENOENT')
  t.same(await fs.readdir('/'), [])
})

t.test('a reader of a file renamed away (logrotate) keeps reading its own bytes', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/log', Buffer.from('old log lines\n'))
  const reader = await fs.open('/log', O_RDONLY)
  await fs.rename('/log', '/log.1')
  await writeFile(fs, '/log', Buffer.from('NEW FILE\n'))
  t.equal((await readAll(fs, reader, 100)).toString(), 'old log lines\n', 'the old handle reads the old file')
  t.equal((await fs.fgetattr('/log', reader)).size, 14, 'and fstat sees it')
  await fs.release(reader)
  t.equal(store.object('log.1')!.body.toString(), 'old log lines\n')
  t.equal(store.object('log')!.body.toString(), 'NEW FILE\n')
})

t.test('an open file renamed keeps its handles: writes after the rename land under the new name', async t => {
  const { fs, store } = makeFs()
  const fh = await fs.create('/draft', 0o644)
  await fs.write(fh, Buffer.from('one '), 4, 0)
  await fs.rename('/draft', '/final')
  await fs.write(fh, Buffer.from('two'), 3, 4)
  await fs.release(fh)
  await fs.flushAll()
  t.equal(store.object('final')!.body.toString(), 'one two')
  t.equal(store.object('draft'), undefined)
})

t.test('an unlinked open file stays readable and writable until the last close', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/tmpfile', pattern(200 * KiB))
  const rw = await fs.open('/tmpfile', O_RDWR)
  const ro = await fs.open('/tmpfile', O_RDONLY)
  await fs.unlink('/tmpfile')
  await fs.flushAll() // the delete is on the server now
  t.equal(store.object('tmpfile'), undefined, 'the object is deleted')
  t.ok((await readAll(fs, ro, 200 * KiB)).equals(pattern(200 * KiB)), 'a reader still reads every byte')
  await fs.write(rw, Buffer.from('patch'), 5, 10)
  const expect = Buffer.from(pattern(200 * KiB)); Buffer.from('patch').copy(expect, 10)
  t.ok((await readAll(fs, ro, 200 * KiB)).equals(expect), 'and sees writes through the other handle')
  await fs.release(rw)
  await fs.release(ro)
  await fs.flushAll()
  t.equal(store.object('tmpfile'), undefined, 'nothing comes back at the last close')
  t.equal(await errnoOf(fs.getattr('/tmpfile')), 'ENOENT')
})

t.test('a file renamed over stays readable through its open handles', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/conf', Buffer.from('version 1'))
  await writeFile(fs, '/conf.new', Buffer.from('version 2!'))
  const reader = await fs.open('/conf', O_RDONLY)
  await fs.rename('/conf.new', '/conf')
  t.equal((await readAll(fs, reader, 100)).toString(), 'version 1', 'the old handle reads the old content')
  await fs.release(reader)
  t.equal((await readFile(fs, '/conf')).toString(), 'version 2!', 'a new open reads the new one')
  t.equal(store.object('conf')!.body.toString(), 'version 2!')
})

t.test('a rename over a file with a pending chmod gives the destination the source\'s attributes', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/src', Buffer.from('source'))
  await writeFile(fs, '/dst', Buffer.from('destination'))
  await fs.chmod('/dst', 0o600) // pending in the metadata writer
  await fs.chmod('/src', 0o750)
  await fs.rename('/src', '/dst')
  await fs.flushAll()
  t.equal(store.object('dst')!.body.toString(), 'source')
  t.equal(modeOf(store, 'dst'), S_IFREG | 0o750, 'the source\'s mode, with it its pending chmod')
  t.equal((await fs.getattr('/dst')).mode, S_IFREG | 0o750)
  t.equal(store.object('src'), undefined)
})

t.test('a truncate during an upload cannot bring the uploaded bytes back', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/t', Buffer.alloc(100, 'A'))
  const fh = await fs.open('/t', O_RDWR)
  await fs.write(fh, Buffer.alloc(100, 'B'), 100, 0)
  const put = store.hold('PutObject', 't')
  const syncing = fs.fsync(fh, false)
  await put.arrived
  await fs.ftruncate(fh, 10)
  await fs.write(fh, Buffer.alloc(10, 'C'), 10, 90)
  put.release()
  await syncing
  const want = Buffer.concat([Buffer.alloc(10, 'B'), Buffer.alloc(80), Buffer.alloc(10, 'C')])
  t.ok((await readAll(fs, fh, 200)).equals(want), 'the cut bytes read as zeros, not as the upload\'s B')
  await fs.release(fh)
  t.ok(store.object('t')!.body.equals(want), 'and are stored so')
})

t.test('a path truncate does not close a node that a handle opened meanwhile', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/f', Buffer.from('hello world'))
  const put = store.hold('PutObject', 'f')
  const truncating = fs.truncate('/f', 5)
  await put.arrived
  const fh = await fs.open('/f', O_RDWR)
  put.release()
  await truncating
  await fs.write(fh, Buffer.from('XY'), 2, 0)
  t.equal((await readAll(fs, fh, 20)).toString(), 'XYllo')
  await fs.release(fh)
  t.equal(store.object('f')!.body.toString(), 'XYllo')
})

t.test('rmdir deletes the marker whatever the children\'s names (one-character names)', async t => {
  const { fs, store } = makeFs()
  store.putText('a/', '')
  store.putText('a/1', 'one')
  store.putText('a/2', 'two')
  await fs.unlink('/a/1')
  await fs.unlink('/a/2')
  await fs.rmdir('/a')
  t.same(store.keys(), [], 'no a/ marker left behind')
})

t.test('a reader pinned to its version: another client replacing the object gives ESTALE, never a mix', async t => {
  const size = 1024 * KiB
  const store = new FakeStore({ minPartSize: 64 * KiB })
  store.putBytes('data', pattern(size, 1))
  const { fs } = makeFs(store, { readahead: 128 * KiB })
  const fh = await fs.open('/data', O_RDONLY)
  const first = Buffer.alloc(64 * KiB)
  await fs.read(fh, first, first.length, 0)
  t.ok(first.equals(pattern(size, 1).subarray(0, 64 * KiB)), 'the first block is the old version')
  store.putBytes('data', pattern(size, 2)) // a second client replaces it
  let stale = false
  for (let at = 64 * KiB; at < size; at += 64 * KiB) {
    const buf = Buffer.alloc(64 * KiB)
    const r = await fs.read(fh, buf, buf.length, at).catch((err: { errno?: string }) => err.errno)
    if (r === 'ESTALE') { stale = true; break }
    t.ok(buf.equals(pattern(size, 1).subarray(at, at + 64 * KiB)), `bytes at ${at} are the old version's (read ahead before the change)`)
  }
  t.ok(stale, 'a read that needs the server fails with ESTALE')
  await fs.release(fh)
  const fresh = await fs.open('/data', O_RDONLY)
  t.ok((await readAll(fs, fresh, size)).equals(pattern(size, 2)), 'opened again, the new version')
  await fs.release(fresh)
})

for (const pins of [true, false]) {
  t.test(`a rewrite never stitches in another client's bytes (server ${pins ? 'honours' : 'ignores, as Ceph'} copy-source-if-match)`, async t => {
    const store = new FakeStore({ minPartSize: 64 * KiB, pinsCopySource: pins })
    const { fs } = makeFs(store)
    await writeFile(fs, '/obj', pattern(640 * KiB, 1))
    const fh = await fs.open('/obj', O_RDWR)
    await fs.write(fh, Buffer.from('PATCH'), 5, 300 * KiB)
    store.putBytes('obj', pattern(640 * KiB, 9)) // the second client's version
    t.equal(await errnoOf(fs.release(fh)), 'ESTALE', 'the save fails with ESTALE')
    t.equal(await errnoOf(fs.flushAll()), 'EIO', 'and again at unmount: the bytes stay in staging')
    t.ok(store.object('obj')!.body.equals(pattern(640 * KiB, 9)), 'the other client\'s object stands as it was')
    t.same(store.uploadsInProgress(), [], 'no upload left behind')
  })
}

t.test('a reader of a file chmod-ed (or renamed) meanwhile by this mount reads on, though the copy has a new ETag', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB, copiesNewEtag: true })
  const { fs } = makeFs(store, { readahead: 64 * KiB })
  const size = 16 * 1024 * KiB
  await writeFile(fs, '/d/f', pattern(size), 1024 * KiB)
  const fh = await fs.open('/d/f', O_RDONLY)
  const buf = Buffer.alloc(4 * KiB)
  // random reads far apart: each needs the server (no read-ahead)
  const readAt = async (at: number, what: string): Promise<void> => {
    t.equal(await fs.read(fh, buf, buf.length, at), buf.length)
    t.ok(buf.equals(pattern(size).subarray(at, at + buf.length)), what)
  }
  await readAt(13 * 1024 * KiB + 5, 'before')
  await fs.chmod('/d/f', 0o600)
  await fs.flushAll()
  await readAt(1024 * KiB + 7, 'after a chmod in place')
  await fs.rename('/d/f', '/d/g')
  await readAt(7 * 1024 * KiB + 9, 'after a rename')
  await fs.rename('/d', '/e')
  await readAt(3 * 1024 * KiB + 11, 'after its directory was renamed')
  await fs.release(fh)
})

t.test('close raises the parts it waits for from background to its own priority', async t => {
  const { fs, store } = makeFs()
  const early = store.hold('UploadPart', 'p')
  const fh = await fs.create('/p', 0o644)
  for (let at = 0; at < 200 * KiB; at += 16 * KiB) await fs.write(fh, pattern(16 * KiB), 16 * KiB, at)
  await early.arrived
  const priorityNow = (): number | undefined => early.options()?.urgency?.priority ?? early.options()?.priority
  t.equal(priorityNow(), Priority.Background, 'a part sent while the file is written goes in the background')
  const closing = fs.flush(fh)
  await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(priorityNow(), Priority.Data, 'once close waits for it, at close\'s priority')
  early.release()
  await closing
  await fs.release(fh)
})

t.test('a reader waiting for its own read-ahead raises it to a read\'s priority', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  store.putBytes('s', pattern(4096 * KiB))
  const { fs } = makeFs(store, { readahead: 1024 * KiB })
  const fh = await fs.open('/s', O_RDONLY)
  const buf = Buffer.alloc(64 * KiB)
  const ahead = store.hold('GetObject', 's', 1) // the read's own block goes; the read-ahead behind it is held
  await fs.read(fh, buf, buf.length, 0)
  const got = await Promise.race([ahead.arrived.then(() => 'held'), new Promise(resolve => setTimeout(() => resolve('none'), 50))])
  t.equal(got, 'held')
  const urgency = ahead.options()?.urgency
  t.equal(urgency?.priority, Priority.Background, 'read-ahead goes in the background')
  const next = fs.read(fh, buf, buf.length, 64 * KiB)
  await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(urgency?.priority, Priority.Data, 'the reader now waits for it: a read\'s priority')
  ahead.release()
  await next
  await fs.release(fh)
})

t.test('attribute copies (chmod -R) go in the background, below ls; a write of the file waiting for one raises it', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/m', Buffer.from('x'))
  const copy = store.hold('CopyObject', 'm')
  await fs.chmod('/m', 0o600)
  const flushing = fs.meta.flush()
  await copy.arrived
  const urgency = copy.options()?.urgency
  t.equal(urgency?.priority, Priority.Background, 'below listings and reads')
  const fh = await fs.open('/m', O_RDWR)
  await fs.write(fh, Buffer.from('y'), 1, 0)
  const saving = fs.flush(fh)
  await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(urgency?.priority, Priority.Data, 'an upload of the file waits for it: raised')
  copy.release()
  await Promise.all([flushing, saving])
  await fs.release(fh)
  t.equal(store.object('m')!.metadata.mode, String(0o100600))
  t.equal(store.object('m')!.body.toString(), 'y')
})
