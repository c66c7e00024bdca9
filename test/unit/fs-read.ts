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

t.test('block buffers reused by a small cache never show another object\'s bytes', async t => {
  // 4 objects of 3 MiB through a 1 MiB cache: every block buffer is let go and
  // filled again many times while other readers are between awaits
  const store = new FakeStore({ minPartSize: 64 * KiB, latencyMs: 1 })
  const bodies = [0, 1, 2, 3].map(i => pattern(3 * MiB + i * 1000, i + 1))
  for (const [i, body] of bodies.entries()) await store.put(`o${i}`, body)
  const { fs } = makeFs(store, { blockSize: 64 * KiB, cacheSize: 1 * MiB + 512 * KiB, readahead: 512 * KiB })
  const readers = bodies.map(async (body, i) => {
    const fh = await fs.open(`/o${i}`, 0)
    const bad: number[] = []
    // sequential passes with random reads between them
    for (let pass = 0; pass < 2; pass++) {
      for (let at = 0; at < body.length; at += 100 * KiB) {
        const len = Math.min(100 * KiB, body.length - at)
        const buf = Buffer.alloc(len)
        const n = await fs.read(fh, buf, len, at)
        if (n !== len || !buf.equals(body.subarray(at, at + len))) bad.push(at)
        const r = Math.floor(((at * 7919) % body.length) / 4096) * 4096
        const small = Buffer.alloc(4096)
        await fs.read(fh, small, 4096, r)
        if (!small.equals(body.subarray(r, r + 4096))) bad.push(-r)
      }
    }
    await fs.release(fh)
    return bad
  })
  t.same(await Promise.all(readers), [[], [], [], []], 'every read has its own object\'s bytes')
})
