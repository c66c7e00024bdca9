// S3 failures are translated here, once: the core sees an FsError with an errno,
// plus whether trying again could help.
import { FsError, type Errno } from '../errors.js'

export class S3Error extends FsError {
  /** the server's error code (NoSuchKey, SlowDown...) or the socket's (ECONNRESET...) */
  readonly code: string
  /** HTTP status, 0 when no response arrived */
  readonly status: number
  readonly retryable: boolean
  readonly throttled: boolean
  constructor (errno: Errno, code: string, status: number, message: string, cause?: unknown) {
    super(errno, message, undefined, { cause })
    this.name = 'S3Error'
    this.code = code
    this.status = status
    this.throttled = status === 503 || code === 'SlowDown' || code === 'TooManyRequests' || status === 429
    // RequestTimeTooSkewed: the answer's Date corrected the clock the retry is signed with (clock-skew.ts)
    this.retryable = this.throttled || status >= 500 || status === 0 || code === 'RequestTimeout' || code === 'RequestTimeTooSkewed'
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'TimeoutError',
  'RequestTimeout', 'TruncatedBody',
])

const ERRNO_BY_CODE: Record<string, Errno> = {
  NoSuchKey: 'ENOENT',
  NotFound: 'ENOENT',
  NoSuchBucket: 'ENOENT',
  NoSuchUpload: 'ENOENT',
  AccessDenied: 'EACCES',
  Forbidden: 'EACCES',
  SignatureDoesNotMatch: 'EACCES',
  InvalidAccessKeyId: 'EACCES',
  ExpiredToken: 'EACCES',
  PreconditionFailed: 'EEXIST',
  EntityTooLarge: 'EFBIG',
  MetadataTooLarge: 'ENOSPC',
  KeyTooLongError: 'ENAMETOOLONG',
  InvalidObjectName: 'EINVAL',
  InvalidArgument: 'EINVAL',
  QuotaExceeded: 'ENOSPC',
  // a 400, but the server gave up waiting for our body: a failure of the link, not a bad request
  RequestTimeout: 'EIO',
}

/** Turns anything the SDK or the socket threw into an S3Error. */
export function toS3Error (err: unknown, what: string): S3Error {
  if (err instanceof S3Error) return err
  const e = err as {
    name?: string; code?: string; Code?: string; message?: string
    $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number }
  }
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode ?? 0
  let code = e?.Code ?? e?.name ?? e?.code ?? 'Unknown'
  if (e?.code && NETWORK_CODES.has(e.code)) code = e.code
  if (code === 'Unknown' || code === 'Error' || code === 'UnknownError') code = statusCode(status)
  const errno = ERRNO_BY_CODE[code] ?? errnoForStatus(status)
  const detail = e?.message && e.message !== code && e.message !== 'UnknownError' ? `: ${e.message}` : ''
  return new S3Error(errno, code, status, `${what} failed with ${code}${status ? ` (HTTP ${status})` : ''}${detail}`, err)
}

function statusCode (status: number): string {
  switch (status) {
    case 0: return 'NetworkError'
    case 403: return 'AccessDenied'
    case 404: return 'NotFound'
    case 412: return 'PreconditionFailed'
    case 429: return 'TooManyRequests'
    case 503: return 'SlowDown'
    default: return `HTTP${status}`
  }
}

function errnoForStatus (status: number): Errno {
  if (status === 403) return 'EACCES'
  if (status === 404) return 'ENOENT'
  if (status === 412) return 'EEXIST'
  if (status === 400) return 'EINVAL'
  return 'EIO'
}
