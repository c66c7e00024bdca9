// Open files: handles, and the FileNodes of files being written. Reads of a
// clean file go to an ObjectReader; a file being written reads and writes
// through its node, and is saved (uploaded) at flush, fsync and release.
import { FsError } from '../errors.js'
import { OpenFlags } from './api.js'
import type { Entry } from './entry.js'
import type { OortFs } from './filesystem.js'
import { HandleTable } from './handles.js'
import { encodeMeta, foreignHeaders, S_IFREG, type Meta } from './metadata.js'
import { checkNewName } from './names.js'
import { ObjectReader } from './read/object-reader.js'
import { FileNode, type BaseObject, type RemoteReader } from './write/file-node.js'
import { Uploader } from './write/uploader.js'

interface Handle {
  path: string
  flags: number
  node?: FileNode
  reader?: ObjectReader
}

export class OpenFiles {
  readonly uploader: Uploader
  /** files with open handles or unsaved changes, by path */
  readonly nodes = new Map<string, FileNode>()
  private readonly handles = new HandleTable<Handle>()
  private readonly uploads = new Map<FileNode, Promise<void>>()
  /** one reader per object version, so each keeps its read-ahead state across calls */
  private readonly remote: RemoteReader

  constructor (private readonly fs: OortFs) {
    this.remote = this.makeRemote()
    this.uploader = new Uploader(fs.store, this.remote, { partSize: fs.opts.partSize, concurrency: fs.opts.uploadConcurrency })
  }

  node (path: string): FileNode | undefined {
    return this.nodes.get(path)
  }

  /** the node behind an open handle, if it was opened for writing */
  nodeOf (fh: number): FileNode | undefined {
    return this.handles.get(fh)?.node
  }

  /** an open file as an entry: its size and attributes as written so far */
  entryOf (node: FileNode): Entry {
    return {
      kind: 'file', key: node.key, size: node.size, etag: node.base?.version,
      lastModified: new Date(node.modifiedAt ?? this.fs.now()), meta: node.meta, metaKnown: true,
      // what the upload sends (or sent): storedMeta need not HEAD an open file
      headers: this.headersOf(node), contentType: node.contentType,
    }
  }

  private makeRemote (): RemoteReader {
    const readers = new Map<string, ObjectReader>()
    return {
      read: (base: BaseObject, buf: Buffer, length: number, position: number) => {
        const id = `${base.version}:${base.key}`
        let r = readers.get(id)
        if (!r) {
          if (readers.size > 64) readers.clear()
          r = this.newReader(base.key, base.version, base.size)
          readers.set(id, r)
        }
        return r.read(buf, length, position)
      },
    }
  }

  private newReader (key: string, version: string, size: number): ObjectReader {
    return new ObjectReader(this.fs.store, this.fs.cache, key, version, size, {
      maxWindow: this.fs.opts.readahead,
      // a full window is eight GETs in flight: parallel streams are what a server gives most to
      maxRequest: Math.max(this.fs.opts.blockSize, Math.min(8 * 1024 * 1024, this.fs.opts.readahead / 8)),
    })
  }

  async open (path: string, flags: number): Promise<number> {
    const wantsWrite = (flags & OpenFlags.O_ACCMODE) !== OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) !== 0
    if (wantsWrite) this.fs.writable(path)
    let node = this.nodes.get(path)
    if (!node) {
      const e = await this.fs.entry(path)
      if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      if (!wantsWrite) {
        return this.handles.add({ path, flags, reader: this.newReader(e.key, e.etag ?? '', e.size) })
      }
      node = await this.nodeFor(path, e)
    }
    node.refs++
    const fh = this.handles.add({ path, flags, node })
    if (flags & OpenFlags.O_TRUNC && node.size > 0) await node.truncate(0)
    return fh
  }

  /** a FileNode for an existing file, carrying its stored attributes over */
  private async nodeFor (path: string, e: Entry): Promise<FileNode> {
    const stored = await this.fs.attrs.storedMeta(path, e)
    const node = new FileNode({
      path, key: e.key, meta: { ...stored.meta }, stagingDir: this.fs.opts.stagingDir, partSize: this.fs.opts.partSize,
      base: { key: e.key, version: e.etag ?? '', size: e.size },
    })
    node.extraMeta = foreignHeaders(stored.headers)
    node.contentType = stored.contentType
    this.nodes.set(path, node)
    return node
  }

  async create (path: string, mode: number): Promise<number> {
    this.fs.writable(path)
    checkNewName(this.fs.names, path)
    let node = this.nodes.get(path)
    if (!node) {
      const e = await this.fs.exists(path)
      if (e?.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      if (e) {
        node = await this.nodeFor(path, e)
        await node.truncate(0)
      } else {
        // no mtime: until utimens sets one, a file's mtime is its LastModified
        const meta: Meta = { mode: S_IFREG | (mode & 0o7777), uid: this.fs.opts.uid, gid: this.fs.opts.gid }
        node = new FileNode({ path, key: this.fs.names.keyOf(path), meta, stagingDir: this.fs.opts.stagingDir, partSize: this.fs.opts.partSize })
        node.changed() // even an empty new file must reach the server
        this.nodes.set(path, node)
      }
    } else {
      await node.truncate(0)
    }
    node.refs++
    return this.handles.add({ path, flags: OpenFlags.O_RDWR, node })
  }

  private handle (fh: number): Handle {
    const h = this.handles.get(fh)
    if (!h) throw new FsError('EBADF', `no open file ${fh}`)
    return h
  }

  async read (fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    const h = this.handle(fh)
    // a file someone is writing reads through its node, wherever it was opened
    const node = h.node ?? this.nodes.get(h.path)
    if (node) return node.read(this.remote, buf, length, position)
    return h.reader!.read(buf, length, position)
  }

  async write (fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    const h = this.handle(fh)
    if (!h.node || (h.flags & OpenFlags.O_ACCMODE) === OpenFlags.O_RDONLY) throw new FsError('EBADF', 'not open for writing', h.path)
    const node = h.node
    const at = h.flags & OpenFlags.O_APPEND ? node.size : position
    const n = await node.write(buf, length, at)
    this.modified(node)
    this.uploader.afterWrite(node, () => this.headersOf(node))
    return n
  }

  headersOf (node: FileNode): Record<string, string> {
    return { ...node.extraMeta, ...encodeMeta(node.meta) }
  }

  /** uploads a node's changes; one upload per node at a time */
  async save (node: FileNode): Promise<void> {
    for (;;) {
      const running = this.uploads.get(node)
      if (running) { await running.catch(() => {}); continue }
      if (!node.dirty || node.unlinked) return
      const changes = node.changes
      const p = (async () => {
        await this.fs.tree.deletes.before(node.key)
        this.fs.attrs.meta.take(node.path) // the upload carries the attributes
        const r = await this.uploader.flush(node, this.headersOf(node), node.contentType)
        node.uploaded({ key: node.key, version: r.etag, size: r.size }, changes)
        this.fs.ns.changed(node.path, {
          kind: 'file', key: node.key, size: r.size, etag: r.etag,
          lastModified: r.serverDate ?? new Date(this.fs.now()), meta: { ...node.meta }, metaKnown: true,
          headers: this.headersOf(node), contentType: node.contentType,
        })
      })()
      this.uploads.set(node, p)
      try { await p } finally { this.uploads.delete(node) }
      return
    }
  }

  async flush (fh: number): Promise<void> {
    const h = this.handle(fh)
    // dd and touch close a duplicate of a new file's descriptor before writing
    // to it: an empty new file goes out at release (or fsync), not as an empty
    // object a moment before the real one
    if (h.node && !(h.node.isFreshEmpty())) await this.save(h.node)
  }

  async fsync (fh: number, _datasync: boolean): Promise<void> {
    const h = this.handle(fh)
    if (h.node) await this.save(h.node)
  }

  async release (fh: number): Promise<void> {
    const h = this.handles.remove(fh)
    const node = h?.node
    if (!node) return
    node.refs--
    if (node.refs > 0) return
    try {
      await this.save(node)
    } finally {
      if (node.refs === 0 && (!node.dirty || node.unlinked)) {
        if (this.nodes.get(node.path) === node) this.nodes.delete(node.path)
        await this.uploader.abort(node)
        await node.close()
      }
    }
  }

  async truncate (path: string, size: number): Promise<void> {
    this.fs.writable(path)
    const open = this.nodes.get(path)
    if (open) { await open.truncate(size); return }
    const e = await this.fs.entry(path)
    if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
    if (size === e.size) return
    const node = await this.nodeFor(path, e)
    node.refs++
    try {
      await node.truncate(size)
      this.modified(node)
      await this.save(node)
    } finally {
      node.refs--
      if (this.nodes.get(path) === node && !node.dirty) this.nodes.delete(path)
      await node.close()
    }
  }

  async ftruncate (fh: number, size: number): Promise<void> {
    const h = this.handle(fh)
    if (!h.node) throw new FsError('EBADF', 'not open for writing', h.path)
    await h.node.truncate(size)
    this.modified(h.node)
  }

  /** content changed: the mtime is now, and becomes the object's LastModified once saved */
  private modified (node: FileNode): void {
    delete node.meta.mtimeMs
    node.modifiedAt = this.fs.now()
  }

  /** uploads every file with unsaved changes; the paths that failed, with why */
  async saveAll (): Promise<string[]> {
    const failures: string[] = []
    await Promise.all([...this.nodes.values()].map(n => this.save(n).catch(err => {
      // the bytes are not lost: say where they are, for after the process ends
      const kept = n.stagingFile ? ` (the bytes written stay in ${n.stagingFile})` : ''
      failures.push(`${n.path}: ${(err as Error).message}${kept}`)
    })))
    return failures
  }

  /** bytes of open files not yet on the server (for stats) */
  dirtyBytes (): number {
    let n = 0
    for (const node of this.nodes.values()) if (node.dirty) n += node.size
    return n
  }
}
