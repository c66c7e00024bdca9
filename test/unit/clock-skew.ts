// A machine whose clock is 20 minutes off the server's: the first answer (a
// 403 RequestTimeTooSkewed, or any 403 dated 20 minutes off) corrects it, the
// retry is signed with the server's time, for V4 and V2, and so are presigned
// URLs; one log line says by how much the clock is off.
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { createS3Client } from '../../src/s3/client.js'
import { ServerClock } from '../../src/s3/clock-skew.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { captureLog } from '../helpers/log-capture.js'

const MIN = 60_000
const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }
const EMPTY_LISTING = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
  '<Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>'

/** the time a request was signed with: V4's x-amz-date, else V2's Date */
function signedAt (req: IncomingMessage): number {
  const amz = req.headers['x-amz-date']
  if (typeof amz === 'string') {
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(amz)
    return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN
  }
  return Date.parse(req.headers.date ?? '')
}

/**
 * An S3 server whose clock runs `aheadMs` ahead of this machine's: a request
 * signed more than 15 minutes off its time gets a 403 (`code`), dated by it.
 */
async function skewedServer (t: Test, aheadMs: number, code = 'RequestTimeTooSkewed'): Promise<{ endpoint: string, refused: number, served: number }> {
  const stats = { endpoint: '', refused: 0, served: 0 }
  const server = createServer((req, res) => {
    req.resume()
    const now = Date.now() + aheadMs
    const date = new Date(now).toUTCString()
    if (!(Math.abs(signedAt(req) - now) <= 15 * MIN)) {
      stats.refused++
      res.writeHead(403, { 'content-type': 'application/xml', date })
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`)
      return
    }
    stats.served++
    res.writeHead(200, { 'content-type': 'application/xml', date }).end(EMPTY_LISTING)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  stats.endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return stats
}

function gatewayTo (t: Test, endpoint: string, signature: 'v4' | 'v2'): S3Gateway {
  const serverClock = new ServerClock()
  const client = createS3Client({
    endpoint, region: 'us-east-1', credentials: creds, signature, pathStyle: true, maxSockets: 4, requestTimeoutMs: 10_000, serverClock,
  })
  t.teardown(() => client.destroy())
  const queue = new RequestQueue({ rps: 100, concurrency: 4, maxAttempts: 3, backoffMs: 1 })
  return new S3Gateway({ bucket: 'b', client, queue, serverClock, sigv2Credentials: signature === 'v2' ? creds : undefined })
}

const behind20 = /the machine's clock is (19 min 59|20 min [01]) s behind the server's; signing with the server's time$/

for (const signature of ['v4', 'v2'] as const) {
  t.test(`${signature}: a clock 20 min behind the server's is corrected by the first RequestTimeTooSkewed, and the retry succeeds`, async t => {
    const lines = captureLog(t)
    const server = await skewedServer(t, 20 * MIN)
    const gw = gatewayTo(t, server.endpoint, signature)
    await gw.list({ prefix: '', maxKeys: 1 })
    t.equal(server.refused, 1, 'one refusal')
    t.equal(server.served, 1, 'then served')
    await gw.list({ prefix: '', maxKeys: 1 })
    t.equal(server.refused, 1, 'later requests are signed with the server\'s time from the start')
    t.equal(lines.filter(l => behind20.test(l)).length, 1, `one line says by how much: ${JSON.stringify(lines)}`)
  })

  t.test(`${signature}: a clock 20 min ahead, refused with a plain AccessDenied dated by the server, is corrected too`, async t => {
    const lines = captureLog(t)
    const server = await skewedServer(t, -20 * MIN, 'AccessDenied')
    const gw = gatewayTo(t, server.endpoint, signature)
    await gw.list({ prefix: '', maxKeys: 1 })
    t.same([server.refused, server.served], [1, 1])
    t.ok(lines.some(l => /clock is (19 min 59|20 min [01]) s ahead of the server's/.test(l)), JSON.stringify(lines))
  })

  t.test(`${signature}: a presigned URL is dated by the server's time`, async t => {
    const server = await skewedServer(t, 20 * MIN)
    const gw = gatewayTo(t, server.endpoint, signature)
    await gw.list({ prefix: '', maxKeys: 1 })
    const url = new URL(await gw.presign('k', { method: 'GET', expiresSeconds: 3600 }))
    const serverNow = Date.now() + 20 * MIN
    if (signature === 'v2') {
      const expires = Number(url.searchParams.get('Expires')) * 1000
      t.ok(Math.abs(expires - 3600_000 - serverNow) < 5000, `Expires is an hour after the server's now (off by ${Math.round((expires - 3600_000 - serverNow) / 1000)} s)`)
    } else {
      const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(url.searchParams.get('X-Amz-Date') ?? '')!
      const dated = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
      t.ok(Math.abs(dated - serverNow) < 5000, `X-Amz-Date is the server's now (off by ${Math.round((dated - serverNow) / 1000)} s)`)
    }
  })
}

t.test('the server clock closes in on the true offset and reports it once (no jitter of a second)', async t => {
  const lines = captureLog(t)
  let wall = 1_700_000_000_000
  const truth = 15 * MIN + 3000
  const clock = new ServerClock(() => wall)
  // Date headers have whole seconds; each answer took 30 ms
  const answer = (): void => clock.observe(new Date(wall + truth).toUTCString(), wall - 30)
  answer()
  t.ok(clock.offsetMs <= truth && clock.offsetMs > truth - 1030, `first estimate ${clock.offsetMs}`)
  for (let i = 0; i < 40; i++) { wall += 1234; answer() }
  t.ok(Math.abs(clock.offsetMs - truth) <= 30, `then within the answers' 30 ms of the truth: ${clock.offsetMs - truth} ms`)
  t.same(lines, ['oortfs: warning: the machine\'s clock is 15 min 3 s behind the server\'s; signing with the server\'s time'])
  clock.observe(new Date(wall).toUTCString(), wall - 10)
  t.ok(Math.abs(clock.offsetMs) < 1000, 'the clock set right is followed')
  t.equal(lines[1], 'oortfs: warning: the machine\'s clock agrees with the server\'s again')
})
