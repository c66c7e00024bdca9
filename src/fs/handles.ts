// Open file handles: small integers for FUSE, each mapped to the state its
// reads and writes need.

export class HandleTable<T> {
  private readonly open = new Map<number, T>()
  private next = 1

  add (h: T): number {
    // skip numbers still in use after wrap-around
    while (this.open.has(this.next) || this.next === 0) this.next = (this.next + 1) % 0x7fffffff
    const fh = this.next
    this.next = (this.next + 1) % 0x7fffffff
    this.open.set(fh, h)
    return fh
  }

  get (fh: number): T | undefined {
    return this.open.get(fh)
  }

  remove (fh: number): T | undefined {
    const h = this.open.get(fh)
    this.open.delete(fh)
    return h
  }

  values (): IterableIterator<T> {
    return this.open.values()
  }

  get size (): number {
    return this.open.size
  }
}
