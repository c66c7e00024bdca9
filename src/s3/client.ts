// Builds the one S3Client of the process: endpoint, credentials, signature,
// keep-alive sockets, and the settings S3-compatible gateways need.
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { sigV2Signer } from './sigv2.js'
import { stampOnConnect } from './wire-stamp.js'
import { followServerClock, ServerClock } from './clock-skew.js'
import { log } from '../util/log.js'

export interface Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface ClientOptions {
  endpoint: string
  region: string
  /** explicit keys; undefined means the AWS default chain (env, profile, ...) */
  credentials?: Credentials
  profile?: string
  signature: 'v4' | 'v2'
  pathStyle: boolean
  /** sockets kept open: at least the queue's concurrency */
  maxSockets: number
  /** a request whose socket is silent this long (no byte either way) fails and is retried */
  requestTimeoutMs: number
  /** the server's time, which every signature uses (clock-skew.ts); the gateway presigns with it too */
  serverClock?: ServerClock
}

/** the header the server dated its answer with, kept on the SDK's output */
export const SERVER_DATE = '$serverDate'

// the SDK warns on every start that Node 20 support ends in 2027: not the user's concern
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

export function createS3Client (opts: ClientOptions): S3Client {
  const serverClock = opts.serverClock ?? new ServerClock()
  const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, keepAliveMsecs: 10_000 }
  const config: S3ClientConfig = {
    endpoint: opts.endpoint,
    region: opts.region,
    forcePathStyle: opts.pathStyle,
    // the queue retries, so that every attempt is paced and counted
    maxAttempts: 1,
    // aws-chunked bodies with CRC32 trailers are refused by many S3-compatible servers
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      // a rate slot's time starts once its request has a connected socket (wire-stamp.ts)
      httpAgent: stampOnConnect(new HttpAgent(agentOpts), false),
      httpsAgent: stampOnConnect(new HttpsAgent(agentOpts), true),
      connectionTimeout: 10_000,
      // a socket quiet this long fails the attempt (TimeoutError), which the
      // queue retries; smithy's requestTimeout only logs a warning now
      socketTimeout: opts.requestTimeoutMs,
    },
  }
  if (opts.credentials) config.credentials = opts.credentials
  if (opts.profile) config.profile = opts.profile
  if (opts.signature === 'v2') {
    if (!opts.credentials) throw new Error('sigv2 needs explicit credentials (passwd_file or environment)')
    config.signer = sigV2Signer(opts.credentials, { endpoint: opts.endpoint, now: () => serverClock.now() })
  }
  const client = new S3Client(config)
  followServerClock(client, serverClock)
  if (opts.signature === 'v4') unsignedPayloads(client)
  client.middlewareStack.add(next => async args => {
    const result = await next(args)
    const headers = (result.response as { headers?: Record<string, string> })?.headers
    if (headers?.date && result.output) (result.output as unknown as Record<string, unknown>)[SERVER_DATE] = new Date(headers.date)
    return result
  }, { step: 'deserialize', name: 'oortfsServerDate', priority: 'high' })
  // -d: one line per HTTP request as it went out (signed, retries included), and
  // what came back. Method, path and query only: never a header, so never a signature.
  client.middlewareStack.add((next, context) => async args => {
    if (!log.enabled('debug')) return await next(args)
    const req = args.request as { method?: string; path?: string; query?: Record<string, unknown>; headers?: Record<string, string> }
    const start = performance.now()
    const what = `S3 ${(context as { commandName?: string }).commandName?.replace(/Command$/, '') ?? '?'} ${req.method} ${req.path}${queryText(req.query)}`
    try {
      const result = await next(args)
      const res = result.response as { statusCode?: number; headers?: Record<string, string> }
      const len = res?.headers?.['content-length']
      log.debug(`${what} -> ${res?.statusCode ?? '?'}${len && req.method !== 'HEAD' ? ` ${len} bytes` : ''} ${(performance.now() - start).toFixed(1)} ms`)
      return result
    } catch (err) {
      const e = err as { code?: string; name?: string }
      log.debug(`${what} -> ${e?.code ?? e?.name ?? 'error'} ${(performance.now() - start).toFixed(1)} ms`)
      throw err
    }
  }, { step: 'deserialize', name: 'oortfsDebugLog', priority: 'low' })
  return client
}

/**
 * Data bodies (PutObject, UploadPart) are signed as UNSIGNED-PAYLOAD: SigV4
 * otherwise hashes every byte sent with SHA-256 before the request may leave,
 * on the one JavaScript thread (0.6 s of CPU per GiB here, a tenth of a
 * write's cost). The signature still covers the method, key, query, headers
 * and Content-Length; the bytes themselves are what TLS (or, for plain http, a
 * loopback host: config.ts refuses any other) protects on the way, and the
 * ETag the server answers with is the MD5 it computed of what it got. XML
 * bodies (a multipart completion, a delete list) stay signed: they are small.
 */
function unsignedPayloads (client: S3Client): void {
  client.middlewareStack.add(next => async args => {
    const req = args.request as { body?: unknown, headers?: Record<string, string> }
    if (req?.headers && ArrayBuffer.isView(req.body) && !('x-amz-content-sha256' in req.headers)) {
      req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
    }
    return await next(args)
  }, { step: 'build', name: 'oortfsUnsignedPayload' })
}

function queryText (query: Record<string, unknown> | undefined): string {
  const parts = Object.entries(query ?? {})
    .filter(([k]) => k !== 'x-id') // the SDK's own marker
    .map(([k, v]) => v === null || v === undefined || v === '' ? k : `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
  return parts.length ? '?' + parts.join('&') : ''
}
