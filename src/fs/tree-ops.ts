// Changes to names: unlink, mkdir, rmdir, rename (files and whole
// directories), symlink.
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import type { Entry } from './entry.js'
import type { OortFs } from './filesystem.js'
import { encodeMeta, S_IFDIR, S_IFLNK, type Meta } from './metadata.js'
import { checkNewName } from './names.js'
import { DeleteBatcher } from './write/delete-batcher.js'
import { copyObject } from './write/copy-object.js'
import { log } from '../util/log.js'

const RENAME_CONCURRENCY = 16

export class TreeOps {
  readonly deletes: DeleteBatcher

  constructor (private readonly fs: OortFs) {
    this.deletes = new DeleteBatcher(fs.store)
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
    const node = this.fs.files.nodes.get(path)
    let onServer = true
    if (node) {
      node.unlinked = true
      this.fs.files.nodes.delete(path)
      await this.fs.files.uploader.abort(node)
      onServer = !!node.base
    }
    if (onServer) this.deletes.delete(e.key)
    this.fs.attrs.meta.take(path)
    this.ns.changed(path, undefined)
  }

  async mkdir (path: string, mode: number): Promise<void> {
    await this.mustNotExist(path)
    const meta = this.baseMeta(S_IFDIR | (mode & 0o7777))
    const key = this.fs.names.dirPrefix(path)
    const headers = encodeMeta(meta)
    await this.deletes.before(key)
    const r = await this.store.put(key, Buffer.alloc(0), { metadata: headers, priority: Priority.Metadata })
    const entry: Entry = { kind: 'dir', key, size: 0, lastModified: r.serverDate ?? new Date(), meta, metaKnown: true, headers }
    this.ns.changed(path, entry)
    // nothing was under the name (we looked), so the new directory is empty
    this.ns.madeDir(path, { ...entry, kind: 'file', etag: r.etag })
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
    for (const node of this.fs.files.nodes.values()) {
      if (node.path.startsWith(path + '/') && !node.unlinked) throw new FsError('ENOTEMPTY', undefined, path)
    }
    const cached = this.ns.cache.listing(path)
    if (cached && cached.size > 0) throw new FsError('ENOTEMPTY', undefined, path)
    const prefix = e.key
    let marker = !!this.ns.cache.marker(path)
    if (!cached) {
      // no fresh listing: the server decides, once the children's deletes have landed
      await this.deletes.flush()
      const page = await this.store.list({ prefix, maxKeys: 3 }, { priority: Priority.Metadata })
      if (page.objects.some(o => o.key !== prefix)) throw new FsError('ENOTEMPTY', undefined, path)
      marker = page.objects.length > 0
    }
    // the children's deletes (rm -r), the marker and the index: one batch
    if (marker) this.deletes.delete(prefix)
    if (this.ns.hasIndex(path) !== false) this.deletes.delete(this.fs.names.indexKey(path))
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
    const node = this.fs.files.nodes.get(from)
    if (node) {
      await this.fs.files.save(node)
      src = await this.fs.entry(from)
    }
    const toKey = this.fs.names.keyOf(to)
    if (!node || node.base) {
      await this.deletes.before(toKey)
      // attributes set just before (rsync, editors) ride along in the same copy
      const pending = this.fs.attrs.meta.take(from)
      const r = await copyObject(this.store, src.key, toKey, src.size, pending ? { metadata: pending.headers, contentType: pending.contentType } : {})
      this.deletes.delete(src.key)
      this.ns.changed(to, { ...src, key: toKey, etag: r.etag || src.etag, lastModified: r.lastModified ?? src.lastModified })
    }
    this.ns.changed(from, undefined)
    const other = this.fs.files.nodes.get(to)
    if (other && other !== node) { other.unlinked = true; this.fs.files.nodes.delete(to) }
    if (node) {
      this.fs.files.nodes.delete(from)
      node.path = to
      node.key = toKey
      if (node.base) node.base = { ...node.base, key: toKey }
      this.fs.files.nodes.set(to, node)
    }
  }

  /**
   * Copies every key under the old prefix, then deletes the originals: a rename
   * cut short leaves each byte reachable under the old name or the new one.
   */
  private async renameDir (from: string, to: string, src: Entry): Promise<void> {
    const open = [...this.fs.files.nodes.values()].filter(n => n.path.startsWith(from + '/'))
    await Promise.all(open.map(n => this.fs.files.save(n)))
    await this.flushPending()
    const fromPrefix = src.key
    const toPrefix = this.fs.names.dirPrefix(to)
    const journal = await this.fs.journal.begin(fromPrefix, toPrefix)
    let moved: number
    try {
      moved = await this.moveKeys(from, to, fromPrefix, toPrefix)
    } catch (err) {
      // the journal stays, no longer rewritten: this process gave up on it, a later mount finishes it
      await journal.stop()
      throw err
    }
    await this.fs.journal.end(journal)
    this.ns.forgetTree(from)
    this.ns.forgetTree(to)
    this.ns.changed(from, undefined)
    this.ns.changed(to, { ...src, key: toPrefix })
    for (const n of open) {
      this.fs.files.nodes.delete(n.path)
      n.path = to + n.path.slice(from.length)
      n.key = this.fs.names.keyOf(n.path)
      if (n.base) n.base = { ...n.base, key: n.key }
      this.fs.files.nodes.set(n.path, n)
    }
    log.debug(`renamed ${from} to ${to}: ${moved} keys`)
  }

  /** copies every key under the old prefix (and the directory's index), then deletes the originals; returns how many */
  private async moveKeys (from: string, to: string, fromPrefix: string, toPrefix: string): Promise<number> {
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
    if (this.ns.hasIndex(from) !== false) {
      const moved = await this.store.copy(fromIndex, this.fs.names.indexKey(to), { priority: Priority.Data })
        .then(() => true, err => { if ((err as FsError).errno !== 'ENOENT') throw err; return false })
      if (moved) this.deletes.delete(fromIndex)
    }
    for (const k of keys) this.deletes.delete(k.key)
    await this.deletes.flush()
    return keys.length
  }

  async flushPending (): Promise<void> {
    await Promise.all([this.deletes.flush(), this.fs.attrs.meta.flush()])
  }
}

