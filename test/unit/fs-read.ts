import t from 'tap'
import { makeFs, readFile, pattern, KiB, MiB } from '../helpers/make-fs.js'
import { FakeStore } from '../helpers/fake-store.js'

function storeWith (key: string, data: Buffer): FakeStore {
  const store = new FakeStore({ minPartSize: 64 * KiB })
  store.putText(key, '')
  // putText takes text; write the binary body through the interface
  void store.put(key, data)
  return store
}

t.test('a sequential read streams with a growing window of large GETs', async t => {
  const data = pattern(8 * MiB + 77)
  const { fs, store } = makeFs(storeWith('big', data), { blockSize: 64 * KiB, readahead: 2 * MiB })
  await fs.getattr('/big')
  store.resetCounts()
  const back = await readFile(fs, '/big', 128 * KiB)
  t.ok(back.equals(data), 'every byte arrives')
  const gets = store.requests.GetObject!
  t.ok(gets < (8 * MiB) / (64 * KiB) / 3, `${gets} GETs for 128 blocks: ranges grow past one block`)
})

t.test('random 4 KiB reads fetch one block each, not the file', async t => {
  const data = pattern(64 * MiB)
  const { fs, store } = makeFs(storeWith('r', data), { blockSize: 64 * KiB })
  await fs.getattr('/r')
  const fh = await fs.open('/r', 0)
  store.resetCounts()
  // farther apart than the seek window, so none looks like a stream
  const offsets = [30 * MiB + 5, 17, 20 * MiB - 100, 50 * MiB + 4096, 63 * MiB + 900 * KiB]
  for (const off of offsets) {
    const buf = Buffer.alloc(4096)
    const n = await fs.read(fh, buf, 4096, off)
    t.equal(n, Math.min(4096, data.length - off))
    t.ok(buf.subarray(0, n).equals(data.subarray(off, off + n)), `bytes at ${off}`)
  }
  // the read at 2 MiB - 100 spans two blocks
  t.ok(store.requests.GetObject! <= offsets.length + 1, `${store.requests.GetObject} GETs`)
  await fs.release(fh)
})

t.test('reads past the end return 0; a second reader is served from the cache', async t => {
  const data = pattern(100 * KiB)
  const { fs, store } = makeFs(storeWith('c', data))
  await readFile(fs, '/c')
  store.resetCounts()
  const fh = await fs.open('/c', 0)
  const buf = Buffer.alloc(10)
  t.equal(await fs.read(fh, buf, 10, 200 * KiB), 0)
  t.equal(await fs.read(fh, buf, 10, 5), 10)
  t.equal(store.totalRequests(), 0, 'cached blocks cost nothing')
  await fs.release(fh)
})
