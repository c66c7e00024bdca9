// Object data in fixed-size blocks, least recently used out first, bounded in
// bytes. Blocks are named by key and ETag, so a changed object never serves old
// bytes. A block being fetched is shared by every reader that wants it.
//
// Block buffers are recycled: a buffer the cache lets go is filled by a later
// fetch. Fresh memory costs a page fault per 4 KiB on first touch, which made
// allocation the largest single cost of a streaming read (2.7 s of CPU per GiB
// here, against 0.03 s to fill buffers already touched). Readers copy out of a
// block synchronously once they have it; a released buffer is reused only
// after the current macrotask, so no reader that got it can still be about to.
import { LRUCache } from 'lru-cache'
import { Priority, type Urgency } from '../../s3/store.js'

/** buffers kept for reuse beyond those in the cache */
const SPARE_BYTES = 16 * 1024 * 1024

export class BlockCache {
  readonly blockSize: number
  private readonly blocks: LRUCache<string, Buffer>
  private readonly inflight = new Map<string, Promise<Buffer>>()
  /** the priority of each block's fetch, raised when a reader waits for it */
  private readonly urgencies = new Map<string, Urgency>()
  /** recycled buffers, each blockSize long and its own ArrayBuffer */
  private readonly spare: Buffer[] = []
  private readonly maxSpare: number
  private readonly ours = new WeakSet<ArrayBufferLike>()
  /**
   * Each object's block indices that are cached or on their way: what has()
   * answers. A sequential reader asks it of every block of its window on
   * each read (hundreds per 128 KiB read), and a string key per question
   * (`index:object`, hashed anew each time) was a tenth of a streaming
   * read's CPU.
   */
  private readonly held = new Map<string, Set<number>>()
  hits = 0
  misses = 0

  constructor (opts: { maxBytes: number, blockSize: number }) {
    this.blockSize = opts.blockSize
    this.maxSpare = Math.max(4, Math.floor(SPARE_BYTES / opts.blockSize))
    this.blocks = new LRUCache<string, Buffer>({
      maxSize: Math.max(opts.maxBytes, opts.blockSize),
      sizeCalculation: b => Math.max(1, b.length),
      dispose: (block, id, reason) => {
        // 'set' replaces a block with a newer one under the same name: it is still held
        if (reason !== 'set') this.letGo(id)
        this.recycle(block)
      },
    })
  }

  private hold (object: string, index: number): void {
    let set = this.held.get(object)
    if (!set) this.held.set(object, set = new Set())
    set.add(index)
  }

  /** a block's name leaves the cache (or its fetch failed): no longer held unless it is still on its way */
  private letGo (id: string): void {
    if (this.inflight.has(id)) return
    const colon = id.indexOf(':')
    const object = id.slice(colon + 1)
    const set = this.held.get(object)
    if (!set) return
    set.delete(Number(id.slice(0, colon)))
    if (set.size === 0) this.held.delete(object)
  }

  private take (): Buffer {
    const b = this.spare.pop()
    if (b) return b
    const fresh = Buffer.allocUnsafeSlow(this.blockSize)
    this.ours.add(fresh.buffer)
    return fresh
  }

  private recycle (block: Buffer): void {
    if (!this.ours.has(block.buffer)) return
    const whole = Buffer.from(block.buffer, 0, this.blockSize)
    setImmediate(() => { if (this.spare.length < this.maxSpare) this.spare.push(whole) })
  }

  private static id (object: string, index: number): string {
    return `${index}:${object}`
  }

  get (object: string, index: number): Buffer | undefined {
    return this.blocks.get(BlockCache.id(object, index))
  }

  /** the block is cached or on its way */
  has (object: string, index: number): boolean {
    return this.held.get(object)?.has(index) ?? false
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
        this.blocks.set(id, block)
        this.hold(object, index)
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
