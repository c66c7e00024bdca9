// S3's ETag of a multipart object, for servers that do not say it at the end
// of the upload (Ceph's CompleteMultipartUpload answers with none).
import { createHash } from 'node:crypto'
import { unquote, type PartRef } from './store.js'

/** md5 of the parts' binary md5s, then -N */
export function multipartEtag (parts: PartRef[]): string {
  const h = createHash('md5')
  for (const p of parts) h.update(Buffer.from(unquote(p.etag), 'hex'))
  return `"${h.digest('hex')}-${parts.length}"`
}
