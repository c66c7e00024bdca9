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
  const limit = Math.min(COPY_LIMIT, store.maxCopySize ?? COPY_LIMIT)
  // the server keeps metadata and Content-Type itself (MetadataDirective COPY)
  if (size <= limit && !opts.metadata) return store.copy(from, to, { ...opts, priority })
  let headers = opts.metadata
  let contentType = opts.contentType
  if (!headers || contentType === undefined) {
    // new metadata (REPLACE) and a multipart copy set the Content-Type too:
    // with none given the object would become application/octet-stream, so
    // the source's goes along (a file keeps its type through rename and chmod);
    // a multipart copy carries no metadata over by itself either
    const h = await store.head(from, { priority: Priority.Metadata })
    headers ??= h?.metadata
    contentType ??= h?.contentType
  }
  if (size <= limit) return store.copy(from, to, { ...opts, metadata: headers, contentType, priority })
  const call = { priority, urgency: opts.urgency }
  const pin = { ...call, sourceIfMatch: opts.sourceIfMatch }
  const uploadId = await store.createMultipart(to, { metadata: headers, contentType, ...call })
  try {
    const part = Math.min(COPY_PART, limit)
    const ranges: [number, number][] = []
    for (let at = 0; at < size; at += part) ranges.push([at, Math.min(size, at + part)])
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
