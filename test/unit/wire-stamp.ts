// A request's rate slot is stamped once it is on a connected socket, not when
// the SDK starts connecting: against an https server whose TLS handshake takes
// 300 ms, the first request's slot starts after the handshake; a second one on
// the kept-alive connection starts at once.
import t from 'tap'
import { createServer } from 'node:https'
import { createSecureContext } from 'node:tls'
import type { Slot } from '../../src/s3/rate-limiter.js'
import { createS3Client } from '../../src/s3/client.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { selfSigned } from '../helpers/self-signed.js'

const HANDSHAKE_MS = 300
const EMPTY_LISTING = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>'

t.test('the slot of a request on a new TLS connection starts after the handshake; on a kept-alive one at once', async t => {
  const pem = selfSigned()
  const context = createSecureContext(pem)
  const handshakes: number[] = []
  const server = createServer({
    ...pem,
    // a slow handshake, as to a gateway 100 ms away
    SNICallback: (_name, cb) => setTimeout(() => cb(null, context), HANDSHAKE_MS),
  }, (req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/xml' }).end(EMPTY_LISTING)
  })
  server.on('secureConnection', () => handshakes.push(performance.now()))
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  // the client trusts the throwaway certificate for this test only
  const was = process.env.NODE_TLS_REJECT_UNAUTHORIZED
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  t.teardown(() => { if (was === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED; else process.env.NODE_TLS_REJECT_UNAUTHORIZED = was })

  const client = createS3Client({
    endpoint: `https://localhost:${(server.address() as { port: number }).port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    signature: 'v4',
    pathStyle: true,
    maxSockets: 4,
    requestTimeoutMs: 10_000,
  })
  t.teardown(() => client.destroy())
  const queue = new RequestQueue({ rps: 100, concurrency: 4, maxAttempts: 1, backoffMs: 1 })
  const slots: { slot: Slot, acquired: number }[] = []
  const acquire = queue.limiter.acquire.bind(queue.limiter)
  queue.limiter.acquire = async () => {
    const slot = await acquire()
    slots.push({ slot, acquired: performance.now() })
    return slot
  }
  const gw = new S3Gateway({ bucket: 'b', client, queue })

  await gw.list({ prefix: '', maxKeys: 1 })
  t.equal(handshakes.length, 1, 'one TLS connection')
  const first = slots[0]!
  // the handshake alone takes HANDSHAKE_MS: a slot stamped before it starts sooner
  t.ok(first.slot.sentAt! - first.acquired >= HANDSHAKE_MS - 10,
    `the first slot starts after the handshake (${(first.slot.sentAt! - first.acquired).toFixed(0)} ms after its slot was given, handshake done ${(handshakes[0]! - first.acquired).toFixed(0)} ms after)`)

  await gw.list({ prefix: '', maxKeys: 1 })
  t.equal(handshakes.length, 1, 'the second request reuses the connection')
  const second = slots[1]!
  t.ok(second.slot.sentAt! - second.acquired < HANDSHAKE_MS / 2, `the second slot starts at once (${(second.slot.sentAt! - second.acquired).toFixed(1)} ms)`)
})
