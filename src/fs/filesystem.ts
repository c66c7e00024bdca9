// The filesystem proper: each FUSE operation as an async method that throws
// FsError. Names come from the Namespace (listings, windows, caches); open
// files, their life and their uploads are OpenFiles'; name changes TreeOps';
// attributes AttrOps', extended ones XattrOps'. This file only builds them and
// routes calls: each part gets the shared context and the owners it asks,
// never this object.
import type { ObjectStore } from '../s3/store.js'
import { FsError } from '../errors.js'
import type { Attr, Caller, ExactTimes, FileSystem, StatFs } from './api.js'
import { attrOf, rootEntry, type AttrDefaults } from './attrs.js'
import { AttrIndex, INDEX_TTL_MS } from './attr-index.js'
import { AttrOps } from './attr-ops.js'
import { XattrOps } from './xattr-ops.js'
import { defaultMode, writable, type CoreOptions, type FsContext } from './context.js'
import type { Entry } from './entry.js'
import { HeadMetaSource } from './meta-head.js'
import { Namespace, type MetaSource } from './namespace.js'
import { INDEX_SUFFIX, NAME_MAX, Names, splitPath } from './names.js'
import { OpenFiles } from './open-files.js'
import { BlockCache } from './read/block-cache.js'
import type { ReadShortcut } from './read/read-bindings.js'
import type { WriteShortcut } from './write/write-arming.js'
import { RenameJournal, type RecoveryReport } from './rename-journal.js'
import { SpecialFiles } from './special-files.js'
import { TreeOps } from './tree-ops.js'
import { DeleteBatcher } from './write/delete-batcher.js'
import { DirTimes } from './write/dir-times.js'
import { MetaWriter } from './write/meta-writer.js'
import { monotonic } from '../util/clock.js'

export type FsOptions = CoreOptions & {
  /** a MetaSource other than the default (the attribute index plugs in here) */
  metaSource?: MetaSource
  /** wall time, ms since the epoch: mtimes of files we write (tests fix it) */
  now?: () => number
  /** the clock TTLs are measured on (util/clock.ts): never steps back (tests move it) */
  monotonic?: () => number
  /** how often a running directory rename rewrites its journal (tests shorten it) */
  journalBeatMs?: number
}

export class OortFs implements FileSystem {
  readonly names: Names
  readonly ns: Namespace
  readonly cache: BlockCache
  readonly deletes: DeleteBatcher
  readonly meta: MetaWriter
  readonly files: OpenFiles
  readonly tree: TreeOps
  readonly attrs: AttrOps
  readonly xattrs: XattrOps
  readonly special: SpecialFiles
  readonly journal: RenameJournal
  readonly dirs: DirTimes
  readonly now: () => number
  readonly monotonic: () => number
  private readonly ctx: FsContext
  private readonly defaults: AttrDefaults

  constructor (readonly store: ObjectStore, readonly opts: FsOptions) {
    this.now = opts.now ?? Date.now
    this.monotonic = opts.monotonic ?? monotonic
    this.names = new Names(opts.prefix)
    const meta = opts.metaSource ?? (opts.metaMode === 'head'
      ? new HeadMetaSource(store)
      : new AttrIndex(store, {
        uid: opts.uid, gid: opts.gid, mode: kind => defaultMode(this.ctx, kind),
      }, { ttlMs: Math.max(opts.attrTtlMs, INDEX_TTL_MS), now: this.monotonic, indexKey: dir => this.names.indexKey(dir), readOnly: opts.readOnly }))
    this.ns = new Namespace(store, this.names, {
      ttlMs: opts.attrTtlMs, now: this.monotonic, meta, maxEntries: opts.listCacheEntries,
      // the batcher is made below; asked only once listings come back
      deletedSince: (key, at) => this.deletes.deletedSince(key, at),
      keeps: dir => this.dirs.keeps(dir),
    })
    // the directory times are made below, after the delete batcher they wait for
    this.ctx = { store, names: this.names, ns: this.ns, opts, now: this.now, dirs: { entryChanged: dir => this.dirs.entryChanged(dir), rootEntry: () => this.dirs.rootEntry() } }
    // read-ahead in flight counts against the cache's memory
    const cacheBytes = Math.max(opts.cacheSize - opts.readahead, 8 * opts.blockSize)
    this.cache = new BlockCache({ maxBytes: cacheBytes, blockSize: opts.blockSize, aheadBytes: opts.cacheSize - cacheBytes })
    this.defaults = { uid: opts.uid, gid: opts.gid, umask: opts.umask, mountTime: new Date(this.now()) }
    // a delete given up: the server still has the object, so the name must show again
    this.deletes = new DeleteBatcher(store, { now: this.monotonic, lost: key => this.ns.stale(this.names.pathOfKey(key.endsWith('/') ? key.slice(0, -1) : key)) })
    const ns = this.ns
    this.meta = new MetaWriter(store, {
      previous: path => ns.previous(path),
      noted: (path, e) => ns.noted(path, e),
      changed: (path, e) => ns.changed(path, e),
      stale: path => ns.stale(path),
      // the open files are made after the writer they use: asked only once a copy lands
      recopied: (path, was, now) => this.files.recopied(path, was, now),
    })
    this.journal = new RenameJournal(store, opts.journalBeatMs, this.names.prefix)
    this.dirs = new DirTimes({
      store, names: this.names, now: this.now, readOnly: opts.readOnly,
      // the attribute ops are made below; asked only once a write is due
      storeDir: (dir, change, checkGone) => this.attrs.storeDir(dir, change, checkGone),
      deletesBefore: key => this.deletes.before(key),
      dirMode: defaultMode(this.ctx, 'dir'),
      shownMtime: e => attrOf(e, this.defaults).mtime.getTime(),
    })
    this.files = new OpenFiles(this.ctx, this.cache, this.deletes, this.meta)
    this.attrs = new AttrOps(this.ctx, this.files, this.meta, this.deletes, this.dirs)
    this.xattrs = new XattrOps(this.ctx, this.files, this.dirs, (path, change) => this.attrs.setMeta(path, change))
    this.tree = new TreeOps(this.ctx, this.files, this.meta, this.deletes, this.journal, this.dirs)
    this.special = new SpecialFiles(this.ctx, this.files, this.deletes, this.dirs)
  }

  /**
   * The mount's first request: lists the rename journal (proving bucket and
   * keys) and finishes any directory rename a crash cut short.
   */
  async start (progress?: () => void): Promise<RecoveryReport> {
    return await this.journal.recover({ progress, readOnly: this.opts.readOnly })
  }

  writable (path: string): void {
    writable(this.ctx, path)
  }

  // ---- names and attributes

  /** the entry at path, or ENOENT; files being written count; a directory's times as they moved */
  async entry (path: string): Promise<Entry> {
    if (path === '/') return rootEntry(this.opts.prefix)
    if (splitPath(path).name.endsWith(INDEX_SUFFIX)) throw new FsError('ENOENT', undefined, path)
    const e = await this.files.existing(path)
    return e.kind === 'dir' ? this.dirs.over(path, e) : e
  }

  attr (entry: Entry, path: string): Attr {
    return attrOf(entry, this.defaults, entry.kind === 'dir' ? this.subdirs(path) : undefined)
  }

  /**
   * A directory's subdirectories, from a listing of it held fresh (no request
   * for them); undefined without one. Not from an older listing: another
   * client may have made a subdirectory since, and a count too low may make
   * find skip it (attrs.ts). A stat of a directory known before lists it
   * anyway once its answer is old (namespace.ts, find).
   */
  private subdirs (dir: string): number | undefined {
    const listing = this.ns.cache.listing(dir)
    if (!listing) return undefined
    let n = 0
    for (const e of listing.values()) if (e.kind === 'dir') n++
    return n
  }

  async getattr (path: string): Promise<Attr> {
    // the root's attributes are read (once) only when asked for: a readdir needs none
    return this.attr(path === '/' ? await this.dirs.rootEntry() : await this.entry(path), path)
  }

  async fgetattr (path: string, fh: number): Promise<Attr> {
    const e = this.files.attrEntry(fh)
    return e ? this.attr(e, path) : this.getattr(path)
  }

  async readdir (path: string): Promise<string[]> {
    const e = await this.entry(path)
    if (e.kind !== 'dir') throw new FsError('ENOTDIR', undefined, path)
    const names = new Set((await this.ns.list(path)).keys())
    // files created here but not uploaded yet, and directories whose marker is about to be made
    for (const name of this.files.pendingNames(path)) names.add(name)
    for (const name of this.dirs.keptIn(path)) names.add(name)
    return [...names]
  }

  // ---- open files (open-files.ts)

  open (path: string, flags: number): Promise<number> { return this.files.open(path, flags) }
  create (path: string, mode: number, caller?: Caller): Promise<number> { return this.files.create(path, mode, caller) }
  read (fh: number, buf: Buffer, length: number, position: number): Promise<number> { return this.files.read(fh, buf, length, position) }
  write (fh: number, buf: Buffer, length: number, position: number): Promise<number> { return this.files.write(fh, buf, length, position) }
  flush (fh: number): Promise<void> { return this.files.flush(fh) }
  fsync (fh: number, datasync: boolean): Promise<void> { return this.files.fsync(fh, datasync) }
  release (fh: number): Promise<void> { return this.files.release(fh) }
  truncate (path: string, size: number): Promise<void> { return this.files.truncate(path, size) }
  ftruncate (fh: number, size: number): Promise<void> { return this.files.ftruncate(fh, size) }

  // ---- the FUSE binding's shortcuts (read/read-bindings.ts, write/write-arming.ts)

  /**
   * Reads may be answered without the core from now on, by the FUSE binding's
   * read shortcut: the cache mirrors its blocks there, the open files bind
   * the handles it may answer (read/read-bindings.ts). It tells served().
   */
  attachReadShortcut (shortcut: ReadShortcut): void {
    this.cache.mirrorTo(shortcut)
    this.files.attachReadShortcut(shortcut)
  }

  written (fh: number, result: number, length: number, position: number): Promise<number> {
    this.shortcutWrites++
    return this.files.written(fh, result, length, position)
  }

  /** writes of armed handles are made by the FUSE binding from now on (write/write-arming.ts) */
  attachWriteShortcut (shortcut: WriteShortcut): void {
    this.files.attachWriteShortcut(shortcut)
  }

  quietWrites (): Promise<void> {
    return this.files.quietWrites()
  }

  /** writes the binding made itself (stats) */
  shortcutWrites = 0

  /** reads the shortcut answered (stats) */
  shortcutReads = 0

  /** the shortcut answered a read of fh from cached blocks */
  served (fh: number, position: number, length: number): void {
    this.shortcutReads++
    this.files.served(fh, position, length)
  }

  // ---- names (tree-ops.ts)

  async unlink (path: string): Promise<void> { this.writable(path); await this.tree.unlink(path) }
  async mkdir (path: string, mode: number, caller?: Caller): Promise<void> { this.writable(path); await this.tree.mkdir(path, mode, caller) }
  async rmdir (path: string): Promise<void> { this.writable(path); await this.tree.rmdir(path) }
  async rename (from: string, to: string): Promise<void> { this.writable(from); await this.tree.rename(from, to) }
  async symlink (target: string, path: string, caller?: Caller): Promise<void> { this.writable(path); await this.tree.symlink(target, path, caller) }
  // FIFOs, devices and sockets (special-files.ts)
  async mknod (path: string, mode: number, rdev: number, caller?: Caller): Promise<void> { this.writable(path); await this.special.mknod(path, mode, rdev, caller) }

  // ---- attributes (attr-ops.ts)

  readlink (path: string): Promise<string> { return this.attrs.readlink(path) }
  chmod (path: string, mode: number): Promise<void> { return this.attrs.chmod(path, mode) }
  chown (path: string, uid: number, gid: number): Promise<void> { return this.attrs.chown(path, uid, gid) }
  utimens (path: string, atimeMs: number, mtimeMs: number, exact?: ExactTimes): Promise<void> { return this.attrs.utimens(path, atimeMs, mtimeMs, exact) }
  setxattr (path: string, name: string, value: Buffer, flags: number): Promise<void> { return this.xattrs.setxattr(path, name, value, flags) }
  getxattr (path: string, name: string): Promise<Buffer | undefined> { return this.xattrs.getxattr(path, name) }
  listxattr (path: string): Promise<string[]> { return this.xattrs.listxattr(path) }
  removexattr (path: string, name: string): Promise<void> { return this.xattrs.removexattr(path, name) }

  async statfs (_path: string): Promise<StatFs> {
    // a bucket has no size limit: large round numbers keep df and cp's space checks happy
    const blocks = 2 ** 40
    // names reach the longest FUSE passes whole (names.ts): find, cp and pathconf(_PC_NAME_MAX) read it here
    return { bsize: 1 << 20, frsize: 4096, blocks, bfree: blocks, bavail: blocks, files: 2 ** 40, ffree: 2 ** 40, favail: 2 ** 40, fsid: 0x0075fa, flag: 0, namemax: NAME_MAX }
  }

  async flushAll (): Promise<void> {
    const failures = await this.files.saveAll()
    await this.files.uploader.retryAborts()
    await this.tree.flushPending().catch(err => { failures.push((err as Error).message) })
    // before the indexes: each directory written tells its parent's index
    await this.dirs.flush().catch(err => { failures.push((err as Error).message) })
    await this.ns.flushMeta().catch(err => { failures.push(`attribute index: ${(err as Error).message}`) })
    if (failures.length) throw new FsError('EIO', `could not save ${failures.length} item(s): ${failures.join('; ')}`)
  }

  dirtyBytes (): number {
    return this.files.dirtyBytes()
  }
}
