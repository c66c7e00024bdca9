// Changes to names and attributes: unlink, mkdir, rmdir, rename, symlink and
// the metadata updates behind chmod/chown/utimens/xattrs.
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import type { Entry } from './entry.js'
import type { OortFs } from './filesystem.js'
import { encodeMeta, foreignHeaders, S_IFDIR, S_IFLNK, S_IFMT, type Meta } from './metadata.js'
import { checkNewName, splitPath } from './names.js'
import { DeleteBatcher } from './write/delete-batcher.js'
import { MetaWriter } from './write/meta-writer.js'
import { copyObject } from './write/copy-object.js'
import { log } from '../util/log.js'

const RENAME_CONCURRENCY = 16

export class TreeOps {
  readonly deletes: DeleteBatcher
  readonly meta: MetaWriter

  constructor (private readonly fs: OortFs) {
    this.deletes = new DeleteBatcher(fs.store)
    this.meta = new MetaWriter(fs.store, (path, landed) => {
      // the object's new ETag and date, if the name still stands for it (its attributes may be newer still)
      const { parent, name } = splitPath(path)
      const now = this.fs.ns.cache.previous(parent, name)
      if (now?.key === landed.key) this.fs.ns.changed(path, { ...now, etag: landed.etag, lastModified: landed.lastModified })
    })
  }

  private get ns () { return this.fs.ns }
  private get store () { return this.fs.store }

  private async mustNotExist (path: string): Promise<void> {
    checkNewName(this.fs.names, path)
    if (await this.fs.exists(path)) throw new FsError('EEXIST', undefined, path)
  }

  /** attributes of something new: its dates are the object's LastModified */
  private baseMeta (mode: number): Meta {
    return { mode, uid: this.fs.opts.uid, gid: this.fs.opts.gid }
  }

  async unlink (path: string): Promise<void> {
    const e = await this.fs.entry(path)
    if (e.kind === 'dir') throw new FsError('EISDIR', undefined, path)
    const node = this.fs.nodes.get(path)
    let onServer = true
    if (node) {
      node.unlinked = true
      this.fs.nodes.delete(path)
      await this.fs.uploader.abort(node)
      onServer = !!node.base
    }
    if (onServer) this.deletes.delete(e.key)
    this.meta.take(path)
    this.ns.changed(path, undefined)
  }

  async mkdir (path: string, mode: number): Promise<void> {
    await this.mustNotExist(path)
    const meta = this.baseMeta(S_IFDIR | (mode & 0o7777))
    const key = this.fs.names.dirPrefix(path)
    const headers = encodeMeta(meta)
    await this.deletes.before(key)
    const r = await this.store.put(key, Buffer.alloc(0), { metadata: headers, priority: Priority.Metadata })
    this.ns.changed(path, { kind: 'dir', key, size: 0, lastModified: r.serverDate ?? new Date(), meta, metaKnown: true, headers })
    // nothing was under the name (we looked), so the new directory is empty
    this.ns.madeDir(path)
  }

  async symlink (target: string, path: string): Promise<void> {
    await this.mustNotExist(path)
    const meta = this.baseMeta(S_IFLNK | 0o777)
    const key = this.fs.names.keyOf(path)
    const headers = encodeMeta(meta)
    const body = Buffer.from(target)
    await this.deletes.before(key)
    const r = await this.store.put(key, body, { metadata: headers, priority: Priority.Metadata })
    this.ns.changed(path, {
      kind: 'file', key, size: body.length, etag: r.etag, lastModified: r.serverDate ?? new Date(),
      meta, metaKnown: true, headers, target,
    })
  }

  async rmdir (path: string): Promise<void> {
    if (path === '/') throw new FsError('EBUSY', 'the mount root', path)
    const e = await this.fs.entry(path)
    if (e.kind !== 'dir') throw new FsError('ENOTDIR', undefined, path)
    for (const node of this.fs.nodes.values()) {
      if (node.path.startsWith(path + '/') && !node.unlinked) throw new FsError('ENOTEMPTY', undefined, path)
    }
    const cached = this.ns.cache.listing(path)
    if (cached && cached.size > 0) throw new FsError('ENOTEMPTY', undefined, path)
    // the server decides: deletes of the children must have landed first
    await this.deletes.flush()
    const prefix = e.key
    const page = await this.store.list({ prefix, maxKeys: 3 }, { priority: Priority.Metadata })
    if (page.objects.some(o => o.key !== prefix)) throw new FsError('ENOTEMPTY', undefined, path)
    if (page.objects.length > 0) this.deletes.delete(prefix)
    this.deletes.delete(this.fs.names.indexKey(path))
    await this.deletes.flush()
    this.ns.changed(path, undefined)
    this.ns.forgetTree(path)
  }

  async rename (from: string, to: string): Promise<void> {
    if (from === to) return
    checkNewName(this.fs.names, to)
    if (to.startsWith(from + '/')) throw new FsError('EINVAL', 'cannot move a directory into itself', to)
    const src = await this.fs.entry(from)
    const dst = await this.fs.exists(to)
    if (src.kind === 'dir') {
      if (dst && dst.kind !== 'dir') throw new FsError('ENOTDIR', undefined, to)
      if (dst) await this.rmdir(to) // POSIX: an empty directory may be replaced; rmdir says ENOTEMPTY otherwise
      await this.renameDir(from, to, src)
      return
    }
    if (dst?.kind === 'dir') throw new FsError('EISDIR', undefined, to)
    await this.renameFile(from, to, src)
  }

  private async renameFile (from: string, to: string, src: Entry): Promise<void> {
    const node = this.fs.nodes.get(from)
    if (node) {
      await this.fs.save(node)
      src = await this.fs.entry(from)
    }
    const toKey = this.fs.names.keyOf(to)
    if (!node || node.base) {
      await this.deletes.before(toKey)
      // attributes set just before (rsync, editors) ride along in the same copy
      const pending = this.meta.take(from)
      const r = await copyObject(this.store, src.key, toKey, src.size, pending ? { metadata: pending.headers, contentType: pending.contentType } : {})
      this.deletes.delete(src.key)
      this.ns.changed(to, { ...src, key: toKey, etag: r.etag || src.etag, lastModified: r.lastModified ?? src.lastModified })
    }
    this.ns.changed(from, undefined)
    const other = this.fs.nodes.get(to)
    if (other && other !== node) { other.unlinked = true; this.fs.nodes.delete(to) }
    if (node) {
      this.fs.nodes.delete(from)
      node.path = to
      node.key = toKey
      if (node.base) node.base = { ...node.base, key: toKey }
      this.fs.nodes.set(to, node)
    }
  }

  /**
   * Copies every key under the old prefix, then deletes the originals: a rename
   * cut short leaves each byte reachable under the old name or the new one.
   */
  private async renameDir (from: string, to: string, src: Entry): Promise<void> {
    const open = [...this.fs.nodes.values()].filter(n => n.path.startsWith(from + '/'))
    await Promise.all(open.map(n => this.fs.save(n)))
    await this.flushPending()
    const fromPrefix = src.key
    const toPrefix = this.fs.names.dirPrefix(to)
    const journal = await this.fs.journal.begin(fromPrefix, toPrefix)
    const keys: { key: string, size: number }[] = []
    let token: string | undefined
    do {
      const page = await this.store.list({ prefix: fromPrefix, continuationToken: token }, { priority: Priority.Metadata })
      keys.push(...page.objects.map(o => ({ key: o.key, size: o.size })))
      token = page.truncated ? page.nextToken : undefined
    } while (token)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const k = keys[next++]!
        await copyObject(this.store, k.key, toPrefix + k.key.slice(fromPrefix.length), k.size)
      }
    }
    await Promise.all(Array.from({ length: RENAME_CONCURRENCY }, worker))
    // the directory's own index lives beside it, outside the prefix
    const fromIndex = this.fs.names.indexKey(from)
    const movedIndex = await this.store.copy(fromIndex, this.fs.names.indexKey(to), { priority: Priority.Data })
      .then(() => true, err => { if ((err as FsError).errno !== 'ENOENT') throw err; return false })
    if (movedIndex) this.deletes.delete(fromIndex)
    for (const k of keys) this.deletes.delete(k.key)
    await this.deletes.flush()
    await this.fs.journal.end(journal)
    this.ns.forgetTree(from)
    this.ns.forgetTree(to)
    this.ns.changed(from, undefined)
    this.ns.changed(to, { ...src, key: toPrefix })
    for (const n of open) {
      this.fs.nodes.delete(n.path)
      n.path = to + n.path.slice(from.length)
      n.key = this.fs.names.keyOf(n.path)
      if (n.base) n.base = { ...n.base, key: n.key }
      this.fs.nodes.set(n.path, n)
    }
    log.debug(`renamed ${from} to ${to}: ${keys.length} keys`)
  }

  /** chmod, chown, utimens and xattrs: rewrite the object's metadata in place */
  async setMeta (path: string, change: (m: Meta) => Meta): Promise<void> {
    const node = this.fs.nodes.get(path)
    if (node?.dirty) {
      // not on the server yet: the upload will carry it
      node.meta = change(node.meta)
      return
    }
    if (path === '/') return // the mount root has no object to keep attributes on
    const e = await this.fs.entry(path)
    const stored = await this.fs.storedMeta(path, e)
    const current: Meta = { ...stored.meta, mode: stored.meta.mode ?? this.fs.defaultMode(e.kind) }
    if (e.kind === 'file' && ((current.mode ?? 0) & S_IFMT) === S_IFDIR) current.mode = this.fs.defaultMode('file')
    const meta = change(current)
    const headers = { ...foreignHeaders(stored.headers), ...encodeMeta(meta) }
    if (e.kind === 'dir') {
      await this.deletes.before(e.key)
      const r = await this.store.put(e.key, Buffer.alloc(0), { metadata: headers, priority: Priority.Metadata })
      this.ns.changed(path, { ...e, meta, metaKnown: true, headers, lastModified: r.serverDate ?? e.lastModified })
    } else {
      const entry: Entry = { ...e, meta, metaKnown: true, headers, contentType: stored.contentType }
      this.ns.changed(path, entry)
      this.meta.schedule(path, { entry, headers, contentType: stored.contentType })
    }
    if (node) node.meta = { ...meta }
  }

  async flushPending (): Promise<void> {
    await Promise.all([this.deletes.flush(), this.meta.flush()])
  }
}

