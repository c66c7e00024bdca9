// Memory bounded by entries, not by counts of directories: a find over a
// bucket of millions of keys keeps the most recent listings only, and the
// attribute index forgets what it no longer needs (never a change to write).
import t from 'tap'
import { DirCache } from '../../src/fs/dir-cache.js'
import { AttrIndex } from '../../src/fs/attr-index.js'
import type { Entry } from '../../src/fs/entry.js'
import { FakeStore } from '../helpers/fake-store.js'

function listing (dir: string, n: number): Map<string, Entry> {
  const m = new Map<string, Entry>()
  for (let i = 0; i < n; i++) m.set(`f${i}`, { kind: 'file', key: `${dir}/f${i}`, size: 1, etag: '"e"', lastModified: new Date(0) })
  return m
}

t.test('the directory cache holds at most maxEntries entries, however many directories are listed', async t => {
  const cache = new DirCache({ ttlMs: 60_000, maxEntries: 1000 })
  for (let d = 0; d < 50; d++) cache.setListing(`/d${d}`, { entries: listing(`d${d}`, 100) }, Date.now())
  let held = 0
  for (let d = 0; d < 50; d++) held += cache.listing(`/d${d}`)?.size ?? 0
  t.ok(held <= 1000, `${held} entries held`)
  t.equal(cache.listing('/d49')?.size, 100, 'the most recent listings stay')
  t.equal(cache.listing('/d0'), undefined, 'the oldest went')
})

t.test('the attribute index forgets the oldest directories past its bound, never one with changes to write', async t => {
  const idx = new AttrIndex(new FakeStore(), { uid: 0, gid: 0, mode: () => 0o100644 }, { ttlMs: 60_000, indexKey: d => d + '.oortfs-attrs', delayMs: 60_000 })
  idx.changed('/keep', 'f', { kind: 'file', key: 'keep/f', size: 1, etag: '"e"', lastModified: new Date(0), meta: { mode: 0o100700 } })
  for (let d = 0; d < 30_000; d++) idx.sawIndex(`/d${d}`, undefined, Date.now())
  const inner = idx as unknown as { seen: Map<string, unknown>, dirs: Map<string, unknown> }
  t.ok(inner.seen.size <= 20_000, `${inner.seen.size} sightings kept`)
  t.ok(inner.dirs.has('/keep'), 'the directory with a change to write stays')
  t.equal(idx.hasIndex('/d29999'), false, 'recent ones are still known')
  await idx.flush()
})

t.test('one directory larger than the bound (a flat bucket of 300,000 keys vs 250,000): its listing is still cached', async t => {
  const cache = new DirCache({ ttlMs: 60_000, maxEntries: 1000 })
  cache.setListing('/flat', { entries: listing('flat', 1500) }, Date.now())
  t.ok(cache.listing('/flat'), 'ls -l stats each name from the listing just taken (else a LIST per name)')
})
