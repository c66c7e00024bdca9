// AWS Signature Version 2, for gateways that still want it. The SDK only signs
// V4, so this replaces its signer: HMAC-SHA1 over the verb, Content-MD5,
// Content-Type, Date, the x-amz-* headers and the resource with its
// sub-resources (test/unit/sigv2.ts checks AWS's documented examples).
import { createHmac } from 'node:crypto'
import type { Credentials } from './client.js'

export interface HttpRequestLike {
  method: string
  /** as it goes on the wire: the SDK has already URI-encoded each key segment */
  path: string
  hostname?: string
  query?: Record<string, string | string[] | null | undefined>
  headers: Record<string, string>
}

/** query parameters that are part of the signed resource (sorted when signed) */
const SUB_RESOURCES = new Set([
  'acl', 'delete', 'lifecycle', 'location', 'logging', 'notification', 'partNumber', 'policy',
  'requestPayment', 'response-cache-control', 'response-content-disposition', 'response-content-encoding',
  'response-content-language', 'response-content-type', 'response-expires', 'torrent', 'uploadId',
  'uploads', 'versionId', 'versioning', 'versions', 'website', 'cors', 'tagging', 'restore',
])

/**
 * The CanonicalizedResource: `/bucket` (also for virtual-hosted requests, where
 * the bucket is in the host name), the encoded path, then the sub-resources,
 * sorted, with their values as they are (not encoded).
 */
export function canonicalResource (path: string, query: HttpRequestLike['query'], virtualBucket?: string): string {
  const subs: string[] = []
  for (const [k, v] of Object.entries(query ?? {})) {
    if (!SUB_RESOURCES.has(k)) continue
    const value = Array.isArray(v) ? v[0] : v
    subs.push(value === undefined || value === null || value === '' ? k : `${k}=${value}`)
  }
  subs.sort()
  const base = virtualBucket ? `/${virtualBucket}${path || '/'}` : path
  return base + (subs.length ? '?' + subs.join('&') : '')
}

/**
 * The StringToSign. `dateOrExpires` is the Date header's value, the Expires
 * epoch seconds of a query-string signature, or '' when the request is dated
 * by x-amz-date instead (which is then signed among the x-amz-* headers).
 */
export function stringToSignV2 (method: string, headers: Record<string, string>, resource: string, dateOrExpires: string): string {
  const lower: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(headers)) {
    // header values are signed with folded whitespace trimmed; repeats joined by commas
    (lower[k.toLowerCase()] ??= []).push(String(v).replace(/\s*\r?\n\s*/g, ' ').trim())
  }
  const one = (k: string): string => lower[k]?.join(',') ?? ''
  const amz = Object.keys(lower)
    .filter(k => k.startsWith('x-amz-'))
    .sort()
    .map(k => `${k}:${one(k)}\n`)
    .join('')
  return `${method}\n${one('content-md5')}\n${one('content-type')}\n${dateOrExpires}\n${amz}${resource}`
}

export function signV2 (secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64')
}

/** the bucket of a virtual-hosted request to `endpointHost` (bucket.endpointHost), if it is one */
export function virtualHostBucket (hostname: string | undefined, endpointHost: string | undefined): string | undefined {
  if (!hostname || !endpointHost) return undefined
  const h = hostname.toLowerCase()
  const e = endpointHost.toLowerCase()
  return h.length > e.length + 1 && h.endsWith('.' + e) ? hostname.slice(0, h.length - e.length - 1) : undefined
}

export interface SignerOptions {
  /** the endpoint URL: tells a virtual-hosted request's bucket from its host name */
  endpoint?: string
  /** the clock (tests) */
  now?: () => Date
}

export function sigV2Signer (creds: Credentials, opts: SignerOptions = {}) {
  const endpointHost = opts.endpoint ? new URL(opts.endpoint).hostname : undefined
  const now = opts.now ?? (() => new Date())
  return {
    async sign<T extends HttpRequestLike> (request: T): Promise<T> {
      const headers = request.headers
      for (const k of Object.keys(headers)) {
        // V4 leftovers would be signed as x-amz-* headers and confuse the server
        if (/^(x-amz-content-sha256|x-amz-date|authorization|date|x-amz-security-token)$/i.test(k)) delete headers[k]
      }
      const date = now().toUTCString()
      headers.date = date
      if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken
      const resource = canonicalResource(request.path, request.query, virtualHostBucket(request.hostname, endpointHost))
      const sts = stringToSignV2(request.method, headers, resource, date)
      headers.authorization = `AWS ${creds.accessKeyId}:${signV2(creds.secretAccessKey, sts)}`
      return request
    },
  }
}
