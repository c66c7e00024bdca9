// Answers checked against the request (src/s3/range-answer.ts, body.ts, the
// gateway's get and read), on a stub S3 client: a range answered with the
// whole object, or with another range, is retried and then EIO, never bytes
// put at the wrong offset; a whole read without Content-Length reads its
// body to the end, and a cut one is retried, never taken for a shorter file.
import t from 'tap'
import { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { cutBody } from '../helpers/cut-body.js'

type Handler = (input: Record<string, unknown>, n: number) => unknown

function gateway (handle: Handler): { gw: S3Gateway, calls: Record<string, unknown>[] } {
  const calls: Record<string, unknown>[] = []
  const client = {
    send: async (cmd: { input: Record<string, unknown> }) => {
      calls.push(cmd.input)
      return handle(cmd.input, calls.length)
    },
  } as unknown as S3Client
  const queue = new RequestQueue({ rps: 1000, concurrency: 4, backoffMs: 1, maxBackoffMs: 5 })
  return { gw: new S3Gateway({ bucket: 'b', client, queue }), calls }
}

const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz')

/** the whole object, 200, as a server that ignores Range answers */
const whole = (): unknown => ({ ContentLength: data.length, ETag: '"v1"', Body: Readable.from([data]), $metadata: { httpStatusCode: 200 } })

t.test('a range answered 200 with the whole object is retried, then EIO: never bytes from the wrong offset', async t => {
  const { gw, calls } = gateway(() => whole())
  await t.rejects(gw.get('k', 10, 20), { errno: 'EIO', code: 'BadResponse', message: /ignoring the range/ })
  t.equal(calls.length, 3, 'three tries, then the error')
})

t.test('a range from 0 answered 200 with the whole object: the bytes asked for, and the rest of the body left unread', async t => {
  let produced = 0
  const big = new Readable({
    read () {
      if (produced >= 16 * 1024 * 1024) { this.push(null); return }
      produced += 65536
      this.push(Buffer.alloc(65536, 7))
    },
  })
  const { gw } = gateway(() => ({ ContentLength: 16 * 1024 * 1024, ETag: '"v1"', Body: big, $metadata: { httpStatusCode: 200 } }))
  const got = await gw.get('k', 0, 1000)
  t.same([got.length, got[0], got[999]], [1000, 7, 7])
  t.ok(produced < 1024 * 1024, `the body was let go once the range was in (${produced} bytes read of 16 MiB)`)
})

t.test('a Content-Range other than the one asked for is retried, then EIO', async t => {
  for (const [range, length, why] of [
    ['bytes 0-9/36', 10, 'starts elsewhere'],
    ['bytes 10-30/36', 21, 'ends past the request'],
    ['bytes 10-19/36', 5, 'Content-Length disagrees'],
    ['bytes 10-19/*', 10, 'no size'],
  ] as const) {
    const { gw, calls } = gateway(input => {
      const [from] = String(input.Range).slice(6).split('-').map(Number) as [number]
      return { ContentRange: range, ContentLength: length, ETag: '"v1"', Body: Readable.from([data.subarray(from, from + length)]) }
    })
    await t.rejects(gw.get('k', 10, 20), { errno: 'EIO', code: 'BadResponse' }, `${why}: EIO`)
    t.equal(calls.length, 3, `${why}: three tries`)
  }
})

t.test('a 206 without Content-Range is EIO', async t => {
  const { gw } = gateway(() => ({ ContentLength: 10, Body: Readable.from([data.subarray(0, 10)]), $metadata: { httpStatusCode: 206 } }))
  await t.rejects(gw.get('k', 10, 20), { errno: 'EIO', code: 'BadResponse' })
})

t.test('a shorter range than asked (the server sends less) is resumed for the rest', async t => {
  const { gw, calls } = gateway(input => {
    const [from, to] = String(input.Range).slice(6).split('-').map(Number) as [number, number]
    const last = Math.min(to, from + 4)
    return { ContentRange: `bytes ${from}-${last}/36`, ContentLength: last - from + 1, ETag: '"v1"', Body: Readable.from([data.subarray(from, last + 1)]) }
  })
  const got = await gw.get('k', 10, 20)
  t.equal(got.toString(), data.subarray(10, 20).toString())
  t.equal(calls.length, 2)
})

t.test('a whole read answered chunked (no Content-Length) returns every byte, not an empty file', async t => {
  const { gw } = gateway(() => ({ ETag: '"v1"', Body: Readable.from([data.subarray(0, 20), data.subarray(20)]) }))
  const got = await gw.read('index')
  t.equal(got?.body.toString(), data.toString())
})

t.test('a chunked whole read cut mid-way is retried, never returned short', async t => {
  const { gw, calls } = gateway((_input, n) => n === 1
    ? { ETag: '"v1"', Body: cutBody(data.subarray(0, 7)) }
    : { ETag: '"v1"', Body: Readable.from([data]) })
  const got = await gw.read('journal')
  t.equal(got?.body.toString(), data.toString(), 'every byte')
  t.equal(calls.length, 2)
})

t.test('a whole read answered with part of the object is EIO', async t => {
  const { gw } = gateway(() => ({ ContentRange: 'bytes 0-9/36', ContentLength: 10, ETag: '"v1"', Body: Readable.from([data.subarray(0, 10)]) }))
  await t.rejects(gw.read('index'), { errno: 'EIO', code: 'BadResponse' })
})
