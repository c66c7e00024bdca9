// Review findings (fresh reader, issue 16): the first index written for a directory that was there before must not say its files have no extended attributes
import t from 'tap'
import { makeFs } from '../helpers/make-fs.js'
import type { FakeStore } from '../helpers/fake-store.js'
import { OortFs } from '../../src/fs/filesystem.js'

const remount = (fs: OortFs, store: FakeStore): OortFs => new OortFs(store, { ...fs.opts })

t.test('an earlier oortfs\'s user. attribute on a file with no record, in a directory with no index: a first index written here must not say the file has none', async t => {
  const { fs, store } = makeFs()
  // an earlier oortfs: default mode, a user. attribute, no record, no index at all
  store.putText('old/plain', 'x', { xattr: encodeURIComponent(JSON.stringify({ 'user.note': Buffer.from('kept').toString('base64') })) })
  store.putText('old/other', 'y')
  await new Promise(resolve => setTimeout(resolve, 1100))
  const rw = remount(fs, store)
  await rw.readdir('/old')
  await rw.chmod('/old/other', 0o600) // any change here writes the directory's first index
  await rw.flushAll()
  const index = JSON.parse(store.object('old.oortfs-attrs')!.body.toString())
  t.comment(`index written: ${JSON.stringify(index)}`)
  const again = remount(fs, store)
  await again.readdir('/old')
  t.equal((await again.getxattr('/old/plain', 'user.note'))?.toString(), 'kept', 'getfattr -n user.note still finds it')
  t.same(await again.listxattr('/old/plain'), ['user.note'], 'listxattr (cp -a, rsync -X) still lists it')
})

