// The fake's failures go through the same translation as the gateway's, so a
// fake NoSuchKey carries exactly the errno, code and status a real one would.
import { toS3Error, type S3Error } from '../../src/s3/errors.js'

export function serverError (code: string, status: number, what: string, message?: string): S3Error {
  return toS3Error({ name: code, message, $metadata: { httpStatusCode: status } }, what)
}
