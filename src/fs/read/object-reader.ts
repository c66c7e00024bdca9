// Reads one version of one object for an open handle. Blocks come from the
// shared cache; a sequential reader gets a read-ahead window that doubles with
// what it has read (up to a cap), fetched as a few large ranged GETs in
// parallel, since at 100 requests/s large ranges are what make speed. A seek
// far from the stream resets the window: random reads fetch one block each.
// Every GET is pinned to the version the reader was made for (If-Match): if
// another client replaced the object, the read fails with ESTALE instead of
// mixing two versions, and cached blocks are those of that version alone.
import type { ObjectStore } from '../../s3/store.js'
import { Priority, Urgency } from '../../s3/store.js'
import type { BlockCache } from './block-cache.js'

/** how far a read may land from the stream's position and still count as sequential */
const SEEK_WINDOW = 4 * 1024 * 1024
const MIN_STREAM_REQUEST = 1024 * 1024

export interface ReaderOptions {
  maxWindow: number
  /** largest single GET */
  maxRequest: number
}

export class ObjectReader {
  private readonly id: string
  private nextExpected = -1
  private sequentialBytes = 0

  constructor (
    private readonly store: ObjectStore,
    private readonly cache: BlockCache,
    private readonly key: string,
    version: string,
    private readonly size: number,
    private readonly opts: ReaderOptions,
    /** the server's ETag of the version (undefined: unknown, nothing to pin) */
    private readonly etag?: string,
  ) {
    this.id = `${version}:${key}`
  }

  /** the block cache's name of the object version read */
  get object (): string {
    return this.id
  }

  /**
   * A read of [position, position + length) was answered from cached blocks
   * without this reader (the read shortcut): the stream moves on as if it had
   * read them itself, so its read-ahead stays ahead.
   */
  served (position: number, length: number): void {
    if (position >= this.size || length <= 0) return
    const end = Math.min(this.size, position + length)
    const bs = this.cache.blockSize
    this.track(position, end)
    const last = Math.floor((end - 1) / bs)
    this.cache.touch(this.id, Math.floor(position / bs), last)
    this.readAhead(last)
  }

  /** whether this reader reads that version of that object */
  reads (base: { key: string, version: string, etag?: string, size: number }): boolean {
    return this.id === `${base.version}:${base.key}` && this.size === base.size && this.etag === base.etag
  }

  async read (buf: Buffer, length: number, position: number): Promise<number> {
    if (position >= this.size || length <= 0) return 0
    const end = Math.min(this.size, position + length)
    const bs = this.cache.blockSize
    this.track(position, end)
    const first = Math.floor(position / bs)
    const last = Math.floor((end - 1) / bs)
    this.ensure(first, last, Priority.Data)
    this.readAhead(last)
    let copied = 0
    for (let i = first; i <= last; i++) {
      const block = await this.block(i)
      const blockStart = i * bs
      const from = Math.max(position, blockStart) - blockStart
      const to = Math.min(end, blockStart + block.length) - blockStart
      if (to <= from) break
      block.copy(buf, copied, from, to)
      copied += to - from
      if (blockStart + block.length < Math.min(end, blockStart + bs)) break // object shorter than we were told
    }
    return copied
  }

  /**
   * Sequential means: starting near where the last read ended. The kernel
   * reads ahead too, several reads at once that may overtake each other, so
   * "near" is a few MiB either way, whatever the block size.
   */
  private track (position: number, end: number): void {
    const slack = Math.max(SEEK_WINDOW, this.cache.blockSize)
    const sequential = this.nextExpected >= 0 && Math.abs(position - this.nextExpected) <= slack
    if (sequential) {
      this.sequentialBytes += end - position
      this.nextExpected = Math.max(this.nextExpected, end)
    } else {
      // a reader starting at 0 is most likely about to read the whole file
      this.sequentialBytes = position === 0 ? end : 0
      this.nextExpected = end
    }
  }

  private window (): number {
    if (this.sequentialBytes === 0) return 0
    return Math.min(this.opts.maxWindow, Math.max(this.cache.blockSize, 2 * this.sequentialBytes))
  }

  private async block (index: number): Promise<Buffer> {
    const b = this.cache.pending(this.id, index)
    if (b) return await b
    this.ensure(index, index, Priority.Data)
    return await this.cache.pending(this.id, index)!
  }

  /**
   * Keeps a sequential reader's window filled: once less than half of it is
   * fetched or on its way, the rest goes out as a few large GETs (refilling a
   * block at a time would make every GET one block long).
   */
  private readAhead (last: number): void {
    const window = this.window()
    if (window === 0) return
    const bs = this.cache.blockSize
    const lastBlock = Math.floor((this.size - 1) / bs)
    let missing = last + 1
    while (missing <= lastBlock && this.cache.has(this.id, missing)) missing++
    if (missing > lastBlock) return
    const ahead = (missing - last - 1) * bs
    if (ahead >= window / 2) return
    // whole requests only: a refill that ends mid-request would leave a
    // one-block GET at its tail, a request spent on almost nothing
    const per = this.perRequest()
    const until = Math.min(lastBlock, missing - 1 + Math.ceil((last + Math.ceil(window / bs) - missing + 1) / per) * per)
    this.ensure(missing, until, Priority.Background)
  }

  /** blocks per GET: requests grow with the window so a fast stream needs few
   *  of them, and are at least 1 MiB while it is young, when latency, not
   *  size, is what costs */
  private perRequest (): number {
    const bs = this.cache.blockSize
    return Math.max(1, Math.floor(Math.min(this.opts.maxRequest, Math.max(bs, MIN_STREAM_REQUEST, this.window() / 8)) / bs))
  }

  /** starts GETs for the blocks in [first, last] that are neither cached nor on their way */
  private ensure (first: number, last: number, priority: Priority): void {
    const bs = this.cache.blockSize
    const perRequest = this.perRequest()
    let i = first
    while (i <= last) {
      if (this.cache.has(this.id, i)) { i++; continue }
      let count = 1
      while (i + count <= last && count < perRequest && !this.cache.has(this.id, i + count)) count++
      const start = i * bs
      const stop = Math.min(this.size, (i + count) * bs)
      const urgency = new Urgency(priority)
      this.cache.fetch(this.id, i, count, buffers => this.store.getInto(this.key, start, stop, buffers, { urgency, ifMatch: this.etag }), urgency)
      i += count
    }
  }
}
