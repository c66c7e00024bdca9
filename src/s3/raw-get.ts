// Ranged GETs of object data straight from the socket into the block cache's
// buffers. Node's HTTP client (under the SDK) allocates a fresh Buffer for
// every 64 KiB the socket gives, copies it once more on its way, and those
// allocations are what made V8 collect every ~20 MB: half of the CPU of a
// streaming read went to garbage collection. Here each connection reads with
// `onread` (net and tls both have it): the kernel writes the body where it
// belongs, and nothing is allocated per chunk. Only what a data GET needs is
// spoken: HTTP/1.1, one request at a time per kept-alive connection, a body
// with Content-Length; anything else (a chunked body) is refused with
// RawUnsupported and the caller goes the SDK's way. The request is signed by
// the caller (a presigned URL: the headers added here, Range and If-Match, are
// not x-amz-* headers and need no signature).
import net from 'node:net'
import tls from 'node:tls'
import type { Segments } from './body.js'

/** an answer's status and headers (names in lower case) */
export interface RawHead {
  status: number
  headers: Record<string, string>
}

export interface RawRequest {
  /** the signed URL */
  url: URL
  /** more request headers */
  headers: Record<string, string>
  signal?: AbortSignal
  /** the request leaves now (a connected socket) */
  sent: () => void
  /** bytes of the body arrived */
  moved: () => void
  /**
   * A 2xx answer's head: where its body goes (`at` is the offset in sink), or
   * a throw that refuses the answer (the connection is dropped)
   */
  head: (h: RawHead) => { sink: Segments, at: number }
}

export interface RawResult {
  head: RawHead
  /** body bytes placed in the sink: fewer than announced if the connection broke */
  read: number
}

/** the server answered in a way this client does not speak (a chunked body): use the SDK */
export class RawUnsupported extends Error {
  constructor (why: string) {
    super(why)
    this.name = 'RawUnsupported'
  }
}

/** an error answer as the SDK would throw it, for toS3Error */
export interface RawHttpError extends Error {
  Code?: string
  $metadata: { httpStatusCode: number }
  $response: { statusCode: number, headers: Record<string, string> }
}

const HEAD_MAX = 16 * 1024
const ERROR_BODY_MAX = 64 * 1024
const IDLE_MS = 15_000
/** as the SDK's connectionTimeout (client.ts) */
const CONNECT_MS = 10_000

interface Active {
  req: RawRequest
  resolve: (r: RawResult) => void
  reject: (err: unknown) => void
  head?: RawHead
  /** body bytes still to come */
  left: number
  sink?: Segments
  at: number
  read: number
  errorBody?: Buffer
  errorLen: number
  /** an error body without a length: true if chunked (it ends at its last chunk), false if it ends at close */
  errorChunked?: boolean
  /** no byte of the answer came yet (a kept-alive socket the server had closed may be retried) */
  fresh: boolean
}

class Conn {
  readonly socket: net.Socket
  private readonly headBuf = Buffer.allocUnsafe(HEAD_MAX)
  private hlen = 0
  private active?: Active
  private idleTimer?: NodeJS.Timeout
  used = false
  closed = false

  constructor (readonly key: string, url: URL, private readonly timeoutMs: number, connectTimeoutMs: number,
    private readonly onIdle: (c: Conn) => void, private readonly onGone: (c: Conn) => void, tlsOptions: tls.ConnectionOptions = {}) {
    const onread = { buffer: () => this.target(), callback: (n: number) => this.onRead(n) }
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    this.socket = url.protocol === 'https:'
      // tls.connect takes onread too (Node >= 15.1), though @types/node does not say so
      ? tls.connect({ ...tlsOptions, host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], onread } as tls.ConnectionOptions)
      : net.connect({ host, port, onread })
    this.socket.setNoDelay(true)
    // the connection and the TLS handshake have their own bound: a server
    // that takes the SYN and never answers must not hold a queue slot forever
    this.socket.setTimeout(connectTimeoutMs)
    this.socket.on('error', err => this.fail(err))
    this.socket.on('end', () => this.ended())
    this.socket.on('close', () => this.ended())
    this.socket.on('timeout', () => {
      const e = new Error(this.connected && !this.handshaking
        ? `no byte from the server for ${Math.round(this.timeoutMs / 1000)} s`
        : `no connection to ${url.host} within ${Math.round(connectTimeoutMs / 1000)} s`)
      e.name = 'TimeoutError'
      this.fail(e)
    })
  }

  get connected (): boolean {
    return !this.socket.connecting
  }

  /** connected, but the TLS handshake is not done */
  private get handshaking (): boolean {
    return this.socket instanceof tls.TLSSocket && !this.secure
  }

  private secure = false

  /** where the socket's next bytes go */
  private target (): Buffer {
    const a = this.active
    if (a?.sink && a.left > 0) return a.sink.view(a.at + a.read, a.left)
    if (a?.errorBody) return a.errorBody.subarray(a.errorLen)
    return this.headBuf.subarray(this.hlen)
  }

  send (a: Active): void {
    clearTimeout(this.idleTimer)
    this.socket.ref()
    this.active = a
    this.hlen = 0
    const go = (): void => {
      if (this.active !== a) return
      a.req.sent()
      const u = a.req.url
      let text = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: oortfs\r\n`
      for (const [k, v] of Object.entries(a.req.headers)) text += `${k}: ${v}\r\n`
      this.socket.write(text + '\r\n')
      this.socket.setTimeout(this.timeoutMs)
    }
    if (this.socket.connecting || this.handshaking) {
      this.socket.once(this.socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => { this.secure = true; go() })
    } else go()
  }

  private onRead (n: number): boolean {
    const a = this.active
    if (!a) {
      // bytes nobody asked for: this connection is not in a state to reuse
      this.socket.destroy()
      return false
    }
    a.fresh = false
    if (a.sink && a.left > 0) {
      a.read += n
      a.left -= n
      a.req.moved()
      if (a.left === 0) this.finish()
      return true
    }
    if (a.errorBody) {
      a.errorLen += n
      this.errorBodyCame(a)
      return true
    }
    this.hlen += n
    this.parseHead(a)
    return true
  }

  private parseHead (a: Active): void {
    for (;;) {
      const end = this.headBuf.subarray(0, this.hlen).indexOf('\r\n\r\n', 0, 'latin1')
      if (end < 0) {
        if (this.hlen >= HEAD_MAX) this.fail(badAnswer('an answer head over 16 KiB'))
        return
      }
      const lines = this.headBuf.toString('latin1', 0, end).split('\r\n')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
      if (!m) return this.fail(badAnswer(`not an HTTP/1.1 answer: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`))
      const status = Number(m[1])
      const headers: Record<string, string> = {}
      for (const line of lines.slice(1)) {
        const c = line.indexOf(':')
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim()
      }
      const extra = this.headBuf.subarray(end + 4, this.hlen)
      if (status >= 100 && status < 200) {
        // 100 Continue and the like: the real answer follows
        extra.copy(this.headBuf)
        this.hlen = extra.length
        continue
      }
      const head: RawHead = { status, headers }
      a.head = head
      const te = headers['transfer-encoding']
      const chunked = te !== undefined && te !== 'identity'
      const cl = headers['content-length']
      const length = !chunked && cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : undefined
      if (status < 200 || status >= 300) {
        if (length === undefined) {
          // an error's body without a length (chunked, or ended by closing):
          // read up to its end or 64 KiB for its Code; the connection goes after
          a.errorChunked = chunked
          a.left = ERROR_BODY_MAX
          a.errorBody = Buffer.allocUnsafe(ERROR_BODY_MAX)
          a.errorLen = extra.copy(a.errorBody)
          this.errorBodyCame(a)
          return
        }
        a.left = length
        a.errorBody = Buffer.allocUnsafe(Math.min(ERROR_BODY_MAX, a.left))
        a.errorLen = extra.copy(a.errorBody)
        this.errorBodyCame(a)
        return
      }
      // data this client does not frame (chunked, or ended by closing): the
      // SDK's client speaks it, and takes over
      if (chunked) return this.fail(new RawUnsupported(`a ${te} body`))
      if (length === undefined) return this.fail(new RawUnsupported(`a ${status} answer without Content-Length`))
      let place: { sink: Segments, at: number }
      try {
        place = a.req.head(head)
      } catch (err) {
        return this.fail(err)
      }
      a.sink = place.sink
      a.at = place.at
      // never more than the sink holds: a longer body is cut off with its connection
      a.left = Math.min(length, place.sink.length - place.at)
      const over = length > a.left
      const first = Math.min(extra.length, a.left)
      if (first > 0) {
        a.sink.write(extra.subarray(0, first), a.at)
        a.read = first
        a.left -= first
        a.req.moved()
      }
      if (a.left === 0) this.finish(over || extra.length > first)
      else if (over) this.dropAfter = true
      return
    }
  }

  /**
   * More of an error answer's body came: it ends once whole (or 64 KiB of
   * it), or, without a length, at a chunked body's last chunk (else at close)
   */
  private errorBodyCame (a: Active): void {
    const body = a.errorBody!
    if (a.errorChunked === undefined) {
      if (a.errorLen >= body.length) this.finishError(a.left > body.length)
    } else if (a.errorLen >= body.length || (a.errorChunked && chunkedEnded(body.subarray(0, a.errorLen)))) {
      this.finishError(true)
    }
  }

  /** the sink is smaller than the body: once it is full, the connection goes */
  private dropAfter = false

  private finish (drop = this.dropAfter): void {
    const a = this.active!
    this.active = undefined
    this.dropAfter = false
    this.hlen = 0
    this.socket.setTimeout(0)
    if (drop || /\bclose\b/i.test(a.head?.headers.connection ?? '')) this.socket.destroy()
    else this.idle()
    a.resolve({ head: a.head!, read: a.read })
  }

  private finishError (drop: boolean): void {
    const a = this.active!
    this.active = undefined
    this.hlen = 0
    this.socket.setTimeout(0)
    if (drop || /\bclose\b/i.test(a.head?.headers.connection ?? '')) this.socket.destroy()
    else this.idle()
    const body = a.errorBody!.subarray(0, a.errorLen)
    a.reject(httpError(a.head!, a.errorChunked ? dechunk(body) : body))
  }

  private idle (): void {
    this.used = true
    // a kept-alive connection never keeps the process alive
    this.socket.unref()
    this.idleTimer = setTimeout(() => this.socket.destroy(), IDLE_MS).unref()
    this.onIdle(this)
  }

  /** the socket ended or closed: what was on its way ends with it */
  private ended (): void {
    if (!this.closed) {
      this.closed = true
      clearTimeout(this.idleTimer)
      this.onGone(this)
    }
    const a = this.active
    if (!a) return
    if (a.sink && a.read > 0) {
      // a body cut short: the caller sees the short count and asks for the rest
      this.active = undefined
      a.resolve({ head: a.head!, read: a.read })
      return
    }
    if (a.errorBody && a.head) {
      this.finishError(true)
      return
    }
    const e = new Error('the server closed the connection before it answered') as Error & { code: string }
    e.code = 'ECONNRESET'
    this.fail(e)
  }

  fail (err: unknown): void {
    if (!this.socket.destroyed) this.socket.destroy()
    const a = this.active
    if (!a) return
    this.active = undefined
    // a body broken after some of it came (a reset, a stall): what came is
    // kept and counted, so the next try asks for the rest only. Rejected, the
    // bytes would be fetched again, and a server that always broke the body
    // would be asked for the same range forever (each try made "progress").
    if (a.sink && a.read > 0 && !a.req.signal?.aborted) {
      a.resolve({ head: a.head!, read: a.read })
      return
    }
    a.reject(err)
  }
}

/** a chunked body's bytes hold its last (empty) chunk */
function chunkedEnded (raw: Buffer): boolean {
  return raw.indexOf('0\r\n\r\n', 0, 'latin1') === 0 || raw.indexOf('\r\n0\r\n\r\n', 0, 'latin1') >= 0
}

/** the data of a chunked body (what of it came), without its framing */
function dechunk (raw: Buffer): Buffer {
  const out: Buffer[] = []
  let at = 0
  while (at < raw.length) {
    const eol = raw.indexOf('\r\n', at, 'latin1')
    if (eol < 0) break
    const size = parseInt(raw.toString('latin1', at, eol).split(';')[0]!, 16)
    if (!(size > 0)) break
    out.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(out)
}

function badAnswer (why: string): Error {
  const e = new Error(`bad answer from the server: ${why}`)
  e.name = 'BadResponse'
  return e
}

/** an error answer, shaped as the SDK throws them (Code, $metadata, $response) */
function httpError (head: RawHead, body: Buffer): RawHttpError {
  const text = body.toString('utf8')
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1]
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]
  const e = new Error(message ?? code ?? `HTTP ${head.status}`) as RawHttpError
  e.name = code ?? 'Unknown'
  if (code) e.Code = code
  e.$metadata = { httpStatusCode: head.status }
  e.$response = { statusCode: head.status, headers: head.headers }
  return e
}

/** kept-alive connections by origin, one request at a time each */
export class RawGetter {
  private readonly idle = new Map<string, Conn[]>()

  /** `tls`: more options of tls.connect (a test's `ca`); the machine's trust store otherwise, as the SDK's */
  constructor (private readonly opts: { requestTimeoutMs: number, connectTimeoutMs?: number, tls?: tls.ConnectionOptions }) {}

  get (req: RawRequest): Promise<RawResult> {
    req.signal?.throwIfAborted()
    return new Promise<RawResult>((resolve, reject) => {
      let conn: Conn | undefined
      const onAbort = (): void => conn?.fail(req.signal!.reason ?? abortError())
      req.signal?.addEventListener('abort', onAbort, { once: true })
      const done = (): void => req.signal?.removeEventListener('abort', onAbort)
      const attempt = (mayRetry: boolean): void => {
        // the retry after a dead kept-alive connection takes a new one: the
        // other idle ones may have died with it (a server restart, an idle cut)
        conn = mayRetry ? this.take(req.url) : this.open(req.url)
        const reused = conn.used
        const a: Active = {
          req, left: 0, at: 0, read: 0, errorLen: 0, fresh: true,
          resolve: r => { done(); resolve(r) },
          reject: err => {
            // a kept-alive connection the server closed meanwhile, before a byte of the answer: once more, on a new one
            if (mayRetry && reused && a.fresh && !req.signal?.aborted && isReset(err)) return attempt(false)
            done()
            reject(err)
          },
        }
        conn.send(a)
      }
      attempt(true)
    })
  }

  private take (url: URL): Conn {
    const key = `${url.protocol}//${url.host}`
    const list = this.idle.get(key)
    while (list?.length) {
      const c = list.pop()!
      if (!c.closed && !c.socket.destroyed) return c
    }
    return this.open(url)
  }

  private open (url: URL): Conn {
    const key = `${url.protocol}//${url.host}`
    return new Conn(key, url, this.opts.requestTimeoutMs, this.opts.connectTimeoutMs ?? CONNECT_MS,
      c => { const l = this.idle.get(c.key) ?? []; l.push(c); this.idle.set(c.key, l) },
      c => { const l = this.idle.get(c.key); const i = l?.indexOf(c) ?? -1; if (i >= 0) l!.splice(i, 1) }, this.opts.tls)
  }

  /** closes every kept-alive connection */
  destroy (): void {
    for (const l of this.idle.values()) for (const c of l) c.socket.destroy()
    this.idle.clear()
  }
}

function isReset (err: unknown): boolean {
  const code = (err as { code?: string })?.code
  return code === 'ECONNRESET' || code === 'EPIPE'
}

function abortError (): Error {
  const e = new Error('the request was aborted')
  e.name = 'AbortError'
  return e
}
