// The fault proxy's outage and range modes (scripts/fault-proxy.ts), in front
// of a tiny local HTTP server: pause(N) takes the server away for N and brings
// it back by itself (refusing, or holding requests until it is back); a set()
// meanwhile ends the pause; rangeAsWhole sends GETs on without their Range.
import t, { type Test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { startFaultProxy, type FaultProxy } from '../../scripts/fault-proxy.js'

/** a target that answers each request with the Range header it got */
async function target (t: Test): Promise<string> {
  const server = http.createServer((req, res) => {
    const body = `range=${req.headers.range ?? 'none'}`
    res.writeHead(200, { 'content-length': body.length })
    res.end(body)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function proxy (t: Test): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: await target(t) })
  t.teardown(() => p.close())
  return p
}

/** one request, on a fresh connection: its body, or the socket error's code */
function get (url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise(resolve => {
    const req = http.get(url + '/b/k', { headers, agent: false }, res => {
      let body = ''
      res.on('data', c => { body += c })
      res.on('end', () => resolve(body))
      res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
    })
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
  })
}

t.test('pause(N): refused for N, then served again by itself', async t => {
  const p = await proxy(t)
  const back = p.pause(400)
  t.equal(await get(p.url), 'ECONNREFUSED', 'refused while paused')
  await back
  t.equal(await get(p.url), 'range=none', 'served once the pause is over')
})

t.test("pause(N, 'hold'): a request sent during the pause is answered once it is over", async t => {
  const p = await proxy(t)
  const started = Date.now()
  const back = p.pause(500, 'hold')
  const answer = get(p.url)
  t.equal(await answer, 'range=none', 'answered')
  t.ok(Date.now() - started >= 480, `after the pause (${Date.now() - started} ms)`)
  await back
  t.equal(p.stats().held, 1)
})

t.test('a set({ down: false }) during a pause ends it, and the pause resolves', async t => {
  const p = await proxy(t)
  const back = p.pause(60_000, 'reset')
  t.not(await get(p.url), 'range=none', 'away')
  p.set({ down: false })
  await back
  t.equal(await get(p.url), 'range=none', 'back at once')
})

t.test('rangeAsWhole: a GET goes on without its Range header (the server answers with the whole object)', async t => {
  const p = await proxy(t)
  t.equal(await get(p.url, { range: 'bytes=5-9' }), 'range=bytes=5-9', 'off: the range reaches the server')
  p.set({ rangeAsWhole: true })
  t.equal(await get(p.url, { range: 'bytes=5-9' }), 'range=none', 'on: it does not')
  t.equal(p.stats().rangesIgnored, 1)
})
