// A server-side copy of any size: CopyObject up to 5 GiB, beyond that a
// multipart upload of UploadPartCopy ranges (CopyObject's own limit), each as
// large as S3 allows: a 20 GiB object is 4 copies, not 40.
import type { CopyOptions, CopyResult, ObjectStore, PartRef } from '../../s3/store.js'
import { Priority } from '../../s3/store.js'
import { multipartEtag } from '../../s3/etag.js'
import { S3Limits } from '../../s3/limits.js'

const COPY_LIMIT = S3Limits.maxSingle
const COPY_PART = S3Limits.maxPart
const PARALLEL = 4

export async function copyObject (store: ObjectStore, from: string, to: string, size: number, opts: CopyOptions = {}): Promise<CopyResult> {
  const priority = opts.priority ?? Priority.Data
  if (size <= COPY_LIMIT) return store.copy(from, to, { ...opts, priority })
  let headers = opts.metadata
  let contentType = opts.contentType
  if (!headers) {
    // a multipart copy does not carry metadata over by itself
    const h = await store.head(from, { priority: Priority.Metadata })
    headers = h?.metadata
    contentType = h?.contentType
  }
  const call = { priority, urgency: opts.urgency }
  const pin = { ...call, sourceIfMatch: opts.sourceIfMatch }
  const uploadId = await store.createMultipart(to, { metadata: headers, contentType, ...call })
  try {
    const ranges: [number, number][] = []
    for (let at = 0; at < size; at += COPY_PART) ranges.push([at, Math.min(size, at + COPY_PART)])
    const parts: PartRef[] = new Array(ranges.length)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < ranges.length) {
        const i = next++
        const [s, e] = ranges[i]!
        parts[i] = { partNumber: i + 1, etag: await store.uploadPartCopy(to, uploadId, i + 1, from, s, e, pin) }
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    const r = await store.completeMultipart(to, uploadId, parts, call)
    return { etag: r.etag || multipartEtag(parts), serverDate: r.serverDate }
  } catch (err) {
    await store.abortMultipart(to, uploadId, call).catch(() => {})
    throw err
  }
}
