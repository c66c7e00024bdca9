// The real SDK client (src/s3/client.ts) and gateway against a tiny local
// HTTP server that answers as misbehaving S3 servers do, so what the SDK
// makes of each answer is tested, not assumed: a CopyObject answered 200 with
// an <Error> body (the SDK turns it into a 503) is retried without halving the
// rate, unless it says SlowDown; a range answered with the whole object is
// EIO; a chunked whole-object answer reads whole; Retry-After reaches the
// queue; a self-signed certificate fails at once, named, not retried.
import t, { type Test } from 'tap'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { createS3Client } from '../../src/s3/client.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void

const xml = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
const error = (code: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} here</Message></Error>`
const COPIED = '<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><ETag>"abc"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></CopyObjectResult>'

/** a gateway on the real SDK, talking to `handle` over loopback HTTP (or HTTPS with `tls`) */
async function serve (t: Test, handle: Handler, tls?: { key: Buffer, cert: Buffer }): Promise<{ gw: S3Gateway, queue: RequestQueue, requests: () => number, connections: () => number }> {
  let n = 0
  let connections = 0
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => handle(req, res, ++n))
  }
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest)
  server.on('connection', () => connections++)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const client = createS3Client({
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, region: 'us-east-1', signature: 'v4', pathStyle: true,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' }, maxSockets: 4, requestTimeoutMs: 5000,
  })
  const queue = new RequestQueue({ rps: 100, concurrency: 4 })
  t.teardown(async () => {
    client.destroy()
    server.closeAllConnections?.()
    await new Promise(resolve => server.close(resolve))
  })
  return { gw: new S3Gateway({ bucket: 'b', client, queue }), queue, requests: () => n, connections: () => connections }
}

t.test('CopyObject answered 200 with an InternalError body: retried, and the rate is not halved', async t => {
  const { gw, queue, requests } = await serve(t, (_req, res, n) => xml(res, 200, n === 1 ? error('InternalError') : COPIED))
  const r = await gw.copy('a', 'b')
  t.equal(r.etag, '"abc"', 'the copy succeeds on the retry')
  t.equal(requests(), 2)
  t.equal(queue.limiter.limit, 100, 'the rate stays at 100/s')
  t.match(queue.stats(), { throttled: 0, retries: 1 })
})

t.test('CopyObject answered 200 with no body at all: retried, the rate not halved', async t => {
  const { gw, queue } = await serve(t, (_req, res, n) => xml(res, 200, n === 1 ? '' : COPIED))
  await gw.copy('a', 'b')
  t.equal(queue.limiter.limit, 100)
})

t.test('CopyObject answered 200 with a SlowDown body: that is throttling, the rate is halved', async t => {
  const { gw, queue } = await serve(t, (_req, res, n) => xml(res, 200, n === 1 ? error('SlowDown') : COPIED))
  await gw.copy('a', 'b')
  t.equal(queue.limiter.limit, 50)
  t.match(queue.stats(), { throttled: 1 })
})

t.test('a server that ignores Range (200, the whole object): the read fails with EIO, no wrong bytes', async t => {
  const body = Buffer.from('0123456789abcdefghij')
  const { gw, requests } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': body.length, etag: '"v1"' })
    res.end(body)
  })
  await t.rejects(gw.get('k', 5, 15), { errno: 'EIO', code: 'BadResponse' })
  t.equal(requests(), 3, 'tried three times')
})

t.test('a whole object sent chunked, without Content-Length, reads whole', async t => {
  const { gw } = await serve(t, (_req, res) => {
    res.writeHead(200, { etag: '"v1"', 'last-modified': new Date(0).toUTCString() })
    res.write('{"first": "half", ')
    setTimeout(() => res.end('"second": "half"}'), 20)
  })
  const got = await gw.read('d.oortfs-attrs')
  t.equal(got?.body.toString(), '{"first": "half", "second": "half"}')
})

t.test('503 with Retry-After: 1: the next try waits that second', async t => {
  const at: number[] = []
  const { gw } = await serve(t, (_req, res, n) => {
    at.push(Date.now())
    if (n === 1) xml(res, 503, error('SlowDown'), { 'retry-after': '1' })
    else { res.writeHead(200, { 'content-length': 0, etag: '"v1"', 'last-modified': new Date(0).toUTCString() }); res.end() }
  })
  await gw.head('k')
  t.ok(at[1]! - at[0]! >= 950, `the retry came ${at[1]! - at[0]!} ms later`)
})

t.test('a self-signed certificate: one failure, named, not retried', async t => {
  let openssl = true
  try { execFileSync('openssl', ['version'], { stdio: 'ignore' }) } catch { openssl = false }
  if (!openssl) { t.comment('skipped: openssl is needed to make a certificate'); return }
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  const { gw, queue, connections } = await serve(t, (_req, res) => xml(res, 200, ''),
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) })
  const started = Date.now()
  await t.rejects(gw.head('k'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', errno: 'EIO', message: /self-signed/ })
  t.ok(Date.now() - started < 2000, 'at once')
  t.equal(connections(), 1, 'one connection: not retried')
  t.match(queue.stats(), { retries: 0 })
})
