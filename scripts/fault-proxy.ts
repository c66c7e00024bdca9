// An HTTP proxy on loopback between a mount (or the benchmark) and an S3
// server that misbehaves the way OORT Storage can: 503 SlowDown above a request
// rate, a fraction of 500 InternalError, a fraction of connections reset in the
// middle of the response body (or stalled there), added latency, and a server
// that goes away (connections reset or refused, or requests never answered) and
// comes back (at once, or after a pause of N s), or one that ignores the
// Range header and answers with the whole object. Everything it did is counted.
//
// Requests go to the target exactly as they came, Host header included: the
// client signed (SigV4) for the proxy's host:port, and radosgw checks the
// signature against the Host it receives, whatever its own address.
//
// Module:
//   const p = await startFaultProxy({ target: s3.endpoint, rps: 50, error500: 0.05, resetMidBody: 0.02, seed: 1 })
//   mount with endpoint=p.url ... p.stats() ... p.set({ down: 'reset' }) ... await p.close()
//   await p.pause(10_000, 'refuse')   the server away for 10 s, then back by itself
// CLI (node dist/scripts/fault-proxy.js --help): prints the URL, takes settings on
// stdin (`rps=50 error500=0.05`, `down`, `refuse`, `hold`, `up`, `pause 10 refuse`, `whole`,
// `stats`), prints stats on exit.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net, { type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { prng } from './prng.js'

export interface FaultSettings {
  /** answer 503 SlowDown to requests past this many in any 1 s window (0: no limit) */
  rps: number
  /** fraction of requests answered 500 InternalError (not forwarded) */
  error500: number
  /**
   * fraction of requests forwarded, then cut: the status line, headers and part
   * of the body are sent, then the connection is reset (a response without a
   * body is cut before its first byte: the server did the work, the client
   * never hears of it)
   */
  resetMidBody: number
  /** fraction of requests forwarded, then stalled like a reset but with the connection left open, silent */
  stallMidBody: number
  /** added before each forwarded request */
  latencyMs: number
  /**
   * the server is gone: 'reset' resets every open and new connection, 'refuse'
   * stops listening (ECONNREFUSED), 'hang' takes requests and never answers
   * (they stay unanswered after it ends), 'hold' takes requests and answers
   * them once it ends (a balancer holding connections through a failover);
   * false serves again on the same port
   */
  down: false | DownMode
  /**
   * GETs with a Range header are sent on without it: the server answers 200
   * with the whole object, as one that ignores ranges does. The signature
   * must not cover Range: SigV2 (`-o sigv2`) or anonymous requests; SigV4
   * signs it, and the server then refuses the request (403)
   */
  rangeAsWhole: boolean
}

export type DownMode = 'reset' | 'refuse' | 'hang' | 'hold'

/** what the task calls "faults on": 5% 500s, 2% resets mid-body, SlowDown above OORT's 100 req/s */
export const FAULTS_ON: Partial<FaultSettings> = { error500: 0.05, resetMidBody: 0.02, rps: 100 }

export interface FaultProxyOptions extends Partial<FaultSettings> {
  /** the S3 server, e.g. http://127.0.0.1:8000 */
  target: string
  /** seeds the fault draws (one sequence, in arrival order); default 1 */
  seed?: number
  /** listening port; default a free one */
  port?: number
  /** called as each request arrives (before its fate is drawn) */
  onRequest?: (method: string, url: string, at: number) => void
}

export interface FaultStats {
  /** requests received (answered, faulted or cut) */
  requests: number
  /** passed to the server */
  forwarded: number
  slowDown: number
  error500: number
  /** responses cut mid-body (or before their first byte) */
  resets: number
  /** responses stalled mid-body, the connection left open */
  stalls: number
  /** connections reset or refused while down */
  refused: number
  /** requests taken and never answered ('hang') */
  hung: number
  /** requests held until the server came back ('hold') */
  held: number
  /** ranged GETs sent on without their Range (rangeAsWhole) */
  rangesIgnored: number
  /** requests the server failed to answer (connection error upstream) */
  upstreamErrors: number
  /** the most requests received in any 1 s window */
  maxPerSecond: number
  /** the most requests forwarded in any 1 s window */
  maxForwardedPerSecond: number
  /** when the first 503 was sent (ms since the epoch), if any */
  firstSlowDownAt?: number
  /** requests received since the first 503 */
  requestsSinceFirstSlowDown: number
  byMethod: Record<string, number>
  bytesUp: number
  bytesDown: number
}

/** "1200 requests, 503s 12 (1.0%), 500s 60, resets 24, max 99/s" */
export function describeFaults (s: FaultStats): string {
  const pct = s.requests ? (100 * s.slowDown / s.requests).toFixed(1) : '0'
  return `${s.requests} requests, 503s ${s.slowDown} (${pct}%), 500s ${s.error500}, resets ${s.resets}, refused ${s.refused}, max ${s.maxPerSecond}/s received, ${s.maxForwardedPerSecond}/s forwarded`
}

export interface FaultProxy {
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  stats(): FaultStats
  /** zeroes the counters (the settings stay) */
  resetStats(): void
  settings(): FaultSettings
  /** changes settings at once; requests under way keep the fate already drawn */
  set(opts: Partial<FaultSettings>): void
  /**
   * the server away for `ms` (in `mode`, 'refuse' by default), then back by
   * itself; resolves once it is back. A set({ down }) meanwhile cancels the return
   */
  pause(ms: number, mode?: DownMode): Promise<void>
  close(): Promise<void>
}

const WINDOW_MS = 1000

const SLOW_DOWN = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'
const INTERNAL = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>'

/** timestamps of events in the last window; remembers the most ever seen at once */
class Window {
  private readonly times: number[] = []
  private head = 0
  max = 0
  count (now: number): number {
    while (this.head < this.times.length && this.times[this.head]! <= now - WINDOW_MS) this.head++
    if (this.head > 4096) { this.times.splice(0, this.head); this.head = 0 }
    return this.times.length - this.head
  }

  add (now: number): void {
    this.count(now)
    this.times.push(now)
    this.max = Math.max(this.max, this.times.length - this.head)
  }
}

function emptyStats (): FaultStats {
  return {
    requests: 0, forwarded: 0, slowDown: 0, error500: 0, resets: 0, stalls: 0, refused: 0, hung: 0, held: 0, rangesIgnored: 0, upstreamErrors: 0,
    maxPerSecond: 0, maxForwardedPerSecond: 0, requestsSinceFirstSlowDown: 0, byMethod: {}, bytesUp: 0, bytesDown: 0,
  }
}

export async function startFaultProxy (opts: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target)
  if (target.protocol !== 'http:') throw new Error(`fault proxy: only http targets (got ${opts.target})`)
  const targetPort = Number(target.port || 80)
  const settings: FaultSettings = {
    rps: opts.rps ?? 0,
    error500: opts.error500 ?? 0,
    resetMidBody: opts.resetMidBody ?? 0,
    stallMidBody: opts.stallMidBody ?? 0,
    latencyMs: opts.latencyMs ?? 0,
    down: opts.down ?? false,
    rangeAsWhole: opts.rangeAsWhole ?? false,
  }
  const random = prng(opts.seed ?? 1)
  let stats = emptyStats()
  let received = new Window()
  let forwarded = new Window()
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256 })
  const sockets = new Set<Socket>()
  let closed = false
  /** requests held ('hold'), woken when the setting changes */
  let holding: (() => void)[] = []
  /** the pending end of a pause(), cancelled by a set({ down }) */
  let pauseTimer: NodeJS.Timeout | undefined
  let pauseEnded: (() => void) | undefined
  /** listening again after 'refuse': what a pause's end waits for */
  let relistening: Promise<void> = Promise.resolve()

  const kill = (s: Socket): void => {
    if (!s.destroyed) s.resetAndDestroy()
  }

  const http1 = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => { void handle(req, res) })
  http1.on('clientError', (_err, socket) => { socket.destroy() })

  // a plain TCP listener in front: 'refuse' closes it, 'reset' kills what it hands over
  let listener: net.Server | undefined
  let port = opts.port ?? 0
  const listen = async (): Promise<void> => {
    const l = net.createServer(socket => {
      if (settings.down === 'reset' || settings.down === 'refuse') { stats.refused++; kill(socket); return }
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      http1.emit('connection', socket)
    })
    await new Promise<void>((resolve, reject) => {
      l.once('error', reject)
      l.listen(port, '127.0.0.1', () => { l.off('error', reject); resolve() })
    })
    port = (l.address() as net.AddressInfo).port
    listener = l
  }
  const unlisten = (): void => {
    listener?.close()
    listener = undefined
  }
  // listening first, even when starting refused: it finds the port to come back on
  await listen()
  if (settings.down === 'refuse') unlisten()

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, body: string): void => {
    const send = (): void => {
      if (res.destroyed) return
      res.writeHead(status, {
        'content-type': 'application/xml',
        'content-length': Buffer.byteLength(body),
        'x-amz-request-id': `fault-${stats.requests}`,
      })
      res.end(body)
    }
    // read the request body first: an answer before it would leave the connection mid-request
    if (req.complete) send()
    else {
      req.on('end', send)
      req.on('error', () => res.destroy())
      req.resume()
    }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = Date.now()
    stats.requests++
    received.add(now)
    stats.maxPerSecond = received.max
    if (stats.firstSlowDownAt !== undefined) stats.requestsSinceFirstSlowDown++
    const method = req.method ?? 'GET'
    stats.byMethod[method] = (stats.byMethod[method] ?? 0) + 1
    opts.onRequest?.(method, req.url ?? '/', now)

    if (settings.down === 'hold') {
      // the request waits, unread, until the server is back (or gone another way)
      stats.held++
      while (settings.down === 'hold' && !closed) await new Promise<void>(resolve => holding.push(resolve))
      if (closed) { kill(req.socket); return }
    }
    if (settings.down === 'hang') {
      // read it all, answer nothing
      stats.hung++
      req.resume()
      return
    }
    if (settings.down) {
      stats.refused++
      kill(req.socket)
      return
    }
    if (settings.rps > 0 && forwarded.count(now) >= settings.rps) {
      stats.slowDown++
      if (stats.firstSlowDownAt === undefined) { stats.firstSlowDownAt = now; stats.requestsSinceFirstSlowDown = 1 }
      answer(req, res, 503, SLOW_DOWN)
      return
    }
    forwarded.add(now)
    stats.maxForwardedPerSecond = forwarded.max
    // one draw per request, whatever the settings, so a seed gives the same sequence
    const r = random()
    const cutAt = random()
    if (r < settings.error500) {
      stats.error500++
      answer(req, res, 500, INTERNAL)
      return
    }
    const reset = settings.error500 + settings.resetMidBody
    const cut = r < reset ? 'reset' : r < reset + settings.stallMidBody ? 'stall' : undefined
    if (settings.latencyMs > 0) {
      // the request body waits, unread, meanwhile
      await new Promise(resolve => setTimeout(resolve, settings.latencyMs))
    }
    forward(req, res, cut, cutAt)
  }

  function forward (req: IncomingMessage, res: ServerResponse, cut: 'reset' | 'stall' | undefined, cutAt: number): void {
    stats.forwarded++
    const headers: string[] = []
    const dropRange = settings.rangeAsWhole && req.method === 'GET' && req.headers.range !== undefined
    if (dropRange) stats.rangesIgnored++
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      // we already said 100 Continue; the rest goes as it came (Host too: it is signed)
      const name = req.rawHeaders[i]!.toLowerCase()
      if (name === 'expect' || (dropRange && name === 'range')) continue
      headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
    }
    const up = http.request({
      host: target.hostname, port: targetPort, method: req.method, path: req.url, headers,
      agent: upstreamAgent, setHost: false,
    })
    let done = false
    const fail = (): void => {
      if (done) return
      done = true
      up.destroy()
      kill(req.socket)
    }
    /** the cut: a reset, or silence with the connection left open */
    const cutNow = (): void => {
      if (cut === 'reset') { stats.resets++; fail(); return }
      stats.stalls++
      done = true
      up.destroy()
    }
    up.on('error', () => { if (!done) stats.upstreamErrors++; fail() })
    req.on('error', fail)
    req.on('data', (d: Buffer) => { stats.bytesUp += d.length })
    res.on('close', () => { if (!res.writableFinished) fail() })
    req.pipe(up)
    up.on('response', upRes => {
      const isHead = req.method === 'HEAD'
      const length = isHead || upRes.statusCode === 204 || upRes.statusCode === 304
        ? 0
        : Number(upRes.headers['content-length'] ?? NaN)
      if (cut && length === 0) {
        // nothing to cut in the middle of: the client never hears back
        upRes.resume()
        cutNow()
        return
      }
      const rawOut: string[] = []
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) rawOut.push(upRes.rawHeaders[i]!, upRes.rawHeaders[i + 1]!)
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, rawOut)
      // where to cut: somewhere in the body (unknown length: in its first 64 KiB)
      let budget = cut ? Math.floor(cutAt * (Number.isFinite(length) ? length : 65536)) : Infinity
      let cutting = false
      upRes.on('data', (chunk: Buffer) => {
        if (cutting) return
        if (chunk.length < budget) {
          budget -= chunk.length
          stats.bytesDown += chunk.length
          if (!res.write(chunk)) { upRes.pause(); res.once('drain', () => upRes.resume()) }
          return
        }
        // the cut: what fits, then a reset (or silence) once it has left
        cutting = true
        const part = chunk.subarray(0, budget)
        stats.bytesDown += part.length
        upRes.destroy()
        res.write(part, () => setTimeout(cutNow, 5))
      })
      upRes.on('end', () => {
        if (cutting) return
        if (cut) {
          // the body ended before the cut point: cut before its end is sent
          cutNow()
          return
        }
        done = true
        res.end()
      })
      upRes.on('error', fail)
    })
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ ...stats, byMethod: { ...stats.byMethod } }),
    resetStats: () => { stats = emptyStats(); received = new Window(); forwarded = new Window() },
    settings: () => ({ ...settings }),
    set,
    pause: async (ms: number, mode: DownMode = 'refuse') => {
      set({ down: mode })
      await new Promise<void>(resolve => {
        pauseTimer = setTimeout(() => { pauseTimer = undefined; set({ down: false }); void relistening.then(resolve) }, ms)
        // a set({ down }) ends the pause its own way: resolve all the same
        pauseEnded = resolve
      })
    },
    close: async () => {
      closed = true
      wake()
      unlisten()
      for (const s of sockets) s.destroy()
      sockets.clear()
      upstreamAgent.destroy()
    },
  }

  function wake (): void {
    const waiting = holding
    holding = []
    for (const w of waiting) w()
  }

  function set (o: Partial<FaultSettings>): void {
    if (o.down !== undefined && pauseTimer) {
      clearTimeout(pauseTimer)
      pauseTimer = undefined
      const ended = pauseEnded
      // once the settings below are in force
      queueMicrotask(() => { void relistening.then(ended) })
    }
    const wasDown = settings.down
    Object.assign(settings, Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)))
    // going away (but not into silence or a hold): every connection is cut
    const cuts = (d: FaultSettings['down']): boolean => d === 'reset' || d === 'refuse'
    if (cuts(settings.down) && !cuts(wasDown)) {
      // counted: a closed listener refuses new connections where this process cannot see them
      stats.refused += sockets.size
      for (const s of sockets) kill(s)
      sockets.clear()
      upstreamAgent.destroy()
    }
    if (settings.down === 'refuse' && listener) unlisten()
    if (settings.down !== 'refuse' && !listener && !closed) {
      relistening = listen().catch(err => { process.stderr.write(`fault proxy: cannot listen on ${port} again: ${(err as Error).message}\n`) })
    }
    if (settings.down !== 'hold') wake()
  }
}

// ---------------------------------------------------------------- CLI

const USAGE = `usage: fault-proxy --target URL [--port P] [--rps N] [--error500 F] [--reset F] [--stall F] [--latency MS] [--seed S] [--report SECONDS]
Prints the proxy's URL, then reads settings from stdin, one line at a time:
  rps=50 error500=0.05 reset=0.02 stall=0 latency=20   change settings
  down | refuse | hang | hold | up               reset all connections | stop listening | never answer |
                                                 answer once up again | serve again
  pause SECONDS [down|refuse|hang|hold]          away for SECONDS (refuse by default), then back by itself
  whole | nowhole                                answer ranged GETs with the whole object (SigV2 only) | not
  stats                                          print the counters (JSON)
Prints the counters on SIGINT/SIGTERM and exits.`

function parseSettings (words: string[]): Partial<FaultSettings> {
  const out: Partial<FaultSettings> = {}
  for (const w of words) {
    const [k, v] = w.split('=')
    const n = Number(v)
    if (k === 'down') out.down = 'reset'
    else if (k === 'refuse') out.down = 'refuse'
    else if (k === 'hang') out.down = 'hang'
    else if (k === 'hold') out.down = 'hold'
    else if (k === 'whole') out.rangeAsWhole = true
    else if (k === 'nowhole') out.rangeAsWhole = false
    else if (k === 'up') out.down = false
    else if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`bad setting ${w}`)
    else if (k === 'rps') out.rps = n
    else if (k === 'error500') out.error500 = n
    else if (k === 'reset' || k === 'resetMidBody') out.resetMidBody = n
    else if (k === 'stall' || k === 'stallMidBody') out.stallMidBody = n
    else if (k === 'latency' || k === 'latencyMs') out.latencyMs = n
    else throw new Error(`unknown setting ${k}`)
  }
  return out
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' }, port: { type: 'string' }, rps: { type: 'string' }, error500: { type: 'string' },
      reset: { type: 'string' }, stall: { type: 'string' }, latency: { type: 'string' }, seed: { type: 'string' }, report: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help || !values.target) {
    process.stdout.write(USAGE + '\n')
    process.exitCode = values.help ? 0 : 2
    return
  }
  const proxy = await startFaultProxy({
    target: values.target,
    port: values.port ? Number(values.port) : undefined,
    rps: values.rps ? Number(values.rps) : undefined,
    error500: values.error500 ? Number(values.error500) : undefined,
    resetMidBody: values.reset ? Number(values.reset) : undefined,
    stallMidBody: values.stall ? Number(values.stall) : undefined,
    latencyMs: values.latency ? Number(values.latency) : undefined,
    seed: values.seed ? Number(values.seed) : undefined,
  })
  process.stdout.write(`${proxy.url}\n`)
  const print = (): void => { process.stdout.write(JSON.stringify({ settings: proxy.settings(), stats: proxy.stats() }) + '\n') }
  if (values.report) setInterval(print, Number(values.report) * 1000).unref()
  const rl = createInterface({ input: process.stdin })
  rl.on('line', line => {
    const words = line.trim().split(/\s+/).filter(Boolean)
    if (words.length === 0) return
    if (words[0] === 'stats') { print(); return }
    if (words[0] === 'pause') {
      const secs = Number(words[1])
      const mode = ({ down: 'reset', refuse: 'refuse', hang: 'hang', hold: 'hold' } as const)[words[2] ?? 'refuse']
      if (!(secs > 0) || !mode) { process.stderr.write(`bad pause: ${line} (pause SECONDS [down|refuse|hang|hold])\n`); return }
      void proxy.pause(secs * 1000, mode).then(print)
      print()
      return
    }
    try { proxy.set(parseSettings(words)); print() } catch (err) { process.stderr.write(`${(err as Error).message}\n`) }
  })
  const stop = (): void => { print(); void proxy.close().then(() => process.exit(0)) }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch(err => { process.stderr.write(`fault-proxy: ${(err as Error).message}\n`); process.exit(1) })
}
