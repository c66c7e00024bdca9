// Object data in fixed-size blocks, least recently used out first, bounded in
// bytes. Blocks are named by key and ETag, so a changed object never serves old
// bytes. A block being fetched is shared by every reader that wants it.
//
// Block buffers are recycled: a buffer the cache lets go is filled by a later
// fetch. Fresh memory costs a page fault per 4 KiB on first touch, which made
// allocation the largest single cost of a streaming read (2.7 s of CPU per GiB
// here, against 0.03 s to fill buffers already touched), and V8 counts each
// fresh buffer as external memory: every 64 MiB of it starts a full
// mark-compact. So the cache keeps as many buffers as its bytes and the
// read-ahead on its way may use (what cache_size promises), not a few spare:
// with 16 MiB spare a streaming read still allocated a third of a GiB per GiB
// read, and ran 17 mark-compacts. Readers copy out of a block synchronously
// once they have it; a released buffer is reused only after the current
// macrotask, so no reader that got it can still be about to.
//
// The cache may be mirrored (mirrorTo): the FUSE binding's read shortcut
// answers reads from the same buffers on its own threads. A block is
// published there only while the cache holds it, and unpublished before the
// cache lets it go, so a buffer is never refilled while the mirror may copy
// out of it. Objects are numbered for the mirror while anything of them is
// held; a number is never used again.
import { LRUCache } from 'lru-cache'
import { Priority, type Urgency } from '../../s3/store.js'

/** where the cache's blocks are mirrored (the read shortcut); calls are synchronous, and take effect at once */
export interface BlockMirror {
  publish (object: number, index: number, block: Buffer): void
  unpublish (object: number, index: number): void
}

/** buffers kept for reuse beyond those in the cache and the read-ahead */
const SPARE_BYTES = 16 * 1024 * 1024
/** the largest single allocation of block memory (a large cache_size gets several) */
const SLAB_MAX_BYTES = 1024 * 1024 * 1024

export class BlockCache {
  readonly blockSize: number
  private readonly blocks: LRUCache<string, Buffer>
  private readonly inflight = new Map<string, Promise<Buffer>>()
  /** the priority of each block's fetch, raised when a reader waits for it */
  private readonly urgencies = new Map<string, Urgency>()
  /** recycled buffers, each blockSize long and its own ArrayBuffer */
  private readonly spare: Buffer[] = []
  /** how many of our buffers may live at once (cached, being filled or spare); more are let go to the GC */
  private readonly maxOwned: number
  /** our buffers alive: cached, being filled, or spare */
  private owned = 0
  /** where new blocks are carved from, and how far */
  private slab?: Buffer
  private slabUsed = 0
  private readonly slabs = new WeakSet<ArrayBufferLike>()
  private readonly ours = new WeakSet<ArrayBufferLike>()
  /**
   * Each object's block indices that are cached or on their way: what has()
   * answers. A sequential reader asks it of every block of its window on
   * each read (hundreds per 128 KiB read), and a string key per question
   * (`index:object`, hashed anew each time) was a tenth of a streaming
   * read's CPU. With them, the object's number for the mirror.
   */
  private readonly held = new Map<string, { number: number, indices: Set<number> }>()
  private lastNumber = 0
  private mirror?: BlockMirror
  hits = 0
  misses = 0

  /** aheadBytes: what read-ahead on its way may hold beyond maxBytes (its buffers are recycled too) */
  constructor (opts: { maxBytes: number, blockSize: number, aheadBytes?: number }) {
    this.blockSize = opts.blockSize
    this.maxOwned = Math.ceil(Math.max(opts.maxBytes, opts.blockSize) / opts.blockSize) +
      Math.max(4, Math.floor((SPARE_BYTES + (opts.aheadBytes ?? 0)) / opts.blockSize))
    this.blocks = new LRUCache<string, Buffer>({
      maxSize: Math.max(opts.maxBytes, opts.blockSize),
      sizeCalculation: b => Math.max(1, b.length),
      dispose: (block, id, reason) => {
        // before the buffer can be refilled; a block replaced ('set') is published anew right after
        this.unmirror(id)
        // 'set' replaces a block with a newer one under the same name: it is still held
        if (reason !== 'set') this.letGo(id)
        this.recycle(block)
      },
    })
  }

  private hold (object: string, index: number): void {
    let h = this.held.get(object)
    if (!h) this.held.set(object, h = { number: ++this.lastNumber, indices: new Set() })
    h.indices.add(index)
  }

  /** the mirror's number for an object, while any block of it is cached or on its way */
  numberOf (object: string): number | undefined {
    return this.held.get(object)?.number
  }

  /** mirrors every block from now on, starting with those held now */
  mirrorTo (mirror: BlockMirror): void {
    this.mirror = mirror
    for (const [id, block] of this.blocks.entries()) {
      const { object, index } = BlockCache.split(id)
      mirror.publish(this.held.get(object)!.number, index, block)
    }
  }

  private unmirror (id: string): void {
    if (!this.mirror) return
    const { object, index } = BlockCache.split(id)
    const h = this.held.get(object)
    if (h) this.mirror.unpublish(h.number, index)
  }

  private static split (id: string): { object: string, index: number } {
    const colon = id.indexOf(':')
    return { object: id.slice(colon + 1), index: Number(id.slice(0, colon)) }
  }

  /** a block's name leaves the cache (or its fetch failed): no longer held unless it is still on its way */
  private letGo (id: string): void {
    if (this.inflight.has(id)) return
    const { object, index } = BlockCache.split(id)
    const h = this.held.get(object)
    if (!h) return
    h.indices.delete(index)
    if (h.indices.size === 0) this.held.delete(object)
  }

  private take (): Buffer {
    const b = this.spare.pop() ?? this.carve()
    if (b) return b
    // more at once than the cache's bytes and read-ahead: one of its own, let go when it comes back
    const fresh = Buffer.allocUnsafeSlow(this.blockSize)
    this.ours.add(fresh.buffer)
    this.owned++
    return fresh
  }

  /**
   * The next block of the slab, made (not touched) at the first fetch. One
   * allocation for all the cache's blocks: V8 counts each allocation's size
   * as external memory at once, and every 64 MiB of it in small pieces
   * started a mark-compact (seven in a cold streaming read); the kernel
   * still gives the pages only as they are first filled.
   */
  private carve (): Buffer | undefined {
    if (!this.slab || this.slabUsed >= this.slab.length) {
      const left = this.maxOwned - this.owned
      if (left <= 0) return undefined
      this.slab = Buffer.allocUnsafeSlow(Math.min(left, Math.max(1, Math.floor(SLAB_MAX_BYTES / this.blockSize))) * this.blockSize)
      this.slabUsed = 0
      this.ours.add(this.slab.buffer)
      this.slabs.add(this.slab.buffer)
    }
    const b = this.slab.subarray(this.slabUsed, this.slabUsed + this.blockSize)
    this.slabUsed += this.blockSize
    this.owned++
    return b
  }

  private recycle (block: Buffer): void {
    if (!this.ours.has(block.buffer)) return
    const whole = Buffer.from(block.buffer, block.byteOffset, this.blockSize)
    // a slab's block stays ours for good (letting it go would free nothing)
    const keep = this.slabs.has(block.buffer) || this.owned <= this.maxOwned
    setImmediate(() => {
      if (keep) this.spare.push(whole)
      else this.owned--
    })
  }

  private static id (object: string, index: number): string {
    return `${index}:${object}`
  }

  get (object: string, index: number): Buffer | undefined {
    return this.blocks.get(BlockCache.id(object, index))
  }

  /** a reader was answered from these blocks elsewhere (the mirror): they are the most recently used */
  touch (object: string, first: number, last: number): void {
    for (let i = first; i <= last; i++) {
      if (this.blocks.get(BlockCache.id(object, i)) !== undefined) this.hits++
    }
  }

  /** the block is cached or on its way */
  has (object: string, index: number): boolean {
    return this.held.get(object)?.indices.has(index) ?? false
  }

  /**
   * The block now, or when its fetch lands; undefined if nobody is fetching it.
   * A reader waiting for a block read ahead in the background raises its
   * fetch to a reader's priority.
   */
  pending (object: string, index: number): Promise<Buffer> | Buffer | undefined {
    const id = BlockCache.id(object, index)
    const b = this.blocks.get(id)
    if (b) { this.hits++; return b }
    this.urgencies.get(id)?.raise(Priority.Data)
    return this.inflight.get(id)
  }

  /**
   * Fetches blocks [first, first + count) with one call of `fetch`, which
   * fills the buffers it is given (when it asks for them) back to back and
   * resolves with the byte count (the last block may be short).
   */
  fetch (object: string, first: number, count: number, fetch: (buffers: () => Buffer[]) => Promise<number>, urgency?: Urgency): void {
    this.misses += count
    let buffers: Buffer[] = []
    const all = fetch(() => (buffers = Array.from({ length: count }, () => this.take())))
    all.catch(() => { for (const b of buffers) this.recycle(b) })
    for (let i = 0; i < count; i++) {
      const index = first + i
      const id = BlockCache.id(object, index)
      const one = all.then(got => {
        const length = Math.max(0, Math.min(this.blockSize, got - i * this.blockSize))
        const block = buffers[i]?.subarray(0, length) ?? Buffer.alloc(0)
        this.hold(object, index)
        this.blocks.set(id, block)
        // the LRU may not keep it (larger than the cache): published only if held
        if (this.mirror && this.blocks.get(id) === block) this.mirror.publish(this.held.get(object)!.number, index, block)
        return block
      }).finally(() => {
        // a later fetch of the same block may have taken its place: that one is not ended
        if (this.inflight.get(id) !== one) return
        this.inflight.delete(id)
        this.urgencies.delete(id)
        // a failed fetch leaves nothing behind
        if (!this.blocks.has(id)) this.letGo(id)
      })
      // a failed read-ahead nobody waits for must not crash the process
      one.catch(() => {})
      this.inflight.set(id, one)
      this.hold(object, index)
      if (urgency) this.urgencies.set(id, urgency)
    }
  }

  get bytes (): number {
    return this.blocks.calculatedSize
  }
}
