// Races an open file's owner must win, found by a second reader of the
// change (each fails on the code before its fix): writes racing to make the
// staging file, a fetch of server bytes over a fresh write, renames and
// unlinks while uploads run, opens while the last handle closes, a reader's
// node taken by a writer, a chmod as an upload starts.
import t from 'tap'
import { makeFs, writeFile, readFile, pattern, errnoOf, KiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OpenFlags } from '../../src/fs/api.js'
import { S_IFREG } from '../../src/fs/metadata.js'

const { O_RDONLY, O_RDWR } = OpenFlags

t.test('an unlink waiting for an upload never deletes a file created at the same name meanwhile', async t => {
  const sent: string[] = []
  const { fs, store } = makeFs(new FakeStore({ minPartSize: 64 * KiB, onRequest: (op, key) => sent.push(`${op} ${key}`) }))
  const put = store.hold('PutObject', 'x')
  const fh = await fs.create('/x', 0o644)
  await fs.write(fh, Buffer.from('old'), 3, 0)
  const closing = fs.release(fh) // touch-like: the upload goes at release
  await put.arrived
  const unlinking = fs.unlink('/x')
  await new Promise(r => setImmediate(r))
  sent.push('--create')
  const making = (async () => {
    const fh2 = await fs.create('/x', 0o644)
    sent.push('--created')
    await fs.write(fh2, Buffer.from('new'), 3, 0)
    await fs.flush(fh2)
    sent.push('--flushed')
    await fs.release(fh2)
  })()
  await new Promise(r => setTimeout(r, 100)) // the new file's upload now waits for the unlink
  sent.push('--release put')
  put.release()
  await Promise.all([closing, unlinking.then(() => sent.push('--unlinked')), making])
  await fs.flushAll()
  console.log(sent)
  t.equal(store.object('x')?.body.toString(), 'new', 'the file made after the unlink survives')
})

t.test('an unlink of an open file larger than the block cache fetches it a part at a time', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  const size = 8192 * KiB
  store.putBytes('big', pattern(size))
  const { fs } = makeFs(store, { cacheSize: 1024 * KiB, readahead: 256 * KiB })
  const fh = await fs.open('/big', OpenFlags.O_RDONLY)
  const gets: number[] = []
  store.onRequest = (op) => { if (op === 'GetObject') gets.push(1) }
  const before = process.memoryUsage().arrayBuffers
  let peak = 0
  const iv = setInterval(() => { peak = Math.max(peak, process.memoryUsage().arrayBuffers - before) }, 1)
  await fs.unlink('/big')
  clearInterval(iv)
  t.comment(`GETs: ${gets.length}, peak extra arrayBuffers ~${Math.round(peak / KiB)} KiB`)
  await fs.flushAll()
  const buf = Buffer.alloc(size)
  t.equal(await fs.read(fh, buf, size, 0), size)
  t.ok(buf.equals(pattern(size)))
  await fs.release(fh)
})

t.test('a new open after another client replaced the object leaves a writer\'s node the file\'s: rm stops its upload', async t => {
  let clock = 1_700_000_000_000
  const store = new FakeStore({ minPartSize: 64 * KiB, now: () => clock })
  store.putText('g', 'version one')
  const { fs } = makeFs(store, { now: () => clock, monotonic: () => clock })
  const rw = await fs.open('/g', O_RDWR) // clean node, a writer
  store.putText('g', 'other client') // a second client replaces it
  clock += 120_000 // the listing expires
  const ro = await fs.open('/g', O_RDONLY) // sees the new ETag: the writer's node loses its name
  await fs.ftruncate(rw, 0)
  await fs.write(rw, Buffer.from('MINE'), 4, 0)
  t.equal((await fs.getattr('/g')).size, 4, 'stat of the name shows the writer\'s file')
  await fs.release(ro)
  await fs.unlink('/g')
  await fs.release(rw) // the writer closes after rm
  await fs.flushAll()
  t.equal(await errnoOf(fs.getattr('/g')), 'ENOENT', 'the mount says it is gone')
  t.equal(store.object('g'), undefined, 'and it is gone on the server: ' + store.object('g')?.body.toString())
})

t.test('a chmod of an open file that starts uploading while the chmod looks it up is not lost', async t => {
  let clock = 1_700_000_000_000
  const store = new FakeStore({ minPartSize: 64 * KiB, now: () => clock })
  const { fs } = makeFs(store, { now: () => clock, monotonic: () => clock })
  await writeFile(fs, '/h', Buffer.from('first'))
  const rw = await fs.open('/h', OpenFlags.O_RDWR)
  clock += 120_000 // the name's entry expires: chmod's lookup lists
  const list = store.hold('ListObjectsV2')
  const chmodding = fs.chmod('/h', 0o600)
  await list.arrived
  await fs.write(rw, Buffer.from('second'), 6, 0)
  const put = store.hold('PutObject', 'h')
  const syncing = fs.fsync(rw, false)
  await put.arrived
  list.release()
  await chmodding
  put.release()
  await syncing
  await fs.release(rw)
  await fs.flushAll().catch(e => t.comment('flushAll: ' + e.message))
  t.equal(store.object('h')!.body.toString(), 'second')
  t.equal(Number(store.object('h')!.metadata.mode), S_IFREG | 0o600, 'the object has the mode chmod set')
  t.equal((await fs.getattr('/h')).mode, S_IFREG | 0o600, 'and the mount shows it')
})

t.test('a file renamed while a writer streams into it: parts sent early under the old key are not completed under the new', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  const { fs } = makeFs(store)
  const data = pattern(1024 * KiB)
  const fh = await fs.create('/w', 0o644)
  const put = async (from: number, to: number) => { for (let at = from; at < to; at += 16 * KiB) await fs.write(fh, data.subarray(at, at + 16 * KiB), 16 * KiB, at) }
  await put(0, 64 * KiB)
  const copy = store.hold('CopyObject', 'w2')
  const renaming = fs.rename('/w', '/w2')
  await copy.arrived
  await put(64 * KiB, 512 * KiB) // early parts go out under 'w'
  await new Promise(r => setTimeout(r, 20))
  copy.release()
  await renaming
  await put(512 * KiB, 1024 * KiB)
  t.equal(await errnoOf(fs.flush(fh)), undefined, 'close succeeds')
  await fs.release(fh).catch(e => t.comment('release: ' + e.message))
  await fs.flushAll().catch(e => t.comment('flushAll: ' + e.message))
  t.ok(store.object('w2')?.body.equals(data), 'w2 has the bytes written')
  t.same(store.keys(), ['..oortfs-attrs', 'w2'], 'w2 and the root\'s times, nothing under the old key')
})

t.test('two writes arriving together on a new file (page-cache writeback, parallel FUSE threads) share one staging file', async t => {
  const { fs, store } = makeFs()
  const fh = await fs.create('/k', 0o644)
  const a = Buffer.alloc(4 * KiB, 'a'); const b = Buffer.alloc(4 * KiB, 'b')
  await Promise.all([fs.write(fh, a, a.length, 0), fs.write(fh, b, b.length, 4 * KiB)])
  await fs.flush(fh)
  await fs.release(fh)
  t.ok(store.object('k')!.body.equals(Buffer.concat([a, b])), 'both writes are in the object: ' + store.object('k')!.body.subarray(0, 8).toString())
})

t.test('a read of an open file racing its first write after a truncate loses nothing', async t => {
  const { fs, store } = makeFs()
  store.putText('r', 'hello world')
  const fh = await fs.open('/r', 2)
  await Promise.all([fs.write(fh, Buffer.from('HELLO'), 5, 0), fs.ftruncate(fh, 11)])
  await fs.release(fh)
  t.equal(store.object('r')!.body.toString(), 'HELLO world')
})

t.test('a writer opening together with a reader shares its node with the stored attributes: a rewrite keeps them', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  store.putText('m', 'data', { mode: String(0o100700), uid: '42', 'other-tool': 'keep me' })
  const { fs } = makeFs(store)
  await fs.readdir('/')
  const head = store.hold('HeadObject', 'm')
  const opening = fs.open('/m', OpenFlags.O_RDWR)
  await head.arrived
  const ro = await fs.open('/m', OpenFlags.O_RDONLY)
  head.release()
  const rw = await opening
  await fs.write(rw, Buffer.from('DATA'), 4, 0)
  await fs.release(rw)
  await fs.release(ro)
  await fs.flushAll()
  const meta = store.object('m')!.metadata
  t.equal(store.object('m')!.body.toString(), 'DATA')
  t.equal(meta['other-tool'], 'keep me', 'another tool\'s metadata survives the rewrite')
  t.equal(meta.uid, '42', 'the stored owner survives')
  t.equal(Number(meta.mode), 0o100700, 'the stored mode survives')
})

t.test('an fsync during a rename waits for the name to move: its PUT goes to the new key, never the old', async t => {
  const sent: string[] = []
  const { fs, store } = makeFs(new FakeStore({ minPartSize: 64 * KiB, onRequest: (op, key) => sent.push(`${op} ${key}`) }))
  const fh = await fs.create('/a', 0o644)
  await fs.write(fh, Buffer.from('old'), 3, 0)
  await fs.fsync(fh, false)
  const copy = store.hold('CopyObject', 'b')
  const renaming = fs.rename('/a', '/b')
  await copy.arrived
  await fs.write(fh, Buffer.from('NEW'), 3, 0)
  const syncing = fs.fsync(fh, false)
  await new Promise(resolve => setTimeout(resolve, 20))
  t.same(sent.filter(r => r === 'PutObject a'), ['PutObject a'], 'only the first save went to a')
  copy.release()
  await renaming
  await syncing
  await fs.release(fh)
  await fs.flushAll()
  t.equal(store.object('b')?.body.toString(), 'NEW', 'b holds the last write')
  t.equal(store.object('a'), undefined, 'nothing left at a')
  t.equal((await readFile(fs, '/b')).toString(), 'NEW', 'and the mount reads it')
})

t.test('an open for writing while the only other handle closes keeps its node', async t => {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  store.putText('f', 'hello world')
  const { fs } = makeFs(store)
  const ro = await fs.open('/f', O_RDONLY) // a reader: no HEAD, attributes guessed from the listing
  const head = store.hold('HeadObject', 'f')
  const opening = fs.open('/f', O_RDWR) // learnStored HEADs before refs++
  await head.arrived
  await fs.release(ro) // last handle: the node is dropped
  head.release()
  const rw = await opening
  t.ok(fs.files.node('/f'), 'the node of an open handle is still the node at its path')
  await fs.write(rw, Buffer.from('HELLO'), 5, 0)
  t.equal((await fs.getattr('/f')).size, 11)
  const rw2 = await fs.open('/f', O_RDWR)
  const buf = Buffer.alloc(11)
  await fs.read(rw2, buf, 11, 0)
  t.equal(buf.toString(), 'HELLO world', 'a second open sees the first handle\'s write')
  await fs.write(rw2, Buffer.from('!'), 1, 11)
  await fs.release(rw)
  await fs.release(rw2)
  await fs.flushAll()
  t.equal(store.object('f')!.body.toString(), 'HELLO world!', 'neither write is lost')
})

t.test('an unlink during the Complete of a rewrite: the unlinked open file stays readable', async t => {
  const { fs, store } = makeFs()
  const size = 640 * KiB
  await writeFile(fs, '/big', pattern(size))
  const fh = await fs.open('/big', O_RDWR)
  await fs.write(fh, Buffer.from('PATCH'), 5, 300 * KiB)
  const get = store.hold('GetObject', 'big')
  const syncing = fs.fsync(fh, false) // part 4 is fetched and sent, the rest copied
  // the first GET is the uploader's (part 4): let it through, then hold the unlink's
  await get.arrived; get.release()
  const complete = store.hold('CompleteMultipartUpload', 'big')
  await complete.arrived
  // the unlink waits for the upload, then fetches what only the server has, from the version that landed
  const unlinking = fs.unlink('/big')
  await new Promise(r => setTimeout(r, 20))
  complete.release()
  await syncing
  await unlinking
  await fs.flushAll()
  t.equal(store.object('big'), undefined, 'deleted on the server')
  const buf = Buffer.alloc(size)
  const n = await fs.read(fh, buf, size, 0).catch(e => e.errno)
  t.equal(n, size, 'the open handle still reads it')
  const want = Buffer.from(pattern(size)); Buffer.from('PATCH').copy(want, 300 * KiB)
  t.ok(buf.equals(want), 'every byte, the patch included')
  await fs.release(fh)
})
