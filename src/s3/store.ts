// The object-store interface the filesystem core is written against. The real
// implementation (gateway.ts) sends every call through the rate-limited queue;
// tests use an in-memory fake of this same interface. Keys are full S3 keys.

/** Who is waiting: the queue serves higher priorities first. */
export const Priority = {
  /** speculative work: read-ahead, background uploads of data not yet flushed */
  Background: 0,
  /** data a caller waits for: reads, uploads at close */
  Data: 1,
  /** metadata a caller waits for: lookups, listings, heads */
  Metadata: 2,
} as const
export type Priority = (typeof Priority)[keyof typeof Priority]

/**
 * A request's priority, which may rise while it waits in the queue: work
 * started in the background (read-ahead, early upload parts, attribute copies)
 * is served at the priority of whoever starts waiting for it.
 */
export class Urgency {
  private listeners: ((p: Priority) => void)[] = []
  constructor (public priority: Priority) {}

  /** someone waits at priority p: the request goes no later than that */
  raise (p: Priority): void {
    if (p <= this.priority) return
    this.priority = p
    for (const l of this.listeners) l(p)
  }

  onRaise (fn: (p: Priority) => void): () => void {
    this.listeners.push(fn)
    return () => { this.listeners = this.listeners.filter(l => l !== fn) }
  }
}

export interface CallOptions {
  priority?: Priority
  /** instead of priority: one that may be raised while the request waits */
  urgency?: Urgency
  signal?: AbortSignal
}

export interface GetOptions extends CallOptions {
  /** only this version (If-Match): another one fails with ESTALE, never mixes in */
  ifMatch?: string
}

export interface CopySourceOptions {
  /** copy only from this version of the source (x-amz-copy-source-if-match): else ESTALE */
  sourceIfMatch?: string
}

/** An object as a listing shows it: no user metadata. */
export interface ObjectSummary {
  key: string
  size: number
  /** quoted or unquoted as the server sent it; compare with sameEtag() */
  etag: string
  lastModified: Date
}

/** An object as HEAD shows it: with user metadata (names lowercased, no prefix). */
export interface ObjectHead extends ObjectSummary {
  metadata: Record<string, string>
  contentType?: string
}

export interface ListParams {
  prefix: string
  delimiter?: string
  startAfter?: string
  continuationToken?: string
  /** at most 1,000 */
  maxKeys?: number
}

export interface ListPage {
  objects: ObjectSummary[]
  /** common prefixes, each ending in the delimiter */
  prefixes: string[]
  truncated: boolean
  nextToken?: string
  /** the server's clock when it answered (its Date header), to judge LastModified ages by */
  serverDate?: Date
}

export interface PutOptions extends CallOptions {
  metadata?: Record<string, string>
  contentType?: string
  /** fail with EEXIST if the key exists (If-None-Match: *) */
  ifNoneMatch?: boolean
}

export interface CopyOptions extends CallOptions, CopySourceOptions {
  /** replace the metadata (MetadataDirective REPLACE) instead of copying it */
  metadata?: Record<string, string>
  contentType?: string
}

export interface WriteResult {
  /** may be '' where the server sends none (Ceph's CompleteMultipartUpload) */
  etag: string
  /** the server's clock when it answered, whole seconds; undefined if unknown */
  serverDate?: Date
}

export interface CopyResult extends WriteResult {
  lastModified?: Date
}

/** a part's bytes, or where to get them once the request may leave */
export type PartBody = Buffer | (() => Promise<Buffer>)

export interface UploadPartOptions extends CallOptions {
  /**
   * called with the body of the attempt the server stored (never of a failed
   * one): nothing reads it any more, and its memory may be reused
   */
  stored?: (body: Buffer) => void
}

export interface PartRef {
  partNumber: number
  etag: string
}

export interface DeleteManyResult {
  /** keys that could not be deleted, with the server's error code */
  failed: { key: string; code: string }[]
}

export interface PresignOptions {
  expiresSeconds: number
  method: 'GET' | 'PUT'
}

export interface ObjectStore {
  readonly bucket: string
  /**
   * the largest object one CopyObject (and one UploadPartCopy part) takes,
   * where less than S3's 5 GiB: a test's fake says so, and copies of small
   * files go the multipart way
   */
  readonly maxCopySize?: number
  list(params: ListParams, opts?: CallOptions): Promise<ListPage>
  /** undefined when the key does not exist */
  head(key: string, opts?: CallOptions): Promise<ObjectHead | undefined>
  /** bytes [start, end) of the object; fewer only at the end of the object */
  get(key: string, start: number, end: number, opts?: GetOptions): Promise<Buffer>
  /**
   * The same bytes written into buffers the caller gives, back to back (each
   * filled before the next), asked for only once the answer comes so a queued
   * request holds no memory (`length`: what the object has of the range);
   * resolves with the byte count.
   */
  getInto(key: string, start: number, end: number, buffers: (length: number) => Buffer[], opts?: GetOptions): Promise<number>
  /** a whole (small) object with its ETag and date; undefined when it does not exist */
  read(key: string, opts?: CallOptions): Promise<{ body: Buffer, etag: string, lastModified: Date } | undefined>
  put(key: string, body: Buffer, opts?: PutOptions): Promise<WriteResult>
  copy(sourceKey: string, destKey: string, opts?: CopyOptions): Promise<CopyResult>
  delete(key: string, opts?: CallOptions): Promise<void>
  /** at most 1,000 keys a call */
  deleteMany(keys: string[], opts?: CallOptions): Promise<DeleteManyResult>
  createMultipart(key: string, opts?: PutOptions): Promise<string>
  /**
   * `body` may be a function: it is called when the request's turn comes (and
   * again for a retry), so parts queued behind others hold no memory
   */
  uploadPart(key: string, uploadId: string, partNumber: number, body: PartBody, opts?: UploadPartOptions): Promise<string>
  /** copies bytes [start, end) of sourceKey into a part */
  uploadPartCopy(key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number, opts?: CallOptions & CopySourceOptions): Promise<string>
  completeMultipart(key: string, uploadId: string, parts: PartRef[], opts?: CallOptions): Promise<WriteResult>
  abortMultipart(key: string, uploadId: string, opts?: CallOptions): Promise<void>
  /** one cheap request that fails with the server's error if the bucket or credentials are wrong */
  checkBucket(): Promise<void>
  presign(key: string, opts: PresignOptions): Promise<string>
}

/** ETags compare without their quotes: some servers quote, some do not. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false
  return unquote(a) === unquote(b)
}

export function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '')
}
