// S3 failures are translated here, once: the core sees an FsError with an errno,
// plus what kind of failure it is, which decides whether and how long the
// queue tries again (the README's "Retries" table says the same in words).
import { FsError, type Errno } from '../errors.js'

export interface S3ErrorDetail {
  /** the server asked for this pause before a new try (Retry-After), in ms */
  retryAfterMs?: number
}

export class S3Error extends FsError {
  /** the server's error code (NoSuchKey, SlowDown...) or the socket's (ECONNRESET...) */
  readonly code: string
  /** HTTP status, 0 when no response arrived */
  readonly status: number
  /** trying again may succeed */
  readonly retryable: boolean
  /** the server asks us to send less: the rate is lowered */
  readonly throttled: boolean
  /** the server or the path to it is away (5xx, no answer): the kind of failure an outage is made of */
  readonly unavailable: boolean
  /**
   * the most attempts worth making for this kind of failure, whatever the time
   * left: a clock skew is corrected after one answer, a wrong answer to a range
   * is not fixed by asking a hundred times
   */
  readonly attemptLimit: number
  readonly retryAfterMs?: number
  constructor (errno: Errno, code: string, status: number, message: string, cause?: unknown, detail: S3ErrorDetail = {}) {
    super(errno, message, undefined, { cause })
    this.name = 'S3Error'
    this.code = code
    this.status = status
    this.retryAfterMs = detail.retryAfterMs
    // a bare 503 (a HEAD has no body to name it) is named SlowDown by toS3Error;
    // a 503 that names another code is not throttling: the SDK makes one of a
    // CopyObject or CompleteMultipartUpload answered 200 with an <Error> body
    // (InternalError, usually) or with no body at all ("S3 aborted request")
    this.throttled = THROTTLE_CODES.has(code) || status === 429
    this.unavailable = !this.throttled && !FINAL_CODES.has(code) && !TLS_REASONS[code] &&
      ((status >= 500 && status !== 501) || (status === 0 && !LOCAL_FAILURES.has(code)))
    this.retryable = this.throttled || this.unavailable || RETRY_CODES.has(code) || LIMITED_RETRY[code] !== undefined
    this.attemptLimit = LIMITED_RETRY[code] ?? Infinity
  }
}

/** the server asks to slow down */
const THROTTLE_CODES = new Set(['SlowDown', 'TooManyRequests', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ServiceUnavailable'])

/** 4xx answers that a new try can cure: the link failed, or the server was busy with this key */
const RETRY_CODES = new Set([
  // the server gave up waiting for our body, or got less of it than announced
  'RequestTimeout', 'IncompleteBody',
  // 409 "a conflicting conditional operation is in progress against this resource; please try again"
  'OperationAborted',
])

/** retried, but only a few times: see attemptLimit */
const LIMITED_RETRY: Record<string, number> = {
  // our clock is off the server's: the signer corrects itself from the answer's Date header,
  // and the retry signs right; if it still fails, the clock is the problem, not the moment
  RequestTimeTooSkewed: 3,
  // the answer does not match the request (a range answered with something else)
  BadResponse: 3,
}

/** 5xx that no retry cures */
const FINAL_CODES = new Set(['NotImplemented'])

/**
 * This machine's own files failing inside an attempt (a part read from the
 * staging file): no outage of the server, so no retry, and the errno as it is
 */
const LOCAL_ERRNOS = new Set(['EIO', 'ENOENT', 'EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EBADF', 'EISDIR', 'ENOTDIR', 'EROFS'])
/** what the caller sees of them: a full disk is a full disk, anything else a failed I/O */
const localErrno = (code: string): Errno => code === 'ENOSPC' || code === 'EDQUOT' ? 'ENOSPC' : 'EIO'

/** failures of ours, before any byte left: nothing to retry */
const LOCAL_FAILURES = new Set(['CredentialsProviderError', 'AbortError', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', ...LOCAL_ERRNOS])

/**
 * Node's names for a server certificate it would not accept, and what each
 * means. These are refused by the machine's trust settings, never by the
 * moment: not retried, and not "check the network".
 */
const TLS_REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the server\'s TLS certificate has expired',
  CERT_NOT_YET_VALID: 'the server\'s TLS certificate is not valid yet (is this machine\'s clock right?)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server\'s TLS certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the server\'s TLS certificate chain ends in a self-signed certificate this machine does not trust (a private CA, or a proxy that intercepts TLS)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server\'s TLS certificate cannot be verified: its issuer is unknown here (an incomplete chain, or a private CA)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the server\'s TLS certificate was issued by a CA this machine does not know',
  UNABLE_TO_GET_ISSUER_CERT: 'the server\'s TLS certificate was issued by a CA this machine does not know',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server\'s TLS certificate is for another host name',
  CERT_REVOKED: 'the server\'s TLS certificate was revoked',
  CERT_UNTRUSTED: 'the server\'s TLS certificate is not trusted',
  CERT_REJECTED: 'the server\'s TLS certificate was rejected',
  CERT_SIGNATURE_FAILURE: 'the server\'s TLS certificate has a bad signature',
  INVALID_CA: 'the server\'s TLS certificate chain holds an invalid CA certificate',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS on that port (is the endpoint http://?)',
}

/** what a TLS failure code means, if it is one */
export function tlsReason (code: string): string | undefined {
  return TLS_REASONS[code]
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'TimeoutError',
  'RequestTimeout', 'TruncatedBody', 'EPROTO',
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
  // 400s, but failures of the link, not bad requests
  RequestTimeout: 'EIO',
  IncompleteBody: 'EIO',
  // a 403, but the keys are fine: the clock is not
  RequestTimeTooSkewed: 'EIO',
}

/** why, in words, where the code alone does not say it */
const EXPLAINED: Record<string, string> = {
  RequestTimeTooSkewed: 'this machine\'s clock differs from the server\'s by too much (clock skew); set the clock (NTP, timedatectl)',
  NotImplemented: 'the server does not implement this request',
  OperationAborted: 'another operation on this key was in progress on the server',
}

/** Turns anything the SDK or the socket threw into an S3Error. */
export function toS3Error (err: unknown, what: string): S3Error {
  if (err instanceof S3Error) return err
  const e = err as {
    name?: string; code?: string; Code?: string; message?: string
    $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number, headers?: Record<string, string | undefined> }
  }
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode ?? 0
  let code = e?.Code ?? e?.name ?? e?.code ?? 'Unknown'
  if (e?.code && (NETWORK_CODES.has(e.code) || TLS_REASONS[e.code] || LOCAL_ERRNOS.has(e.code))) code = e.code
  if (code === 'Unknown' || code === 'Error' || code === 'UnknownError') code = statusCode(status)
  const errno = ERRNO_BY_CODE[code] ?? (LOCAL_ERRNOS.has(code) ? localErrno(code) : errnoForStatus(status))
  const reason = TLS_REASONS[code] ?? EXPLAINED[code]
  const detail = e?.message && e.message !== code && e.message !== 'UnknownError' ? `: ${e.message}` : ''
  const message = `${what} failed with ${code}${status ? ` (HTTP ${status})` : ''}${reason ? `: ${reason}` : detail}`
  return new S3Error(errno, code, status, message, err, { retryAfterMs: retryAfter(e?.$response?.headers) })
}

/** Retry-After: seconds, or an HTTP date (RFC 9110 10.2.3); undefined if absent or unreadable */
export function retryAfter (headers: Record<string, string | undefined> | undefined, now = Date.now()): number | undefined {
  const name = headers && Object.keys(headers).find(k => k.toLowerCase() === 'retry-after')
  const value = name ? headers[name]?.trim() : undefined
  if (!value) return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

function statusCode (status: number): string {
  switch (status) {
    case 0: return 'NetworkError'
    case 403: return 'AccessDenied'
    case 404: return 'NotFound'
    case 412: return 'PreconditionFailed'
    case 429: return 'TooManyRequests'
    case 501: return 'NotImplemented'
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
