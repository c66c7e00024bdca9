// What src/s3/errors.ts makes of each failure the SDK and the socket throw, as
// seen through the fault proxy: which are retried, which say "slow down",
// and the errno a caller sees when the retries run out.
import t from 'tap'
import { toS3Error } from '../../src/s3/errors.js'

const sdk = (name: string, status: number, extra: Record<string, unknown> = {}): unknown =>
  Object.assign(new Error(extra.message as string ?? name), { name, $metadata: { httpStatusCode: status }, ...extra })
const net = (code: string, name = 'Error', message = `read ${code}`): unknown => Object.assign(new Error(message), { name, code })

const cases: [string, unknown, { code: string, errno: string, retryable: boolean, throttled: boolean }][] = [
  ['503 SlowDown with its XML body', sdk('SlowDown', 503), { code: 'SlowDown', errno: 'EIO', retryable: true, throttled: true }],
  ['503 to a HEAD (no body to name it)', sdk('Unknown', 503), { code: 'SlowDown', errno: 'EIO', retryable: true, throttled: true }],
  ['429 TooManyRequests', sdk('TooManyRequests', 429), { code: 'TooManyRequests', errno: 'EIO', retryable: true, throttled: true }],
  ['500 InternalError', sdk('InternalError', 500), { code: 'InternalError', errno: 'EIO', retryable: true, throttled: false }],
  ['500 to a HEAD', sdk('Unknown', 500), { code: 'HTTP500', errno: 'EIO', retryable: true, throttled: false }],
  ['502 from a balancer', sdk('UnknownError', 502), { code: 'HTTP502', errno: 'EIO', retryable: true, throttled: false }],
  ['connection reset before the answer (the SDK calls it TimeoutError)', net('ECONNRESET', 'TimeoutError'), { code: 'ECONNRESET', errno: 'EIO', retryable: true, throttled: false }],
  ['body cut mid-way', net('ECONNRESET', 'Error', 'aborted'), { code: 'ECONNRESET', errno: 'EIO', retryable: true, throttled: false }],
  ['connection refused', net('ECONNREFUSED'), { code: 'ECONNREFUSED', errno: 'EIO', retryable: true, throttled: false }],
  ['silent socket (socketTimeout)', Object.assign(new Error('the request socket timed out'), { name: 'TimeoutError' }), { code: 'TimeoutError', errno: 'EIO', retryable: true, throttled: false }],
  ['400 RequestTimeout (the server waited for the body)', sdk('RequestTimeout', 400), { code: 'RequestTimeout', errno: 'EIO', retryable: true, throttled: false }],
  ['404 NoSuchKey', sdk('NoSuchKey', 404), { code: 'NoSuchKey', errno: 'ENOENT', retryable: false, throttled: false }],
  ['403 AccessDenied', sdk('AccessDenied', 403), { code: 'AccessDenied', errno: 'EACCES', retryable: false, throttled: false }],
  ['403 SignatureDoesNotMatch', sdk('SignatureDoesNotMatch', 403), { code: 'SignatureDoesNotMatch', errno: 'EACCES', retryable: false, throttled: false }],
  ['412 PreconditionFailed', sdk('PreconditionFailed', 412), { code: 'PreconditionFailed', errno: 'EEXIST', retryable: false, throttled: false }],
  ['404 NoSuchUpload', sdk('NoSuchUpload', 404), { code: 'NoSuchUpload', errno: 'ENOENT', retryable: false, throttled: false }],
]

for (const [what, err, want] of cases) {
  t.test(what, async t => {
    const e = toS3Error(err, 'op key')
    t.match({ code: e.code, errno: e.errno, retryable: e.retryable, throttled: e.throttled }, want)
    t.match(e.message, /^E[A-Z]+: op key failed with /, 'the message names the operation')
  })
}
