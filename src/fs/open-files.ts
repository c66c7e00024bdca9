// The owner of every open file's life. Each open file is one FileNode (the
// inode): its handles hold the node, never a path, so a rename moves the node
// under them and an unlink leaves it alive for them. Only this module changes
// a node: it opens, writes and truncates it, starts and ends its uploads, and
// is told of renames, unlinks and attribute changes (tree-ops.ts,
// attr-ops.ts), which it applies to the node in the state it is in:
//   - a change of attributes while an upload is on its way keeps the node
//     dirty, and goes out once the upload lands (an in-place copy if the bytes
//     are already there);
//   - an unlink or a rename over a file still open fetches what only the
//     server has of it first, so its handles read it to the last close;
//   - an unlink while an upload is on its way waits for it, then deletes.
import { FsError, errnoName, errnoOf } from '../errors.js'
import { Priority, sameEtag } from '../s3/store.js'
import { log } from '../util/log.js'
import { type Caller, OpenFlags } from './api.js'
import { type FsContext, writable } from './context.js'
import { contentTypeOf } from './content-type.js'
import type { Entry } from './entry.js'
import { HandleTable } from './handles.js'
import { checkMetadataSize, encodeMeta, foreignHeaders, S_IFDIR, S_IFMT, S_IFREG, type Meta } from './metadata.js'
import { checkNewName, splitPath } from './names.js'
import { ownerOfNew, type ParentAttrs } from './new-owner.js'
import { ACL_ACCESS, ACL_DEFAULT, aclOfNew } from './posix-acl.js'
import type { BlockCache } from './read/block-cache.js'
import { ObjectReader } from './read/object-reader.js'
import { ReadBindings, type ReadShortcut } from './read/read-bindings.js'
import { WriteArming, type WriteShortcut } from './write/write-arming.js'
import { storedMeta, type StoredMeta } from './stored-meta.js'
import { copyObject } from './write/copy-object.js'
import type { DeleteBatcher } from './write/delete-batcher.js'
import { FileNode, type BaseObject, type RemoteReader } from './write/file-node.js'
import type { MetaWriter } from './write/meta-writer.js'
import { Uploader } from './write/uploader.js'

/** what a change of an open file's attributes needs to know of its dates */
export interface NodeDates {
  /** content is on its way: the upload will date mtime and ctime, after this change */
  contentPending: boolean
  /** the mtime it shows when none is stored */
  mtimeMs?: number
}

interface Handle {
  node: FileNode
  flags: number
  /** this handle's reader of the node's server version: its read-ahead follows this reader alone */
  reader?: ObjectReader
}

/** what a file's readers ask of the block cache: one reader per object version keeps its read-ahead across calls */
const READERS_KEPT = 64

export class OpenFiles {
  readonly uploader: Uploader
  /** the node at each path that has one (open, or with unsaved changes) */
  private readonly byPath = new Map<string, FileNode>()
  /** every node alive, named or not (unlinked, or moved off its name by another client's new version) */
  private readonly live = new Set<FileNode>()
  private readonly handles = new HandleTable<Handle>()
  private readonly uploads = new Map<FileNode, Promise<void>>()
  /** nodes being renamed: their uploads wait until the name has moved */
  private readonly moving = new Map<FileNode, Promise<void>>()
  /** unlinks waiting for an upload of the same key to land before they delete it */
  private readonly unlinking = new Map<string, Promise<void>>()
  /** nodes whose stored attributes are known (not guessed from a listing) */
  private readonly storedKnown = new WeakSet<FileNode>()
  private readonly remote: RemoteReader
  /** handles the read shortcut answers without us */
  private readonly bindings = new ReadBindings()
  /** handles whose writes the FUSE binding makes into the staging file itself */
  private readonly arming = new WriteArming()

  constructor (
    private readonly ctx: FsContext,
    private readonly cache: BlockCache,
    private readonly deletes: DeleteBatcher,
    private readonly meta: MetaWriter,
  ) {
    this.remote = this.makeRemote()
    this.uploader = new Uploader(ctx.store, this.remote, { partSize: ctx.opts.partSize, concurrency: ctx.opts.uploadConcurrency })
  }

  /** reads of bound handles are answered by `shortcut` from now on (the FUSE binding's; see read-bindings.ts) */
  attachReadShortcut (shortcut: ReadShortcut): void {
    this.bindings.attach(shortcut)
  }

  /** writes of armed handles are made by `shortcut` from now on (the FUSE binding's; see write/write-arming.ts) */
  attachWriteShortcut (shortcut: WriteShortcut): void {
    this.arming.attach(shortcut)
  }

  /** every write goes through us from now on, and those the binding made have reached us (the last save) */
  quietWrites (): Promise<void> {
    return this.arming.quietAll()
  }

  /** the shortcut answered a read of fh from cached blocks: its reader moves on as if it had read them */
  served (fh: number, position: number, length: number): void {
    this.handles.get(fh)?.reader?.served(position, length)
  }

  // ---- what others may ask

  /** the node at path, if one is there */
  node (path: string): FileNode | undefined {
    return this.byPath.get(path)
  }

  /** how many files are open or unsaved (for stats) */
  get count (): number {
    return this.live.size
  }

  /**
   * The entry at path as this mount sees it: a file being written as written
   * so far, else the namespace's, with attribute changes on their way.
   */
  async entry (path: string): Promise<Entry | undefined> {
    const node = this.byPath.get(path)
    if (node && node.state !== 'clean') return this.entryOf(node)
    const e = await this.ctx.ns.lookup(path)
    return e && this.meta.over(path, e)
  }

  /** the mode and group of the directory path is made in, as this mount sees them (new-owner.ts) */
  async parentAttrs (path: string): Promise<ParentAttrs & { defaultAcl?: Buffer } | undefined> {
    const dir = splitPath(path).parent
    const e = dir === '/' ? await this.ctx.dirs.rootEntry() : await this.entry(dir)
    if (!e) return undefined
    return { mode: e.meta?.mode ?? 0, gid: e.meta?.gid ?? this.ctx.opts.gid, defaultAcl: e.meta?.xattr?.[ACL_DEFAULT] }
  }

  /**
   * The mode, uid and gid of something new made at path (new-owner.ts), and
   * the ACLs its directory's default ACL gives it (posix-acl.ts aclOfNew):
   * known with the directory's entry, so no request. ENOSPC, as ext4 answers,
   * if they would not fit in S3's metadata.
   */
  async ownerOfNew (path: string, mode: number, caller: Caller | undefined): Promise<Pick<Meta, 'mode' | 'uid' | 'gid' | 'xattr'>> {
    const parent = await this.parentAttrs(path)
    const owner = ownerOfNew(mode, caller, this.ctx.opts, parent)
    const acl = aclOfNew(parent?.defaultAcl, owner.mode!, (owner.mode! & S_IFMT) === S_IFDIR)
    if (!acl.access && !acl.default) return { ...owner, mode: acl.mode }
    const xattr: Record<string, Buffer> = {}
    if (acl.access) xattr[ACL_ACCESS] = acl.access
    if (acl.default) xattr[ACL_DEFAULT] = acl.default
    const meta = { ...owner, mode: acl.mode, xattr }
    checkMetadataSize(encodeMeta(meta), path)
    return meta
  }

  /** the same, or ENOENT */
  async existing (path: string): Promise<Entry> {
    const e = await this.entry(path)
    if (!e) throw new FsError('ENOENT', undefined, path)
    return e
  }

  /** the attributes of an open file through its handle (it may be unlinked or not yet uploaded) */
  attrEntry (fh: number): Entry | undefined {
    const h = this.handles.get(fh)
    return h && this.entryOf(h.node)
  }

  /** the attributes this mount holds for path's open file, when they are its real ones */
  knownMeta (path: string): Meta | undefined {
    const node = this.byPath.get(path)
    return node && (node.dirty || this.storedKnown.has(node)) ? node.meta : undefined
  }

  /** names of files created in dir that the server does not have yet */
  pendingNames (dir: string): string[] {
    const out: string[] = []
    for (const node of this.byPath.values()) {
      const { parent, name } = splitPath(node.path)
      if (parent === dir && !node.base) out.push(name)
    }
    return out
  }

  /** whether a file under dir is open or unsaved (rmdir must refuse) */
  hasUnder (dir: string): boolean {
    for (const p of this.byPath.keys()) if (p.startsWith(dir + '/')) return true
    return false
  }

  private entryOf (node: FileNode): Entry {
    return {
      kind: 'file', key: node.key, size: node.size, etag: node.base?.etag,
      // a file open but not written keeps its date: a changing mtime would make
      // the kernel (auto_cache) drop its cached pages at every open
      lastModified: new Date(node.modifiedAt ?? node.baseDate ?? this.ctx.now()), meta: node.meta, metaKnown: true,
      // what the upload sends (or sent): storedMeta need not HEAD an open file
      headers: this.headersOf(node), contentType: node.contentType,
    }
  }

  private headersOf (node: FileNode): Record<string, string> {
    return { ...node.extraMeta, ...encodeMeta(node.meta) }
  }

  // ---- readers

  /** for uploads and fetches of a node's unwritten bytes: one reader per object version */
  private makeRemote (): RemoteReader {
    const readers = new Map<string, ObjectReader>()
    return {
      read: (base: BaseObject, buf: Buffer, length: number, position: number) => {
        const id = `${base.version}:${base.key}`
        let r = readers.get(id)
        if (!r) {
          if (readers.size > READERS_KEPT) readers.clear()
          readers.set(id, r = this.newReader(base))
        }
        return r.read(buf, length, position)
      },
    }
  }

  /** a handle's reads: its own reader, so two processes reading one file each keep their read-ahead */
  private remoteOf (h: Handle): RemoteReader {
    return {
      read: (base: BaseObject, buf: Buffer, length: number, position: number) => {
        if (!h.reader?.reads(base)) h.reader = this.newReader(base)
        return h.reader.read(buf, length, position)
      },
    }
  }

  private newReader (base: BaseObject): ObjectReader {
    return new ObjectReader(this.ctx.store, this.cache, base.key, base.version, base.size, {
      maxWindow: this.ctx.opts.readahead,
      // a full window is eight GETs in flight: parallel streams are what a server gives most to
      maxRequest: Math.max(this.ctx.opts.blockSize, Math.min(8 * 1024 * 1024, this.ctx.opts.readahead / 8)),
    }, base.etag)
  }

  // ---- opening

  async open (path: string, flags: number): Promise<number> {
    const wantsWrite = (flags & OpenFlags.O_ACCMODE) !== OpenFlags.O_RDONLY || (flags & OpenFlags.O_TRUNC) !== 0
    if (wantsWrite) writable(this.ctx, path)
    let node = this.byPath.get(path)
    if (node?.state === 'clean') {
      // nothing of ours in it: if another client replaced the object, a new
      // open sees the new version (the handles already open keep theirs)
      const e = await this.ctx.ns.lookup(path)
      const replaced = !e || e.kind !== 'file' || !sameEtag(e.etag, node.base?.etag)
      // a node someone writes through, or that changed meanwhile, stays the file's
      if (replaced && node.state === 'clean' && !this.hasWriter(node) && this.byPath.get(path) === node) this.byPath.delete(path)
      if (this.byPath.get(path) !== node) node = undefined
    }
    if (!node) {
      const e = await this.entry(path)
      if (!e) throw new FsError('ENOENT', undefined, path)
      if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      node = await this.acquire(path, e, wantsWrite)
    } else {
      await this.hold(node, wantsWrite)
    }
    const fh = this.handles.add({ node, flags })
    if (flags & OpenFlags.O_TRUNC && node.size > 0) {
      await node.truncate(0)
      node.modified(this.ctx.now())
    }
    return fh
  }

  /** a handle's hold on a node already there, taken before any await so it cannot be let go meanwhile */
  private async hold (node: FileNode, stored: boolean): Promise<void> {
    node.refs++
    if (!stored) return
    try {
      await this.learnStored(node)
    } catch (err) {
      await this.unref(node)
      throw err
    }
  }

  /** whether a handle open for writing holds node */
  private hasWriter (node: FileNode): boolean {
    for (const h of this.handles.values()) if (h.node === node && (h.flags & OpenFlags.O_ACCMODE) !== OpenFlags.O_RDONLY) return true
    return false
  }

  /**
   * The node of an existing file, held (refs counted) for the caller. One
   * opened for writing starts from its stored attributes (a HEAD if the
   * listing only guessed them), so a rewrite keeps them; a reader needs none.
   */
  private async acquire (path: string, e: Entry, stored: boolean): Promise<FileNode> {
    let s: StoredMeta | undefined
    if (stored) {
      s = await storedMeta(this.ctx, path, e)
      e = s.entry
    }
    // another open may have made one meanwhile: one node per file
    const other = this.byPath.get(path)
    if (other) {
      if (s) this.learn(other, s)
      await this.hold(other, stored)
      return other
    }
    const node = new FileNode({
      path, key: e.key, meta: { ...(s?.meta ?? e.meta ?? {}) }, stagingDir: this.ctx.opts.stagingDir, partSize: this.ctx.opts.partSize,
      base: { key: e.key, version: e.etag || `unknown-${e.lastModified?.getTime() ?? 0}`, etag: e.etag || undefined, size: e.size },
    })
    node.extraMeta = foreignHeaders(s?.headers ?? e.headers ?? {})
    node.contentType = s ? s.contentType : e.contentType
    node.baseDate = e.lastModified?.getTime()
    return this.register(path, node, !!s || !!(e.metaKnown && e.headers))
  }

  /** a new node at path, held once for its caller */
  private register (path: string, node: FileNode, storedKnown: boolean): FileNode {
    if (storedKnown) this.storedKnown.add(node)
    node.onReadsChanged = n => this.bindings.unbindNode(n)
    node.exclusively = fn => this.arming.exclusively(node, fn)
    node.refs++
    this.byPath.set(path, node)
    this.live.add(node)
    return node
  }

  /** a reader's node about to be written: its stored attributes first */
  private async learnStored (node: FileNode): Promise<void> {
    if (this.storedKnown.has(node) || node.dirty) return
    this.learn(node, await storedMeta(this.ctx, node.path, { kind: 'file', key: node.key, size: node.size, etag: node.base?.etag }))
  }

  /** what the server has of a node's attributes, unless it knows them already or has changes of its own */
  private learn (node: FileNode, s: StoredMeta): void {
    if (this.storedKnown.has(node) || node.dirty) return
    node.learnMeta({ ...s.meta }, foreignHeaders(s.headers), s.contentType)
    this.storedKnown.add(node)
  }

  async create (path: string, mode: number, caller?: Caller): Promise<number> {
    writable(this.ctx, path)
    checkNewName(this.ctx.names, path)
    let node = this.byPath.get(path)
    if (!node) {
      const e = await this.entry(path)
      if (e?.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      node = this.byPath.get(path)
      if (node) {
        await this.hold(node, true)
      } else if (e) {
        node = await this.acquire(path, e, true)
      } else {
        // no mtime: until utimens sets one, a file's mtime is its LastModified
        const meta: Meta = await this.ownerOfNew(path, S_IFREG | (mode & 0o7777), caller)
        // the parent's lookup may have waited: another open may have made the file meanwhile
        if (this.byPath.has(path)) return this.create(path, mode, caller)
        const fresh = new FileNode({ path, key: this.ctx.names.keyOf(path), meta, stagingDir: this.ctx.opts.stagingDir, partSize: this.ctx.opts.partSize })
        // a new object: its name's type, kept from now on (a rename or a rewrite does not change it)
        fresh.contentType = contentTypeOf(path)
        node = this.register(path, fresh, true)
        // a new name: its directory's mtime and ctime move now
        this.ctx.dirs.entryChanged(splitPath(path).parent)
      }
    } else {
      await this.hold(node, true)
    }
    if (node.size > 0 || node.base) {
      await node.truncate(0)
      node.modified(this.ctx.now())
    }
    return this.handles.add({ node, flags: OpenFlags.O_RDWR })
  }

  private handle (fh: number): Handle {
    const h = this.handles.get(fh)
    if (!h) throw new FsError('EBADF', `no open file ${fh}`)
    return h
  }

  // ---- reading and writing

  async read (fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    // the reads the shortcut answered before this one come first: the stream stays in order
    this.bindings.drain()
    const h = this.handle(fh)
    const node = h.node
    try {
      const n = await node.read(this.remoteOf(h), buf, length, position)
      // the next ones may skip us. A change that came while this read was on
      // its way left the node reading more than its base (or a new base,
      // which this handle's reader does not read): then nothing is bound.
      this.bindIfAsIs(fh, h)
      return n
    } catch (err) {
      if (errnoOf(err) === 'ESTALE') {
        // what the namespace holds of the name is that old version too: ask again at the next open
        if (this.byPath.get(node.path) === node) this.ctx.ns.stale(node.path)
        log.warn(`${node.path}: the version opened is no longer on the server (another client replaced or removed it); reads of this open file fail with ESTALE, open it again for the new one`)
      }
      throw err
    }
  }

  /** binds the handle to its reader's cached object, if its file reads the server's bytes as they are */
  private bindIfAsIs (fh: number, h: Handle): void {
    const node = h.node
    if (!this.bindings.on || this.handles.get(fh) !== h || !node.readsBaseAsIs || !h.reader?.reads(node.base!)) return
    const object = this.cache.numberOf(h.reader.object)
    if (object !== undefined) this.bindings.bind(fh, node, object)
  }

  async write (fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    const h = this.handle(fh)
    const node = h.node
    if ((h.flags & OpenFlags.O_ACCMODE) === OpenFlags.O_RDONLY) throw new FsError('EBADF', 'not open for writing', node.path)
    const appending = (h.flags & OpenFlags.O_APPEND) !== 0
    const at = appending ? node.size : position
    const n = await node.write(buf, length, at)
    // its next writes may go straight into the staging file (an appender's offset is ours to choose)
    if (!appending && this.handles.get(fh) === h) this.arming.arm(fh, node, node.stagingFd)
    return await this.afterWrite(node, n)
  }

  /**
   * The FUSE binding made fh's write into the staging file itself (an armed
   * handle): `result` bytes of [position, position + length) went, or it
   * failed with -result. Recorded before it is answered, as write()'s own.
   */
  async written (fh: number, result: number, length: number, position: number): Promise<number> {
    this.arming.saw(fh)
    if (result < 0) throw new FsError(errnoName(-result), `staging file write failed (${errnoName(-result)})`)
    const h = this.handle(fh)
    h.node.wrote(position, Math.min(result, length))
    return await this.afterWrite(h.node, result)
  }

  private async afterWrite (node: FileNode, n: number): Promise<number> {
    node.modified(this.ctx.now())
    // early parts go out under the node's key: not while a rename moves it
    if (!node.unlinked && !this.moving.has(node)) {
      const headers = (): Record<string, string> => this.headersOf(node)
      this.uploader.afterWrite(node, headers)
      await this.uploader.drain(node)
    }
    return n
  }


  async ftruncate (fh: number, size: number): Promise<void> {
    const h = this.handle(fh)
    if ((h.flags & OpenFlags.O_ACCMODE) === OpenFlags.O_RDONLY) throw new FsError('EBADF', 'not open for writing', h.node.path)
    await h.node.truncate(size)
    h.node.modified(this.ctx.now())
  }

  /** truncate(2) of a path: through the node there, or a node of its own for the time it takes */
  async truncate (path: string, size: number): Promise<void> {
    writable(this.ctx, path)
    let node = this.byPath.get(path)
    if (node) {
      await this.hold(node, true)
    } else {
      const e = await this.entry(path)
      if (!e) throw new FsError('ENOENT', undefined, path)
      if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
      if (size === e.size && !this.byPath.get(path)) return
      node = await this.acquire(path, e, true)
    }
    try {
      await node.truncate(size)
      node.modified(this.ctx.now())
    } finally {
      // saved once nobody else holds it: their close saves it otherwise
      await this.unref(node)
    }
  }

  // ---- saving

  async flush (fh: number): Promise<void> {
    const { node } = this.handle(fh)
    // dd and touch close a duplicate of a new file's descriptor before writing
    // to it: an empty new file goes out at release (or fsync), not as an empty
    // object a moment before the real one
    if (!node.isFreshEmpty()) await this.save(node)
  }

  async fsync (fh: number, _datasync: boolean): Promise<void> {
    await this.save(this.handle(fh).node)
  }

  async release (fh: number): Promise<void> {
    const h = this.handles.remove(fh)
    if (!h) return
    // the number may be another file's next: nothing of this one may answer it
    this.bindings.unbind(fh, h.node)
    await this.arming.release(fh)
    await this.unref(h.node)
  }

  /** one handle fewer: the last one saves the node (again, while changes came during its upload) and lets it go */
  private async unref (node: FileNode): Promise<void> {
    node.refs--
    if (node.refs > 0) return
    try {
      while (node.refs === 0 && node.dirty && !node.unlinked) await this.save(node)
    } finally {
      if (node.refs === 0 && (!node.dirty || node.unlinked)) await this.drop(node)
    }
  }

  private async drop (node: FileNode): Promise<void> {
    if (this.byPath.get(node.path) === node) this.byPath.delete(node.path)
    this.live.delete(node)
    await this.uploader.abort(node)
    await node.close()
  }

  /** uploads a node's changes; one upload per node at a time, none while it is being renamed (but the rename's own) */
  async save (node: FileNode, renaming = false): Promise<void> {
    for (;;) {
      const moving = renaming ? undefined : this.moving.get(node)
      if (moving) { await moving; continue }
      const running = this.uploads.get(node)
      if (running) { await running.catch(() => {}); continue }
      if (!node.dirty || node.unlinked) return
      const p = this.upload(node)
      this.uploads.set(node, p)
      try { await p } finally { this.uploads.delete(node) }
      return
    }
  }

  private async upload (node: FileNode): Promise<void> {
    const mark = node.beginUpload()
    try {
      await this.unlinking.get(node.key)
      await this.deletes.before(node.key)
      // the upload carries the attributes: a change on its way lands first
      await this.meta.before(node.path)
      const headers = this.headersOf(node)
      if (!node.contentDirty && node.base) {
        // attributes alone changed (chmod while the upload ran): set them in place
        const base = node.base
        const r = await copyObject(this.ctx.store, base.key, base.key, base.size, {
          metadata: headers, contentType: node.contentType, priority: Priority.Data, sourceIfMatch: base.etag,
        }).catch(err => {
          if (errnoOf(err) !== 'ESTALE') throw err
          log.warn(`${node.path} was replaced on the server by another client: its attribute change was not applied`)
          return undefined
        })
        node.metaSaved(mark, r?.etag || undefined)
        if (r && !node.unlinked) this.landed(node, headers, r.etag || base.etag || '', base.size, r.lastModified ?? r.serverDate)
        return
      }
      const r = await this.uploader.flush(node, headers, node.contentType)
      node.uploaded({ key: node.key, version: r.etag, etag: r.etag || undefined, size: r.size }, mark)
      if (!node.unlinked) this.landed(node, headers, r.etag, r.size, r.serverDate)
    } catch (err) {
      node.uploadFailed()
      throw err
    }
  }

  /** tells the namespace what the server now has at the node's name */
  private landed (node: FileNode, headers: Record<string, string>, etag: string, size: number, date?: Date): void {
    this.ctx.ns.changed(node.path, {
      kind: 'file', key: node.key, size, etag,
      lastModified: date ?? new Date(this.ctx.now()), meta: { ...node.meta }, metaKnown: true,
      headers, contentType: node.contentType,
    })
  }

  /** uploads every file with unsaved changes; the paths that failed, with why */
  async saveAll (): Promise<string[]> {
    const failures: string[] = []
    await Promise.all([...this.live].map(n => this.save(n).catch(err => {
      // the bytes are not lost: say where they are, for after the process ends
      const kept = n.stagingFile ? ` (the bytes written stay in ${n.stagingFile})` : ''
      failures.push(`${n.path}: ${(err as Error).message}${kept}`)
    })))
    return failures
  }

  /** bytes of open files not yet on the server (for stats) */
  dirtyBytes (): number {
    let n = 0
    for (const node of this.live) if (node.dirty && !node.unlinked) n += node.size
    return n
  }

  // ---- what others tell

  /**
   * chmod, chown, utimens or xattrs of path. A file whose content or whose
   * upload is still on its way takes the change itself (the upload, or one
   * after it, carries it): true. Otherwise false, and the caller rewrites the
   * object's metadata; a clean node there learns the new attributes too.
   */
  changeMeta (path: string, change: (m: Meta, node: NodeDates) => Meta): boolean {
    const node = this.byPath.get(path)
    if (!node) return false
    if (node.dirty || node.isUploading) {
      const next = change(node.meta, { contentPending: node.contentDirty, mtimeMs: node.modifiedAt ?? node.baseDate })
      checkMetadataSize({ ...node.extraMeta, ...encodeMeta(next) }, path)
      node.setMeta(next)
      return true
    }
    return false
  }

  /** the attributes the caller stored for path: a clean node there holds them too */
  metaStored (path: string, meta: Meta): void {
    const node = this.byPath.get(path)
    if (node && !node.dirty) node.learnMeta({ ...meta }, node.extraMeta, node.contentType)
  }

  /**
   * The name path is going away: an unlink (which deletes `deleteKey`), or a
   * rename over it (whose copy replaces the object). A node there stops being
   * the file's: nothing of it is uploaded again, an upload already on its way
   * lands first, and if it is still open it then fetches what only the server
   * has of it, so it stays readable to the last close. The delete is queued
   * before a new file at the same name may start its upload, so it never
   * deletes that one.
   */
  async unlinked (path: string, deleteKey?: string): Promise<void> {
    const node = this.byPath.get(path)
    if (!node) {
      if (deleteKey) this.deletes.delete(deleteKey)
      return
    }
    this.byPath.delete(path)
    node.unlink()
    this.meta.take(path)
    const key = node.key
    const wait = (async () => {
      await this.uploads.get(node)?.catch(() => {})
      await this.uploader.abort(node)
      if (node.refs > 0) {
        // from the version now on the server (our own upload may just have landed)
        await node.materialize(this.remote, 0, node.size).catch(err => {
          log.warn(`${path}: removed while open, and what only the server had of it could not be fetched first (${(err as Error).message}); reads of it through open handles may fail`)
        })
      }
      if (deleteKey && node.base) this.deletes.delete(deleteKey)
    })()
    this.unlinking.set(key, wait)
    try { await wait } finally { if (this.unlinking.get(key) === wait) this.unlinking.delete(key) }
    if (node.refs === 0) await this.drop(node)
  }

  /**
   * Renames path's node (if any) around `copy` (which moves the object and
   * says its new ETag): the node's changes reach the server first, and no
   * upload of it, nor early part, starts until its name has moved.
   */
  async moveFile (from: string, to: string, toKey: string, copy: () => Promise<string | undefined>): Promise<void> {
    const node = this.byPath.get(from)
    if (!node) { await copy(); return }
    await this.whileMoving([node], async () => {
      await this.save(node, true)
      const etag = await copy()
      this.renamed(from, to, toKey, etag)
    })
  }

  /** a directory renamed by `move` (which says each new key's ETag): its open files' uploads wait for it, then follow */
  async moveTree (from: string, to: string, move: () => Promise<Map<string, string>>): Promise<void> {
    const nodes = [...this.byPath.values()].filter(n => n.path.startsWith(from + '/'))
    await this.whileMoving(nodes, async () => {
      await Promise.all(nodes.map(n => this.save(n, true)))
      this.renamedTree(from, to, await move())
    })
  }

  private async whileMoving (nodes: FileNode[], work: () => Promise<void>): Promise<void> {
    let done!: () => void
    const gate = new Promise<void>(resolve => { done = resolve })
    for (const n of nodes) this.moving.set(n, gate)
    try {
      await work()
    } finally {
      for (const n of nodes) if (this.moving.get(n) === gate) this.moving.delete(n)
      done()
    }
  }

  /** path's object was copied in place from version `was` (new attributes): a node reading that version pins the copy */
  recopied (path: string, was: string | undefined, now: string): void {
    const node = this.byPath.get(path)
    if (node && was && sameEtag(node.base?.etag, was)) node.recopied(now)
  }

  /** a file renamed: its node (if any) follows, under its new key and the copy's ETag */
  private renamed (from: string, to: string, toKey: string, etag?: string): void {
    const node = this.byPath.get(from)
    if (!node) return
    this.byPath.delete(from)
    node.moveTo(to, toKey, etag)
    this.byPath.set(to, node)
  }

  /** a directory renamed: the nodes below it follow, under the copies' ETags (by new key) */
  private renamedTree (from: string, to: string, etags: Map<string, string>): void {
    const moving = [...this.byPath.values()].filter(n => n.path.startsWith(from + '/'))
    for (const node of moving) this.byPath.delete(node.path)
    for (const node of moving) {
      const path = to + node.path.slice(from.length)
      const key = this.ctx.names.keyOf(path)
      node.moveTo(path, key, etags.get(key))
      this.byPath.set(path, node)
    }
  }
}
