// Object data in fixed-size blocks, least recently used out first, bounded in
// bytes. Blocks are named by key and ETag, so a changed object never serves old
// bytes. A block being fetched is shared by every reader that wants it.
import { LRUCache } from 'lru-cache'

export class BlockCache {
  readonly blockSize: number
  private readonly blocks: LRUCache<string, Buffer>
  private readonly inflight = new Map<string, Promise<Buffer>>()
  hits = 0
  misses = 0

  constructor (opts: { maxBytes: number, blockSize: number }) {
    this.blockSize = opts.blockSize
    this.blocks = new LRUCache<string, Buffer>({
      maxSize: Math.max(opts.maxBytes, opts.blockSize),
      sizeCalculation: b => Math.max(1, b.length),
    })
  }

  private static id (object: string, index: number): string {
    return `${index}:${object}`
  }

  get (object: string, index: number): Buffer | undefined {
    return this.blocks.get(BlockCache.id(object, index))
  }

  has (object: string, index: number): boolean {
    const id = BlockCache.id(object, index)
    return this.blocks.has(id) || this.inflight.has(id)
  }

  /** the block now, or when its fetch lands; undefined if nobody is fetching it */
  pending (object: string, index: number): Promise<Buffer> | Buffer | undefined {
    const id = BlockCache.id(object, index)
    const b = this.blocks.get(id)
    if (b) { this.hits++; return b }
    return this.inflight.get(id)
  }

  /**
   * Fetches blocks [first, first + count) with one call of `fetch`, which
   * returns their bytes back to back (the last block may be short).
   */
  fetch (object: string, first: number, count: number, fetch: () => Promise<Buffer>): void {
    this.misses += count
    const all = fetch()
    for (let i = 0; i < count; i++) {
      const index = first + i
      const id = BlockCache.id(object, index)
      const one = all.then(data => {
        const start = i * this.blockSize
        const block = data.subarray(Math.min(start, data.length), Math.min(start + this.blockSize, data.length))
        this.blocks.set(id, block)
        return block
      }).finally(() => this.inflight.delete(id))
      // a failed read-ahead nobody waits for must not crash the process
      one.catch(() => {})
      this.inflight.set(id, one)
    }
  }

  get bytes (): number {
    return this.blocks.calculatedSize
  }
}
