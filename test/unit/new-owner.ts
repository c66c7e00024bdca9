// Whose something new is (src/fs/new-owner.ts): the calling process's uid and
// gid, as the FUSE request gives them; a setgid directory's group and, for a
// new directory, its setgid bit; the mount's uid and gid without a caller.
// Each kind of object (file, directory, symlink, special file), as stored and
// as a remount shows it.
import t from 'tap'
import { makeFs } from '../helpers/make-fs.js'
import { OortFs } from '../../src/fs/filesystem.js'
import type { Caller } from '../../src/fs/api.js'
import { S_IFIFO } from '../../src/fs/special-files.js'

const alice: Caller = { uid: 1001, gid: 1001, pid: 10, umask: 0o022 }
const bob: Caller = { uid: 1002, gid: 1002, pid: 11, umask: 0o022 }
const S_ISGID = 0o2000

async function makeAll (fs: OortFs, dir: string, who: Caller | undefined): Promise<void> {
  const fh = await fs.create(`${dir}/file`, 0o644, who)
  await fs.release(fh)
  await fs.mkdir(`${dir}/sub`, 0o755, who)
  await fs.symlink('file', `${dir}/link`, who)
  await fs.mknod(`${dir}/fifo`, S_IFIFO | 0o644, 0, who)
}
const NAMES = ['file', 'sub', 'link', 'fifo']

t.test('each new kind of object belongs to the caller, stored and after a remount', async t => {
  const { fs, store } = makeFs(undefined, { uid: 0, gid: 0 })
  await fs.mkdir('/d', 0o777)
  await makeAll(fs, '/d', alice)
  await fs.flushAll()
  const again = new OortFs(store, fs.opts)
  for (const name of NAMES) {
    const a = await again.getattr(`/d/${name}`)
    t.same([a.uid, a.gid], [1001, 1001], `${name} is alice's`)
  }
  t.equal(store.object('d/file')!.metadata.uid, '1001', 'stored as s3fs stores it')
})

t.test('without a caller (no FUSE request) new objects are the mount\'s uid and gid', async t => {
  const { fs } = makeFs(undefined, { uid: 500, gid: 600 })
  await fs.mkdir('/d', 0o777)
  await makeAll(fs, '/d', undefined)
  for (const name of NAMES) {
    const a = await fs.getattr(`/d/${name}`)
    t.same([a.uid, a.gid], [500, 600], name)
  }
})

t.test('a setgid directory passes on its group, and its setgid bit to new directories', async t => {
  const { fs, store } = makeFs(undefined, { uid: 0, gid: 0 })
  await fs.mkdir('/team', 0o775, alice)
  await fs.chown('/team', -1, 4242)
  await fs.chmod('/team', 0o2775)
  await makeAll(fs, '/team', bob)
  for (const name of NAMES) {
    const a = await fs.getattr(`/team/${name}`)
    t.same([a.uid, a.gid], [1002, 4242], `${name}: bob's, in the directory's group`)
  }
  t.ok((await fs.getattr('/team/sub')).mode & S_ISGID, 'a new subdirectory is setgid too')
  t.notOk((await fs.getattr('/team/file')).mode & S_ISGID, 'a new file is not made setgid')
  // and on down: a directory made in the new subdirectory
  await fs.mkdir('/team/sub/deeper', 0o755, bob)
  const deeper = await fs.getattr('/team/sub/deeper')
  t.same([deeper.gid, Boolean(deeper.mode & S_ISGID)], [4242, true], 'inherited again one level down')
  // a remount (nothing cached) reads the setgid directory's stored mode
  await fs.flushAll()
  const again = new OortFs(store, fs.opts)
  const fh = await again.create('/team/later', 0o644, bob)
  await again.release(fh)
  t.equal((await again.getattr('/team/later')).gid, 4242, 'after a remount too')
})

t.test('a directory without setgid gives the caller\'s own group', async t => {
  const { fs } = makeFs(undefined, { uid: 0, gid: 0 })
  await fs.mkdir('/plain', 0o777, alice)
  await fs.chown('/plain', -1, 4242)
  await makeAll(fs, '/plain', bob)
  t.equal((await fs.getattr('/plain/file')).gid, 1002)
  t.notOk((await fs.getattr('/plain/sub')).mode & S_ISGID)
})

t.test('the mount root, chmod g+s, passes on its group', async t => {
  const { fs, store } = makeFs(undefined, { uid: 0, gid: 0 })
  await fs.chown('/', -1, 777)
  await fs.chmod('/', 0o2777)
  await fs.flushAll()
  const again = new OortFs(store, fs.opts)
  await makeAll(again, '', bob)
  t.equal((await again.getattr('/file')).gid, 777)
  t.ok((await again.getattr('/sub')).mode & S_ISGID)
})
