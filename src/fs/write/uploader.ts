// Puts a FileNode's content on the server. Small files are one PutObject with
// their metadata inline. Larger ones are a multipart upload whose parts start
// going out while the file is still being written (a sequential writer's full
// parts), a few at a time; at flush, parts changed since they were sent go
// again, unchanged ranges of the old object are copied server-side
// (UploadPartCopy), and the rest is read from the staging file. Every copy
// from the old object is pinned to the version the file was opened at
// (x-amz-copy-source-if-match), and since a server may ignore that (Ceph
// does), a rewrite that copied checks with one HEAD before it completes that
// the old version was still there: a rewrite never stitches in bytes another
// client put there meanwhile.
import { createHash } from 'node:crypto'
import type { ObjectStore, PartRef } from '../../s3/store.js'
import { Priority, sameEtag, Urgency } from '../../s3/store.js'
import { multipartEtag } from '../../s3/etag.js'
import { FsError } from '../../errors.js'
import { log } from '../../util/log.js'
import type { FileNode, RemoteReader } from './file-node.js'
import { partIndexOf, partSizeAt, partsOf, partStart } from './part-layout.js'
import { copyObject } from './copy-object.js'
import { S3Limits } from '../../s3/limits.js'
import { PartBuffers } from './part-buffers.js'

export interface UploaderOptions {
  partSize: number
  /** parts of one file in flight at once */
  concurrency: number
}

interface Session {
  key: string
  /** the metadata the upload was started with */
  headers: string
  uploadId: Promise<string>
  sent: Map<number, { etag: string, gen: number }>
  inflight: Map<number, Promise<void>>
  /** the priority of each part on its way: a close waiting for early parts raises them */
  urgency: Map<number, Urgency>
  /** parts were copied from this version of the old object */
  copiedFrom?: { key: string, etag?: string }
}

export interface UploadResult {
  etag: string
  size: number
  serverDate?: Date
}

export class Uploader {
  private readonly sessions = new Map<FileNode, Session>()
  /** files whose early upload was refused: their parts wait for the flush at close */
  private readonly noEarly = new WeakSet<FileNode>()
  /** the parts' buffers, reused: as many spares as one file has parts on their way */
  private readonly buffers: PartBuffers

  constructor (
    private readonly store: ObjectStore,
    private readonly remote: RemoteReader,
    private readonly opts: UploaderOptions,
  ) {
    this.buffers = new PartBuffers(opts.partSize, opts.concurrency)
  }

  /** after a write: start sending parts a sequential writer has finished */
  afterWrite (node: FileNode, headers: () => Record<string, string>): void {
    if (node.size <= this.opts.partSize || node.unlinked || this.noEarly.has(node)) return
    let session = this.sessions.get(node)
    const last = partIndexOf(node.size, this.opts.partSize) // the part still growing
    for (let i = 0; i < last; i++) {
      if (session && (session.inflight.size >= this.opts.concurrency)) return
      const start = partStart(i, this.opts.partSize)
      const end = partStart(i + 1, this.opts.partSize)
      if (session?.sent.get(i)?.gen === node.gen(i) || session?.inflight.has(i)) continue
      if (!node.local.covers(start, end)) continue
      session ??= this.open(node, headers())
      this.sendPart(node, session, i, start, end, Priority.Background)
    }
  }

  /**
   * Backpressure: once more than twice `concurrency` finished parts of a file
   * wait to go out, a write waits for one of those on their way. So what is
   * written but unsent stays bounded, and close() does not pay for all of it.
   */
  async drain (node: FileNode): Promise<void> {
    for (;;) {
      const session = this.sessions.get(node)
      if (!session || session.inflight.size === 0 || node.unlinked) return
      if (this.unsentParts(node, session) <= 2 * this.opts.concurrency) return
      for (const u of session.urgency.values()) u.raise(Priority.Data) // a writer waits on them now
      // one of those on their way lands; a failure ends the wait (the flush at close reports it)
      const ok = await Promise.race([...session.inflight.values()].map(p => p.then(() => true, () => false)))
      if (!ok) return
    }
  }

  /** finished parts written here whose current bytes are neither sent nor on their way */
  private unsentParts (node: FileNode, session: Session): number {
    const last = partIndexOf(node.size, this.opts.partSize)
    let n = 0
    for (let i = 0; i < last; i++) {
      if (session.inflight.has(i) || session.sent.get(i)?.gen === node.gen(i)) continue
      if (node.local.covers(partStart(i, this.opts.partSize), partStart(i + 1, this.opts.partSize))) n++
    }
    return n
  }

  /** bytes waiting to go out (for stats) */
  pendingParts (): number {
    let n = 0
    for (const s of this.sessions.values()) n += s.inflight.size
    return n
  }

  async flush (node: FileNode, headers: Record<string, string>, contentType?: string): Promise<UploadResult> {
    if (this.unaborted.length) await this.retryAborts()
    this.noEarly.delete(node)
    let session = this.sessions.get(node)
    if (session && session.key !== node.key) {
      // begun under the name the file had before a rename: its parts are of no use now
      await this.abort(node)
      session = undefined
    }
    while (session) {
      // close() now waits for the parts sent early in the background: they go at its priority
      for (const u of session.urgency.values()) u.raise(Priority.Data)
      await Promise.allSettled([...session.inflight.values()])
      // parts sent beyond the end a truncate gave the file since: Ceph completes
      // only with every part uploaded (InvalidPart otherwise, and close failed
      // with EINVAL), and no part can be taken back: a new upload, from the start
      const parts = partsOf(node.size, this.opts.partSize).length
      if (![...session.sent.keys()].some(i => i >= parts)) break
      await this.abort(node)
      // a write through another handle may have begun one meanwhile: that one is this flush's (never left behind)
      session = this.sessions.get(node)
    }
    try {
      if (node.size <= this.opts.partSize) {
        if (session) await this.abort(node)
        await node.materialize(this.remote, 0, node.size)
        const body = await node.readRange(0, node.size)
        const r = await this.store.put(node.key, body, { metadata: headers, contentType, priority: Priority.Data })
        const etag = r.etag || `"${createHash('md5').update(body).digest('hex')}"`
        return { etag, size: node.size, serverDate: r.serverDate }
      }
      const r = await this.complete(node, session ?? this.open(node, headers), contentType)
      if (r.startedWith !== JSON.stringify(headers)) {
        // chmod/utimens came after the upload began (cp -p, rsync): set them in place
        // (a multipart copy above 5 GiB, where one CopyObject is refused)
        const c = await copyObject(this.store, node.key, node.key, r.size, {
          metadata: headers, contentType, priority: Priority.Data, sourceIfMatch: r.serverEtag ? r.etag : undefined,
        })
        return { etag: c.etag || r.etag, size: r.size, serverDate: c.lastModified ?? c.serverDate ?? r.serverDate }
      }
      return r
    } catch (err) {
      await this.abort(node)
      if (err instanceof FsError) throw err
      throw new FsError('EIO', `upload of ${node.path} failed: ${(err as Error).message}`, node.path, { cause: err })
    }
  }

  private async complete (node: FileNode, session: Session, _contentType?: string): Promise<UploadResult & { startedWith: string, serverEtag: boolean }> {
    const layout = partsOf(node.size, this.opts.partSize)
    if (layout.length > S3Limits.maxParts) throw new FsError('EFBIG', `${node.path} needs more than ${S3Limits.maxParts} parts at part_size=${this.opts.partSize}`, node.path)
    const current = (i: number): boolean => session.sent.get(i)?.gen === node.gen(i)
    // unchanged runs of the old object go as one server-side copy each, as large
    // as S3 allows (appending to a 20 GiB log is 4 copies, not 1,800): such a
    // part keeps the number of its first index, the ones it covers are left out
    const queue: { i: number, start: number, end: number }[] = []
    const covered = new Set<number>()
    for (let i = 0; i < layout.length; i++) {
      if (current(i)) continue
      const [start, end] = layout[i]!
      let stop = end
      if (node.isRemote(start, end)) {
        for (let j = i + 1; j < layout.length && !current(j) && layout[j]![1] - start <= S3Limits.maxPart && node.isRemote(layout[j]![0], layout[j]![1]); j++) {
          stop = layout[j]![1]
          covered.add(j)
        }
      }
      queue.push({ i, start, end: stop })
      while (covered.has(i + 1)) i++
    }
    const work: Promise<void>[] = []
    // a few parts at a time: each holds a buffer of its size
    const runNext = async (): Promise<void> => {
      const p = queue.shift()
      if (!p) return
      await this.sendPart(node, session, p.i, p.start, p.end, Priority.Data, true)
      return runNext()
    }
    for (let k = 0; k < this.opts.concurrency; k++) work.push(runNext())
    await Promise.all(work)
    const parts: PartRef[] = layout.flatMap((_, i) => covered.has(i) ? [] : [{ partNumber: i + 1, etag: session.sent.get(i)!.etag }])
    const uploadId = await session.uploadId
    if (session.copiedFrom) await this.checkSource(node, session.copiedFrom)
    const r = await this.store.completeMultipart(session.key, uploadId, parts, { priority: Priority.Data })
    this.sessions.delete(node)
    return { etag: r.etag || multipartEtag(parts), serverEtag: !!r.etag, size: node.size, serverDate: r.serverDate, startedWith: session.headers }
  }

  /** the version parts were copied from is still the object there: none of another client's bytes came in */
  private async checkSource (node: FileNode, from: { key: string, etag?: string }): Promise<void> {
    if (!from.etag) return
    const h = await this.store.head(from.key, { priority: Priority.Data })
    if (!h || !sameEtag(h.etag, from.etag)) {
      throw new FsError('ESTALE', `${node.path} was replaced on the server by another client while it was rewritten here: not saved, so that no part of their version is mixed into it`, node.path)
    }
  }

  private open (node: FileNode, headers: Record<string, string>): Session {
    const session: Session = {
      key: node.key,
      headers: JSON.stringify(headers),
      uploadId: this.store.createMultipart(node.key, { metadata: headers, contentType: node.contentType, priority: Priority.Data }),
      sent: new Map(),
      inflight: new Map(),
      urgency: new Map(),
    }
    session.uploadId.catch(() => {
      // a refused upload: early parts stop until the next flush tries (and reports) again
      if (this.sessions.get(node) === session) this.sessions.delete(node)
      this.noEarly.add(node)
    })
    this.sessions.set(node, session)
    return session
  }

  private sendPart (node: FileNode, session: Session, i: number, start: number, end: number, priority: Priority, mustSucceed = false): Promise<void> {
    const gen = node.gen(i)
    const urgency = new Urgency(priority)
    // a run of unchanged parts planned as one copy stays one copy (never one
    // buffer of up to 5 GiB); bytes written into it meanwhile make the node
    // dirty again, and the next save sends them
    const merged = end - start > partSizeAt(i, this.opts.partSize)
    const run = (async () => {
      const uploadId = await session.uploadId
      let etag: string
      if ((merged || node.isRemote(start, end)) && node.base) {
        const from = node.base
        session.copiedFrom = { key: from.key, etag: from.etag }
        etag = await this.store.uploadPartCopy(session.key, uploadId, i + 1, from.key, start, end, { urgency, sourceIfMatch: from.etag })
      } else {
        // the server's bytes it still needs go to the staging file first (GETs
        // must not wait inside the part's own queue slot); the part's buffer is
        // read from there only when its request may leave
        await node.materialize(this.remote, start, end)
        etag = await this.store.uploadPart(session.key, uploadId, i + 1, () => node.readRange(start, end, this.buffers.take(end - start)),
          { urgency, stored: b => this.buffers.give(b) })
      }
      session.sent.set(i, { etag, gen })
    })()
    session.inflight.set(i, run)
    session.urgency.set(i, urgency)
    run.finally(() => {
      if (session.inflight.get(i) === run) session.inflight.delete(i)
      if (session.urgency.get(i) === urgency) session.urgency.delete(i)
    }).catch(() => {})
    if (!mustSucceed) {
      run.catch(err => {
        // refused for good (4xx: the upload gone, no right to it): no more early
        // parts of this file until the flush at close tries (and reports) again
        const status = (err as { status?: number }).status ?? 0
        if (status >= 400 && status < 500) this.noEarly.add(node)
        log.debug(`early upload of part ${i + 1} of ${node.path} failed, will retry at flush: ${(err as Error).message}`)
      })
    }
    return run
  }

  /** drops an unfinished multipart upload so the server frees its parts */
  async abort (node: FileNode): Promise<void> {
    const session = this.sessions.get(node)
    if (!session) return
    this.sessions.delete(node)
    await Promise.allSettled([...session.inflight.values()])
    let uploadId: string
    try { uploadId = await session.uploadId } catch { return } // never started
    await this.abortUpload(session.key, uploadId)
  }

  /** uploads whose abort failed (server away): their parts would be stored, and billed, for ever */
  private readonly unaborted: { key: string, uploadId: string }[] = []

  private async abortUpload (key: string, uploadId: string): Promise<boolean> {
    try {
      await this.store.abortMultipart(key, uploadId, { priority: Priority.Data })
      return true
    } catch (err) {
      log.warn(`could not abort the upload of ${key}, will try again: ${(err as Error).message}`)
      this.unaborted.push({ key, uploadId })
      return false
    }
  }

  /** tries the failed aborts again: at each flush and at unmount */
  async retryAborts (): Promise<void> {
    const todo = this.unaborted.splice(0)
    await Promise.all(todo.map(u => this.abortUpload(u.key, u.uploadId)))
  }
}

