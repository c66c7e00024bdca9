// The filesystem proper: each FUSE operation as an async method that throws
// FsError. Names come from the Namespace (listings, windows, caches), file
// content from ObjectReaders (clean files) or FileNodes (files being written),
// and every change is reflected in the caches at once.
import type { ObjectStore } from '../s3/store.js'
import type { Config } from '../config-types.js'
import { Priority } from '../s3/store.js'
import { FsError } from '../errors.js'
import { type Attr, type FileSystem, type StatFs, OpenFlags } from './api.js'
import { attrOf, rootEntry, type AttrDefaults } from './attrs.js'
import type { Entry } from './entry.js'
import { HandleTable } from './handles.js'
import { HeadMetaSource } from './meta-head.js'
import { AttrIndex } from './attr-index.js'
import { decodeMeta, encodeMeta, foreignHeaders, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type Meta } from './metadata.js'
import { Namespace, type MetaSource } from './namespace.js'
import { checkNewName, INDEX_SUFFIX, Names, splitPath } from './names.js'
import { BlockCache } from './read/block-cache.js'
import { ObjectReader } from './read/object-reader.js'
import { FileNode, type BaseObject, type RemoteReader } from './write/file-node.js'
import { Uploader } from './write/uploader.js'
import { TreeOps } from './tree-ops.js'
import { RenameJournal } from './rename-journal.js'
import { log } from '../util/log.js'

/** the mount's settings the core uses, as config-types.ts defines them */
export type FsOptions = Pick<Config, 'prefix' | 'readOnly' | 'uid' | 'gid' | 'umask' | 'attrTtlMs' | 'metaMode' |
  'blockSize' | 'cacheSize' | 'readahead' | 'partSize' | 'uploadConcurrency' | 'stagingDir'> & {
  /** a MetaSource other than the default (the attribute index plugs in here) */
  metaSource?: MetaSource
  now?: () => number
}

interface Handle {
  path: string
  flags: number
  node?: FileNode
  reader?: ObjectReader
}

export class OortFs implements FileSystem {
  readonly names: Names
  readonly ns: Namespace
  readonly cache: BlockCache
  readonly uploader: Uploader
  readonly tree: TreeOps
  readonly journal: RenameJournal
  private readonly handles = new HandleTable<Handle>()
  /** files with open handles or unsaved changes, by path */
  readonly nodes = new Map<string, FileNode>()
  private readonly uploads = new Map<FileNode, Promise<void>>()
  private readonly defaults: AttrDefaults
  private readonly now: () => number

  constructor (readonly store: ObjectStore, readonly opts: FsOptions) {
    this.now = opts.now ?? Date.now
    this.names = new Names(opts.prefix)
    const meta = opts.metaSource ?? (opts.metaMode === 'head'
      ? new HeadMetaSource(store)
      : new AttrIndex(store, {
        uid: opts.uid, gid: opts.gid, mode: kind => this.defaultMode(kind),
      }, { ttlMs: opts.attrTtlMs, now: opts.now, indexKey: dir => this.names.indexKey(dir) }))
    this.ns = new Namespace(store, this.names, { ttlMs: opts.attrTtlMs, now: this.now, meta })
    this.cache = new BlockCache({ maxBytes: opts.cacheSize, blockSize: opts.blockSize })
    this.uploader = new Uploader(store, this.remoteReader(), { partSize: opts.partSize, concurrency: opts.uploadConcurrency })
    this.defaults = { uid: opts.uid, gid: opts.gid, umask: opts.umask, mountTime: new Date(this.now()) }
    this.tree = new TreeOps(this)
    this.journal = new RenameJournal(store)
  }

  /**
   * The mount's first request: lists the rename journal (proving bucket and
   * keys) and finishes any directory rename a crash cut short.
   */
  async start (): Promise<void> {
    const r = await this.journal.recover()
    if (r.kept.length) log.warn(`after finishing interrupted renames, ${r.kept.length} old key(s) were kept because the new name holds other data: ${r.kept.slice(0, 5).join(', ')}`)
  }

  // ---- names and attributes

  /** the entry at path, or ENOENT; files being written count */
  async entry (path: string): Promise<Entry> {
    if (path === '/') return rootEntry(this.opts.prefix)
    const node = this.nodes.get(path)
    if (node) return this.nodeEntry(node)
    if (splitPath(path).name.endsWith(INDEX_SUFFIX)) throw new FsError('ENOENT', undefined, path)
    const e = await this.ns.lookup(path)
    if (!e) throw new FsError('ENOENT', undefined, path)
    return e
  }

  async exists (path: string): Promise<Entry | undefined> {
    try { return await this.entry(path) } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return undefined
      throw err
    }
  }

  private nodeEntry (node: FileNode): Entry {
    return {
      kind: 'file', key: node.key, size: node.size, etag: node.base?.version,
      lastModified: new Date(node.modifiedAt ?? this.now()), meta: node.meta, metaKnown: true,
      // what the upload sends (or sent): storedMeta need not HEAD an open file
      headers: this.headersOf(node), contentType: node.contentType,
    }
  }

  attr (entry: Entry): Attr {
    return attrOf(entry, this.defaults)
  }

  async getattr (path: string): Promise<Attr> {
    return this.attr(await this.entry(path))
  }

  async fgetattr (path: string, fh: number): Promise<Attr> {
    const h = this.handles.get(fh)
    if (h?.node) return this.attr(this.nodeEntry(h.node))
    return this.getattr(path)
  }

  async readdir (path: string): Promise<string[]> {
    const e = await this.entry(path)
    if (e.kind !== 'dir') throw new FsError('ENOTDIR', undefined, path)
    const names = new Set((await this.ns.list(path)).keys())
    // files created here but not uploaded yet
    for (const node of this.nodes.values()) {
      const { parent, name } = splitPath(node.path)
      if (parent === path && !node.unlinked) names.add(name)
    }
    return [...names]
  }

  /** the stored attributes and headers of an entry, asking the server if we only guessed them */
  async storedMeta (path: string, e: Entry): Promise<{ meta: Meta, headers: Record<string, string>, contentType?: string }> {
    if (e.metaKnown && e.headers) return { meta: e.meta ?? {}, headers: e.headers, contentType: e.contentType }
    if (e.kind === 'dir') return { meta: e.meta ?? {}, headers: e.headers ?? {} }
    const h = await this.store.head(e.key, { priority: Priority.Metadata })
    if (!h) throw new FsError('ENOENT', 'removed meanwhile', path)
    const meta = decodeMeta(h.metadata)
    this.ns.changed(path, { ...e, size: h.size, etag: h.etag, meta, metaKnown: true, headers: h.metadata, contentType: h.contentType })
    return { meta, headers: h.metadata, contentType: h.contentType }
  }

  // ---- open files

  private writable (path: string): void {
    if (this.opts.readOnly) throw new FsError('EROFS', 'mounted read-only', path)
  }

  private remoteReader (): RemoteReader {
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
    return new ObjectReader(this.store, this.cache, key, version, size, {
      maxWindow: this.opts.readahead,
      maxRequest: Math.max(this.opts.blockSize, Math.min(16 * 1024 * 1024, this.opts.readahead / 4)),
    })
  }

  async open (path: string, flags: number): Promise<number> {
    const wantsWrite = (flags & OpenFlags.O_ACCMODE) !== OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) !== 0
    if (wantsWrite) this.writable(path)
    let node = this.nodes.get(path)
    if (!node) {
      const e = await this.entry(path)
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
    const stored = await this.storedMeta(path, e)
    const node = new FileNode({
      path, key: e.key, meta: { ...stored.meta }, stagingDir: this.opts.stagingDir, partSize: this.opts.partSize,
      base: { key: e.key, version: e.etag ?? '', size: e.size },
    })
    node.extraMeta = foreignHeaders(stored.headers)
    node.contentType = stored.contentType
    this.nodes.set(path, node)
    return node
  }

  async create (path: string, mode: number): Promise<number> {
    this.writable(path)
    checkNewName(this.names, path)
    let node = this.nodes.get(path)
    if (!node) {
      const e = await this.exists(path)
      if (e?.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      if (e) {
        node = await this.nodeFor(path, e)
        await node.truncate(0)
      } else {
        // no mtime: until utimens sets one, a file's mtime is its LastModified
        const meta: Meta = { mode: S_IFREG | (mode & 0o7777), uid: this.opts.uid, gid: this.opts.gid }
        node = new FileNode({ path, key: this.names.keyOf(path), meta, stagingDir: this.opts.stagingDir, partSize: this.opts.partSize })
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
    if (node) return node.read(this.remoteReader(), buf, length, position)
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
        await this.tree.deletes.before(node.key)
        this.tree.meta.take(node.path) // the upload carries the attributes
        const r = await this.uploader.flush(node, this.headersOf(node), node.contentType)
        node.uploaded({ key: node.key, version: r.etag, size: r.size }, changes)
        this.ns.changed(node.path, {
          kind: 'file', key: node.key, size: r.size, etag: r.etag,
          lastModified: r.serverDate ?? new Date(this.now()), meta: { ...node.meta }, metaKnown: true,
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
    if (h.node) await this.save(h.node)
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
    this.writable(path)
    const open = this.nodes.get(path)
    if (open) { await open.truncate(size); return }
    const e = await this.entry(path)
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
    node.modifiedAt = this.now()
  }

  // ---- changes of names and attributes (tree-ops.ts and meta-ops in TreeOps)

  async unlink (path: string): Promise<void> { this.writable(path); await this.tree.unlink(path) }
  async mkdir (path: string, mode: number): Promise<void> { this.writable(path); await this.tree.mkdir(path, mode) }
  async rmdir (path: string): Promise<void> { this.writable(path); await this.tree.rmdir(path) }
  async rename (from: string, to: string): Promise<void> { this.writable(from); await this.tree.rename(from, to) }
  async symlink (target: string, path: string): Promise<void> { this.writable(path); await this.tree.symlink(target, path) }

  async readlink (path: string): Promise<string> {
    const e = await this.entry(path)
    if (e.kind !== 'file' || ((e.meta?.mode ?? 0) & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', 'not a symbolic link', path)
    if (e.target !== undefined) return e.target
    const body = await this.store.get(e.key, 0, Math.min(e.size, 4096), { priority: Priority.Metadata })
    const target = body.toString('utf8')
    this.ns.changed(path, { ...e, target })
    return target
  }

  async chmod (path: string, mode: number): Promise<void> {
    this.writable(path)
    await this.tree.setMeta(path, m => ({ ...m, mode: ((m.mode ?? 0) & S_IFMT) | (mode & 0o7777) }))
  }

  async chown (path: string, uid: number, gid: number): Promise<void> {
    this.writable(path)
    // -1 (as unsigned 32-bit too) means "leave as is"
    const keep = (v: number) => v === -1 || v === 0xffffffff
    await this.tree.setMeta(path, m => ({ ...m, uid: keep(uid) ? m.uid : uid, gid: keep(gid) ? m.gid : gid }))
  }

  async utimens (path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    this.writable(path)
    // NaN: leave that time as it is (UTIME_OMIT)
    await this.tree.setMeta(path, m => ({
      ...m,
      atimeMs: Number.isNaN(atimeMs) ? m.atimeMs : atimeMs,
      mtimeMs: Number.isNaN(mtimeMs) ? m.mtimeMs : mtimeMs,
    }))
  }

  async setxattr (path: string, name: string, value: Buffer, _flags: number): Promise<void> {
    if (!isStorableXattr(name)) throw new FsError('ENOTSUP', `only user.* and trusted.* extended attributes are stored`, path)
    this.writable(path)
    await this.tree.setMeta(path, m => ({ ...m, xattr: { ...m.xattr, [name]: Buffer.from(value) } }))
  }

  async getxattr (path: string, name: string): Promise<Buffer | undefined> {
    // ls -l asks every file for ACLs and SELinux labels, the kernel asks for
    // security.capability before writes: names we never store cost no request
    if (!isStorableXattr(name)) return undefined
    return (await this.xattrs(path))[name]
  }

  async listxattr (path: string): Promise<string[]> {
    return Object.keys(await this.xattrs(path))
  }

  async removexattr (path: string, name: string): Promise<void> {
    this.writable(path)
    if (!(name in await this.xattrs(path))) throw new FsError('ENODATA', name, path)
    await this.tree.setMeta(path, m => {
      const xattr = { ...m.xattr }
      delete xattr[name]
      return { ...m, xattr }
    })
  }

  private async xattrs (path: string): Promise<Record<string, Buffer>> {
    if (path === '/') return {}
    const node = this.nodes.get(path)
    if (node) return node.meta.xattr ?? {}
    const e = await this.entry(path)
    return (await this.storedMeta(path, e)).meta.xattr ?? {}
  }

  async statfs (_path: string): Promise<StatFs> {
    // a bucket has no size limit: large round numbers keep df and cp's space checks happy
    const blocks = 2 ** 40
    return { bsize: 1 << 20, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files: 2 ** 40, ffree: 2 ** 40, favail: 2 ** 40, fsid: 0x0075fa, flag: 0, namemax: 255 }
  }

  async flushAll (): Promise<void> {
    const failures: string[] = []
    await Promise.all([...this.nodes.values()].map(n => this.save(n).catch(err => { failures.push(`${n.path}: ${(err as Error).message}`) })))
    await this.tree.flushPending()
    await this.ns.flushMeta().catch(err => { failures.push(`attribute index: ${(err as Error).message}`) })
    if (failures.length) throw new FsError('EIO', `could not save ${failures.length} file(s): ${failures.join('; ')}`)
  }

  /** bytes of open files not yet on the server (for stats) */
  dirtyBytes (): number {
    let n = 0
    for (const node of this.nodes.values()) if (node.dirty) n += node.size
    return n
  }

  defaultMode (kind: 'file' | 'dir'): number {
    return kind === 'dir' ? S_IFDIR | (0o777 & ~this.opts.umask) : S_IFREG | (0o666 & ~this.opts.umask)
  }
}

/** the namespaces we store; system.* and security.* belong to the kernel */
function isStorableXattr (name: string): boolean {
  return name.startsWith('user.') || name.startsWith('trusted.')
}
