// Which open handles have their writes made by the FUSE binding on its own
// threads (scripts/fuse-shortcuts.c): the binding does the pwrite into the
// staging file, then hands the call to the core, which records what it did
// (OpenFiles.written) before the write is answered, as for its own writes.
// The core's own changes of a staging file (a truncate, bytes fetched into
// it, its close) must never interleave with such a pwrite, so they run
// `exclusive`: the node's handles are disarmed first, and the change waits
// until every write the binding took for them has reached the core (the
// binding counts them; each handle here counts those it has seen). A handle is
// armed again only after a write of its own through the core, and never while
// an exclusive change of its node is on its way.
import type { FileNode } from './file-node.js'

/** the binding's side, each call in effect when it returns */
export interface WriteShortcut {
  /** fh's writes go into fd from now on, counted from `seen`; false if it could not */
  arm (fh: number, fd: number, seen: number): boolean
  /** fh's writes come to the core again; how many were ever taken for it */
  disarm (fh: number): number
}

interface Armed {
  node: FileNode
  /** writes of this handle the binding took and the core has seen */
  seen: number
  /** the binding's count at the last disarm, until seen reaches it */
  owed?: { passes: number, done: Promise<void>, resolve: () => void }
  armed: boolean
}

export class WriteArming {
  private shortcut?: WriteShortcut
  private readonly handles = new Map<number, Armed>()
  private readonly exclusive = new Map<FileNode, number>()

  attach (shortcut: WriteShortcut): void {
    this.shortcut = shortcut
  }

  get on (): boolean {
    return this.shortcut !== undefined
  }

  /** after a write of fh through the core: its next ones may be made by the binding */
  arm (fh: number, node: FileNode, fd: number | undefined): void {
    if (!this.shortcut || fd === undefined || (this.exclusive.get(node) ?? 0) > 0) return
    let a = this.handles.get(fh)
    if (a?.armed || a?.owed) return
    if (!a || a.node !== node) this.handles.set(fh, a = { node, seen: 0, armed: false })
    a.armed = this.shortcut.arm(fh, fd, a.seen)
  }

  /** a write the binding took for fh reached the core */
  saw (fh: number): void {
    const a = this.handles.get(fh)
    if (!a) return
    a.seen++
    if (a.owed && a.seen >= a.owed.passes) {
      a.owed.resolve()
      a.owed = undefined
    }
  }

  /** fh's writes come to the core; resolves once those the binding took have all reached it */
  private disarm (fh: number, a: Armed, shortcut = this.shortcut): Promise<void> {
    if (a.armed && shortcut) {
      a.armed = false
      const passes = shortcut.disarm(fh)
      if (a.seen < passes) {
        let resolve!: () => void
        const done = new Promise<void>(r => { resolve = r })
        a.owed = { passes, done, resolve }
      }
    }
    return a.owed?.done ?? Promise.resolve()
  }

  /** the handle is released: the binding forgets it (the kernel sends no write of it after) */
  async release (fh: number): Promise<void> {
    const a = this.handles.get(fh)
    if (!a) return
    await this.disarm(fh, a)
    if (this.handles.get(fh) === a) this.handles.delete(fh)
  }

  /** fn changes the node's staging file: no write of the binding runs meanwhile */
  async exclusively<T> (node: FileNode, fn: () => Promise<T>): Promise<T> {
    this.exclusive.set(node, (this.exclusive.get(node) ?? 0) + 1)
    try {
      await this.quietNode(node)
      return await fn()
    } finally {
      const n = (this.exclusive.get(node) ?? 1) - 1
      if (n > 0) this.exclusive.set(node, n)
      else this.exclusive.delete(node)
    }
  }

  private async quietNode (node: FileNode): Promise<void> {
    const waits: Promise<void>[] = []
    for (const [fh, a] of this.handles) if (a.node === node) waits.push(this.disarm(fh, a))
    await Promise.all(waits)
  }

  /** every write from now on goes to the core, and those the binding took have reached it (the shutdown's last save) */
  async quietAll (): Promise<void> {
    const shortcut = this.shortcut
    this.shortcut = undefined
    if (!shortcut) return
    await Promise.all([...this.handles].map(([fh, a]) => this.disarm(fh, a, shortcut)))
  }
}
