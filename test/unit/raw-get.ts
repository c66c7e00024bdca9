// Data GETs straight from the socket (src/s3/raw-get.ts), through the real
// gateway, against a tiny local HTTP(S) server: a range lands where it
// belongs, connections are kept alive and reused, a body cut short is resumed
// from where it broke, each error answer means what it means through the SDK
// (412 ESTALE, 416 nothing more, 404 ENOENT, 503 retried after Retry-After),
// a kept-alive connection the server closed is retried on a new one, and a
// chunked answer sends every later GET through the SDK.
import t, { type Test } from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import net, { type AddressInfo, type Socket } from 'node:net'
import { createS3Client } from '../../src/s3/client.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RawGetter } from '../../src/s3/raw-get.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { selfSigned } from '../helpers/self-signed.js'

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void

const OBJECT = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251))

/** answers a ranged GET of OBJECT as S3 does */
function ranged (req: IncomingMessage, res: ServerResponse, extra: Record<string, string> = {}): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
  const from = Number(m?.[1] ?? 0)
  const to = Math.min(OBJECT.length - 1, Number(m?.[2] ?? OBJECT.length - 1))
  if (from >= OBJECT.length) return xml(res, 416, error('InvalidRange'))
  res.writeHead(206, { 'content-length': to - from + 1, 'content-range': `bytes ${from}-${to}/${OBJECT.length}`, etag: '"v1"', ...extra })
  res.end(OBJECT.subarray(from, to + 1))
}

const xml = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
const error = (code: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} here</Message></Error>`

async function serve (t: Test, handle: Handler, tls?: { key: string, cert: string }, trust?: string) {
  let n = 0
  let connections = 0
  const sockets = new Set<Socket>()
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => { handle(req, res, ++n) }
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest)
  server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => { connections++; sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const endpoint = `${tls ? 'https' : 'http'}://${tls ? 'localhost' : '127.0.0.1'}:${port}`
  const client = createS3Client({
    endpoint, region: 'us-east-1', signature: 'v4', pathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' }, maxSockets: 4, requestTimeoutMs: 5000,
  })
  const raw = new RawGetter({ requestTimeoutMs: 2000, tls: trust ? { ca: trust } : undefined })
  const queue = new RequestQueue({ rps: 100, concurrency: 4, readMs: 5000 })
  t.teardown(async () => {
    raw.destroy()
    client.destroy()
    server.closeAllConnections?.()
    await new Promise(resolve => server.close(resolve))
  })
  return { gw: new S3Gateway({ bucket: 'b', client, queue, raw }), queue, requests: () => n, connections: () => connections, sockets }
}

t.test('a range lands in the buffers given, back to back; the connection is kept and reused', async t => {
  const seen: IncomingMessage[] = []
  const { gw, connections } = await serve(t, (req, res) => { seen.push(req); ranged(req, res) })
  const bufs = [Buffer.alloc(700), Buffer.alloc(700), Buffer.alloc(700)]
  const got = await gw.getInto('k', 100, 2000, () => bufs, { ifMatch: 'v1' })
  t.equal(got, 1900)
  t.same(Buffer.concat(bufs).subarray(0, 1900), OBJECT.subarray(100, 2000))
  t.equal(seen[0]!.headers['if-match'], '"v1"', 'pinned to the version')
  t.match(seen[0]!.url, /X-Amz-Signature=/, 'signed')
  t.same(await gw.get('k', 0, 10), OBJECT.subarray(0, 10))
  t.same(await gw.get('k', 2990, 3100), OBJECT.subarray(2990), 'the end of the object: what there is')
  t.equal(connections(), 1, 'one connection for all three')
})

t.test('an answer head split across reads, and a body arriving in pieces', async t => {
  const { gw } = await serve(t, (_req, res) => {
    const s = res.socket!
    res.detachSocket(s)
    s.write('HTTP/1.1 206 Partial Content\r\nContent-Ra')
    setTimeout(() => s.write('nge: bytes 10-1009/3000\r\nContent-Length: 1000\r\nETag: "v1"\r\n\r\n' + OBJECT.subarray(10, 15).toString('latin1'), 'latin1'), 10)
    setTimeout(() => s.write(OBJECT.subarray(15, 600)), 20)
    setTimeout(() => s.write(OBJECT.subarray(600, 1010)), 30)
  })
  t.same(await gw.get('k', 10, 1010), OBJECT.subarray(10, 1010))
})

t.test('a body cut short: the next try asks for the rest only, of the same version', async t => {
  const ranges: string[] = []
  const { gw, queue } = await serve(t, (req, res, n) => {
    ranges.push(`${req.headers.range} ${req.headers['if-match'] ?? ''}`)
    if (n === 1) {
      res.writeHead(206, { 'content-length': 1000, 'content-range': 'bytes 0-999/3000', etag: '"v7"' })
      res.write(OBJECT.subarray(0, 400))
      setTimeout(() => res.socket?.destroy(), 20)
      return
    }
    ranged(req, res, { etag: '"v7"' })
  })
  t.same(await gw.get('k', 0, 1000), OBJECT.subarray(0, 1000))
  t.same(ranges, ['bytes=0-999 ', 'bytes=400-999 "v7"'])
  t.equal(queue.stats().retries, 1)
})

t.test('error answers mean what they mean through the SDK', async t => {
  const { gw } = await serve(t, (req, res) => {
    if (req.url!.startsWith('/b/changed')) return xml(res, 412, error('PreconditionFailed'))
    if (req.url!.startsWith('/b/missing')) return xml(res, 404, error('NoSuchKey'))
    if (req.url!.startsWith('/b/denied')) return xml(res, 403, error('AccessDenied'))
    ranged(req, res)
  })
  await t.rejects(gw.get('changed', 0, 10, { ifMatch: 'v1' }), { errno: 'ESTALE', code: 'ObjectChanged' })
  await t.rejects(gw.get('missing', 0, 10), { errno: 'ENOENT', code: 'NoSuchKey' })
  await t.rejects(gw.get('denied', 0, 10), { errno: 'EACCES', code: 'AccessDenied' })
  t.equal((await gw.get('k', 5000, 5010)).length, 0, '416: nothing past the end')
  t.same(await gw.get('k', 0, 3), OBJECT.subarray(0, 3), 'the connection still serves after error answers')
})

t.test('503 SlowDown with Retry-After: throttled, retried after that pause', async t => {
  const at: number[] = []
  const { gw, queue } = await serve(t, (req, res, n) => {
    at.push(Date.now())
    if (n === 1) return xml(res, 503, error('SlowDown'), { 'retry-after': '1' })
    ranged(req, res)
  })
  t.same(await gw.get('k', 0, 100), OBJECT.subarray(0, 100))
  t.ok(at[1]! - at[0]! >= 950, `the retry came ${at[1]! - at[0]!} ms later`)
  t.equal(queue.stats().throttled, 1)
})

t.test('a range answered with the whole object: EIO after three tries, no wrong bytes', async t => {
  const { gw, requests } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': OBJECT.length, etag: '"v1"' })
    res.end(OBJECT)
  })
  await t.rejects(gw.get('k', 5, 15), { errno: 'EIO', code: 'BadResponse' })
  t.equal(requests(), 3)
  t.same(await gw.get('k', 0, 15), OBJECT.subarray(0, 15), 'from 0 the whole object holds the range: read, the rest left')
})

t.test('a kept-alive connection the server closed meanwhile: the GET goes on a new one, not counted as a retry', async t => {
  const { gw, queue, sockets, connections } = await serve(t, (req, res) => ranged(req, res))
  t.same(await gw.get('k', 0, 10), OBJECT.subarray(0, 10))
  // the server drops its side while the client still holds the connection as idle
  for (const s of sockets) s.destroy()
  await new Promise(resolve => setTimeout(resolve, 20))
  t.same(await gw.get('k', 10, 20), OBJECT.subarray(10, 20))
  t.equal(connections(), 2)
  t.equal(queue.stats().retries, 0)
})

t.test('a chunked body: this GET and every later one go through the SDK', async t => {
  const { gw, requests } = await serve(t, (req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!
    const from = Number(m[1])
    const to = Number(m[2])
    res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${OBJECT.length}`, etag: '"v1"' })
    res.end(OBJECT.subarray(from, to + 1))
  })
  t.same(await gw.get('k', 0, 100), OBJECT.subarray(0, 100))
  t.same(await gw.get('k', 100, 200), OBJECT.subarray(100, 200))
  t.equal(requests(), 3, 'the refused answer, then the SDK for both')
})

t.test('over https: a trusted certificate reads as http does; an untrusted one is refused at once, named', async t => {
  let cert: { key: string, cert: string }
  try { cert = selfSigned('localhost') } catch { t.comment('skipped: openssl is needed'); return }
  const trusted = await serve(t, (req, res) => ranged(req, res), cert, cert.cert)
  t.same(await trusted.gw.get('k', 100, 2100), OBJECT.subarray(100, 2100), 'the range, decrypted into the buffers')
  t.same(await trusted.gw.get('k', 0, 10), OBJECT.subarray(0, 10))
  t.equal(trusted.connections(), 1, 'one TLS connection for both')
  const { gw } = await serve(t, (req, res) => ranged(req, res), cert)
  // not trusted here: refused at once, by name, as the SDK refuses it
  await t.rejects(gw.get('k', 0, 10), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', errno: 'EIO' })
})

t.test('a server silent past the request timeout: TimeoutError, retried', async t => {
  const { gw, queue } = await serve(t, (req, res, n) => {
    if (n === 1) return // never answers
    ranged(req, res)
  })
  t.same(await gw.get('k', 0, 10), OBJECT.subarray(0, 10))
  t.equal(queue.stats().retries, 1)
})

t.test('a server that takes the connection and never answers the TLS handshake: a timeout, not a GET waiting forever', async t => {
  const silent = net.createServer(() => {})
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
  const port = (silent.address() as AddressInfo).port
  const client = createS3Client({
    endpoint: `https://localhost:${port}`, region: 'us-east-1', signature: 'v4', pathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' }, maxSockets: 4, requestTimeoutMs: 5000,
  })
  const raw = new RawGetter({ requestTimeoutMs: 60_000, connectTimeoutMs: 300 })
  const queue = new RequestQueue({ rps: 100, concurrency: 4, readMs: 1000 })
  t.teardown(async () => {
    raw.destroy()
    client.destroy()
    silent.close()
  })
  const gw = new S3Gateway({ bucket: 'b', client, queue, raw })
  const started = Date.now()
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise(resolve => { timer = setTimeout(() => resolve('still waiting after 10 s'), 10_000) })
  const outcome = await Promise.race([gw.get('k', 0, 10).then(() => 'answered', (err: Error) => err), hung])
  clearTimeout(timer)
  t.type(outcome, Error, `the GET failed: ${String(outcome)}`)
  t.match(String((outcome as Error).message), /no connection to localhost:\d+ within/, 'named as a connection timeout')
  t.ok(Date.now() - started < 8000, `within the read budget (${Date.now() - started} ms)`)
})

t.test('a body broken by a reset: what came is kept, the next try asks for the rest only', async t => {
  const ranges: string[] = []
  const { gw, queue } = await serve(t, (req, res, n) => {
    ranges.push(`${req.headers.range} ${req.headers['if-match'] ?? ''}`)
    if (n <= 2) {
      // each of the first two answers breaks after 400 bytes with a TCP reset (an error, not an end)
      const from = Number(/^bytes=(\d+)-/.exec(req.headers.range ?? '')![1])
      res.writeHead(206, { 'content-length': 1000 - from, 'content-range': `bytes ${from}-999/3000`, etag: '"v7"' })
      res.write(OBJECT.subarray(from, from + 400))
      setTimeout(() => (res.socket as Socket & { resetAndDestroy(): void }).resetAndDestroy(), 20)
      return
    }
    ranged(req, res, { etag: '"v7"' })
  })
  t.same(await gw.get('k', 0, 1000), OBJECT.subarray(0, 1000))
  t.same(ranges, ['bytes=0-999 ', 'bytes=400-999 "v7"', 'bytes=800-999 "v7"'], 'never the same range twice')
  t.equal(queue.stats().retries, 2)
})

t.test('a 206 without Content-Length, ended by closing: read through the SDK, as every later GET', async t => {
  const { gw, requests } = await serve(t, (req, res) => {
    // the SDK signs in a header, a direct GET in its URL: only the direct ones get this answer
    if (!req.url!.includes('X-Amz-Signature=')) return ranged(req, res)
    const s = res.socket!
    res.detachSocket(s)
    s.end(Buffer.concat([Buffer.from('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/3000\r\nETag: "v1"\r\nConnection: close\r\n\r\n', 'latin1'), OBJECT.subarray(0, 100)]))
  })
  t.same(await gw.get('k', 0, 100), OBJECT.subarray(0, 100))
  t.same(await gw.get('k', 100, 200), OBJECT.subarray(100, 200))
  t.equal(requests(), 3, 'the refused answer, then the SDK for both')
})

t.test('a chunked error answer means what it says, and data GETs stay direct', async t => {
  const urls: string[] = []
  const { gw } = await serve(t, (req, res) => {
    urls.push(req.url!)
    if (req.url!.startsWith('/b/missing')) {
      // no Content-Length: Node's server sends it chunked, split mid-tag
      const body = error('NoSuchKey')
      res.writeHead(404, { 'content-type': 'application/xml' })
      res.write(body.slice(0, body.indexOf('<Code>') + 3))
      setTimeout(() => res.end(body.slice(body.indexOf('<Code>') + 3)), 10)
      return
    }
    ranged(req, res)
  })
  await t.rejects(gw.get('missing', 0, 10), { errno: 'ENOENT', code: 'NoSuchKey' })
  t.same(await gw.get('k', 0, 10), OBJECT.subarray(0, 10))
  t.match(urls.at(-1), /X-Amz-Signature=/, 'the next data GET is still a direct (presigned) one')
})

t.test('the switch to the SDK keeps the meaning of its answer: a 412 there is a changed object, a 416 the end', async t => {
  const { gw } = await serve(t, (req, res) => {
    if (req.url!.includes('X-Amz-Signature=')) {
      // direct GETs get a chunked 206, which sends this attempt to the SDK
      res.writeHead(206, { 'content-range': 'bytes 0-99/3000', etag: '"v1"' })
      res.write(OBJECT.subarray(0, 50))
      res.end(OBJECT.subarray(50, 100))
      return
    }
    if (req.url!.startsWith('/b/past')) return xml(res, 416, error('InvalidRange'))
    xml(res, 412, error('PreconditionFailed'))
  })
  await t.rejects(gw.get('k', 0, 100, { ifMatch: 'v1' }), { errno: 'ESTALE', code: 'ObjectChanged' })
  const again = await serve(t, (req, res) => {
    if (req.url!.includes('X-Amz-Signature=')) {
      res.writeHead(206, { 'content-range': 'bytes 0-99/3000', etag: '"v1"' })
      res.write(OBJECT.subarray(0, 50))
      res.end(OBJECT.subarray(50, 100))
      return
    }
    xml(res, 416, error('InvalidRange'))
  })
  t.equal((await again.gw.get('past', 5000, 5010)).length, 0, '416 through the SDK: nothing past the end')
})

t.test('every kept-alive connection died together: the retry takes a new one, not another dead one', async t => {
  const { gw, queue, sockets } = await serve(t, (req, res) => setTimeout(() => ranged(req, res), 5))
  // two GETs at once leave two idle connections
  await Promise.all([gw.get('k', 0, 10), gw.get('k', 10, 20)])
  t.equal(sockets.size, 2)
  // the server's side goes, and the GET follows before this side has read of it
  for (const s of sockets) s.destroy()
  t.same(await gw.get('k', 20, 30), OBJECT.subarray(20, 30))
  t.equal(queue.stats().retries, 0, 'not counted as a retry')
})

t.test('one presigned URL serves a key\'s GETs for a minute; a failed attempt, or a server clock found off, signs anew', async t => {
  let dateAhead = 0
  let failNext = false
  const { gw } = await serve(t, (req, res) => {
    if (failNext) { failNext = false; return xml(res, 500, error('InternalError')) }
    // Node's server dates every answer; a server whose clock is off dates it off
    ranged(req, res, dateAhead ? { date: new Date(Date.now() + dateAhead).toUTCString() } : {})
  })
  let signed = 0
  const presign = gw.presign.bind(gw)
  gw.presign = async (key, opts) => { signed++; return await presign(key, opts) }
  for (let i = 0; i < 5; i++) t.same(await gw.get('k', i * 100, i * 100 + 50), OBJECT.subarray(i * 100, i * 100 + 50))
  t.equal(signed, 1, 'five GETs of one key: signed once')
  await gw.get('other', 0, 10)
  t.equal(signed, 2, 'another key: its own URL')
  failNext = true
  t.same(await gw.get('k', 0, 10), OBJECT.subarray(0, 10), 'a 500, then the retry reads')
  t.equal(signed, 3, 'the retry after the failed attempt signed anew')
  await gw.get('k', 0, 10)
  t.equal(signed, 3, 'and that URL serves again')
  // the server's answers say its clock is 10 minutes ahead: the URL dated by the old offset is not used again
  dateAhead = 10 * 60_000
  await gw.get('k', 0, 10)
  await gw.get('k', 0, 10)
  t.equal(signed, 4, 'signed anew once the clock offset moved')
})
