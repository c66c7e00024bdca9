// Names up to S3's limits (names.ts): a name of up to 1,023 bytes, a key of
// up to 1,024 bytes with the mount's prefix; ENAMETOOLONG beyond, and no key
// left out of a listing without the log naming it. Directory link counts
// (attrs.ts) and the attribute index of a directory too long to keep one.
import t from 'tap'
import { captureLog } from '../helpers/log-capture.js'
import { errnoOf, makeFs, readFile, writeFile } from '../helpers/make-fs.js'

const name = (c: string, bytes: number): string => c.repeat(bytes)

t.test('a 300-byte name is created, listed, stat-ed, renamed and removed', async t => {
  const { fs, store } = makeFs()
  const a = name('a', 300)
  const b = name('b', 300)
  await writeFile(fs, '/' + a, Buffer.from('long'))
  t.ok(store.object(a), 'its key is on the server')
  t.same(await fs.readdir('/'), [a])
  t.equal((await fs.getattr('/' + a)).size, 4)
  await fs.rename('/' + a, '/' + b)
  t.same(await fs.readdir('/'), [b])
  t.equal((await readFile(fs, '/' + b)).toString(), 'long')
  await fs.unlink('/' + b)
  await fs.flushAll()
  t.same(await fs.readdir('/'), [])
  // (the mount root's own attributes, `..oortfs-attrs`, moved with its entries)
  t.same(store.keys().filter(k => !k.startsWith('.oortfs') && k !== '..oortfs-attrs'), [], 'nothing left on the server')
})

t.test('a key of 1,024 bytes with the prefix is made; 1,025 is ENAMETOOLONG, for files, directories, symlinks and renames', async t => {
  // 'pre/' is 4 bytes: a name of 1,020 makes a 1,024-byte key
  const { fs, store } = makeFs(undefined, { prefix: 'pre/' })
  const fits = '/' + name('f', 1020)
  const over = '/' + name('g', 1021)
  await writeFile(fs, fits, Buffer.from('x'))
  t.ok(store.object('pre/' + fits.slice(1)), 'a file whose key is exactly 1,024 bytes')
  t.equal(await errnoOf(fs.create(over, 0o644)), 'ENAMETOOLONG', 'create: 1,025 bytes')
  t.equal(await errnoOf(fs.symlink('target', over)), 'ENAMETOOLONG', 'symlink: 1,025 bytes')
  await fs.symlink('target', '/' + name('s', 1020))
  t.equal(await fs.readlink('/' + name('s', 1020)), 'target', 'a symlink whose key is 1,024 bytes')
  // a directory's key is its marker, one byte longer than its name's
  const puts = store.requests.PutObject ?? 0
  t.equal(await errnoOf(fs.mkdir('/' + name('d', 1020), 0o755)), 'ENAMETOOLONG', 'mkdir: a 1,025-byte marker')
  t.equal(store.requests.PutObject ?? 0, puts, 'refused here, not left for the server to refuse')
  await fs.mkdir('/' + name('d', 1019), 0o755)
  t.ok(store.object('pre/' + name('d', 1019) + '/'), 'a directory whose marker is 1,024 bytes')
  t.equal(await errnoOf(fs.rename(fits, over)), 'ENAMETOOLONG', 'rename of a file to a 1,025-byte key')
  t.equal(await errnoOf(fs.rename('/' + name('d', 1019), '/' + name('e', 1020))), 'ENAMETOOLONG', 'rename of a directory to a 1,025-byte marker')
  await fs.rename(fits, '/' + name('h', 1020))
  t.ok(store.object('pre/' + name('h', 1020)), 'a rename to a 1,024-byte key')
  t.same((await fs.readdir('/')).map(n => n.length).sort(), [1019, 1020, 1020])
})

t.test('a name longer than 1,023 bytes is ENAMETOOLONG, whatever the key', async t => {
  const { fs } = makeFs()
  await writeFile(fs, '/' + name('n', 1023), Buffer.from('x'))
  t.equal(await errnoOf(fs.create('/' + name('n', 1024), 0o644)), 'ENAMETOOLONG', 'readdir could not carry it whole through FUSE')
  const st = await fs.statfs('/')
  t.equal(st.namemax, 1023, 'statfs says so')
})

t.test('long keys another client wrote are listed; only what cannot be a name is left out, and the log names it once per directory', async t => {
  const lines = captureLog(t)
  const { fs, store } = makeFs()
  const long = name('l', 1000)
  store.putText('d/' + long, 'from elsewhere')
  store.putText('d/sub/' + name('m', 900), 'deep')
  store.putText('d/bad//name', 'x') // an empty segment: no name can stand for it
  store.putText(name('r', 1024), 'a 1,024-byte name at the bucket root: FUSE cannot list it whole')
  t.same((await fs.readdir('/d')).sort(), ['bad', long, 'sub'].sort())
  t.equal((await fs.getattr('/d/' + long)).size, 14)
  t.equal((await readFile(fs, '/d/' + long)).toString(), 'from elsewhere')
  t.same(await fs.readdir('/d/sub'), [name('m', 900)])
  t.same(await fs.readdir('/d/bad'), [])
  t.same(await fs.readdir('/'), ['d'])
  await fs.readdir('/d/bad')
  await fs.readdir('/')
  const told = lines.filter(l => /is not shown in the mount/.test(l))
  t.equal(told.length, 2, 'one line per directory, however often it is listed')
  t.match(told.join('\n'), '"d/bad//"', 'the empty segment, by the prefix a listing shows')
  t.match(told.join('\n'), name('r', 1024))
})

t.test('a directory rename that would take a key past 1,024 bytes is refused before any copy', async t => {
  const { fs, store } = makeFs()
  store.putText('short/' + name('k', 1000), 'x')
  store.putText('short/small', 'y')
  await fs.readdir('/')
  store.resetCounts()
  t.equal(await errnoOf(fs.rename('/short', '/' + name('w', 30))), 'ENAMETOOLONG')
  t.equal(store.requests.CopyObject ?? 0, 0, 'nothing copied')
  t.notOk(store.keys().some(k => k.startsWith('.oortfs-journal/')), 'no journal left for a later mount to finish')
  t.same((await fs.readdir('/short')).sort(), [name('k', 1000), 'small'].sort())
  await fs.rename('/short', '/' + name('w', 10))
  t.ok(store.object(name('w', 10) + '/' + name('k', 1000)), 'a rename that fits moves them')
})

t.test('a directory too long for an attribute index keeps none: its files are HEADed, and nothing fails to be written', async t => {
  const { fs, store } = makeFs()
  // its key is 1,015 bytes: the index key would be 1,028
  const dir = '/' + name('D', 1015)
  await fs.mkdir(dir, 0o755)
  await writeFile(fs, dir + '/f', Buffer.from('x'))
  await fs.chmod(dir + '/f', 0o600)
  await fs.flushAll()
  // (the root's index may record the directory's own times: it is the directory's index that cannot be)
  t.notOk(store.keys().some(k => k.startsWith(dir.slice(1)) && k.endsWith('.oortfs-attrs')), 'no index written for it')
  const { fs: other } = makeFs(store)
  store.resetCounts()
  t.same(await other.readdir(dir), ['f'])
  t.equal((await other.getattr(dir + '/f')).mode & 0o7777, 0o600, 'the mode another mount sees, from the object itself')
  t.equal(store.requests.HeadObject, 1, 'one HEAD for the file')
  await other.readdir(dir)
  t.equal(store.requests.HeadObject, 1, 'once per version, not per listing')
})

t.test('a directory\'s nlink is 2 plus its subdirectories once it is listed, and 1 (not counted) before', async t => {
  const { fs, store } = makeFs()
  for (const s of ['a', 'b', 'c']) store.putText(`p/d/${s}/file`, 'x')
  store.putText('p/d/plain', 'x')
  await fs.readdir('/p')
  t.equal((await fs.getattr('/p/d')).nlink, 1, 'no listing of it: 1, which find reads as "look at every entry"; 2 would tell it there is no subdirectory')
  await fs.readdir('/p/d')
  store.resetCounts()
  t.equal((await fs.getattr('/p/d')).nlink, 5, 'three subdirectories')
  t.equal(store.totalRequests(), 0, 'counted from the listing held, no request')
  await fs.mkdir('/p/d/e', 0o755)
  t.equal((await fs.getattr('/p/d')).nlink, 6, 'a new subdirectory counts at once')
  await fs.rmdir('/p/d/e')
  t.equal((await fs.getattr('/p/d')).nlink, 5)
  t.equal((await fs.getattr('/p/d/plain')).nlink, 1, 'a file: 1')
  t.equal((await fs.getattr('/p')).nlink, 3, 'its parent, listed: one subdirectory')
})

t.test('nlink once the listing is older than the freshness bound: not guessed from it', async t => {
  let now = 0
  const { fs, store } = makeFs(undefined, { monotonic: () => now, attrTtlMs: 1000 })
  for (const s of ['a', 'b', 'c']) store.putText(`d/${s}/file`, 'x')
  await fs.readdir('/d')
  t.equal((await fs.getattr('/d')).nlink, 5)
  now += 5000
  store.putText('d/z/file', 'another client made a fourth')
  await fs.readdir('/')
  t.equal((await fs.getattr('/d')).nlink, 1, 'a stale listing could miss the new one: 1')
  await fs.readdir('/d')
  t.equal((await fs.getattr('/d')).nlink, 6)
})
