// Presigned URLs in Signature V2 form (query: AWSAccessKeyId, Expires, Signature).
import type { Credentials } from './client.js'
import type { PresignOptions } from './store.js'
import { signV2, stringToSignV2 } from './sigv2.js'

export function presignV2 (creds: Credentials, base: string, bucket: string, key: string, opts: PresignOptions, nowMs = Date.now()): string {
  const expires = String(Math.floor(nowMs / 1000) + opts.expiresSeconds)
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
  const signature = signV2(creds.secretAccessKey, stringToSignV2(opts.method, {}, path, expires))
  const q = new URLSearchParams({ AWSAccessKeyId: creds.accessKeyId, Expires: expires, Signature: signature })
  return `${base}${path}?${q.toString()}`
}
