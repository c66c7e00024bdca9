import t from 'tap'
import { makeFs } from '../helpers/make-fs.js'
import type { OortFs } from '../../src/fs/filesystem.js'
import type { FakeStore } from '../helpers/fake-store.js'

/** what find(1) does: read every directory, depth first, stat everything */
async function find (fs: OortFs, dir: string, out: string[] = []): Promise<string[]> {
  for (const name of (await fs.readdir(dir)).sort()) {
    const path = dir === '/' ? '/' + name : `${dir}/${name}`
    const a = await fs.getattr(path)
    out.push(`${path} ${a.mode.toString(8)} ${a.size}`)
    if ((a.mode & 0o170000) === 0o040000) await find(fs, path, out)
  }
  return out
}

function seed (store: FakeStore): void {
  for (let d = 0; d < 10; d++) for (let f = 0; f < 100; f++) store.putText(`tree/d${d}/f${f}`, 'x'.repeat(f))
  store.putText('tree/d3/', '') // a marker
  store.putText('tree/d4/deep/er/still/leaf', 'leaf') // a chain of implicit directories
  store.putText('tree/odd//name', 'skipped') // an empty segment
  store.putText('tree/x', 'file x')
  store.putText('tree/x/inside', 'shadowing dir') // a file and a prefix of the same name
  store.putText('tree/ün i+c%o#de/f', 'u')
  store.putText('zzz-after', 'outside the tree')
}

t.test('find over 10 directories of 100 files costs a few listings, not one per directory', async t => {
  const { fs, store } = makeFs()
  seed(store)
  await fs.getattr('/tree')
  store.resetCounts()
  const walked = await find(fs, '/tree')
  t.ok(store.requests.ListObjectsV2! <= 5, `${store.requests.ListObjectsV2} listings for 17 directories`)
  // a zero-byte file alone is the empty file it nearly always is: no HEAD (attr-index.ts maybeDirObject)
  t.equal(store.requests.HeadObject ?? 0, 0, 'no HEAD, for the 10 empty files either')
  // the same tree seen without any walk: a fresh mount listing each directory alone
  const { fs: plain, store: plainStore } = makeFs()
  seed(plainStore)
  const expected: string[] = []
  for (const line of walked) expected.push(line) // same format
  const direct: string[] = []
  const readEach = async (dir: string): Promise<void> => {
    for (const name of (await plain.readdir(dir)).sort()) {
      const path = dir === '/' ? '/' + name : `${dir}/${name}`
      const a = await plain.getattr(path)
      direct.push(`${path} ${a.mode.toString(8)} ${a.size}`)
      if ((a.mode & 0o170000) === 0o040000) {
        // list each directory long after the last, so no walk is noticed
        plain.ns.cache.forget(path)
        await readEach(path)
      }
    }
  }
  await readEach('/tree')
  t.same(walked, direct, 'a walk shows exactly what per-directory listings show')
  t.ok(walked.includes('/tree/x 40755 4096') && walked.includes('/tree/x.oortfs-file 100644 6'))
  t.ok(walked.includes('/tree/d4/deep/er/still/leaf 100644 4'))
  t.notOk(walked.some(l => l.includes('zzz-after')))
})

t.test('two directories listed far apart start no walk', async t => {
  const { fs, store } = makeFs()
  seed(store)
  await fs.readdir('/tree')
  await fs.readdir('/tree/d0')
  store.resetCounts()
  await fs.readdir('/')
  t.same(store.requests, { ListObjectsV2: 1 }, 'a sibling of nothing recently listed lists alone')
})
