// ListObjectsV2 over a byte-ordered key list, as S3 and Ceph RGW page it:
// common prefixes and keys share one ordered stream and one MaxKeys budget.
import { serverError } from './fake-errors.js'
import type { ListPage, ListParams, ObjectSummary } from '../../src/s3/store.js'

export const MAX_KEYS = 1000

/** UTF-8 byte order: differs from JS string order above U+FFFF (surrogates sort before U+E000..U+FFFF). */
export function compareKeys (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

// The token names the last entry of the page. A rolled-up prefix marker means
// "skip everything under it", which a plain key marker would not.
interface Marker { after: string; prefix: boolean }

function encodeToken (m: Marker): string {
  return Buffer.from(JSON.stringify(m), 'utf8').toString('base64url')
}

function decodeToken (token: string): Marker {
  try {
    const m = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Marker
    if (typeof m.after === 'string' && typeof m.prefix === 'boolean') return m
  } catch { /* falls through to the error S3 gives */ }
  throw serverError('InvalidArgument', 400, 'list', `invalid continuation token ${token}`)
}

/** Ceph resumes after the whole rolled-up prefix a startAfter falls in (b/1 skips all of b/). */
function startMarker (after: string, prefix: string, delimiter: string | undefined): Marker {
  const cut = delimiter && after.startsWith(prefix) ? after.indexOf(delimiter, prefix.length) : -1
  return cut >= 0 ? { after: after.slice(0, cut + delimiter!.length), prefix: true } : { after, prefix: false }
}

/**
 * One page of a listing. `sorted` holds every key in byte order; `summary`
 * gives what a listing shows of a key.
 */
export function listPage (sorted: readonly string[], params: ListParams, summary: (key: string) => ObjectSummary): ListPage {
  const max = Math.min(params.maxKeys ?? MAX_KEYS, MAX_KEYS)
  const prefix = params.prefix
  const delimiter = params.delimiter || undefined
  // a continuation token wins over startAfter, as in S3
  const marker: Marker = params.continuationToken !== undefined
    ? decodeToken(params.continuationToken)
    : startMarker(params.startAfter ?? '', prefix, delimiter)
  const page: ListPage = { objects: [], prefixes: [], truncated: false }
  if (max <= 0) return page
  const beforePrefix = compareKeys(marker.after, prefix) < 0
  let lastPrefix = marker.prefix ? marker.after : undefined
  let last: Marker | undefined
  for (let i = beforePrefix ? firstAfter(sorted, prefix, true) : firstAfter(sorted, marker.after, false); i < sorted.length; i++) {
    const key = sorted[i]
    if (!key.startsWith(prefix)) break // byte order keeps a prefix's keys together
    const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1
    const rolled = cut >= 0 ? key.slice(0, cut + delimiter!.length) : undefined
    if (rolled !== undefined && rolled === lastPrefix) continue
    if (page.objects.length + page.prefixes.length >= max) {
      page.truncated = true
      break
    }
    if (rolled !== undefined) {
      page.prefixes.push(rolled)
      lastPrefix = rolled
      last = { after: rolled, prefix: true }
    } else {
      page.objects.push(summary(key))
      last = { after: key, prefix: false }
    }
  }
  if (page.truncated && last) page.nextToken = encodeToken(last)
  return page
}

/** Index of the first key > from (or >= from when inclusive), by binary search. */
function firstAfter (sorted: readonly string[], from: string, inclusive: boolean): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = compareKeys(sorted[mid], from)
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1
    else hi = mid
  }
  return lo
}
