// Found by a review of the directory times with the freshness bound (a failing test first):
// our own times write of a directory's marker is never taken for another client's change at
// the directory's next listing (it once cost a HEAD per directory: find, touch in each, find).
import t from 'tap'
import { steppedFs, writeFile } from '../helpers/make-fs.js'
import { OortFs } from '../../src/fs/filesystem.js'

const BOUND = 1000
async function walk (fs: OortFs, dir: string): Promise<void> {
  for (const n of await fs.readdir(dir)) {
    const p = dir === '/' ? '/' + n : dir + '/' + n
    const a = await fs.getattr(p)
    if ((a.mode & 0o170000) === 0o040000) await walk(fs, p)
  }
}

t.test('find; touch a file in each of 20 directories; find again: no HEAD for our own markers', async t => {
  const { fs, store, step } = steppedFs(BOUND)
  for (let i = 0; i < 20; i++) store.putText(`top/d${i}/old`, 'x')
  await walk(fs, '/')
  for (let i = 0; i < 20; i++) await writeFile(fs, `/top/d${i}/new`, Buffer.from('x'))
  await fs.flushAll() // the 20 markers (their times) are PUT
  step(BOUND + 500)
  store.resetCounts()
  await walk(fs, '/')
  t.equal(store.requests.HeadObject ?? 0, 0, `find after our own writes: ${JSON.stringify(store.requests)}`)
})
