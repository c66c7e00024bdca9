// The FUSE binding's read shortcut (scripts/fuse-shortcuts.c) modelled in
// JS, for unit tests: the same tables (published blocks, bound handles) and
// the same answer to a read (all blocks there, or none; a short block ends the
// object). serve() is what the kernel would get for a read the shortcut takes,
// or undefined where it would go to the core. Each published block's bytes are
// copied when published and compared whenever it serves: a buffer refilled
// while still published (recycled too early) is caught as `changed`.
import { writeSync } from 'node:fs'
import type { ReadShortcut } from '../../src/fs/read/read-bindings.js'
import type { OortFs } from '../../src/fs/filesystem.js'

interface Published { block: Buffer, copy: Buffer }

export class ModelShortcut implements ReadShortcut {
  readonly blocks = new Map<string, Published>()
  readonly binds = new Map<number, number>()
  /** blocks found changed while published */
  readonly changed: string[] = []
  served = 0

  constructor (private readonly blockSize: number, private readonly fs?: OortFs) {}

  publish (object: number, index: number, block: Buffer): void {
    this.blocks.set(`${object}:${index}`, { block, copy: Buffer.from(block) })
  }

  unpublish (object: number, index: number): void {
    const id = `${object}:${index}`
    const p = this.blocks.get(id)
    if (p && !p.block.equals(p.copy)) this.changed.push(`${id} (at unpublish)`)
    this.blocks.delete(id)
  }

  bind (fh: number, object: number): void {
    this.binds.set(fh, object)
  }

  unbind (fh: number): void {
    this.binds.delete(fh)
  }

  /** the shortcut's answer to a read of fh, or undefined: the core answers it */
  serve (fh: number, position: number, length: number): Buffer | undefined {
    const object = this.binds.get(fh)
    if (object === undefined || length <= 0) return undefined
    const bs = this.blockSize
    const end = position + length
    const found: Published[] = []
    for (let i = Math.floor(position / bs); i <= Math.floor((end - 1) / bs); i++) {
      const p = this.blocks.get(`${object}:${i}`)
      if (!p) return undefined
      found.push(p)
      if (p.block.length < bs) break
    }
    const out: Buffer[] = []
    let pos = position
    const first = Math.floor(position / bs)
    for (let k = 0; k < found.length; k++) {
      const p = found[k]!
      if (!p.block.equals(p.copy)) this.changed.push(`${object}:${first + k} (while serving fh ${fh})`)
      const start = (first + k) * bs
      const from = pos - start
      if (from >= p.block.length) break
      const to = Math.min(end - start, p.block.length)
      out.push(p.block.subarray(from, to))
      pos += to - from
      if (p.block.length < bs) break
    }
    this.served++
    this.fs?.served(fh, position, pos - position)
    return Buffer.concat(out)
  }

  /** a read as the kernel sees it: the shortcut's answer if it takes it, else the core's */
  async read (fs: OortFs, fh: number, position: number, length: number): Promise<{ data: Buffer, by: 'shortcut' | 'core' }> {
    const fast = this.serve(fh, position, length)
    if (fast) return { data: fast, by: 'shortcut' }
    const buf = Buffer.alloc(length)
    const n = await fs.read(fh, buf, length, position)
    return { data: buf.subarray(0, n), by: 'core' }
  }
}

/**
 * The binding's write shortcut, modelled: an armed handle's write is made
 * into the staging file here at once (as the FUSE thread's pwrite), counted,
 * and handed to the core's written() now, or when the test delivers it (a
 * dispatch to the JS thread still on its way).
 */
export class ModelWrites {
  private readonly armed = new Map<number, { fd: number, passes: number }>()

  arm (fh: number, fd: number, seen: number): boolean {
    if (this.armed.has(fh)) return false
    this.armed.set(fh, { fd, passes: seen })
    return true
  }

  disarm (fh: number): number {
    const a = this.armed.get(fh)
    this.armed.delete(fh)
    return a?.passes ?? 0
  }

  isArmed (fh: number): boolean {
    return this.armed.has(fh)
  }

  /** a write as the kernel sends it: made here if fh is armed, else by the core; `hold`: the core hears of it when deliver() is called */
  write (fs: OortFs, fh: number, buf: Buffer, position: number, opts: { hold?: boolean, fail?: number } = {}): { by: 'shortcut' | 'core', answer: Promise<number>, deliver: () => void } {
    const a = this.armed.get(fh)
    if (!a) return { by: 'core', answer: fs.write(fh, buf, buf.length, position), deliver: () => {} }
    a.passes++
    let result = -(opts.fail ?? 0)
    if (!opts.fail) result = writeSync(a.fd, buf, 0, buf.length, position)
    let deliver!: () => void
    const delivered = new Promise<void>(resolve => { deliver = resolve })
    if (!opts.hold) deliver()
    return { by: 'shortcut', answer: delivered.then(() => fs.written(fh, result, buf.length, position)), deliver }
  }
}
