// S3's size rules, from one place: parts of 5 MiB to 5 GiB, at most 10,000;
// copies above 5 GiB go as UploadPartCopy parts as large as allowed.
import t from 'tap'
import { partIndexOf, partSizeAt, partStart, partsOf } from '../../src/fs/write/part-layout.js'
import { copyObject } from '../../src/fs/write/copy-object.js'
import { S3Limits } from '../../src/s3/limits.js'
import type { ObjectStore } from '../../src/s3/store.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

t.test('no part is ever over 5 GiB, whatever part_size; starts and indexes agree', async t => {
  for (const partSize of [5 * MiB, 8 * MiB, 2.5 * GiB, 3 * GiB, 5 * GiB]) {
    for (const i of [0, 1, 999, 1000, 1001, 2999, 3000, 9999]) {
      t.ok(partSizeAt(i, partSize) <= S3Limits.maxPart, `part ${i} at part_size ${partSize / MiB} MiB`)
      t.equal(partIndexOf(partStart(i, partSize), partSize), i)
      t.equal(partStart(i + 1, partSize) - partStart(i, partSize), partSizeAt(i, partSize))
    }
  }
  const parts = partsOf(20 * GiB, 3 * GiB)
  t.ok(parts.every(([a, b]) => b - a <= S3Limits.maxPart), 'a 20 GiB file at part_size=3G: parts of 3 GiB, then 5 GiB (not 6)')
  t.equal(parts.at(-1)![1], 20 * GiB)
})

t.test('a copy of a 20 GiB object is a multipart copy in 5 GiB parts: 4, not 40', async t => {
  const calls: string[] = []
  const stub = {
    head: async () => ({ key: 'a', size: 20 * GiB, etag: '"e"', lastModified: new Date(), metadata: { mode: '33188' } }),
    copy: async () => { throw new Error('CopyObject refuses objects over 5 GiB') },
    createMultipart: async () => 'u',
    uploadPartCopy: async (_k: string, _u: string, n: number, _s: string, start: number, end: number) => { calls.push(`${n}:${(end - start) / GiB}`); return `p${n}` },
    completeMultipart: async () => ({ etag: '' }),
    abortMultipart: async () => {},
  } as unknown as ObjectStore
  await copyObject(stub, 'a', 'a', 20 * GiB, { metadata: { mode: '33216' } })
  t.same(calls.sort(), ['1:5', '2:5', '3:5', '4:5'])
})
