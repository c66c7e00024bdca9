// The real ObjectStore: each method is one S3 request through the queue.
import {
  S3Client, ListObjectsV2Command, HeadObjectCommand, GetObjectCommand, PutObjectCommand,
  CopyObjectCommand, DeleteObjectCommand, DeleteObjectsCommand, CreateMultipartUploadCommand,
  UploadPartCommand, UploadPartCopyCommand, CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand, type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { Readable } from 'node:stream'
import type { AbsoluteLocation, DeserializeHandlerOptions, DeserializeMiddleware } from '@smithy/types'
import { RequestQueue } from './request-queue.js'
import { S3Error, toS3Error } from './errors.js'
import { readAll, readInto, Segments } from './body.js'
import { checkRange, type RangeHead } from './range-answer.js'
import { RawUnsupported, type RawGetter, type RawHttpError } from './raw-get.js'
import { log } from '../util/log.js'
import { SERVER_DATE } from './client.js'
import { presignV2 } from './presign-v2.js'
import { whenOnTheWire } from './wire-stamp.js'
import { duration, ServerClock } from './clock-skew.js'
import { multipartEtag } from './etag.js'
import type { Credentials } from './client.js'
import {
  Priority, sameEtag, unquote, type CallOptions, type CopyOptions, type CopySourceOptions, type GetOptions, type PartBody, type CopyResult, type DeleteManyResult, type ListPage,
  type ListParams, type ObjectHead, type ObjectStore, type PartRef, type PresignOptions, type PutOptions,
  type UploadPartOptions, type WriteResult,
} from './store.js'

export interface GatewayOptions {
  bucket: string
  client: S3Client
  queue: RequestQueue
  /** V2 presigning needs the keys themselves */
  sigv2Credentials?: Credentials
  /** the server's time, as the client follows it (clock-skew.ts): presigned URLs are dated by it */
  serverClock?: ServerClock
  /** data GETs straight from the socket into the caller's buffers (raw-get.ts); without it, through the SDK */
  raw?: RawGetter
}

/** where an answer's body goes, once its head is checked */
type Place = (out: RangeHead & { ETag?: string }, from: number) => Segments

interface WithStack {
  middlewareStack: { add (mw: DeserializeMiddleware<object, object>, opts: DeserializeHandlerOptions & AbsoluteLocation): void }
}

/**
 * What one attempt needs: the caller's abort signal, the rate limiter's "it
 * leaves now", and "bytes arrived" (progress, for the retry deadline)
 */
interface Call {
  abortSignal?: AbortSignal
  sent: () => void
  moved: () => void
}

/**
 * How long the bucket check at mount rides out failures: a DNS blip or a
 * gateway restart as the machine boots, but a wrong endpoint= must be said
 * within the mount's 25 s check
 */
const CHECK_RETRY_MS = 10_000

/** how long a direct GET's presigned URL is used again, and for how many keys at most */
const SIGNED_GET_REUSE_MS = 60_000
const SIGNED_GETS_KEPT = 1024

export class S3Gateway implements ObjectStore {
  readonly bucket: string
  readonly queue: RequestQueue
  private readonly client: S3Client
  private readonly sigv2?: Credentials
  private readonly serverClock: ServerClock
  private readonly raw?: RawGetter
  /** the server answered a data GET in a way raw-get.ts does not speak: the SDK from then on */
  private rawRefused = false
  /** presigned GET URLs of the direct GETs, reused for a while (signedGet) */
  private readonly signedGets = new Map<string, { url: string, at: number, offsetMs: number }>()

  constructor (opts: GatewayOptions) {
    this.raw = opts.raw
    this.bucket = opts.bucket
    this.client = opts.client
    this.queue = opts.queue
    this.sigv2 = opts.sigv2Credentials
    this.serverClock = opts.serverClock ?? new ServerClock()
  }

  private send<T> (type: string, what: string, opts: (CallOptions & { retryMs?: number }) | undefined, fallback: Priority, attempt: (call: Call) => Promise<T>): Promise<T> {
    return this.queue.run(type, what, opts?.urgency ?? opts?.priority ?? fallback, (sent, moved) => {
      const offset = this.serverClock.offsetMs
      return attempt({ abortSignal: opts?.signal, sent, moved }).catch(err => { throw skewed(err, what, offset, this.serverClock.offsetMs) })
    }, { signal: opts?.signal, retryMs: opts?.retryMs })
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

  async list (p: ListParams, opts?: CallOptions & { retryMs?: number }): Promise<ListPage> {
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
    const what = `get ${key}`
    /** an answer's head, checked: where its body goes (the sink, made at the first answer) */
    const place = (out: RangeHead & { ETag?: string }, from: number): Segments => {
      const answer = checkRange(out, from, end, what)
      etag ??= out.ETag
      const length = Math.min(want, Math.max(0, answer.total - start))
      if (sink && sink.length !== length) {
        throw new S3Error('EIO', 'BadResponse', out.$metadata?.httpStatusCode ?? 0, `${what}: the object's size changed from ${start + sink.length} to ${answer.total} bytes between two answers`)
      }
      sink ??= new Segments(buffers(length), length)
      return sink
    }
    await this.send('GetObject', what, opts, Priority.Data, async call => {
      const from = start + got
      let read: number
      try {
        read = this.raw && !this.rawRefused
          ? await this.rawGetInto(key, from, end, got, etag, call, place).catch(err => {
            if (!(err instanceof RawUnsupported)) throw err
            // the SDK's answer, or its error, means what it means below: a 412 there is a changed object too
            log.warn(`${what}: ${err.message} answered a ranged GET; data GETs go through the AWS SDK from now on`)
            this.rawRefused = true
            return this.sdkGetInto(key, from, end, got, etag, call, place)
          })
          : await this.sdkGetInto(key, from, end, got, etag, call, place)
      } catch (err) {
        if (err instanceof S3Error && err.code === 'BadResponse') throw err
        const e = toS3Error(err, what)
        if (e.status === 416) return // starts at or past the end: nothing more
        if (e.status === 412 && etag) throw changed(what, err)
        throw e
      }
      got += read
      if (read > 0) call.moved()
      this.queue.countBytes('in', read)
      const length = sink?.length ?? 0
      if (got < length) {
        throw new S3Error('EIO', 'TruncatedBody', 0, `${what}: body cut short at ${got} of ${length} bytes`)
      }
    })
    return got
  }

  /** one attempt of a ranged GET of [from, end) through the SDK: the body bytes it placed in the sink from `at` on */
  private async sdkGetInto (key: string, from: number, end: number, at: number, etag: string | undefined, call: Call, place: Place): Promise<number> {
    const out = await this.client.send(this.timed(new GetObjectCommand({
      Bucket: this.bucket, Key: key, Range: `bytes=${from}-${end - 1}`, IfMatch: etag,
    }), call), { abortSignal: call.abortSignal })
    const body = out.Body as Readable
    let sink: Segments
    try {
      sink = place(out, from)
    } catch (err) {
      body?.destroy?.()
      throw err
    }
    return await readInto(body, sink, at)
  }

  /**
   * A presigned GET URL of key for the direct GETs. Presigning through the SDK
   * costs about a millisecond of CPU (its middleware stack, key derivation),
   * and a streaming read makes a GET per 8 MiB, so a URL serves the GETs of a
   * minute; it is valid for 15. A new one is signed when the server clock's
   * offset moved since (a skew found), and after any failed attempt with it.
   */
  private async signedGet (key: string): Promise<string> {
    const now = performance.now()
    const offsetMs = this.serverClock.offsetMs
    const kept = this.signedGets.get(key)
    if (kept && now - kept.at < SIGNED_GET_REUSE_MS && Math.abs(kept.offsetMs - offsetMs) < 5_000) return kept.url
    const url = await this.presign(key, { method: 'GET', expiresSeconds: 900 })
    if (this.signedGets.size >= SIGNED_GETS_KEPT) this.signedGets.clear()
    this.signedGets.set(key, { url, at: now, offsetMs })
    return url
  }

  /** the same straight from the socket into the sink (raw-get.ts), signed as a presigned URL is */
  private async rawGetInto (key: string, from: number, end: number, at: number, etag: string | undefined, call: Call, place: Place): Promise<number> {
    const url = new URL(await this.signedGet(key))
    const headers: Record<string, string> = { Range: `bytes=${from}-${end - 1}` }
    if (etag) headers['If-Match'] = etag
    const sentAt = Date.now()
    const started = performance.now()
    let status = 0
    try {
      const r = await this.raw!.get({
        url, headers, signal: call.abortSignal, sent: call.sent, moved: call.moved,
        head: h => {
          status = h.status
          if (h.headers.date) this.serverClock.observe(h.headers.date, sentAt)
          const cl = h.headers['content-length']
          return {
            sink: place({
              ContentRange: h.headers['content-range'], ContentLength: cl !== undefined ? Number(cl) : undefined,
              ETag: h.headers.etag, $metadata: { httpStatusCode: h.status },
            }, from),
            at,
          }
        },
      })
      if (log.enabled('debug')) log.debug(`S3 GetObject GET ${url.pathname} (direct, ${from}-${end - 1}) -> ${r.head.status} ${r.read} bytes ${(performance.now() - started).toFixed(1)} ms`)
      return r.read
    } catch (err) {
      const e = err as RawHttpError
      if (e?.$response?.headers?.date) this.serverClock.observe(e.$response.headers.date, sentAt)
      if (log.enabled('debug')) log.debug(`S3 GetObject GET ${url.pathname} (direct) -> ${e?.$metadata?.httpStatusCode ?? status ?? ''} ${e?.name ?? 'error'} ${(performance.now() - started).toFixed(1)} ms`)
      // the next attempt signs anew (new keys, a moved clock)
      this.signedGets.delete(key)
      throw err
    }
  }

  async read (key: string, opts?: CallOptions): Promise<{ body: Buffer, etag: string, lastModified: Date } | undefined> {
    try {
      return await this.send('GetObject', `get ${key}`, opts, Priority.Metadata, async call => {
        const out = await this.client.send(this.timed(new GetObjectCommand({ Bucket: this.bucket, Key: key }), call), { abortSignal: call.abortSignal })
        const stream = out.Body as Readable
        if (out.ContentRange !== undefined) {
          // a part of the object, when the whole was asked for
          const whole = checkRange(out, 0, Infinity, `get ${key}`)
          if (whole.length !== whole.total) { stream.destroy(); throw new S3Error('EIO', 'BadResponse', 206, `get ${key}: the server sent part of the object (${out.ContentRange}) when the whole was asked for`) }
        }
        let body: Buffer | undefined
        if (out.ContentLength === undefined) {
          // chunked: no length to check against, so the body must end, not break off
          body = await readAll(stream)
          if (!body) throw new S3Error('EIO', 'TruncatedBody', 0, `get ${key}: body (chunked, no Content-Length) cut short`)
        } else {
          const size = Number(out.ContentLength)
          body = Buffer.alloc(size)
          const got = await readInto(stream, new Segments([body], size), 0)
          if (got < size) throw new S3Error('EIO', 'TruncatedBody', 0, `get ${key}: body cut short at ${got} of ${size} bytes`)
        }
        this.queue.countBytes('in', body.length)
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

  async uploadPart (key: string, uploadId: string, partNumber: number, part: PartBody, opts?: UploadPartOptions): Promise<string> {
    const out = await this.send('UploadPart', `upload part ${partNumber} of ${key}`, opts, Priority.Data, async call => {
      // taken now that the request may leave: a queued part holds no buffer
      const body = typeof part === 'function' ? await part() : part
      const r = await this.client.send(this.timed(new UploadPartCommand({
        Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length,
      }), call), { abortSignal: call.abortSignal })
      this.queue.countBytes('out', body.length)
      opts?.stored?.(body)
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
    await this.list({ prefix: '', maxKeys: 1 }, { retryMs: CHECK_RETRY_MS })
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
