// Buffers for the parts an upload sends from the staging file, reused. A
// fresh 8 MiB buffer per part costs 2,048 page faults on first touch, and
// every few of them a full garbage collection (V8 collects when external
// memory grows: 96 mark-compacts for a 1 GiB dd here, a third of the write's
// CPU). A buffer comes back once the server has stored its part (never after
// a failed attempt, which might still be writing it to a dying socket), and
// spares beyond `keep` are let go; all spares go after a quiet while, so an
// idle mount holds none.
const IDLE_MS = 10_000

export class PartBuffers {
  private readonly spare: Buffer[] = []
  private timer?: NodeJS.Timeout

  constructor (private readonly size: number, private readonly keep: number) {}

  /** a buffer of `length` bytes (not zeroed): pooled when it fits a part of the pool's size */
  take (length: number): Buffer {
    if (length > this.size) return Buffer.allocUnsafeSlow(length)
    const b = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.size)
    return b.subarray(0, length)
  }

  /** `b` (from take) is no longer used by anyone */
  give (b: Buffer): void {
    if (b.buffer.byteLength !== this.size || b.byteOffset !== 0 || this.spare.length >= this.keep) return
    this.spare.push(Buffer.from(b.buffer, 0, this.size))
    this.timer?.refresh()
    this.timer ??= setTimeout(() => { this.spare.length = 0; this.timer = undefined }, IDLE_MS).unref()
  }

  /** spares held now (tests) */
  get spares (): number {
    return this.spare.length
  }
}
