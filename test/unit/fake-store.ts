// The fake passes the same contract as the real gateway on Ceph, and its test
// controls (counts, faults, latency, seeding) do what unit tests rely on.
import t from 'tap'
import { S3Error } from '../../src/s3/errors.js'
import { FakeStore } from '../helpers/fake-store.js'
import { contract } from '../helpers/store-contract.js'

t.test('contract', async t => contract(t, async () => new FakeStore()))

t.test('counts requests by S3 operation name', async t => {
  const s = new FakeStore()
  const seen: string[] = []
  s.onRequest = (op, key) => seen.push(`${op} ${key}`)
  await s.put('a', Buffer.from('x'))
  await s.head('a')
  await s.head('nope')
  await s.get('a', 0, 1)
  await s.get('a', 1, 1) // empty range: no request, like the gateway
  await s.list({ prefix: 'p/' })
  await s.checkBucket()
  t.same(s.requests, { PutObject: 1, HeadObject: 2, GetObject: 1, ListObjectsV2: 2 })
  t.equal(s.totalRequests(), 6)
  t.same(seen, ['PutObject a', 'HeadObject a', 'HeadObject nope', 'GetObject a', 'ListObjectsV2 p/', 'ListObjectsV2 '])
  s.resetCounts()
  t.same(s.requests, {})
  t.equal(s.totalRequests(), 0)
})

t.test('failNext fails the next N calls of an op, or of any op', async t => {
  const s = new FakeStore()
  s.putText('a', 'x')
  const slow = new S3Error('EIO', 'SlowDown', 503, 'slow down')
  s.failNext('GetObject', slow, 2)
  await t.rejects(s.get('a', 0, 1), slow)
  await t.rejects(s.get('a', 0, 1), slow)
  t.equal((await s.get('a', 0, 1)).toString(), 'x')
  await s.head('a') // other ops are untouched
  s.failNext('*', slow)
  await t.rejects(s.put('b', Buffer.from('y')), slow)
  t.equal(s.object('b'), undefined, 'a failed put stores nothing')
  t.equal(s.requests.GetObject, 3, 'failed requests are counted too')
  s.failNext('HeadObject', new S3Error('ENOENT', 'NotFound', 404, 'gone'))
  t.equal(await s.head('a'), undefined, 'a 404 on HEAD reads as a missing key, as in the gateway')
})

t.test('latency delays answers and an abort cuts it short', async t => {
  const s = new FakeStore({ latencyMs: 50 })
  s.putText('a', 'x')
  const start = Date.now()
  await s.head('a')
  t.ok(Date.now() - start >= 45)
  const ac = new AbortController()
  const p = s.get('a', 0, 1, { signal: ac.signal })
  ac.abort()
  t.match(await p.catch(e => e), { code: 'AbortError' })
  await t.rejects(s.get('a', 0, 1, { signal: ac.signal }), 'an aborted signal fails before the request')
})

t.test('buffers are never shared with callers', async t => {
  const s = new FakeStore()
  const body = Buffer.from('abc')
  await s.put('k', body)
  body.fill(0)
  const got = await s.get('k', 0, 3)
  got.fill(1)
  t.equal((await s.get('k', 0, 3)).toString(), 'abc')
  s.object('k')!.body.fill(2)
  t.equal((await s.get('k', 0, 3)).toString(), 'abc')
  const id = await s.createMultipart('m')
  const part = Buffer.from('part')
  const etag = await s.uploadPart('m', id, 1, part)
  part.fill(0)
  await s.completeMultipart('m', id, [{ partNumber: 1, etag }])
  t.equal((await s.get('m', 0, 10)).toString(), 'part')
})

t.test('seeding and inspection helpers', async t => {
  const s = new FakeStore()
  const etag = s.putText('b', 'hi', { Mode: '600' })
  s.putText('a/😀', '')
  s.putText('a/ｚ', '')
  t.equal(s.totalRequests(), 0, 'seeding is not a request')
  t.same(s.keys(), ['a/ｚ', 'a/😀', 'b'], 'byte order')
  t.match(s.object('b'), { etag, metadata: { mode: '600' } })
  t.equal(s.object('nope'), undefined)
  const id = await s.createMultipart('up')
  await s.uploadPart('up', id, 2, Buffer.from('x'))
  t.same(s.uploadsInProgress(), [{ key: 'up', uploadId: id, parts: [2] }])
  await s.abortMultipart('up', id)
  t.same(s.uploadsInProgress(), [])
  t.equal(await s.presign('d/a b', { method: 'GET', expiresSeconds: 60 }), 'fake://fake-bucket/d/a%20b?method=GET&expires=60')
})

t.test('dates: listings keep milliseconds, HEAD whole seconds, copies move them', async t => {
  let now = Date.parse('2024-05-01T10:00:00.750Z')
  const s = new FakeStore({ now: () => now })
  const { serverDate } = await s.put('a', Buffer.from('x'))
  t.equal(serverDate?.toISOString(), '2024-05-01T10:00:00.000Z')
  t.equal((await s.list({ prefix: '' })).objects[0].lastModified.toISOString(), '2024-05-01T10:00:00.750Z')
  t.equal((await s.head('a'))?.lastModified.toISOString(), '2024-05-01T10:00:00.000Z')
  now += 2000
  const copy = await s.copy('a', 'a', { metadata: {} })
  t.equal(copy.lastModified?.toISOString(), '2024-05-01T10:00:02.750Z')
  t.equal(s.object('a')?.lastModified.toISOString(), '2024-05-01T10:00:02.750Z')
})

t.test('maxCopySize: CopyObject and UploadPartCopy refuse more, as S3 above 5 GiB; the Content-Type goes where the request says', async t => {
  const s = new FakeStore({ minPartSize: 4, maxCopySize: 4 })
  s.putText('src', 'abcdefgh', {}, 'text/csv')
  t.match(await s.copy('src', 'dst').catch(e => e), { code: 'InvalidRequest', status: 400 })
  s.putText('four', 'abcd', {}, 'text/csv')
  await s.copy('four', 'kept')
  t.equal(s.object('kept')!.contentType, 'text/csv', 'COPY keeps the type')
  await s.copy('four', 'replaced', { metadata: {}, contentType: 'image/png' })
  t.equal(s.object('replaced')!.contentType, 'image/png', 'REPLACE sets the one given')
  const id = await s.createMultipart('m', { contentType: 'text/plain' })
  t.match(await s.uploadPartCopy('m', id, 1, 'src', 0, 5).catch(e => e), { code: 'InvalidRequest' })
  const parts = [{ partNumber: 1, etag: await s.uploadPartCopy('m', id, 1, 'src', 0, 4) }, { partNumber: 2, etag: await s.uploadPartCopy('m', id, 2, 'src', 4, 8) }]
  await s.completeMultipart('m', id, parts)
  t.equal(s.object('m')!.contentType, 'text/plain', 'a multipart upload takes CreateMultipartUpload\'s')
})

t.test('multipart with a small minPartSize, and its failures', async t => {
  const s = new FakeStore({ minPartSize: 4 })
  s.putText('src', 'abcdefgh')
  const id = await s.createMultipart('m')
  const e1 = await s.uploadPart('m', id, 1, Buffer.from('1234'))
  const e2 = await s.uploadPartCopy('m', id, 2, 'src', 2, 5)
  const parts = [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }]
  t.match(await s.completeMultipart('m', id, [...parts].reverse()).catch(e => e), { code: 'InvalidPartOrder', status: 400 })
  t.match(await s.completeMultipart('m', id, [{ partNumber: 1, etag: '"bad"' }, parts[1]]).catch(e => e), { code: 'InvalidPart' }, 'ETag mismatch')
  t.match(await s.completeMultipart('m', id, [parts[1]]).catch(e => e), { code: 'InvalidPart' }, 'a subset of the parts, as Ceph refuses it')
  t.match(await s.uploadPartCopy('m', id, 3, 'src', 4, 9).catch(e => e), { code: 'InvalidRange' })
  t.match(await s.uploadPartCopy('m', id, 3, 'nope', 0, 1).catch(e => e), { code: 'NoSuchKey', errno: 'ENOENT' })
  t.match(await s.uploadPart('other', id, 3, Buffer.from('x')).catch(e => e), { code: 'NoSuchUpload' }, 'an upload id is for one key')
  t.match(await s.completeMultipart('m', id, parts), { etag: '', serverDate: Date })
  t.equal((await s.get('m', 0, 100)).toString(), '1234cde')
  t.match(s.object('m')?.etag, /^"[0-9a-f]{32}-2"$/)
  t.same(s.uploadsInProgress(), [])
  t.match(await s.abortMultipart('m', id).catch(e => e), { code: 'NoSuchUpload', errno: 'ENOENT', status: 404 })
})

t.test('odd requests fail as S3 fails them', async t => {
  const s = new FakeStore()
  s.putText('a', 'x')
  t.match(await s.copy('a', 'a').catch(e => e), { code: 'InvalidRequest', status: 400 }, 'copy onto itself needs new metadata')
  t.match(await s.list({ prefix: '', continuationToken: 'garbage' }).catch(e => e), { errno: 'EINVAL', status: 400 })
  t.match(await s.put('k'.repeat(1025), Buffer.alloc(0)).catch(e => e), { errno: 'ENAMETOOLONG', code: 'KeyTooLongError', status: 400 })
  s.resetCounts()
  await t.rejects(s.deleteMany(Array.from({ length: 1001 }, (_, i) => `k${i}`)), RangeError)
  t.same(await s.deleteMany([]), { failed: [] })
  t.equal(s.totalRequests(), 0, 'refused before sending, as in the gateway')
  t.match((await s.list({ prefix: '', maxKeys: 0 })), { objects: [], prefixes: [], truncated: false, serverDate: Date })
})

t.test('a missing bucket fails every request with NoSuchBucket', async t => {
  const s = new FakeStore({ missingBucket: true })
  t.match(await s.checkBucket().catch(e => e), { errno: 'ENOENT', code: 'NoSuchBucket', status: 404 })
  t.match(await s.put('a', Buffer.alloc(0)).catch(e => e), { code: 'NoSuchBucket' })
  t.equal(await s.head('a'), undefined, 'HEAD has no body to say which thing is missing')
})

t.test('read returns a whole object with its ETag, undefined when missing', async t => {
  const s = new FakeStore({ now: () => Date.parse('2024-05-01T10:00:00.750Z') })
  const etag = s.putText('a', 'whole')
  const got = await s.read('a')
  t.same([got?.body.toString(), got?.etag, got?.lastModified.toISOString()], ['whole', etag, '2024-05-01T10:00:00.000Z'])
  got!.body.fill(0)
  t.equal((await s.get('a', 0, 5)).toString(), 'whole', 'the body is a copy')
  t.equal(await s.read('missing'), undefined)
  t.equal(s.requests.GetObject, 3)
})
