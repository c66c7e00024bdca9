// A ranged GET's answer, checked against the request before a byte of it is
// used: a server (or a proxy between) that ignores the Range header answers
// 200 with the whole object, and its first byte is byte 0, not the offset
// asked for. A mismatch is a BadResponse: retried a few times, then EIO;
// never bytes copied to the wrong place.
import { S3Error } from './errors.js'

export interface RangeHead {
  ContentRange?: string
  ContentLength?: number
  $metadata?: { httpStatusCode?: number }
}

export interface RangeAnswer {
  /** the object's size */
  total: number
  /** bytes the body carries, from the offset asked for */
  length: number
}

/** what the answer to `bytes=from-(end-1)` holds, or a BadResponse */
export function checkRange (out: RangeHead, from: number, end: number, what: string): RangeAnswer {
  const status = out.$metadata?.httpStatusCode ?? 0
  const bad = (why: string): S3Error =>
    new S3Error('EIO', 'BadResponse', status, `${what}: the server's answer does not match the request for bytes ${from}-${end - 1}: ${why}`)
  const length = out.ContentLength === undefined ? undefined : Number(out.ContentLength)
  if (out.ContentRange === undefined) {
    if (status === 206) throw bad('206 without Content-Range')
    // 200: the whole object. From the start, it holds what was asked; from
    // anywhere else, its bytes are not the ones asked for
    if (from > 0) throw bad('it sent the whole object (200), ignoring the range')
    if (length === undefined || !Number.isFinite(length)) throw bad('the whole object (200) without Content-Length')
    return { total: length, length: Math.min(length, end) }
  }
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange.trim())
  if (!m) throw bad(`Content-Range "${out.ContentRange}"`)
  const [first, last, total] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (first !== from || last < first || last >= end || last >= total) throw bad(`Content-Range "${out.ContentRange}"`)
  if (length !== undefined && length !== last - first + 1) throw bad(`Content-Length ${length} for Content-Range "${out.ContentRange}"`)
  return { total, length: last - first + 1 }
}
