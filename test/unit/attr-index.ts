import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile, errnoOf } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OortFs } from '../../src/fs/filesystem.js'
import { AttrIndex } from '../../src/fs/attr-index.js'
import type { Entry } from '../../src/fs/entry.js'
import { INDEX_SUFFIX } from '../../src/fs/names.js'
import { serverError } from '../helpers/fake-errors.js'

/** a new mount of the same bucket: nothing cached */
function remount (fs: OortFs, store: FakeStore): OortFs {
  return new OortFs(store, { ...fs.opts })
}

t.test('chmod +x on 10 of 1,000 files: after a remount ls -l shows them right from 2 requests', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 1000; i++) store.putText(`src/f${String(i).padStart(4, '0')}`, 'x')
  await fs.readdir('/src')
  for (let i = 0; i < 1000; i += 100) await fs.chmod(`/src/f${String(i).padStart(4, '0')}`, 0o755)
  await fs.flushAll()
  t.ok(store.object('src.oortfs-attrs'), 'the index was written beside the directory')
  const again = remount(fs, store)
  store.resetCounts()
  const names = await again.readdir('/src')
  t.notOk(names.includes('.oortfs-attrs'), 'the index never shows up')
  let execs = 0
  for (const n of names) {
    const a = await again.getattr('/src/' + n)
    if (a.mode === 0o100755) execs++
    else t.equal(a.mode, 0o100644)
  }
  t.equal(execs, 10)
  // the listing, the index of /src, and the root's index (once a mount: /src's own mode and owner, which the kernel checks)
  t.ok(store.totalRequests() <= 4, `ls -l cost ${store.totalRequests()} requests: ${JSON.stringify(store.requests)}`)
  t.equal(store.requests.HeadObject ?? 0, 0, 'no HEAD per file')
})

t.test('a directory\'s own mode and owner, on a fresh mount, from a path walk alone (no listing of its parent)', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/team', 0o755)
  await fs.mkdir('/team/private', 0o755)
  await fs.chmod('/team', 0o2770)
  await fs.chown('/team', 1001, 4242)
  await fs.chmod('/team/private', 0o700)
  await fs.flushAll()
  const again = remount(fs, store)
  store.resetCounts()
  // what the kernel asks on `stat /mnt/team/private`: a lookup of each name on the way
  const team = await again.getattr('/team')
  t.same([team.mode, team.uid, team.gid], [0o42770, 1001, 4242], 'the root index tells /team')
  t.equal((await again.getattr('/team/private')).mode, 0o40700, "team's index tells /team/private")
  t.ok(store.totalRequests() <= 4, `a walk of two directories: ${JSON.stringify(store.requests)}`)
  // a walk into another directory reads the root's index no more
  await again.mkdir('/other', 0o755)
  const again2 = remount(again, store)
  await again2.getattr('/team')
  store.resetCounts()
  await again2.getattr('/other')
  t.equal(store.requests.GetObject ?? 0, 0, 'the root index is read once')
})

t.test('a file changed by another tool after the index is asked about, not trusted', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/d/a', Buffer.from('a'))
  await fs.chmod('/d/a', 0o700)
  await fs.flushAll()
  await new Promise(resolve => setTimeout(resolve, 1100))
  // s3fs rewrites a with another mode, and adds b with its own
  store.putText('d/a', 'changed', { mode: String(0o100600) })
  store.putText('d/b', 'new', { mode: String(0o100750) })
  const again = remount(fs, store)
  // the first mount's requests (its directory times HEAD d/'s marker) are not the new one's
  store.resetCounts()
  await again.readdir('/d')
  t.equal((await again.getattr('/d/a')).mode, 0o100600, 'stale record: HEAD shows the truth')
  t.equal((await again.getattr('/d/b')).mode, 0o100750, 'newer than the index: HEAD')
  t.equal(store.requests.HeadObject, 2)
})

t.test('an executable found by lookup alone (no listing) keeps its mode after a remount', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 20; i++) await writeFile(fs, `/proj/file${i}.c`, Buffer.from('int x;'))
  await writeFile(fs, '/proj/configure', Buffer.from('#!/bin/sh\n'))
  await fs.chmod('/proj/configure', 0o755)
  await fs.utimens('/proj/file3.c', 1_000_000_000_000, 1_000_000_000_000)
  await fs.symlink('configure', '/proj/link')
  await fs.flushAll()
  const again = remount(fs, store)
  store.resetCounts()
  t.equal((await again.getattr('/proj/configure')).mode, 0o100755)
  t.equal((await again.getattr('/proj/file3.c')).mtime.getTime(), 1_000_000_000_000)
  t.equal((await again.getattr('/proj/link')).mode & 0o170000, 0o120000)
  t.equal(await again.readlink('/proj/link'), 'configure')
  t.ok(store.totalRequests() <= 4, `${JSON.stringify(store.requests)}`)
})

t.test('the index cannot be seen, opened or created through the mount', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/x/f', Buffer.from('1'))
  await fs.chmod('/x/f', 0o600)
  await fs.flushAll()
  t.ok(store.object('x.oortfs-attrs'))
  t.notOk((await fs.readdir('/')).includes('x.oortfs-attrs'), 'hidden from the parent')
  t.equal(await errnoOf(fs.open('/x.oortfs-attrs', 0)), 'ENOENT')
  t.equal(await errnoOf(fs.getattr('/x.oortfs-attrs')), 'ENOENT')
  t.equal(await errnoOf(fs.create('/x.oortfs-attrs', 0o644)), 'EPERM')
  t.equal(await errnoOf(fs.create('/x/y.oortfs-attrs', 0o644)), 'EPERM')
})

t.test('files with default attributes need no index at all', async t => {
  const { fs, store } = makeFs()
  for (let i = 0; i < 10; i++) await writeFile(fs, `/plain/f${i}`, Buffer.from('x'))
  await fs.flushAll()
  t.equal(store.object('plain.oortfs-attrs'), undefined)
  // the directory's times (moved by the files made in it) are recorded in its parent's index: nothing else
  const root = JSON.parse(store.object('.oortfs-attrs')!.body.toString()) as { r: Record<string, unknown> }
  t.same(Object.keys(root.r), ['plain'])
})

/** holds one kind of request until released: before the server does it, or after (a late answer) */
function holdStore (store: FakeStore, method: 'copy' | 'put', which: (key: string) => boolean, at: 'before' | 'after'): { held: Promise<void>, release: () => void } {
  const orig = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store)
  let release!: () => void
  let reached!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const held = new Promise<void>(resolve => { reached = resolve })
  ;(store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    const hold = which(args[method === 'copy' ? 1 : 0] as string)
    if (hold && at === 'before') { reached(); await gate }
    const r = await orig(...args)
    if (hold && at === 'after') { reached(); await gate }
    return r
  }
  return { held, release }
}

t.test('a listing taken while a chmod copy runs does not lose the mode from the index', async t => {
  const { fs, store } = makeFs(undefined, { attrTtlMs: 100 })
  store.putText('d/a', 'x') // another tool's file: chmod must HEAD it, then copy
  await fs.readdir('/d')
  await sleep(1100) // so the copy's date differs from the listed one
  const copy = holdStore(store, 'copy', key => key === 'd/a', 'after')
  await fs.chmod('/d/a', 0o600)
  const saving = fs.meta.flush()
  await copy.held
  await sleep(150) // past the TTL: list again, and see the copy's new date
  await fs.readdir('/d')
  t.equal((await fs.getattr('/d/a')).mode, 0o100600, 'the mode shows while its copy is on its way')
  copy.release()
  await saving
  await fs.flushAll()
  const again = remount(fs, store)
  await again.readdir('/d')
  store.resetCounts()
  t.equal((await again.getattr('/d/a')).mode, 0o100600, 'the index has the mode')
  t.equal(store.requests.HeadObject ?? 0, 0, 'from the index, no HEAD')
})

/** an AttrIndex on a fake store, with no filesystem around it; file() stores d/NAME and describes it with a mode */
function indexAlone (ttlMs: number): { store: FakeStore, index: AttrIndex, file: (name: string, mode: number) => Entry } {
  const store = new FakeStore()
  const index = new AttrIndex(store, { uid: 0, gid: 0, mode: kind => kind === 'dir' ? 0o40755 : 0o100644 },
    { ttlMs, indexKey: dir => dir.slice(1) + INDEX_SUFFIX, delayMs: 60_000 })
  const file = (name: string, mode: number): Entry => {
    store.putText(`d/${name}`, name)
    const o = store.object(`d/${name}`)!
    return { kind: 'file', key: `d/${name}`, size: o.body.length, etag: o.etag, lastModified: o.lastModified, meta: { mode } }
  }
  return { store, index, file }
}

t.test('the index read while it is being written does not undo the write', async t => {
  // the class alone: through a filesystem, a path walk refreshes what the parent
  // listing showed first, and the read never overlaps the write
  const { store, index, file } = indexAlone(100)
  const a = file('a', 0o100700)
  const b = file('b', 0o100711)
  const c = file('c', 0o100755)
  index.changed('/d', 'a', a)
  await index.flush()
  const put = holdStore(store, 'put', key => key === 'd' + INDEX_SUFFIX, 'before')
  index.changed('/d', 'b', b)
  const saving = index.flush()
  await put.held
  await sleep(150) // what we hold is past its TTL: a listing wants the index again
  const listing = index.enrich('/d', 'd/', { entries: new Map([['a', { ...a, meta: undefined }]]) })
  await sleep(20)
  put.release()
  await Promise.all([saving, listing])
  index.changed('/d', 'c', c)
  await index.flush()
  const written = JSON.parse(store.object('d' + INDEX_SUFFIX)!.body.toString()) as { r: Record<string, { m: number }> }
  t.same(Object.fromEntries(Object.entries(written.r).map(([n, r]) => [n, r.m])), { a: 0o100700, b: 0o100711, c: 0o100755 })
})

t.test('a listing asked for before our first write of the index, which shows none, does not undo it', async t => {
  const { store, index, file } = indexAlone(60_000)
  const b = file('b', 0o100711)
  const c = file('c', 0o100755)
  const asked = Date.now() // the parent's listing goes out...
  await sleep(5)
  index.changed('/d', 'b', b)
  await index.flush() // ...the index is written...
  await sleep(5)
  index.sawIndex('/d', undefined, asked) // ...and the listing comes back without it
  await index.enrich('/d', 'd/', { entries: new Map([['b', { ...b, meta: undefined }]]) })
  index.changed('/d', 'c', c)
  await index.flush()
  const written = JSON.parse(store.object('d' + INDEX_SUFFIX)!.body.toString()) as { r: Record<string, { m: number }> }
  t.same(Object.keys(written.r).sort(), ['b', 'c'], 'both records kept')
})

t.test('a record removed while the index is read stays removed', async t => {
  const { fs, store } = makeFs(undefined, { attrTtlMs: 100 })
  await writeFile(fs, '/d/a', Buffer.from('a'))
  await fs.chmod('/d/a', 0o700)
  await fs.flushAll()
  const again = remount(fs, store)
  t.equal((await again.getattr('/d/a')).mode, 0o100700)
  await again.chmod('/d/a', 0o644) // back to the default: its record goes
  await again.flushAll()
  const third = remount(fs, store)
  await third.readdir('/d')
  t.equal((await third.getattr('/d/a')).mode, 0o100644)
})

t.test('a read-only mount sends no write of any kind: ls -l, stat, getxattr and cat where the index is stale', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/d/a', Buffer.from('a'))
  await fs.chmod('/d/a', 0o700)
  await fs.flushAll()
  // another tool rewrites the file and sets its mode: the index's record no longer matches
  await sleep(1100)
  store.putText('d/a', 'changed', { mode: String(0o100750) })
  store.putText('d/b', 'new', { mode: String(0o100711) })
  const ro = new OortFs(store, { ...fs.opts, readOnly: true })
  const sent: string[] = []
  store.onRequest = op => sent.push(op)
  await ro.readdir('/d')
  t.equal((await ro.getattr('/d/a')).mode, 0o100750, 'the stale record costs a HEAD, and shows the truth')
  t.equal((await ro.getattr('/d/b')).mode, 0o100711)
  t.same(await ro.listxattr('/d/a'), [])
  const fh = await ro.open('/d/a', 0)
  const buf = Buffer.alloc(16)
  t.equal((await ro.read(fh, buf, 16, 0)), 7)
  await ro.release(fh)
  await ro.flushAll()
  await sleep(2200) // past the index's write delay
  const writes = sent.filter(op => !['ListObjectsV2', 'HeadObject', 'GetObject'].includes(op))
  t.same(writes, [], `only reads: ${sent.join(', ')}`)
})

/** a directory of three files whose modes differ from the defaults, and its index written */
async function dirWithModes (): Promise<{ fs: OortFs, store: FakeStore }> {
  const { fs, store } = makeFs()
  for (const [n, mode] of [['a', 0o755], ['b', 0o700], ['c', 0o750]] as const) {
    await writeFile(fs, `/d/${n}`, Buffer.from(n))
    await fs.chmod(`/d/${n}`, mode)
  }
  await fs.flushAll()
  t.ok(store.object('d.oortfs-attrs'))
  return { fs, store }
}

/** the permission bits of /d/a, /d/b, /d/c as a fresh mount lists them; its HEAD count from a reset */
async function modesAfterRemount (fs: OortFs, store: FakeStore): Promise<number[]> {
  const m = remount(fs, store)
  store.resetCounts()
  await m.readdir('/d')
  return await Promise.all(['a', 'b', 'c'].map(async n => (await m.getattr(`/d/${n}`)).mode & 0o777))
}

t.test('an index read that fails (a 503 burst) is not an empty index: ls -l shows the stored modes, and a change keeps every record', async t => {
  const { fs, store } = await dirWithModes()
  const again = remount(fs, store)
  store.failNext('GetObject', serverError('SlowDown', 503, 'get d.oortfs-attrs'))
  await again.readdir('/d')
  t.same(await Promise.all(['a', 'b', 'c'].map(async n => (await again.getattr(`/d/${n}`)).mode & 0o777)), [0o755, 0o700, 0o750], 'each file\'s own metadata, by HEAD')
  await again.chmod('/d/a', 0o711)
  await again.flushAll()
  t.same(await modesAfterRemount(fs, store), [0o711, 0o700, 0o750], 'the index still has every record')
  t.equal(store.requests.HeadObject ?? 0, 0, 'and is trusted again: no HEAD')
})

t.test('a damaged index is not an empty one: the objects\' modes show, and a listing rebuilds it whole', async t => {
  const { fs, store } = await dirWithModes()
  store.putText('d.oortfs-attrs', '{"v":1,"r":{"a":{"m":33')
  const again = remount(fs, store)
  await again.readdir('/d')
  t.same(await Promise.all(['a', 'b', 'c'].map(async n => (await again.getattr(`/d/${n}`)).mode & 0o777)), [0o755, 0o700, 0o750])
  await again.flushAll()
  t.same(await modesAfterRemount(fs, store), [0o755, 0o700, 0o750], 'rebuilt from the HEADs')
  t.equal(store.requests.HeadObject ?? 0, 0, 'whole: no HEAD')
})

t.test('two mounts changing modes in one directory: both records survive', async t => {
  const { fs, store } = makeFs()
  for (const n of ['a', 'b']) await writeFile(fs, `/d/${n}`, Buffer.from(n))
  const one = remount(fs, store)
  const two = remount(fs, store)
  await one.readdir('/d')
  await two.readdir('/d')
  await one.chmod('/d/a', 0o700)
  await two.chmod('/d/b', 0o750)
  await one.flushAll()
  await two.flushAll()
  const third = remount(fs, store)
  store.resetCounts()
  await third.readdir('/d')
  t.equal((await third.getattr('/d/a')).mode & 0o777, 0o700, 'the first mount\'s record')
  t.equal((await third.getattr('/d/b')).mode & 0o777, 0o750, 'the second mount\'s record')
  t.equal(store.requests.HeadObject ?? 0, 0, 'from the index alone')
})
