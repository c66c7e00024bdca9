// Which open handles the read shortcut may answer without the core, and out
// of which cached object. The shortcut (the FUSE binding's, see
// scripts/fuse-shortcuts.c) copies a bound handle's reads out of the
// block cache's mirrored blocks on its own threads and tells the core
// afterwards. One rule keeps its answers the core's: a handle is bound only
// while its file reads the server's bytes as they are, and unbound,
// synchronously, before any change of what it reads is answered
// (FileNode.onReadsChanged) and before its release is. A read that was on its
// way while such a change came binds nothing: the node no longer reads its
// base as it is (FileNode.readsBaseAsIs), or its handle's reader reads
// another version than the node's base.
import type { BlockMirror } from './block-cache.js'
import type { FileNode } from '../write/file-node.js'

/** the binding's side: blocks (BlockMirror) and handles, each call in effect when it returns */
export interface ReadShortcut extends BlockMirror {
  bind (fh: number, object: number): void
  unbind (fh: number): void
  /**
   * Tells now (served()) of the reads answered since it last told: the core
   * calls it before a read of its own, so a stream's readers learn of its
   * reads in order (else a read the shortcut missed looks like a seek past
   * reads it has not heard of yet, and the read-ahead starts over small).
   */
  drain? (): void
}

export class ReadBindings {
  private shortcut?: ReadShortcut
  /** each node's bound handles, and the object number each is bound to */
  private readonly byNode = new Map<FileNode, Map<number, number>>()

  attach (shortcut: ReadShortcut): void {
    this.shortcut = shortcut
  }

  get on (): boolean {
    return this.shortcut !== undefined
  }

  /** what the shortcut answered and has not told yet, told now */
  drain (): void {
    this.shortcut?.drain?.()
  }

  bind (fh: number, node: FileNode, object: number): void {
    if (!this.shortcut) return
    let handles = this.byNode.get(node)
    if (handles?.get(fh) === object) return
    if (!handles) this.byNode.set(node, handles = new Map())
    this.shortcut.bind(fh, object)
    handles.set(fh, object)
  }

  unbind (fh: number, node: FileNode): void {
    const handles = this.byNode.get(node)
    if (!handles?.has(fh)) return
    this.shortcut!.unbind(fh)
    handles.delete(fh)
    if (handles.size === 0) this.byNode.delete(node)
  }

  /** what the node's reads return is about to change: all its handles go back to the core */
  unbindNode (node: FileNode): void {
    const handles = this.byNode.get(node)
    if (!handles) return
    for (const fh of handles.keys()) this.shortcut!.unbind(fh)
    this.byNode.delete(node)
  }
}
