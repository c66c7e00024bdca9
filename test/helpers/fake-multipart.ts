// Multipart uploads in progress, and the checks S3 makes when one completes.
import { createHash, randomBytes } from 'node:crypto'
import { unquote, type PartRef } from '../../src/s3/store.js'
import { serverError } from './fake-errors.js'

export const MIN_PART_SIZE = 5 * 1024 * 1024
const MAX_PARTS = 10_000

export interface Upload {
  key: string
  metadata: Record<string, string>
  contentType: string
  parts: Map<number, { body: Buffer; md5: Buffer }>
}

export interface UploadInfo {
  key: string
  uploadId: string
  /** part numbers uploaded so far, ascending */
  parts: number[]
}

export function md5 (body: Buffer): Buffer {
  return createHash('md5').update(body).digest()
}

export class Uploads {
  private readonly byId = new Map<string, Upload>()

  start (key: string, metadata: Record<string, string>, contentType: string): string {
    const id = `fake-${randomBytes(12).toString('hex')}`
    this.byId.set(id, { key, metadata, contentType, parts: new Map() })
    return id
  }

  /** the upload, which must exist and be for this key */
  find (key: string, uploadId: string, what: string): Upload {
    const up = this.byId.get(uploadId)
    if (!up || up.key !== key) throw serverError('NoSuchUpload', 404, what)
    return up
  }

  /** stores a part (replacing one of the same number) and returns its md5 */
  setPart (key: string, uploadId: string, partNumber: number, body: Buffer, what: string): Buffer {
    const up = this.find(key, uploadId, what)
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
      throw serverError('InvalidArgument', 400, what, `part number ${partNumber} is not in 1..${MAX_PARTS}`)
    }
    const hash = md5(body)
    up.parts.set(partNumber, { body, md5: hash })
    return hash
  }

  /**
   * The object the listed parts make, checked by the stricter of AWS and Ceph 16:
   * parts in ascending order (AWS; Ceph sorts them), exactly the parts uploaded
   * (Ceph; AWS takes a subset), each with its ETag, all but the last at least
   * minPartSize. The ETag is the md5 of the parts' binary md5s, then "-N".
   */
  assemble (key: string, uploadId: string, refs: PartRef[], minPartSize: number, what: string): { upload: Upload; body: Buffer; etag: string } {
    const upload = this.find(key, uploadId, what)
    if (refs.length === 0) throw serverError('MalformedXML', 400, what, 'no parts')
    if (refs.length !== upload.parts.size) {
      throw serverError('InvalidPart', 400, what, `${refs.length} parts listed, ${upload.parts.size} uploaded`)
    }
    const bodies: Buffer[] = []
    const hashes: Buffer[] = []
    refs.forEach((ref, i) => {
      if (i > 0 && ref.partNumber <= refs[i - 1].partNumber) throw serverError('InvalidPartOrder', 400, what)
      const part = upload.parts.get(ref.partNumber)
      if (!part || unquote(ref.etag) !== part.md5.toString('hex')) {
        throw serverError('InvalidPart', 400, what, `part ${ref.partNumber} missing or ETag mismatch`)
      }
      bodies.push(part.body)
      hashes.push(part.md5)
    })
    bodies.slice(0, -1).forEach((b, i) => {
      if (b.length < minPartSize) {
        throw serverError('EntityTooSmall', 400, what, `part ${refs[i].partNumber} is ${b.length} bytes, under ${minPartSize}`)
      }
    })
    const etag = `"${md5(Buffer.concat(hashes)).toString('hex')}-${refs.length}"`
    return { upload, body: Buffer.concat(bodies), etag }
  }

  remove (uploadId: string): void {
    this.byId.delete(uploadId)
  }

  list (): UploadInfo[] {
    return [...this.byId].map(([uploadId, up]) => ({
      key: up.key, uploadId, parts: [...up.parts.keys()].sort((a, b) => a - b),
    }))
  }
}
