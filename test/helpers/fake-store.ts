// An in-memory bucket behind the ObjectStore interface, faithful to Ceph RGW
// (our real server) wherever the filesystem could tell the difference: byte
// order, ETag forms, whole-second HEAD dates, error codes. Each method is one
// counted "request", like the gateway's; failures come out as the gateway
// would throw them after its retries, so the fake itself never retries.
import { setTimeout as sleep } from 'node:timers/promises'
import { S3Error, toS3Error } from '../../src/s3/errors.js'
import {
  unquote, type CallOptions, type CopyOptions, type CopySourceOptions, type GetOptions, type PartBody, type UploadPartOptions, type CopyResult, type DeleteManyResult, type ListPage,
  type ListParams, type ObjectHead, type ObjectStore, type ObjectSummary, type PartRef, type PresignOptions,
  type PutOptions, type WriteResult,
} from '../../src/s3/store.js'
import { serverError } from './fake-errors.js'
import { compareKeys, listPage } from './fake-listing.js'
import { MIN_PART_SIZE, Uploads, md5, type UploadInfo } from './fake-multipart.js'

export interface FakeStoreOptions {
  bucket?: string
  /** smallest part but the last that completeMultipart accepts; S3's is 5 MiB */
  minPartSize?: number
  /** delay before each request is answered */
  latencyMs?: number
  /** called as each request starts (before latency and faults); key is the prefix for listings */
  onRequest?: (op: string, key: string) => void
  /** every request fails with NoSuchBucket, as with a wrong bucket name */
  missingBucket?: boolean
  /** the server's clock in ms, for lastModified and serverDate */
  now?: () => number
  /** false: copies ignore x-amz-copy-source-if-match, as Ceph does (GET If-Match is honoured either way) */
  pinsCopySource?: boolean
  /** true: a copy gets an ETag of its own (AWS, for multipart sources), not its source's (Ceph) */
  copiesNewEtag?: boolean
  /** the largest object CopyObject (and one UploadPartCopy part) takes; S3's is 5 GiB: smaller, small files are multipart-copied */
  maxCopySize?: number
}

export interface StoredObject {
  body: Buffer
  /** quoted, as HEAD and listings show it */
  etag: string
  /** millisecond precision, as listings show it */
  lastModified: Date
  metadata: Record<string, string>
  contentType: string
}

/**
 * A held request (see FakeStore.hold): counted and arrived, not yet carried
 * out. The test decides when it goes on, or how it fails.
 */
export interface Gate {
  /** resolves once a matching request reaches the store (then the test acts) */
  readonly arrived: Promise<string>
  /** lets the request go on: it is carried out against the store as it is now */
  release(): void
  /** the request fails with err instead */
  fail(err: S3Error): void
  /** the options the held request came with (its priority, or urgency, now) */
  readonly options: () => CallOptions | undefined
}

interface HeldCall {
  op: string
  key?: string | RegExp
  opened: Promise<void>
  arrive: (key: string) => void
  open: () => void
  error?: S3Error
  options?: CallOptions
  /** matching requests let through before this one is held */
  skip: number
}

const MAX_KEY_BYTES = 1024
/** AWS's limit on user metadata (Ceph does not enforce it: the fake does, so the limit is tested) */
const MAX_METADATA_BYTES = 2048

function checkMetadata (meta: Record<string, string> | undefined, what: string): void {
  let n = 0
  for (const [k, v] of Object.entries(meta ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v)
  if (n > MAX_METADATA_BYTES) throw serverError('MetadataTooLarge', 400, what, `${n} bytes of metadata`)
}
const DEFAULT_TYPE = 'application/octet-stream'

export class FakeStore implements ObjectStore {
  readonly bucket: string
  readonly maxCopySize?: number
  /** requests made, by S3 operation name (the gateway's names) */
  readonly requests: Record<string, number> = {}
  latencyMs: number
  onRequest?: (op: string, key: string) => void
  private readonly minPartSize: number
  private readonly missingBucket: boolean
  private readonly pinsCopySource: boolean
  private readonly copiesNewEtag: boolean
  private readonly now: () => number
  private readonly objects = new Map<string, StoredObject>()
  private readonly uploads = new Uploads()
  private readonly faults: { op: string; err: S3Error; times: number }[] = []
  private readonly holds: HeldCall[] = []
  /** byte-ordered keys, rebuilt after the key set changes */
  private sorted?: string[]

  constructor (opts: FakeStoreOptions = {}) {
    this.bucket = opts.bucket ?? 'fake-bucket'
    this.minPartSize = opts.minPartSize ?? MIN_PART_SIZE
    this.latencyMs = opts.latencyMs ?? 0
    this.onRequest = opts.onRequest
    this.missingBucket = opts.missingBucket ?? false
    this.pinsCopySource = opts.pinsCopySource ?? true
    this.copiesNewEtag = opts.copiesNewEtag ?? false
    this.maxCopySize = opts.maxCopySize
    this.now = opts.now ?? Date.now
  }

  // ---- test controls ----

  /** the next `times` requests of `op` (or of any op, for '*') throw `err` */
  failNext (op: string, err: S3Error, times = 1): void {
    this.faults.push({ op, err, times })
  }

  /**
   * Holds the next request of `op` (whose key, or listing prefix, matches
   * `key` if given; the first `skip` such go through) once it arrives, until the test releases it: so a test
   * can act while, say, a PUT is in flight, and each interleaving is a test.
   */
  hold (op: string, key?: string | RegExp, skip = 0): Gate {
    let arrive!: (key: string) => void
    let open!: () => void
    const arrived = new Promise<string>(resolve => { arrive = resolve })
    const opened = new Promise<void>(resolve => { open = resolve })
    const h: HeldCall = { op, key, opened, arrive, open, skip }
    this.holds.push(h)
    return {
      arrived,
      release: () => open(),
      fail: err => { h.error = err; open() },
      options: () => h.options,
    }
  }

  totalRequests (): number {
    return Object.values(this.requests).reduce((a, b) => a + b, 0)
  }

  resetCounts (): void {
    for (const op of Object.keys(this.requests)) delete this.requests[op]
  }

  /** Seeds an object directly: no request counted, no latency, no fault. Returns the quoted ETag. */
  putText (key: string, text: string, metadata: Record<string, string> = {}, contentType = DEFAULT_TYPE): string {
    return this.putBytes(key, Buffer.from(text, 'utf8'), metadata, contentType)
  }

  /** the same with bytes: what a second client's PutObject leaves */
  putBytes (key: string, data: Buffer, metadata: Record<string, string> = {}, contentType = DEFAULT_TYPE): string {
    const body = Buffer.from(data)
    const etag = `"${md5(body).toString('hex')}"`
    this.store(key, { body, etag, lastModified: new Date(this.now()), metadata: lowerKeys(metadata), contentType })
    return etag
  }

  /** every key, in the byte order listings use */
  keys (): string[] {
    return [...this.sortedKeys()]
  }

  /** a copy of the stored object, or undefined */
  object (key: string): StoredObject | undefined {
    const o = this.objects.get(key)
    return o && { ...o, body: Buffer.from(o.body), lastModified: new Date(o.lastModified), metadata: { ...o.metadata } }
  }

  uploadsInProgress (): UploadInfo[] {
    return this.uploads.list()
  }

  // ---- ObjectStore ----

  async list (params: ListParams, opts?: CallOptions): Promise<ListPage> {
    await this.request('ListObjectsV2', params.prefix, opts)
    return { ...listPage(this.sortedKeys(), params, key => this.summary(key)), serverDate: this.serverDate() }
  }

  async head (key: string, opts?: CallOptions): Promise<ObjectHead | undefined> {
    try {
      await this.request('HeadObject', key, opts)
    } catch (err) {
      // like the gateway: any 404 (missing bucket too: HEAD has no body to tell) is "no such key"
      if ((err as S3Error).status === 404) return undefined
      throw err
    }
    checkKey(key, `head ${key}`)
    const o = this.objects.get(key)
    if (!o) return undefined
    return {
      ...this.summary(key),
      // Ceph's Last-Modified header has whole seconds; listings have milliseconds
      lastModified: wholeSeconds(o.lastModified.getTime()),
      metadata: { ...o.metadata },
      contentType: o.contentType,
    }
  }

  async get (key: string, start: number, end: number, opts?: GetOptions): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0) // the gateway sends nothing either
    await this.request('GetObject', key, opts)
    checkKey(key, `get ${key}`)
    const o = this.existing(key, `get ${key}`)
    pinned(o, opts?.ifMatch, `get ${key}`)
    return Buffer.from(o.body.subarray(Math.min(start, o.body.length), Math.min(end, o.body.length)))
  }

  async getInto (key: string, start: number, end: number, buffers: (length: number) => Buffer[], opts?: GetOptions): Promise<number> {
    const data = await this.get(key, start, end, opts)
    if (data.length === 0) return 0
    // as the gateway: filled back to back, every buffer but the last whole
    let at = 0
    for (const b of buffers(data.length)) at += data.copy(b, 0, at)
    return data.length
  }

  /** a whole object in one GetObject; undefined when missing (any 404, as in the gateway) */
  async read (key: string, opts?: CallOptions): Promise<{ body: Buffer, etag: string, lastModified: Date } | undefined> {
    try {
      await this.request('GetObject', key, opts)
    } catch (err) {
      if ((err as S3Error).status === 404) return undefined
      throw err
    }
    checkKey(key, `get ${key}`)
    const o = this.objects.get(key)
    // GET's Last-Modified header has whole seconds, like HEAD's
    return o && { body: Buffer.from(o.body), etag: o.etag, lastModified: wholeSeconds(o.lastModified.getTime()) }
  }

  async put (key: string, body: Buffer, opts?: PutOptions): Promise<WriteResult> {
    await this.request('PutObject', key, opts)
    checkKey(key, `put ${key}`)
    checkMetadata(opts?.metadata, `put ${key}`)
    if (opts?.ifNoneMatch && this.objects.has(key)) throw serverError('PreconditionFailed', 412, `put ${key}`)
    const copy = Buffer.from(body)
    const etag = `"${md5(copy).toString('hex')}"`
    this.store(key, {
      body: copy, etag, lastModified: new Date(this.now()),
      metadata: lowerKeys(opts?.metadata ?? {}), contentType: opts?.contentType ?? DEFAULT_TYPE,
    })
    return { etag, serverDate: this.serverDate() }
  }

  async copy (sourceKey: string, destKey: string, opts?: CopyOptions): Promise<CopyResult> {
    const what = `copy ${sourceKey} to ${destKey}`
    await this.request('CopyObject', destKey, opts)
    checkKey(destKey, what)
    checkMetadata(opts?.metadata, what)
    const src = this.existing(sourceKey, what)
    if (this.pinsCopySource) pinned(src, opts?.sourceIfMatch, what)
    if (sourceKey === destKey && !opts?.metadata) {
      throw serverError('InvalidRequest', 400, what, 'copying an object onto itself needs new metadata')
    }
    if (this.maxCopySize !== undefined && src.body.length > this.maxCopySize) {
      throw serverError('InvalidRequest', 400, what, `a copy source of ${src.body.length} bytes is over the ${this.maxCopySize} a copy takes`)
    }
    const lastModified = new Date(this.now())
    const etag = this.copiesNewEtag ? `"${md5(Buffer.concat([src.body, Buffer.from(String(lastModified.getTime() + Math.random()))])).toString('hex')}"` : src.etag
    this.store(destKey, {
      // stored bodies are never mutated, so two objects may share one
      body: src.body,
      etag,
      lastModified,
      metadata: opts?.metadata ? lowerKeys(opts.metadata) : { ...src.metadata },
      contentType: opts?.metadata ? (opts.contentType ?? DEFAULT_TYPE) : src.contentType,
    })
    // CopyObjectResult's ETag comes unquoted from Ceph
    return { etag: unquote(etag), lastModified: new Date(lastModified), serverDate: this.serverDate() }
  }

  async delete (key: string, opts?: CallOptions): Promise<void> {
    await this.request('DeleteObject', key, opts)
    checkKey(key, `delete ${key}`)
    this.unstore(key)
  }

  async deleteMany (keys: string[], opts?: CallOptions): Promise<DeleteManyResult> {
    // the gateway checks these before sending anything
    if (keys.length === 0) return { failed: [] }
    if (keys.length > 1000) throw new RangeError('deleteMany takes at most 1,000 keys')
    await this.request('DeleteObjects', keys[0], opts)
    for (const key of keys) this.unstore(key)
    return { failed: [] }
  }

  async createMultipart (key: string, opts?: PutOptions): Promise<string> {
    await this.request('CreateMultipartUpload', key, opts)
    checkKey(key, `start upload of ${key}`)
    checkMetadata(opts?.metadata, `start upload of ${key}`)
    return this.uploads.start(key, lowerKeys(opts?.metadata ?? {}), opts?.contentType ?? DEFAULT_TYPE)
  }

  async uploadPart (key: string, uploadId: string, partNumber: number, part: PartBody, opts?: UploadPartOptions): Promise<string> {
    const what = `upload part ${partNumber} of ${key}`
    await this.request('UploadPart', key, opts)
    // as the gateway: the bytes are taken when the request goes, and given back once stored
    const body = typeof part === 'function' ? await part() : part
    const etag = `"${this.uploads.setPart(key, uploadId, partNumber, Buffer.from(body), what).toString('hex')}"`
    opts?.stored?.(body)
    return etag
  }

  async uploadPartCopy (key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number, opts?: CallOptions & CopySourceOptions): Promise<string> {
    const what = `copy part ${partNumber} of ${key}`
    await this.request('UploadPartCopy', key, opts)
    this.uploads.find(key, uploadId, what)
    const src = this.existing(sourceKey, what)
    if (this.pinsCopySource) pinned(src, opts?.sourceIfMatch, what)
    if (start < 0 || end <= start || end > src.body.length) {
      throw serverError('InvalidRange', 416, what, `bytes ${start}-${end - 1} of a ${src.body.length}-byte object`)
    }
    if (this.maxCopySize !== undefined && end - start > this.maxCopySize) {
      throw serverError('InvalidRequest', 400, what, `a part of ${end - start} bytes is over the ${this.maxCopySize} a copy takes`)
    }
    const hash = this.uploads.setPart(key, uploadId, partNumber, Buffer.from(src.body.subarray(start, end)), what)
    return hash.toString('hex') // unquoted, as Ceph sends it
  }

  async completeMultipart (key: string, uploadId: string, parts: PartRef[], opts?: CallOptions): Promise<WriteResult> {
    const what = `complete upload of ${key}`
    await this.request('CompleteMultipartUpload', key, opts)
    const { upload, body, etag } = this.uploads.assemble(key, uploadId, parts, this.minPartSize, what)
    this.store(key, { body, etag, lastModified: new Date(this.now()), metadata: upload.metadata, contentType: upload.contentType })
    this.uploads.remove(uploadId)
    // Ceph's answer has an empty ETag: the real one is seen by HEAD and listings
    return { etag: '', serverDate: this.serverDate() }
  }

  async abortMultipart (key: string, uploadId: string, opts?: CallOptions): Promise<void> {
    await this.request('AbortMultipartUpload', key, opts)
    this.uploads.find(key, uploadId, `abort upload of ${key}`)
    this.uploads.remove(uploadId)
  }

  async checkBucket (): Promise<void> {
    await this.request('ListObjectsV2', '', undefined) // the gateway lists one key
  }

  async presign (key: string, opts: PresignOptions): Promise<string> {
    const path = key.split('/').map(encodeURIComponent).join('/')
    return `fake://${this.bucket}/${path}?method=${opts.method}&expires=${opts.expiresSeconds}`
  }

  // ---- internals ----

  /** One request: counted, hooked, delayed, then maybe failed by an injected fault. */
  private async request (op: string, key: string, opts: CallOptions | undefined): Promise<void> {
    const signal = opts?.signal
    signal?.throwIfAborted() // the queue checks before each attempt
    this.requests[op] = (this.requests[op] ?? 0) + 1
    this.onRequest?.(op, key)
    if (this.latencyMs > 0) {
      // an abort mid-request reaches the caller as the SDK's AbortError, translated
      try { await sleep(this.latencyMs, undefined, { signal }) } catch (err) { throw toS3Error(err, `${op} ${key}`) }
    }
    const i = this.faults.findIndex(f => f.op === op || f.op === '*')
    if (i >= 0) {
      const fault = this.faults[i]
      if (--fault.times <= 0) this.faults.splice(i, 1)
      throw fault.err
    }
    if (this.missingBucket) throw serverError('NoSuchBucket', 404, `${op} ${key}`)
    const held = this.holds.findIndex(h => h.op === op && (h.key === undefined || (typeof h.key === 'string' ? h.key === key : h.key.test(key))) && h.skip-- <= 0)
    if (held >= 0) {
      const [h] = this.holds.splice(held, 1)
      h!.options = opts
      h!.arrive(key)
      await h!.opened
      if (h!.error) throw h!.error
    }
  }

  private existing (key: string, what: string): StoredObject {
    const o = this.objects.get(key)
    if (!o) throw serverError('NoSuchKey', 404, what)
    return o
  }

  private summary (key: string): ObjectSummary {
    const o = this.objects.get(key)!
    return { key, size: o.body.length, etag: o.etag, lastModified: new Date(o.lastModified) }
  }

  private store (key: string, o: StoredObject): void {
    if (!this.objects.has(key)) this.sorted = undefined
    this.objects.set(key, o)
  }

  private unstore (key: string): void {
    if (this.objects.delete(key)) this.sorted = undefined
  }

  private sortedKeys (): string[] {
    this.sorted ??= [...this.objects.keys()].sort(compareKeys)
    return this.sorted
  }

  /** the Date header: whole seconds */
  private serverDate (): Date {
    return wholeSeconds(this.now())
  }
}

/** a version pinned by If-Match (or x-amz-copy-source-if-match) that is no longer there: 412, as the gateway turns it */
function pinned (o: StoredObject, etag: string | undefined, what: string): void {
  if (etag && unquote(etag) !== unquote(o.etag)) {
    throw new S3Error('ESTALE', 'ObjectChanged', 412, `${what}: the object changed on the server (another client replaced it)`)
  }
}

function wholeSeconds (ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000)
}

function lowerKeys (meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(meta)) out[k.toLowerCase()] = v
  return out
}

/** Ceph refuses a key over 1,024 bytes wherever it names the object (not as a copy source or in DeleteObjects) */
function checkKey (key: string, what: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw serverError('KeyTooLongError', 400, what)
}
