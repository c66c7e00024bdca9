// Presigned URLs in Signature V2 form (query: AWSAccessKeyId, Expires, Signature),
// always path-style (`BASE/bucket/key`; a path in BASE, a gateway behind a
// prefix, is kept and signed, as the request signer signs the path on the wire). A PUT URL signs an empty Content-Type
// and Content-MD5, so the upload must send neither (curl -T sends neither).
import type { Credentials } from './client.js'
import type { PresignOptions } from './store.js'
import { signV2, stringToSignV2 } from './sigv2.js'

/** a key segment as the SDK puts it on the wire: RFC 3986 unreserved characters stay */
function encodeSegment (s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
}

export function presignV2 (creds: Credentials, base: string, bucket: string, key: string, opts: PresignOptions, nowMs = Date.now()): string {
  const expires = String(Math.floor(nowMs / 1000) + opts.expiresSeconds)
  const url = new URL(base)
  const path = `${url.pathname.replace(/\/+$/, '')}/${bucket}/${key.split('/').map(encodeSegment).join('/')}`
  const amz: Record<string, string> = creds.sessionToken ? { 'x-amz-security-token': creds.sessionToken } : {}
  const signature = signV2(creds.secretAccessKey, stringToSignV2(opts.method, amz, path, expires))
  const q = new URLSearchParams({ AWSAccessKeyId: creds.accessKeyId, Expires: expires, Signature: signature, ...amz })
  return `${url.origin}${path}?${q.toString()}`
}
