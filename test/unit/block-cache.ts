// The block cache's has() answers from a per-object set of indices (no string
// key per question). It must say exactly what the cache holds: a block cached
// or on its way, never one evicted, failed or replaced. Random fetches that
// land, fail or stay pending, in a cache small enough to evict all the time,
// are checked against pending() (the block itself, or its fetch) after each step.
import t from 'tap'
import { BlockCache } from '../../src/fs/read/block-cache.js'
import { prng } from '../../scripts/prng.js'

const BS = 16
const OBJECTS = ['v1:a', 'v1:b', 'v2:a:with:colons']
const INDICES = 24

interface Pending { resolve: (n: number) => void, reject: (e: Error) => void }

const settle = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

t.test('has() is true exactly while a block is cached or being fetched', async t => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const next = prng(seed)
    const pick = (n: number): number => Math.floor(next() * n)
    const cache = new BlockCache({ maxBytes: 8 * BS, blockSize: BS })
    const open: Pending[] = []
    const wrong: string[] = []
    for (let step = 0; step < 400 && wrong.length === 0; step++) {
      const r = next()
      if (r < 0.45) {
        const object = OBJECTS[pick(OBJECTS.length)]!
        const first = pick(INDICES)
        const count = 1 + pick(4)
        cache.fetch(object, first, count, buffers => new Promise<number>((resolve, reject) => {
          open.push({
            resolve: n => { for (const b of buffers()) b.fill(1); resolve(n) },
            reject,
          })
        }))
      } else if (open.length > 0) {
        const p = open.splice(pick(open.length), 1)[0]!
        if (r < 0.85) p.resolve(pick(5) * BS - pick(2)) // whole, short, or empty
        else p.reject(new Error('the fetch failed'))
      }
      await settle()
      for (const object of OBJECTS) {
        for (let i = 0; i < INDICES + 4; i++) {
          const truth = cache.pending(object, i) !== undefined
          if (cache.has(object, i) !== truth) wrong.push(`seed ${seed} step ${step}: has(${object}, ${i}) = ${!truth}, but the cache ${truth ? 'holds' : 'does not hold'} it`)
        }
      }
    }
    for (const p of open) p.reject(new Error('end'))
    await settle()
    t.same(wrong, [], `seed ${seed}: has() agrees with the cache at every step`)
    for (const object of OBJECTS) {
      for (let i = 0; i < INDICES + 4; i++) {
        if (cache.has(object, i) && cache.pending(object, i) === undefined) wrong.push(`${object} ${i}`)
      }
    }
    t.same(wrong, [], `seed ${seed}: nothing is held once every fetch ended but what is cached`)
  }
})

t.test('a mirror (the read shortcut) holds exactly the cached blocks, and no buffer is refilled while mirrored', async t => {
  for (const seed of [11, 12, 13, 14]) {
    const next = prng(seed)
    const pick = (n: number): number => Math.floor(next() * n)
    const cache = new BlockCache({ maxBytes: 6 * BS, blockSize: BS, aheadBytes: 2 * BS })
    const mirrored = new Map<string, { block: Buffer, copy: Buffer }>()
    const wrong: string[] = []
    // mirrored from the start for two seeds, from half way for the others (blocks held then are published at once)
    const mirror = {
      publish: (o: number, i: number, block: Buffer) => { mirrored.set(`${o}:${i}`, { block, copy: Buffer.from(block) }) },
      unpublish: (o: number, i: number) => {
        const m = mirrored.get(`${o}:${i}`)
        if (m && !m.block.equals(m.copy)) wrong.push(`seed ${seed}: block ${o}:${i} changed while mirrored`)
        mirrored.delete(`${o}:${i}`)
      },
    }
    if (seed % 2 === 1) cache.mirrorTo(mirror)
    const open: Pending[] = []
    let fill = 0
    for (let step = 0; step < 400 && wrong.length === 0; step++) {
      if (step === 200 && seed % 2 === 0) cache.mirrorTo(mirror)
      const r = next()
      if (r < 0.45) {
        const object = OBJECTS[pick(OBJECTS.length)]!
        const value = ++fill % 250
        cache.fetch(object, pick(INDICES), 1 + pick(4), buffers => new Promise<number>((resolve, reject) => {
          open.push({ resolve: n => { for (const b of buffers()) b.fill(value); resolve(n) }, reject })
        }))
      } else if (open.length > 0) {
        const p = open.splice(pick(open.length), 1)[0]!
        if (r < 0.85) p.resolve(pick(5) * BS - pick(2))
        else p.reject(new Error('the fetch failed'))
      }
      await settle()
      if (step < 200 && seed % 2 === 0) continue
      const cached = new Set<string>()
      for (const object of OBJECTS) {
        for (let i = 0; i < INDICES + 4; i++) {
          const b = cache.get(object, i)
          if (!b) continue
          const id = `${cache.numberOf(object)}:${i}`
          cached.add(id)
          const m = mirrored.get(id)
          if (!m) wrong.push(`seed ${seed} step ${step}: ${object} ${i} cached, not mirrored`)
          else if (m.block !== b) wrong.push(`seed ${seed} step ${step}: ${object} ${i} mirrored as another buffer`)
        }
      }
      for (const [id, m] of mirrored) {
        if (!cached.has(id)) wrong.push(`seed ${seed} step ${step}: ${id} mirrored, not cached`)
        if (!m.block.equals(m.copy)) wrong.push(`seed ${seed} step ${step}: ${id} changed while mirrored`)
      }
    }
    for (const p of open) p.reject(new Error('end'))
    await settle()
    t.same(wrong, [], `seed ${seed}: the mirror is the cache at every step`)
  }
})
