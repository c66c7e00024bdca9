// the attribute index rebuilt after damage
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'
import { OortFs } from '../../src/fs/filesystem.js'
import { INDEX_TTL_MS } from '../../src/fs/attr-index.js'

function remount (fs: OortFs, store: FakeStore): OortFs {
  return new OortFs(store, { ...fs.opts })
}

t.test('a damaged index, relisted by the mount that knows the files: the rewrite must keep their records', async t => {
  let mono = 1_000_000
  const { fs, store } = makeFs(undefined, { attrTtlMs: 300, monotonic: () => mono })
  for (const [n, mode] of [['a', 0o755], ['b', 0o700], ['c', 0o750]] as const) {
    await writeFile(fs, `/d/${n}`, Buffer.from(n))
    await fs.chmod(`/d/${n}`, mode)
  }
  await fs.flushAll()
  await fs.readdir('/d')
  store.putText('d.oortfs-attrs', '{"v":1,"r":{"a":{"m":33') // damaged (a crash, another tool)
  // the listing and the index held expire (the index is trusted longer: INDEX_TTL_MS);
  // the entries' attributes are still known here
  mono += INDEX_TTL_MS
  await fs.readdir('/d') // a full listing: "every file HEADed", so the index counts as rebuilt
  await writeFile(fs, '/d/e', Buffer.from('e'))
  await fs.chmod('/d/e', 0o711) // any change in the directory writes the index
  await fs.flushAll()
  const m = remount(fs, store)
  await m.readdir('/d')
  const modes = await Promise.all(['a', 'b', 'c', 'e'].map(async n => (await m.getattr(`/d/${n}`)).mode & 0o777))
  t.same(modes.map(x => x.toString(8)), ['755', '700', '750', '711'], 'a new mount shows every stored mode')
  t.same(Object.keys(JSON.parse(store.object('d.oortfs-attrs')!.body.toString()).r).sort(), ['a', 'b', 'c', 'e'], 'the index has every record')
})
