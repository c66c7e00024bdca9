// One set of assertions about the ObjectStore, run on the in-memory fake (unit
// tests) and on the real gateway against Ceph RGW (e2e): if both pass, unit
// tests of the filesystem core can trust the fake. Ceph quirks the core must
// live with (unquoted copy ETags, empty multipart ETag) are asserted too.
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { S3Error } from '../../src/s3/errors.js'
import { sameEtag, unquote, type ListPage, type ListParams, type ObjectStore } from '../../src/s3/store.js'

/** a fresh, empty store for one subtest; clean up through t.teardown */
export type MakeStore = (t: Test) => Promise<ObjectStore>

const MiB = 1024 * 1024
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest()
const md5hex = (b: Buffer): string => md5(b).toString('hex')
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

async function putAll (s: ObjectStore, keys: string[], body = Buffer.alloc(0)): Promise<void> {
  await Promise.all(keys.map(k => s.put(k, body)))
}

/** every page of a listing, each page's entries in order (prefixes and keys merged) */
async function pages (s: ObjectStore, params: ListParams): Promise<{ entries: string[]; page: ListPage }[]> {
  const out: { entries: string[]; page: ListPage }[] = []
  let token: string | undefined
  do {
    const page = await s.list({ ...params, continuationToken: token })
    const entries = [...page.objects.map(o => o.key), ...page.prefixes].sort(byteOrder)
    out.push({ entries, page })
    token = page.truncated ? page.nextToken : undefined
    if (page.truncated && !token) throw new Error('truncated page without a continuation token')
  } while (token)
  return out
}

async function listAll (s: ObjectStore, params: ListParams): Promise<string[]> {
  return (await pages(s, params)).flatMap(p => p.entries)
}

async function failure (p: Promise<unknown>): Promise<S3Error> {
  try {
    await p
  } catch (err) {
    if (err instanceof S3Error) return err
    throw err
  }
  throw new Error('expected an S3Error, but the call succeeded')
}

export function contract (t: Test, makeStore: MakeStore): void {
  t.test('listings are in UTF-8 byte order, odd names included', async t => {
    const s = await makeStore(t)
    // U+FF5A sorts before U+1F600 in bytes but after it in JS (UTF-16) order
    const keys = ['a b', 'a+b', 'a%20b', 'a#b', 'a', 'B', 'b', 'é', 'e\u0301', 'ｚ', '😀', '日本/語', 'a~', 'a.b', 'a-b']
    t.notSame([...keys].sort(), [...keys].sort(byteOrder), 'the names tell byte order from string order')
    await Promise.all(keys.map(k => s.put(k, Buffer.from(k))))
    t.same(await listAll(s, { prefix: '' }), [...keys].sort(byteOrder))
    for (const k of keys) t.equal((await s.get(k, 0, 100)).toString(), k, `${k} round-trips`)
    t.equal((await s.head('a+b'))?.size, 3)
  })

  t.test('a delimiter listing rolls up deep-only prefixes; key a and prefix a/ coexist', async t => {
    const s = await makeStore(t)
    await putAll(s, ['a', 'a/x', 'b/c/d', 'd/', 'e', 'f/g/h/i'])
    const root = await s.list({ prefix: '', delimiter: '/' })
    t.same(root.objects.map(o => o.key), ['a', 'e'])
    t.same(root.prefixes, ['a/', 'b/', 'd/', 'f/'])
    t.equal(root.truncated, false)
    const b = await s.list({ prefix: 'b/', delimiter: '/' })
    t.same([b.objects.map(o => o.key), b.prefixes], [[], ['b/c/']])
    const d = await s.list({ prefix: 'd/', delimiter: '/' })
    t.same([d.objects.map(o => [o.key, o.size]), d.prefixes], [[['d/', 0]], []], 'the dir marker lists under its own prefix')
    const a = await s.list({ prefix: 'a', delimiter: '/' })
    t.same([a.objects.map(o => o.key), a.prefixes], [['a'], ['a/']])
    t.equal(await s.head('d'), undefined, 'HEAD of a directory name without slash is 404')
    t.equal((await s.head('d/'))?.size, 0)
    t.equal((await s.get('d/', 0, 10)).length, 0, 'ranged GET of an empty object is empty')
    const none = await s.list({ prefix: 'zzz/', delimiter: '/' })
    t.same([none.objects, none.prefixes, none.truncated], [[], [], false])
  })

  t.test('listings page past 1,000 keys with maxKeys and continuation tokens; deleteMany of 1,000', async t => {
    const s = await makeStore(t)
    const keys = Array.from({ length: 1005 }, (_, i) => `k/${String(i).padStart(4, '0')}`)
    await putAll(s, [...keys, 'l'])
    const first = await s.list({ prefix: 'k/', maxKeys: 5000 })
    t.equal(first.objects.length, 1000, 'maxKeys is capped at 1,000')
    t.ok(first.truncated && first.nextToken)
    const second = await s.list({ prefix: 'k/', continuationToken: first.nextToken })
    t.same(second.objects.map(o => o.key), keys.slice(1000))
    t.equal(second.truncated, false)
    t.equal(second.nextToken, undefined)
    const by300 = await pages(s, { prefix: 'k/', maxKeys: 300 })
    t.same(by300.map(p => p.entries.length), [300, 300, 300, 105])
    t.same(by300.flatMap(p => p.entries), keys)
    t.same(await s.deleteMany(keys.slice(0, 1000)), { failed: [] }, 'deleteMany takes 1,000 keys')
    t.same(await listAll(s, { prefix: '' }), [...keys.slice(1000), 'l'])
  })

  t.test('rolled-up prefixes count toward maxKeys and are not repeated on the next page', async t => {
    const s = await makeStore(t)
    await putAll(s, ['p0/x', 'p0/y', 'p1/x', 'p2', 'p3/x/y', 'p3/z', 'p4', 'p5/'])
    const got = await pages(s, { prefix: '', delimiter: '/', maxKeys: 2 })
    t.same(got.map(p => p.entries), [['p0/', 'p1/'], ['p2', 'p3/'], ['p4', 'p5/']])
  })

  t.test('startAfter skips keys up to and including it', async t => {
    const s = await makeStore(t)
    await putAll(s, ['a', 'b', 'c', 'd', 'x/1', 'x/2'])
    t.same(await listAll(s, { prefix: '', startAfter: 'b' }), ['c', 'd', 'x/1', 'x/2'])
    t.same(await listAll(s, { prefix: '', startAfter: 'bb' }), ['c', 'd', 'x/1', 'x/2'])
    t.same(await listAll(s, { prefix: 'x/', startAfter: 'a' }), ['x/1', 'x/2'], 'a startAfter before the prefix')
    t.same(await listAll(s, { prefix: 'x/', startAfter: 'x/1' }), ['x/2'])
    t.same(await listAll(s, { prefix: '', startAfter: 'c', delimiter: '/' }), ['d', 'x/'])
    // Ceph: a startAfter inside a rolled-up prefix skips the whole prefix (resuming a readdir after x/)
    t.same(await listAll(s, { prefix: '', startAfter: 'x/', delimiter: '/' }), [])
    t.same(await listAll(s, { prefix: '', startAfter: 'x/1', delimiter: '/' }), [])
    const end = await s.list({ prefix: '', startAfter: 'zzz' })
    t.same([end.objects, end.truncated], [[], false])
  })

  t.test('ranged get returns [start, min(end, size)) and nothing past the end', async t => {
    const s = await makeStore(t)
    await s.put('f', Buffer.from('0123456789'))
    t.equal((await s.get('f', 0, 10)).toString(), '0123456789')
    t.equal((await s.get('f', 2, 5)).toString(), '234')
    t.equal((await s.get('f', 8, 100)).toString(), '89')
    t.equal((await s.get('f', 10, 20)).length, 0, 'starting at the end')
    t.equal((await s.get('f', 50, 60)).length, 0, 'starting past the end')
    t.match(await failure(s.get('missing', 0, 10)), { errno: 'ENOENT', code: 'NoSuchKey', status: 404 })
  })

  t.test('put, head and read round-trip metadata (names lowercased) and dates', async t => {
    const s = await makeStore(t)
    const body = Buffer.from('hello')
    const before = Date.now()
    const put = await s.put('m', body, { metadata: { Mode: '644', 'X-Owner': 'Me' }, contentType: 'text/plain' })
    t.equal(put.etag, `"${md5hex(body)}"`, 'the ETag is the quoted md5')
    t.ok(put.serverDate && put.serverDate.getTime() % 1000 === 0, `serverDate is the Date header, whole seconds: ${put.serverDate?.toISOString()}`)
    const head = await s.head('m')
    t.match(head, { key: 'm', size: 5, etag: put.etag, contentType: 'text/plain' })
    t.same(head?.metadata, { mode: '644', 'x-owner': 'Me' })
    const page = await s.list({ prefix: 'm' })
    const listed = page.objects[0]
    t.same([listed.key, listed.size, listed.etag], ['m', 5, put.etag])
    t.ok(page.serverDate && Math.abs(page.serverDate.getTime() - before) < 5000, `a listing carries the server's clock: ${page.serverDate?.toISOString()}`)
    const headMs = head!.lastModified.getTime()
    t.equal(headMs % 1000, 0, 'HEAD dates have whole seconds')
    t.equal(Math.floor(listed.lastModified.getTime() / 1000) * 1000, headMs, 'the listing date is the same second')
    t.ok(Math.abs(listed.lastModified.getTime() - before) < 5000, 'dated now')
    const read = await s.read('m')
    t.same([read?.body.toString(), read?.etag, read?.lastModified.getTime()], ['hello', put.etag, headMs], 'read: body, ETag, the HEAD date')
    t.equal(await s.read('missing'), undefined)
    t.equal(await s.head('missing'), undefined)
    await s.delete('missing') // deleting what is not there succeeds
  })

  t.test('copy with metadata replace in place keeps the ETag and moves lastModified', async t => {
    const s = await makeStore(t)
    const src = 'odd name+%#é/ü'
    const put = await s.put(src, Buffer.from('body'), { metadata: { a: '1' }, contentType: 'text/x-a' })
    const was = (await s.list({ prefix: src })).objects[0].lastModified
    await sleep(30)
    const copy = await s.copy(src, src, { metadata: { B: '2' } })
    t.equal(copy.etag, unquote(put.etag), 'CopyObject answers the same ETag, unquoted')
    const head = await s.head(src)
    t.same([head?.etag, head?.metadata, head?.contentType], [put.etag, { b: '2' }, 'application/octet-stream'])
    const now = (await s.list({ prefix: src })).objects[0].lastModified
    t.ok(now.getTime() > was.getTime(), `lastModified moved: ${was.toISOString()} -> ${now.toISOString()}`)
    await s.copy(src, 'other copy', {})
    const other = await s.head('other copy')
    t.same([other?.etag, other?.metadata], [put.etag, { b: '2' }], 'a plain copy keeps metadata')
    t.equal((await s.get('other copy', 0, 10)).toString(), 'body')
    t.match(await failure(s.copy('missing', 'x')), { errno: 'ENOENT', code: 'NoSuchKey', status: 404 })
  })

  t.test('put with ifNoneMatch fails with EEXIST on an existing key', async t => {
    const s = await makeStore(t)
    await s.put('x', Buffer.from('first'), { ifNoneMatch: true })
    t.match(await failure(s.put('x', Buffer.from('second'), { ifNoneMatch: true })),
      { errno: 'EEXIST', code: 'PreconditionFailed', status: 412 })
    t.equal((await s.get('x', 0, 100)).toString(), 'first')
  })

  t.test('multipart with 5 MiB parts and uploadPartCopy', async t => {
    const s = await makeStore(t)
    const source = randomBytes(6 * MiB)
    await s.put('source', source)
    const id = await s.createMultipart('big', { metadata: { Kind: 'mp' }, contentType: 'text/x-big' })
    const p1 = randomBytes(5 * MiB)
    const p3 = randomBytes(100)
    const e1 = await s.uploadPart('big', id, 1, p1)
    const e2 = await s.uploadPartCopy('big', id, 2, 'source', MiB, 6 * MiB)
    const e3 = await s.uploadPart('big', id, 3, p3)
    t.equal(e1, `"${md5hex(p1)}"`, 'UploadPart answers the quoted md5')
    t.equal(e2, md5hex(source.subarray(MiB)), 'UploadPartCopy answers the md5 unquoted')
    const done = await s.completeMultipart('big', id, [e1, e2, e3].map((etag, i) => ({ partNumber: i + 1, etag })))
    t.equal(done.etag, '', 'CompleteMultipartUpload answers no ETag (Ceph)')
    const whole = Buffer.concat([p1, source.subarray(MiB), p3])
    const etag = `"${md5hex(Buffer.concat([p1, source.subarray(MiB), p3].map(md5)))}-3"`
    t.match(await s.head('big'), { size: whole.length, etag, metadata: { kind: 'mp' }, contentType: 'text/x-big' })
    t.equal((await s.list({ prefix: 'big' })).objects[0].etag, etag)
    t.ok((await s.get('big', 0, whole.length + 10)).equals(whole), 'the parts join in order')
    t.ok((await s.get('big', 5 * MiB - 3, 5 * MiB + 3)).equals(whole.subarray(5 * MiB - 3, 5 * MiB + 3)))
  })

  t.test('multipart refuses small parts but the last; abort ends the upload', async t => {
    const s = await makeStore(t)
    const id = await s.createMultipart('small')
    const parts = [
      { partNumber: 1, etag: await s.uploadPart('small', id, 1, Buffer.alloc(1024, 1)) },
      { partNumber: 2, etag: await s.uploadPart('small', id, 2, Buffer.alloc(1024, 2)) },
    ]
    t.match(await failure(s.completeMultipart('small', id, parts)), { errno: 'EINVAL', code: 'EntityTooSmall', status: 400 })
    t.equal(await s.head('small'), undefined)
    t.match(await failure(s.completeMultipart('small', id, parts.slice(0, 1))), { errno: 'EINVAL', code: 'InvalidPart', status: 400 },
      'Ceph completes only with every uploaded part')
    await s.abortMultipart('small', id)
    t.match(await failure(s.uploadPart('small', id, 3, Buffer.alloc(1))), { errno: 'ENOENT', code: 'NoSuchUpload', status: 404 })
    t.match(await failure(s.abortMultipart('small', id)), { errno: 'ENOENT', code: 'NoSuchUpload', status: 404 })
    // Ceph 16 answers this with 500 InternalError "This multipart completion is
    // already in progress" (the gateway retries it, then EIO); AWS and the fake: NoSuchUpload
    const unknown = await failure(s.completeMultipart('small', 'no-such-upload', parts))
    t.ok((unknown.code === 'NoSuchUpload' && unknown.status === 404) || (unknown.code === 'InternalError' && unknown.status === 500),
      `completing an unknown upload fails: ${unknown.code} ${unknown.status}`)
  })

  t.test('deleteMany removes keys, missing ones included, and refuses over 1,000', async t => {
    const s = await makeStore(t)
    await putAll(s, ['a', 'b', 'c', 'd/', 'e'])
    t.same(await s.deleteMany(['a', 'c', 'd/', 'missing']), { failed: [] })
    t.same(await listAll(s, { prefix: '' }), ['b', 'e'])
    await t.rejects(s.deleteMany(Array.from({ length: 1001 }, (_, i) => `k${i}`)), 'more than 1,000 keys')
  })

  t.test('keys up to 1,024 bytes are accepted, longer ones refused with 400', async t => {
    const s = await makeStore(t)
    const longest = 'é'.repeat(512)
    await s.put(longest, Buffer.from('x'))
    t.equal((await s.head(longest))?.size, 1)
    const err = await failure(s.put(longest + 'x', Buffer.from('x')))
    t.equal(err.status, 400)
    t.ok(err.errno === 'ENAMETOOLONG' || err.errno === 'EINVAL', `errno ${err.errno}`)
    t.match(await failure(s.head(longest + 'x')), { status: 400 }, 'HEAD refuses it too: not a missing key')
    t.match(await failure(s.get(longest + 'x', 0, 1)), { status: 400 })
  })

  t.test('checkBucket resolves on an existing bucket', async t => {
    const s = await makeStore(t)
    await s.checkBucket()
    t.pass()
  })
}
