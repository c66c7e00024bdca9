// What src/s3/errors.ts makes of each failure the SDK and the socket throw, as
// seen through the fault proxy: which are retried, which say "slow down",
// and the errno a caller sees when the retries run out.
import t from 'tap'
import { retryAfter, toS3Error } from '../../src/s3/errors.js'

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

// errors named for what they are (issue 18): a certificate is not the network,
// a skewed clock is not the keys, a 501 is final, a 409 or 400 of the link is not
const tls = (code: string): unknown => net(code, 'Error', `certificate problem (${code})`)
const named: [string, unknown, { code: string, errno: string, retryable: boolean, throttled: boolean, unavailable: boolean }, RegExp][] = [
  ['expired certificate', tls('CERT_HAS_EXPIRED'), { code: 'CERT_HAS_EXPIRED', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /certificate has expired/],
  ['certificate whose issuer is unknown', tls('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /issuer is unknown/],
  ['self-signed certificate', tls('DEPTH_ZERO_SELF_SIGNED_CERT'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /self-signed/],
  ['certificate for another host', tls('ERR_TLS_CERT_ALTNAME_INVALID'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /another host name/],
  ['self-signed certificate in the chain', tls('SELF_SIGNED_CERT_IN_CHAIN'), { code: 'SELF_SIGNED_CERT_IN_CHAIN', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /self-signed certificate/],
  ['501 NotImplemented', sdk('NotImplemented', 501), { code: 'NotImplemented', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /does not implement/],
  ['501 without a body', sdk('Unknown', 501), { code: 'NotImplemented', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /does not implement/],
  ['409 OperationAborted', sdk('OperationAborted', 409), { code: 'OperationAborted', errno: 'EIO', retryable: true, throttled: false, unavailable: false }, /in progress/],
  ['400 IncompleteBody', sdk('IncompleteBody', 400), { code: 'IncompleteBody', errno: 'EIO', retryable: true, throttled: false, unavailable: false }, /IncompleteBody/],
  // the SDK's rewrite of a CopyObject / CompleteMultipartUpload answered 200 with an <Error> body
  ['200 with an InternalError body (the SDK makes it a 503)', sdk('InternalError', 503), { code: 'InternalError', errno: 'EIO', retryable: true, throttled: false, unavailable: true }, /InternalError/],
  // ... and of one answered 200 with no body at all
  ['200 with no body to a copy ("S3 aborted request")', sdk('InternalError', 503, { message: 'S3 aborted request' }), { code: 'InternalError', errno: 'EIO', retryable: true, throttled: false, unavailable: true }, /aborted/],
  ['200 with a SlowDown body', sdk('SlowDown', 503), { code: 'SlowDown', errno: 'EIO', retryable: true, throttled: true, unavailable: false }, /SlowDown/],
  ['403 RequestTimeTooSkewed', sdk('RequestTimeTooSkewed', 403), { code: 'RequestTimeTooSkewed', errno: 'EIO', retryable: true, throttled: false, unavailable: false }, /clock skew/],
  ['no credentials found', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), { code: 'CredentialsProviderError', errno: 'EIO', retryable: false, throttled: false, unavailable: false }, /credentials/],
]

for (const [what, err, want, says] of named) {
  t.test(what, async t => {
    const e = toS3Error(err, 'op key')
    t.match({ code: e.code, errno: e.errno, retryable: e.retryable, throttled: e.throttled, unavailable: e.unavailable }, want)
    t.match(e.message, says, `the message says what it is: ${e.message}`)
    t.notMatch(e.message, /NetworkError/, 'not a network error')
  })
}

t.test('a clock skew is retried a few times only (the signer corrects itself after one answer)', async t => {
  t.equal(toS3Error(sdk('RequestTimeTooSkewed', 403), 'op').attemptLimit, 3)
  t.equal(toS3Error(sdk('InternalError', 500), 'op').attemptLimit, Infinity, 'an outage is limited by time alone')
})

t.test('Retry-After is read from the answer, in seconds or as an HTTP date', async t => {
  const withHeader = (value: string): unknown => sdk('SlowDown', 503, { $response: { statusCode: 503, headers: { 'retry-after': value } } })
  t.equal(toS3Error(withHeader('7'), 'op').retryAfterMs, 7000, 'seconds')
  const inTen = new Date(Date.now() + 10_000).toUTCString()
  const ms = toS3Error(withHeader(inTen), 'op').retryAfterMs!
  t.ok(ms > 8000 && ms <= 10_000, `an HTTP date 10 s ahead: ${ms} ms`)
  t.equal(toS3Error(withHeader('soon'), 'op').retryAfterMs, undefined, 'unreadable: none')
  t.equal(toS3Error(sdk('SlowDown', 503), 'op').retryAfterMs, undefined, 'absent: none')
  t.equal(retryAfter({ 'Retry-After': 'Wed, 21 Oct 2015 07:28:00 GMT' }, Date.parse('Wed, 21 Oct 2015 07:27:30 GMT')), 30_000, 'any case, dates exact')
})

t.test('this machine\'s own file errors inside an attempt are no outage: not retried, errno kept', async t => {
  const io = toS3Error(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5 }), 'upload part 1 of f')
  t.same([io.code, io.errno, io.retryable, io.unavailable], ['EIO', 'EIO', false, false])
  const full = toS3Error(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }), 'x')
  t.same([full.errno, full.retryable], ['ENOSPC', false])
  const reset = toS3Error(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'x')
  t.ok(reset.retryable, 'a reset connection still is')
})

t.test('errnoName: the core\'s name of an errno number, EIO for one it has none for', async t => {
  const { errnoName } = await import('../../src/errors.js')
  t.equal(errnoName(28), 'ENOSPC')
  t.equal(errnoName(11), 'EAGAIN', 'not its alias EWOULDBLOCK')
  t.equal(errnoName(95), 'ENOTSUP', 'not its alias EOPNOTSUPP')
  t.equal(errnoName(5), 'EIO')
  t.equal(errnoName(1000), 'EIO')
})
