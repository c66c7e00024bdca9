// the directory cache's entry bound and directories larger than it
import t from 'tap'
import { DirCache } from '../../src/fs/dir-cache.js'
import type { Entry } from '../../src/fs/entry.js'

function listing (dir: string, n: number): Map<string, Entry> {
  const m = new Map<string, Entry>()
  for (let i = 0; i < n; i++) m.set(`f${i}`, { kind: 'file', key: `${dir}/f${i}`, size: 1, etag: '"e"', lastModified: new Date(0) })
  return m
}

t.test('one directory larger than the bound (a flat bucket of 300,000 keys vs 250,000): its listing is still cached', async t => {
  const cache = new DirCache({ ttlMs: 60_000, maxEntries: 1000 })
  cache.setListing('/flat', { entries: listing('flat', 1500) }, Date.now())
  t.ok(cache.listing('/flat'), 'ls -l stats each name from the listing just taken (else a LIST per name)')
})

