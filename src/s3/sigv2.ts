// AWS Signature Version 2, for gateways that still want it. The SDK only signs
// V4, so this replaces its signer: HMAC-SHA1 over the verb, Content-MD5,
// Content-Type, Date, the x-amz-* headers and the resource with its
// sub-resources.
import { createHmac } from 'node:crypto'
import type { Credentials } from './client.js'

interface HttpRequestLike {
  method: string
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

export function canonicalResource (path: string, query: HttpRequestLike['query']): string {
  const subs: string[] = []
  for (const [k, v] of Object.entries(query ?? {})) {
    if (!SUB_RESOURCES.has(k)) continue
    const value = Array.isArray(v) ? v[0] : v
    subs.push(value === undefined || value === null || value === '' ? k : `${k}=${value}`)
  }
  subs.sort()
  return path + (subs.length ? '?' + subs.join('&') : '')
}

export function stringToSignV2 (method: string, headers: Record<string, string>, resource: string, dateOrExpires: string): string {
  const lower: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = String(v).trim()
  const amz = Object.keys(lower)
    .filter(k => k.startsWith('x-amz-') && k !== 'x-amz-date')
    .sort()
    .map(k => `${k}:${lower[k]}\n`)
    .join('')
  return `${method}\n${lower['content-md5'] ?? ''}\n${lower['content-type'] ?? ''}\n${dateOrExpires}\n${amz}${resource}`
}

export function signV2 (secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64')
}

export function sigV2Signer (creds: Credentials) {
  return {
    async sign<T extends HttpRequestLike> (request: T): Promise<T> {
      const headers = request.headers
      for (const k of Object.keys(headers)) {
        // V4 leftovers would be signed as x-amz-* headers and confuse the server
        if (/^(x-amz-content-sha256|x-amz-date|authorization)$/i.test(k)) delete headers[k]
      }
      const date = new Date().toUTCString()
      headers.date = date
      if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken
      const sts = stringToSignV2(request.method, headers, canonicalResource(encodedPath(request.path), request.query), date)
      headers.authorization = `AWS ${creds.accessKeyId}:${signV2(creds.secretAccessKey, sts)}`
      return request
    },
  }
}

/** the path as it goes on the wire: the SDK keeps it decoded until it sends it */
function encodedPath (path: string): string {
  return path.split('/').map(seg => encodeURIComponent(decodeURIComponentSafe(seg))
    .replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/')
}

function decodeURIComponentSafe (s: string): string {
  try { return decodeURIComponent(s) } catch { return s }
}
