// The real ObjectStore: each method is one S3 request through the queue.
import {
  S3Client, ListObjectsV2Command, HeadObjectCommand, GetObjectCommand, PutObjectCommand,
  CopyObjectCommand, DeleteObjectCommand, DeleteObjectsCommand, CreateMultipartUploadCommand,
  UploadPartCommand, UploadPartCopyCommand, CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand, type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { finished, type Readable } from 'node:stream'
import type { AbsoluteLocation, DeserializeHandlerOptions, DeserializeMiddleware } from '@smithy/types'
import { RequestQueue } from './request-queue.js'
import { S3Error, toS3Error } from './errors.js'
import { SERVER_DATE } from './client.js'
import { presignV2 } from './presign-v2.js'
import { whenOnTheWire } from './wire-stamp.js'
import { duration, ServerClock } from './clock-skew.js'
import { multipartEtag } from './etag.js'
import type { Credentials } from './client.js'
import {
  Priority, sameEtag, unquote, type CallOptions, type CopyOptions, type CopySourceOptions, type GetOptions, type PartBody, type CopyResult, type DeleteManyResult, type ListPage,
  type ListParams, type ObjectHead, type ObjectStore, type PartRef, type PresignOptions, type PutOptions,
  type WriteResult,
} from './store.js'

export interface GatewayOptions {
  bucket: string
  client: S3Client
  queue: RequestQueue
  /** V2 presigning needs the keys themselves */
  sigv2Credentials?: Credentials
  /** the server's time, as the client follows it (clock-skew.ts): presigned URLs are dated by it */
  serverClock?: ServerClock
}

interface WithStack {
  middlewareStack: { add (mw: DeserializeMiddleware<object, object>, opts: DeserializeHandlerOptions & AbsoluteLocation): void }
}

/** what one attempt needs: the caller's abort signal, and the rate limiter's "it leaves now" */
interface Call {
  abortSignal?: AbortSignal
  sent: () => void
}

export class S3Gateway implements ObjectStore {
  readonly bucket: string
  readonly queue: RequestQueue
  private readonly client: S3Client
  private readonly sigv2?: Credentials
  private readonly serverClock: ServerClock

  constructor (opts: GatewayOptions) {
    this.bucket = opts.bucket
    this.client = opts.client
    this.queue = opts.queue
    this.sigv2 = opts.sigv2Credentials
    this.serverClock = opts.serverClock ?? new ServerClock()
  }

  private send<T> (type: string, what: string, opts: CallOptions | undefined, fallback: Priority, attempt: (call: Call) => Promise<T>): Promise<T> {
    return this.queue.run(type, what, opts?.urgency ?? opts?.priority ?? fallback, sent => {
      const offset = this.serverClock.offsetMs
      return attempt({ abortSignal: opts?.signal, sent }).catch(err => { throw skewed(err, what, offset, this.serverClock.offsetMs) })
    }, opts?.signal)
  }

  /**
   * `command` marks its rate slot as it leaves: after signing (which hashes the
   * body), once the agent has a connected socket for it (wire-stamp.ts)
   */
  private timed<C> (command: C, call: Call): C {
    (command as unknown as WithStack).middlewareStack.add(next => args => whenOnTheWire(call.sent, () => next(args)),
      { step: 'deserialize', priority: 'low', name: 'oortfsRateSlot' })
    return command
  }

  async list (p: ListParams, opts?: CallOptions): Promise<ListPage> {
    const out: ListObjectsV2CommandOutput = await this.send('ListObjectsV2', `list ${p.prefix}`, opts, Priority.Metadata, call =>
      this.client.send(this.timed(new ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: p.prefix || undefined,
        Delimiter: p.delimiter,
        StartAfter: p.startAfter || undefined,
        ContinuationToken: p.continuationToken,
        MaxKeys: p.maxKeys ?? 1000,
      }), call), { abortSignal: call.abortSignal }))
    return {
      objects: (out.Contents ?? []).map(o => ({
        key: o.Key ?? '',
        size: Number(o.Size ?? 0),
        etag: o.ETag ?? '',
        lastModified: o.LastModified ?? new Date(0),
      })),
      prefixes: (out.CommonPrefixes ?? []).map(cp => cp.Prefix ?? '').filter(Boolean),
      truncated: !!out.IsTruncated,
      nextToken: out.NextContinuationToken,
      serverDate: serverDate(out),
    }
  }

  async head (key: string, opts?: CallOptions): Promise<ObjectHead | undefined> {
    try {
      const out = await this.send('HeadObject', `head ${key}`, opts, Priority.Metadata, call =>
        this.client.send(this.timed(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), call), { abortSignal: call.abortSignal }))
      return {
        key,
        size: Number(out.ContentLength ?? 0),
        etag: out.ETag ?? '',
        lastModified: out.LastModified ?? new Date(0),
        metadata: lowerKeys(out.Metadata ?? {}),
        contentType: out.ContentType,
      }
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return undefined
      throw err
    }
  }

  async get (key: string, start: number, end: number, opts?: GetOptions): Promise<Buffer> {
    let buf: Buffer | undefined
    const got = await this.getInto(key, start, end, length => [buf = Buffer.allocUnsafe(length)], opts)
    return buf ? buf.subarray(0, got) : Buffer.alloc(0)
  }

  async getInto (key: string, start: number, end: number, buffers: (length: number) => Buffer[], opts?: GetOptions): Promise<number> {
    const want = end - start
    if (want <= 0) return 0
    // taken once the answer comes: queued read-ahead holds no memory
    let sink: Segments | undefined
    let got = 0
    // the caller's version, or the first answer's: a retry after a body cut
    // short asks only for the rest, of the same version
    let etag: string | undefined = opts?.ifMatch ? quoted(opts.ifMatch) : undefined
    await this.send('GetObject', `get ${key}`, opts, Priority.Data, async call => {
      const from = start + got
      let out
      try {
        out = await this.client.send(this.timed(new GetObjectCommand({
          Bucket: this.bucket, Key: key, Range: `bytes=${from}-${end - 1}`, IfMatch: etag,
        }), call), { abortSignal: call.abortSignal })
      } catch (err) {
        const e = toS3Error(err, `get ${key}`)
        if (e.status === 416) return // starts at or past the end: nothing more
        if (e.status === 412 && etag) throw changed(`get ${key}`, err)
        throw e
      }
      etag ??= out.ETag
      const total = totalFromContentRange(out.ContentRange) ?? (from + Number(out.ContentLength ?? 0))
      const expected = Math.min(end, total) - from
      if (!sink) {
        const length = Math.min(want, Math.max(0, total - start))
        sink = new Segments(buffers(length), length)
      }
      const read = await readInto(out.Body as Readable, sink, got)
      got += read
      this.queue.countBytes('in', read)
      if (read < expected) {
        throw new S3Error('EIO', 'TruncatedBody', 0, `get ${key}: body cut short at ${read} of ${expected} bytes`)
      }
    })
    return got
  }

  async read (key: string, opts?: CallOptions): Promise<{ body: Buffer, etag: string, lastModified: Date } | undefined> {
    try {
      return await this.send('GetObject', `get ${key}`, opts, Priority.Metadata, async call => {
        const out = await this.client.send(this.timed(new GetObjectCommand({ Bucket: this.bucket, Key: key }), call), { abortSignal: call.abortSignal })
        const size = Number(out.ContentLength ?? 0)
        const body = Buffer.alloc(size)
        const got = await readInto(out.Body as Readable, new Segments([body], size), 0)
        this.queue.countBytes('in', got)
        if (got < size) throw new S3Error('EIO', 'TruncatedBody', 0, `get ${key}: body cut short at ${got} of ${size} bytes`)
        return { body, etag: out.ETag ?? '', lastModified: out.LastModified ?? new Date(0) }
      })
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return undefined
      throw err
    }
  }

  async put (key: string, body: Buffer, opts?: PutOptions): Promise<WriteResult> {
    const out = await this.send('PutObject', `put ${key}`, opts, Priority.Data, async call => {
      const r = await this.client.send(this.timed(new PutObjectCommand({
        Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length,
        Metadata: opts?.metadata, ContentType: opts?.contentType ?? 'application/octet-stream',
        IfNoneMatch: opts?.ifNoneMatch ? '*' : undefined,
      }), call), { abortSignal: call.abortSignal })
      this.queue.countBytes('out', body.length)
      return r
    })
    return { etag: out.ETag ?? '', serverDate: serverDate(out) }
  }

  async copy (sourceKey: string, destKey: string, opts?: CopyOptions): Promise<CopyResult> {
    const out = await this.send('CopyObject', `copy ${sourceKey} to ${destKey}`, opts, Priority.Data, call =>
      this.client.send(this.timed(new CopyObjectCommand({
        Bucket: this.bucket, Key: destKey, CopySource: copySource(this.bucket, sourceKey),
        MetadataDirective: opts?.metadata ? 'REPLACE' : 'COPY',
        Metadata: opts?.metadata,
        ContentType: opts?.metadata ? (opts.contentType ?? 'application/octet-stream') : undefined,
        CopySourceIfMatch: opts?.sourceIfMatch ? quoted(opts.sourceIfMatch) : undefined,
      }), call), { abortSignal: call.abortSignal }).catch(err => { throw pinnedSourceError(err, `copy ${sourceKey} to ${destKey}`, opts) }))
    return {
      etag: out.CopyObjectResult?.ETag ?? '',
      lastModified: out.CopyObjectResult?.LastModified,
      serverDate: serverDate(out),
    }
  }

  async delete (key: string, opts?: CallOptions): Promise<void> {
    await this.send('DeleteObject', `delete ${key}`, opts, Priority.Data, call =>
      this.client.send(this.timed(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), call), { abortSignal: call.abortSignal }))
  }

  async deleteMany (keys: string[], opts?: CallOptions): Promise<DeleteManyResult> {
    if (keys.length === 0) return { failed: [] }
    if (keys.length > 1000) throw new RangeError('deleteMany takes at most 1,000 keys')
    const out = await this.send('DeleteObjects', `delete ${keys.length} keys`, opts, Priority.Data, call =>
      this.client.send(this.timed(new DeleteObjectsCommand({
        Bucket: this.bucket, Delete: { Objects: keys.map(Key => ({ Key })), Quiet: true },
      }), call), { abortSignal: call.abortSignal }))
    return { failed: (out.Errors ?? []).map(e => ({ key: e.Key ?? '', code: e.Code ?? 'Unknown' })) }
  }

  async createMultipart (key: string, opts?: PutOptions): Promise<string> {
    const out = await this.send('CreateMultipartUpload', `start upload of ${key}`, opts, Priority.Data, call =>
      this.client.send(this.timed(new CreateMultipartUploadCommand({
        Bucket: this.bucket, Key: key, Metadata: opts?.metadata,
        ContentType: opts?.contentType ?? 'application/octet-stream',
      }), call), { abortSignal: call.abortSignal }))
    if (!out.UploadId) throw new S3Error('EIO', 'NoUploadId', 200, `start upload of ${key}: no upload id in the answer`)
    return out.UploadId
  }

  async uploadPart (key: string, uploadId: string, partNumber: number, part: PartBody, opts?: CallOptions): Promise<string> {
    const out = await this.send('UploadPart', `upload part ${partNumber} of ${key}`, opts, Priority.Data, async call => {
      // taken now that the request may leave: a queued part holds no buffer
      const body = typeof part === 'function' ? await part() : part
      const r = await this.client.send(this.timed(new UploadPartCommand({
        Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length,
      }), call), { abortSignal: call.abortSignal })
      this.queue.countBytes('out', body.length)
      return r
    })
    return out.ETag ?? ''
  }

  async uploadPartCopy (key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number, opts?: CallOptions & CopySourceOptions): Promise<string> {
    const out = await this.send('UploadPartCopy', `copy part ${partNumber} of ${key}`, opts, Priority.Data, call =>
      this.client.send(this.timed(new UploadPartCopyCommand({
        Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber,
        CopySource: copySource(this.bucket, sourceKey), CopySourceRange: `bytes=${start}-${end - 1}`,
        CopySourceIfMatch: opts?.sourceIfMatch ? quoted(opts.sourceIfMatch) : undefined,
      }), call), { abortSignal: call.abortSignal }).catch(err => { throw pinnedSourceError(err, `copy part ${partNumber} of ${key}`, opts) }))
    return out.CopyPartResult?.ETag ?? ''
  }

  async completeMultipart (key: string, uploadId: string, parts: PartRef[], opts?: CallOptions): Promise<WriteResult> {
    let attempts = 0
    try {
      const out = await this.send('CompleteMultipartUpload', `complete upload of ${key}`, opts, Priority.Data, call => {
        attempts++
        return this.client.send(this.timed(new CompleteMultipartUploadCommand({
          Bucket: this.bucket, Key: key, UploadId: uploadId,
          MultipartUpload: { Parts: parts.map(p => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }), call), { abortSignal: call.abortSignal })
      })
      return { etag: out.ETag ?? '', serverDate: serverDate(out) }
    } catch (err) {
      // an earlier attempt may have completed it and lost the answer (Ceph answers a
      // repeated Complete again; AWS and others say NoSuchUpload): the object tells
      if (attempts > 1 && err instanceof S3Error && err.code === 'NoSuchUpload') {
        const head = await this.head(key, opts).catch(() => undefined)
        if (head && sameEtag(head.etag, multipartEtag(parts))) return { etag: head.etag, serverDate: head.lastModified }
      }
      throw err
    }
  }

  async abortMultipart (key: string, uploadId: string, opts?: CallOptions): Promise<void> {
    let attempts = 0
    try {
      await this.send('AbortMultipartUpload', `abort upload of ${key}`, opts, Priority.Data, call => {
        attempts++
        return this.client.send(this.timed(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), call), { abortSignal: call.abortSignal })
      })
    } catch (err) {
      // an earlier attempt did it and its answer was lost
      if (attempts > 1 && err instanceof S3Error && err.code === 'NoSuchUpload') return
      throw err
    }
  }

  async checkBucket (): Promise<void> {
    await this.list({ prefix: '', maxKeys: 1 })
  }

  async presign (key: string, opts: PresignOptions): Promise<string> {
    if (this.sigv2) {
      const endpoint = await this.client.config.endpoint?.()
      if (!endpoint) throw new Error('no endpoint to presign against')
      const base = `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? ':' + endpoint.port : ''}${endpoint.path}`
      return presignV2(this.sigv2, base, this.bucket, key, opts, this.serverClock.nowMs())
    }
    const command = opts.method === 'PUT'
      ? new PutObjectCommand({ Bucket: this.bucket, Key: key })
      : new GetObjectCommand({ Bucket: this.bucket, Key: key })
    // the presigner ignores the client's clock offset: a URL dated by this machine's clock would be refused
    return getSignedUrl(this.client, command, { expiresIn: opts.expiresSeconds, signingDate: this.serverClock.now() })
  }
}


/**
 * A 403 whose answer moved the server clock by a minute or more was signed
 * with a time that far off: whatever its code (gateways differ), it is a
 * RequestTimeTooSkewed, which the retry, signed with the server's time, cures.
 */
function skewed (err: unknown, what: string, offsetBefore: number, offsetAfter: number): unknown {
  const e = toS3Error(err, what)
  if (e.status !== 403 || e.code === 'RequestTimeTooSkewed' || Math.abs(offsetAfter - offsetBefore) < 60_000) return err
  return new S3Error('EACCES', 'RequestTimeTooSkewed', 403, `${what} failed with ${e.code} (HTTP 403), signed with a time ${duration(Math.abs(offsetAfter - offsetBefore))} off the server's`, err)
}

/** an entity tag as HTTP wants it: CopyObject answers with it bare, listings quote it */
function quoted (etag: string): string {
  return `"${unquote(etag)}"`
}

/** the version a caller pinned is no longer the object's: not retryable, ESTALE */
function changed (what: string, cause: unknown): S3Error {
  return new S3Error('ESTALE', 'ObjectChanged', 412, `${what}: the object changed on the server (another client replaced it)`, cause)
}

function pinnedSourceError (err: unknown, what: string, opts: CopySourceOptions | undefined): S3Error {
  const e = toS3Error(err, what)
  return e.status === 412 && opts?.sourceIfMatch ? changed(what, err) : e
}

function lowerKeys (meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(meta)) out[k.toLowerCase()] = v
  return out
}

function serverDate (out: object): Date | undefined {
  const d = (out as Record<string, unknown>)[SERVER_DATE]
  return d instanceof Date && !isNaN(d.getTime()) ? d : undefined
}

function copySource (bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`
}

function totalFromContentRange (range: string | undefined): number | undefined {
  const m = range && /\/(\d+)\s*$/.exec(range)
  return m ? Number(m[1]) : undefined
}

/**
 * Buffers filled back to back as one range of `length` bytes. Every buffer
 * but the last is filled whole, so an offset finds its buffer by division.
 */
class Segments {
  private readonly size: number
  constructor (private readonly parts: Buffer[], readonly length: number) {
    this.size = parts[0]?.length ?? 0
    const room = parts.reduce((n, b) => n + b.length, 0)
    if (room < length || parts.some((b, i) => i < parts.length - 1 && b.length !== this.size)) {
      throw new RangeError(`buffers for ${length} bytes: ${parts.length} of ${this.size} bytes`)
    }
  }

  /** copies chunk to offset `at`; returns how much fitted */
  write (chunk: Buffer, at: number): number {
    let from = 0
    while (from < chunk.length && at + from < this.length) {
      const pos = at + from
      const part = this.parts[Math.floor(pos / this.size)]!
      const offset = pos % this.size
      const n = Math.min(chunk.length - from, part.length - offset, this.length - pos)
      chunk.copy(part, offset, from, from + n)
      from += n
    }
    return from
  }
}

/**
 * Reads a body into sink from offset; returns the byte count. Events rather
 * than an async iterator: a promise per 64 KiB chunk costs more than the copy.
 * A dropped connection mid-body ends it early: the caller sees a short read
 * and resumes. finished() also answers for a body that was cut (closed) before
 * we got to it, where waiting for its events would wait forever.
 */
function readInto (body: Readable, sink: Segments, offset: number): Promise<number> {
  return new Promise(resolve => {
    let at = offset
    const onData = (chunk: Buffer): void => { at += sink.write(chunk, at) }
    body.on('data', onData)
    finished(body, () => {
      body.off('data', onData)
      resolve(at - offset)
    })
  })
}
