// Changes to names: unlink, mkdir, rmdir, rename (files and whole
// directories), symlink. An open file's node is told (open-files.ts owns it);
// nothing here edits one.
import type { Caller } from './api.js'
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import { DIRECTORY_TYPE, SYMLINK_TYPE } from './content-type.js'
import type { FsContext } from './context.js'
import type { Entry } from './entry.js'
import { decodeMeta, encodeMeta, foreignHeaders, METADATA_MAX_BYTES, metadataBytes, S_IFDIR, S_IFLNK, type Meta } from './metadata.js'
import { checkNewName, INDEX_SUFFIX, KEY_MAX, keyFits, SHADOWED_FILE_SUFFIX, splitPath } from './names.js'
import { isDirObject, movedDirObject } from './dir-objects.js'
import { storedMeta } from './stored-meta.js'
import type { OpenFiles } from './open-files.js'
import type { RenameJournal } from './rename-journal.js'
import type { DeleteBatcher } from './write/delete-batcher.js'
import { copyObject } from './write/copy-object.js'
import type { DirTimes } from './write/dir-times.js'
import type { MetaWriter } from './write/meta-writer.js'
import { log } from '../util/log.js'

const RENAME_CONCURRENCY = 16

export class TreeOps {
  constructor (
    private readonly ctx: FsContext,
    private readonly files: OpenFiles,
    private readonly meta: MetaWriter,
    private readonly deletes: DeleteBatcher,
    private readonly journal: RenameJournal,
    private readonly dirs: DirTimes,
  ) {}

  /** an entry of path's directory was created, removed or renamed: its mtime and ctime move */
  private parentChanged (path: string): void {
    this.dirs.entryChanged(splitPath(path).parent)
  }

  private get ns () { return this.ctx.ns }
  private get store () { return this.ctx.store }

  private async mustNotExist (path: string, kind: 'file' | 'dir'): Promise<void> {
    checkNewName(this.ctx.names, path, kind)
    if (await this.files.entry(path)) throw new FsError('EEXIST', undefined, path)
  }

  /** attributes of something new: the caller's (new-owner.ts); a file's dates are the object's LastModified */
  private baseMeta (path: string, mode: number, caller: Caller | undefined): Promise<Meta> {
    return this.files.ownerOfNew(path, mode, caller)
  }

  async unlink (path: string): Promise<void> {
    const e = await this.files.existing(path)
    if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
    this.meta.take(path)
    // an open file stays readable to its last close; an upload on its way lands first
    await this.files.unlinked(path, e.key)
    // a file created at the name meanwhile is that name's now
    if (!this.files.node(path)) this.ns.changed(path, undefined)
    this.parentChanged(path)
  }

  async mkdir (path: string, mode: number, caller?: Caller): Promise<void> {
    await this.mustNotExist(path, 'dir')
    // a directory's listing shows no date: its times are stored from the start
    const now = this.ctx.now()
    const meta: Meta = { ...await this.baseMeta(path, S_IFDIR | (mode & 0o7777), caller), mtimeMs: now, ctimeMs: now }
    const key = this.ctx.names.dirPrefix(path)
    const headers = encodeMeta(meta)
    await this.deletes.before(key)
    const r = await this.store.put(key, Buffer.alloc(0), { metadata: headers, contentType: DIRECTORY_TYPE, priority: Priority.Metadata })
    const entry: Entry = { kind: 'dir', key, size: 0, lastModified: r.serverDate ?? new Date(), meta, metaKnown: true, headers, contentType: DIRECTORY_TYPE }
    this.ns.changed(path, entry)
    // nothing was under the name (we looked), so the new directory is empty
    this.ns.madeDir(path, { ...entry, kind: 'file', etag: r.etag })
    this.parentChanged(path)
  }

  async symlink (target: string, path: string, caller?: Caller): Promise<void> {
    await this.mustNotExist(path, 'file')
    const meta = await this.baseMeta(path, S_IFLNK | 0o777, caller)
    const key = this.ctx.names.keyOf(path)
    const headers = encodeMeta(meta)
    const body = Buffer.from(target)
    await this.deletes.before(key)
    const r = await this.store.put(key, body, { metadata: headers, contentType: SYMLINK_TYPE, priority: Priority.Metadata })
    this.ns.changed(path, {
      kind: 'file', key, size: body.length, etag: r.etag, lastModified: r.serverDate ?? new Date(),
      meta, metaKnown: true, headers, contentType: SYMLINK_TYPE, target,
    })
    this.parentChanged(path)
  }

  async rmdir (path: string): Promise<void> {
    if (path === '/') throw new FsError('EBUSY', 'the mount root', path)
    const e = await this.files.existing(path)
    if (e.kind !== 'dir') throw new FsError('ENOTDIR', undefined, path)
    if (this.files.hasUnder(path)) throw new FsError('ENOTEMPTY', undefined, path)
    // a subdirectory emptied here, its marker (its new times) still to be made, is a child still
    if (this.dirs.keptIn(path).length > 0) throw new FsError('ENOTEMPTY', undefined, path)
    const cached = this.ns.cache.listing(path)
    if (cached && cached.size > 0) throw new FsError('ENOTEMPTY', undefined, path)
    const prefix = e.key
    const indexKey = this.ctx.names.indexKey(path)
    const object = await this.foreignObject(path, e)
    // what this rmdir needs gone: its children (rm -r), its marker, its index, another tool's object for it; others' failures are not its own
    const mine = (key: string): boolean => key.startsWith(prefix) || key === indexKey || key === object
    // a fresh full listing always shows the marker (every listing that makes
    // one starts at the directory's own key, whatever its children's names)
    let marker = !!this.ns.cache.marker(path)
    if (!cached) {
      // no fresh listing: the server decides, once the children's deletes have landed
      await this.deletes.flush(mine)
      const page = await this.store.list({ prefix, maxKeys: 3 }, { priority: Priority.Metadata })
      if (page.objects.some(o => o.key !== prefix)) throw new FsError('ENOTEMPTY', undefined, path)
      marker = page.objects.length > 0
    }
    // a marker our directory times made after the listing was cached goes too
    if (await this.dirs.removed(path)) marker = true
    // the children's deletes (rm -r), the marker and the index: one batch
    if (marker) this.deletes.delete(prefix)
    if (this.ns.hasIndex(path) !== false) this.deletes.delete(indexKey)
    if (object) this.deletes.delete(object)
    await this.deletes.flush(mine)
    this.ns.changed(path, undefined)
    if (object === prefix.slice(0, -1)) this.ns.changed(path + SHADOWED_FILE_SUFFIX, undefined)
    this.ns.forgetTree(path)
    this.parentChanged(path)
  }

  /**
   * The directory's own object in another tool's form (dir-objects.ts), if
   * any: the entry names it, or a zero-byte `dir.oortfs-file` beside the
   * directory, not yet HEADed, may be it (one HEAD tells).
   */
  private async foreignObject (path: string, e: Entry): Promise<string | undefined> {
    if (e.object) return e.object
    const shadow = this.ns.previous(path + SHADOWED_FILE_SUFFIX)
    if (shadow?.kind !== 'file' || shadow.size !== 0 || shadow.key !== e.key.slice(0, -1)) return undefined
    if (shadow.metaKnown) return isDirObject(shadow) ? shadow.key : undefined
    const h = await this.store.head(shadow.key, { priority: Priority.Metadata })
    const headed: Entry | undefined = h && { ...shadow, size: h.size, meta: decodeMeta(h.metadata), metaKnown: true, contentType: h.contentType }
    return headed && isDirObject(headed) ? headed.key : undefined
  }

  async rename (from: string, to: string): Promise<void> {
    if (from === to) return
    checkNewName(this.ctx.names, to)
    if (to.startsWith(from + '/')) throw new FsError('EINVAL', 'cannot move a directory into itself', to)
    let src = await this.files.existing(from)
    // a directory's new key is its marker's, one byte longer
    if (src.kind === 'dir') checkNewName(this.ctx.names, to, 'dir')
    const dst = await this.files.entry(to)
    if (src.kind === 'dir') {
      if (dst && dst.kind !== 'dir') throw new FsError('ENOTDIR', undefined, to)
      if (dst) await this.rmdir(to) // POSIX: an empty directory may be replaced; rmdir says ENOTEMPTY otherwise
      src = { ...src, object: await this.foreignObject(from, src) }
      await this.renameDir(from, to, src)
    } else {
      if (dst?.kind === 'dir') throw new FsError('EISDIR', undefined, to)
      await this.renameFile(from, to, src)
    }
    this.parentChanged(from)
    this.parentChanged(to)
  }

  private async renameFile (from: string, to: string, src: Entry): Promise<void> {
    const toKey = this.ctx.names.keyOf(to)
    // an open file's changes reach the server first, and none of its uploads start until it has moved
    await this.files.moveFile(from, to, toKey, async () => {
      src = await this.files.existing(from)
      // the destination's own pending attributes die with it (before() takes them); an open one stays readable
      await this.meta.before(to)
      await this.files.unlinked(to)
      await this.deletes.before(toKey)
      // attributes set just before (rsync, editors) ride along in the same copy,
      // pinned to the version they were computed for; one already on its way
      // lands first, so the copy takes what it wrote
      const pending = this.meta.take(from)
      await this.meta.before(from)
      // a rename sets ctime and keeps mtime: the copy must carry them (its new
      // LastModified would otherwise become the mtime of a file that stored none)
      const was = pending
        ? { entry: pending.entry, headers: pending.headers, contentType: pending.contentType }
        : await storedMeta(this.ctx, from, src)
      const meta: Meta = { ...was.entry.meta, mtimeMs: was.entry.meta?.mtimeMs ?? src.lastModified?.getTime(), ctimeMs: this.ctx.now() }
      let headers: Record<string, string> | undefined = { ...foreignHeaders(was.headers), ...encodeMeta(meta) }
      // no room for the times in S3's metadata: the object moves as it is
      if (metadataBytes(headers) > METADATA_MAX_BYTES) headers = pending?.headers
      const r = await copyObject(this.store, src.key, toKey, src.size,
        headers ? { metadata: headers, contentType: was.contentType, sourceIfMatch: was.entry.etag ?? src.etag } : {})
      this.deletes.delete(src.key)
      const moved: Entry = { ...was.entry, key: toKey, ...(headers ? { meta: headers === pending?.headers ? pending.entry.meta : meta, metaKnown: true, headers } : {}) }
      this.ns.changed(to, { ...moved, etag: r.etag || src.etag, lastModified: r.lastModified ?? src.lastModified })
      this.ns.changed(from, undefined)
      if (moved.meta) this.files.metaStored(from, moved.meta)
      return r.etag || undefined
    })
  }

  /**
   * Copies every key under the old prefix, then deletes the originals: a rename
   * cut short leaves each byte reachable under the old name or the new one.
   */
  private async renameDir (from: string, to: string, src: Entry): Promise<void> {
    const fromPrefix = src.key
    const toPrefix = this.ctx.names.dirPrefix(to)
    // open files below: saved first, and no upload of theirs starts until they have moved;
    // times of directories below land first, then follow (the directory's ctime moves)
    await this.dirs.moveTree(from, to, () => this.files.moveTree(from, to, async () => {
      // its own pending deletes and attribute changes first (others' failures are not this rename's)
      await Promise.all([this.deletes.flush(key => key.startsWith(fromPrefix)), this.meta.flush(true)])
      // the attribute indexes go with the keys, as the server has them: records still
      // waiting for their debounced write (a chmod, a mknod just before) would be lost,
      // and the files below would show the defaults. One that cannot be written is
      // logged; the rename goes on (each object's own headers stay the truth)
      await this.ns.flushMeta().catch(() => {})
      // listed before the journal: a key the new name would take over S3's
      // 1,024 bytes refuses the rename whole, before anything is copied
      const keys = await this.keysUnder(fromPrefix)
      for (const k of keys) {
        const toKey = toPrefix + k.key.slice(fromPrefix.length)
        if (!keyFits(toKey) && !toKey.endsWith(INDEX_SUFFIX)) throw new FsError('ENAMETOOLONG', `${k.key} would become a key of ${Buffer.byteLength(toKey)} bytes, over S3's ${KEY_MAX}`, to)
      }
      const journal = await this.journal.begin(fromPrefix, toPrefix)
      let moved: Map<string, string>
      try {
        moved = await this.moveKeys(from, to, fromPrefix, toPrefix, keys, src.object)
      } catch (err) {
        // the journal stays, no longer rewritten: this process gave up on it, a later mount finishes it
        await journal.stop()
        throw err
      }
      await this.journal.end(journal)
      this.ns.forgetTree(from)
      this.ns.forgetTree(to)
      this.ns.changed(from, undefined)
      if (src.object === fromPrefix.slice(0, -1)) this.ns.changed(from + SHADOWED_FILE_SUFFIX, undefined)
      this.ns.changed(to, { ...src, key: toPrefix, object: src.object && movedDirObject(src.object, fromPrefix, toPrefix) })
      log.debug(`renamed ${from} to ${to}: ${moved.size} keys`)
      return moved
    }))
  }

  /** every key under a prefix, with its size */
  private async keysUnder (prefix: string): Promise<{ key: string, size: number }[]> {
    const keys: { key: string, size: number }[] = []
    let token: string | undefined
    do {
      const page = await this.store.list({ prefix, continuationToken: token }, { priority: Priority.Metadata })
      keys.push(...page.objects.map(o => ({ key: o.key, size: o.size })))
      token = page.truncated ? page.nextToken : undefined
    } while (token)
    return keys
  }

  /** copies every key listed (and the directory's index and other tools' object for it), then deletes the originals; returns each new key's ETag */
  private async moveKeys (from: string, to: string, fromPrefix: string, toPrefix: string, keys: { key: string, size: number }[], object?: string): Promise<Map<string, string>> {
    let next = 0
    const moved = new Map<string, string>()
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const k = keys[next++]!
        const toKey = toPrefix + k.key.slice(fromPrefix.length)
        // an attribute index is a cache (attr-index.ts): one too long for its new key is dropped, its files HEADed
        if (!keyFits(toKey)) continue
        const r = await copyObject(this.store, k.key, toKey, k.size)
        if (r.etag) moved.set(toKey, r.etag)
      }
    }
    await Promise.all(Array.from({ length: RENAME_CONCURRENCY }, worker))
    // the directory's own index lives beside it, outside the prefix
    const fromIndex = this.ctx.names.indexKey(from)
    if (this.ns.hasIndex(from) !== false) {
      const toIndex = this.ctx.names.indexKey(to)
      const copied = !keyFits(toIndex) || await this.store.copy(fromIndex, toIndex, { priority: Priority.Data })
        .then(() => true, err => { if ((err as FsError).errno !== 'ENOENT') throw err; return false })
      if (copied) this.deletes.delete(fromIndex)
    }
    // another tool's object for the directory (`a_$folder$`, a slashless `a`): copied to the new name
    // in the same form, with its headers, so those tools see the directory there and not here
    if (object) {
      await this.store.copy(object, movedDirObject(object, fromPrefix, toPrefix), { priority: Priority.Data })
      this.deletes.delete(object)
    }
    for (const k of keys) this.deletes.delete(k.key)
    await this.deletes.flush(key => key.startsWith(fromPrefix) || key === fromIndex || key === object)
    return moved
  }

  /** everything pending, now (unmount): failures anywhere are reported */
  async flushPending (): Promise<void> {
    await Promise.all([this.deletes.flush(), this.meta.flush(true)])
  }
}

