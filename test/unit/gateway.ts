// The gateway's answers to retries that the network makes ambiguous, on a
// stub S3 client: a Complete or an Abort whose first answer was lost and
// whose retry says NoSuchUpload; a GET body cut short, resumed from where it
// stopped and only from the same version of the object.
import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import type { PartRef } from '../../src/s3/store.js'
import { serverError } from '../helpers/fake-errors.js'
import { cutBody } from '../helpers/cut-body.js'

type Handler = (name: string, input: Record<string, unknown>) => Promise<unknown>

/** a gateway whose every SDK call goes to `handle`; calls are recorded */
function gateway (handle: Handler): { gw: S3Gateway, calls: { name: string, input: Record<string, unknown> }[] } {
  const calls: { name: string, input: Record<string, unknown> }[] = []
  const client = {
    send: async (cmd: { constructor: { name: string }, input: Record<string, unknown> }) => {
      const name = cmd.constructor.name.replace(/Command$/, '')
      calls.push({ name, input: cmd.input })
      return await handle(name, cmd.input)
    },
  } as unknown as S3Client
  const queue = new RequestQueue({ rps: 1000, concurrency: 4, maxAttempts: 4, backoffMs: 1 })
  return { gw: new S3Gateway({ bucket: 'b', client, queue }), calls }
}

const reset = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })
const md5 = (s: string): string => createHash('md5').update(s).digest('hex')
const parts: PartRef[] = [{ partNumber: 1, etag: `"${md5('one')}"` }, { partNumber: 2, etag: `"${md5('two')}"` }]
const multipartEtag = `"${createHash('md5').update(Buffer.concat([Buffer.from(md5('one'), 'hex'), Buffer.from(md5('two'), 'hex')])).digest('hex')}-2"`

t.test('Complete whose answer was lost: the retry says NoSuchUpload, the object is there: success', async t => {
  let n = 0
  const { gw, calls } = gateway(async name => {
    if (name === 'CompleteMultipartUpload') {
      if (++n === 1) throw reset()
      throw serverError('NoSuchUpload', 404, 'complete')
    }
    if (name === 'HeadObject') return { ETag: multipartEtag, ContentLength: 6, LastModified: new Date(1e12), Metadata: {} }
    throw new Error(`unexpected ${name}`)
  })
  const r = await gw.completeMultipart('k', 'up1', parts)
  t.equal(r.etag, multipartEtag, 'the object\'s ETag')
  t.same(calls.map(c => c.name), ['CompleteMultipartUpload', 'CompleteMultipartUpload', 'HeadObject'])
})

t.test('Complete retried into NoSuchUpload while the key holds something else: the error stands', async t => {
  let n = 0
  const { gw } = gateway(async name => {
    if (name === 'CompleteMultipartUpload') {
      if (++n === 1) throw reset()
      throw serverError('NoSuchUpload', 404, 'complete')
    }
    if (name === 'HeadObject') return { ETag: `"${md5('other')}"`, ContentLength: 5, Metadata: {} }
    throw new Error(`unexpected ${name}`)
  })
  await t.rejects(gw.completeMultipart('k', 'up1', parts), { code: 'NoSuchUpload' })
})

t.test('NoSuchUpload on the first Complete is an error at once (no HEAD)', async t => {
  const { gw, calls } = gateway(async () => { throw serverError('NoSuchUpload', 404, 'complete') })
  await t.rejects(gw.completeMultipart('k', 'up1', parts), { code: 'NoSuchUpload' })
  t.same(calls.map(c => c.name), ['CompleteMultipartUpload'])
})

t.test('Abort whose answer was lost: NoSuchUpload on the retry means done', async t => {
  let n = 0
  const { gw } = gateway(async () => {
    if (++n === 1) throw reset()
    throw serverError('NoSuchUpload', 404, 'abort')
  })
  await gw.abortMultipart('k', 'up1')
  t.equal(n, 2)
})

t.test('a GET body cut short resumes from where it stopped, with If-Match on the first ETag', async t => {
  const data = Buffer.from('0123456789abcdefghij')
  let n = 0
  const { gw, calls } = gateway(async (_name, input) => {
    const [from, to] = String(input.Range).slice(6).split('-').map(Number) as [number, number]
    const range = { ContentRange: `bytes ${from}-${to}/${data.length}`, ContentLength: to - from + 1, ETag: '"v1"' }
    if (++n === 1) return { ...range, Body: cutBody(data.subarray(from, from + 7)) }
    return { ...range, Body: Readable.from([data.subarray(from, to + 1)]) }
  })
  const got = await gw.get('k', 2, 18)
  t.equal(got.toString(), data.subarray(2, 18).toString(), 'every byte, in order')
  t.same(calls.map(c => [c.input.Range, c.input.IfMatch]), [['bytes=2-17', undefined], ['bytes=9-17', '"v1"']])
})

t.test('a GET resumed after the object changed fails with ESTALE instead of mixing versions', async t => {
  let n = 0
  const { gw } = gateway(async () => {
    if (++n === 1) return { ContentRange: 'bytes 0-9/10', ContentLength: 10, ETag: '"v1"', Body: cutBody(Buffer.from('01234')) }
    throw serverError('PreconditionFailed', 412, 'get')
  })
  await t.rejects(gw.get('k', 0, 10), { code: 'ObjectChanged', errno: 'ESTALE' })
})

t.test('a pinned GET and pinned copies send the version quoted, and a 412 is ESTALE, not retried', async t => {
  const { gw, calls } = gateway(async () => { throw serverError('PreconditionFailed', 412, 'x') })
  await t.rejects(gw.get('k', 0, 10, { ifMatch: 'v1' }), { errno: 'ESTALE', code: 'ObjectChanged' })
  await t.rejects(gw.copy('k', 'k', { metadata: {}, sourceIfMatch: '"v1"' }), { errno: 'ESTALE', code: 'ObjectChanged' })
  await t.rejects(gw.uploadPartCopy('k', 'u', 1, 'k', 0, 10, { sourceIfMatch: 'v1' }), { errno: 'ESTALE', code: 'ObjectChanged' })
  t.same(calls.map(c => [c.name, c.input.IfMatch ?? c.input.CopySourceIfMatch]),
    [['GetObject', '"v1"'], ['CopyObject', '"v1"'], ['UploadPartCopy', '"v1"']], 'one attempt each, the ETag quoted')
})

t.test('a GET past the end of the object returns what exists', async t => {
  const { gw } = gateway(async () => ({ ContentRange: 'bytes 4-5/6', ContentLength: 2, ETag: '"v"', Body: Readable.from([Buffer.from('45')]) }))
  const got = await gw.get('k', 4, 100)
  t.equal(got.toString(), '45')
  t.equal(got.buffer.byteLength >= 2 && got.length, 2)
})
