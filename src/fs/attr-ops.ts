// Attributes: chmod, chown, utimens, extended attributes and readlink, and
// where stored attributes come from when a listing only guessed them.
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import type { Entry } from './entry.js'
import type { OortFs } from './filesystem.js'
import { decodeMeta, encodeMeta, foreignHeaders, S_IFDIR, S_IFLNK, S_IFMT, type Meta } from './metadata.js'
import { splitPath } from './names.js'
import { MetaWriter } from './write/meta-writer.js'

export class AttrOps {
  readonly meta: MetaWriter

  constructor (private readonly fs: OortFs) {
    this.meta = new MetaWriter(fs.store, (path, landed) => {
      const { parent, name } = splitPath(path)
      const now = this.fs.ns.cache.previous(parent, name)
      if (now?.key !== landed.key) return // removed or renamed meanwhile
      const dated: Entry = { ...now, etag: landed.etag, lastModified: landed.lastModified }
      // a newer change is on its way: its copy will tell the index
      if (this.meta.has(path)) return this.fs.ns.noted(path, dated)
      // what the copy wrote, not what the cache holds: a listing taken while
      // the copy ran may have replaced our entry with one that has no attributes
      this.fs.ns.changed(path, { ...dated, meta: landed.meta, metaKnown: true, headers: landed.headers, contentType: landed.contentType })
    })
  }

  /**
   * A listing taken while a change of attributes is on its way shows the
   * object as it was: what we changed shows until the change lands.
   */
  pendingOver (path: string, e: Entry): Entry {
    const p = this.meta.current(path)
    if (!p || p.entry.key !== e.key || e.kind !== 'file') return e
    return { ...e, meta: p.entry.meta, metaKnown: true, headers: p.headers, contentType: p.contentType }
  }

  /** the stored attributes and headers of an entry, asking the server if we only guessed them */
  async storedMeta (path: string, e: Entry): Promise<{ meta: Meta, headers: Record<string, string>, contentType?: string }> {
    if (e.metaKnown && e.headers) return { meta: e.meta ?? {}, headers: e.headers, contentType: e.contentType }
    if (e.kind === 'dir') return { meta: e.meta ?? {}, headers: e.headers ?? {} }
    const h = await this.fs.store.head(e.key, { priority: Priority.Metadata })
    if (!h) throw new FsError('ENOENT', 'removed meanwhile', path)
    const meta = decodeMeta(h.metadata)
    this.fs.ns.changed(path, { ...e, size: h.size, etag: h.etag, meta, metaKnown: true, headers: h.metadata, contentType: h.contentType })
    return { meta, headers: h.metadata, contentType: h.contentType }
  }

  async readlink (path: string): Promise<string> {
    const e = await this.fs.entry(path)
    if (e.kind !== 'file' || ((e.meta?.mode ?? 0) & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', 'not a symbolic link', path)
    if (e.target !== undefined) return e.target
    const body = await this.fs.store.get(e.key, 0, Math.min(e.size, 4096), { priority: Priority.Metadata })
    const target = body.toString('utf8')
    this.fs.ns.changed(path, { ...e, target })
    return target
  }

  async chmod (path: string, mode: number): Promise<void> {
    this.fs.writable(path)
    await this.setMeta(path, m => ({ ...m, mode: ((m.mode ?? 0) & S_IFMT) | (mode & 0o7777) }))
  }

  async chown (path: string, uid: number, gid: number): Promise<void> {
    this.fs.writable(path)
    // -1 (as unsigned 32-bit too) means "leave as is"
    const keep = (v: number) => v === -1 || v === 0xffffffff
    await this.setMeta(path, m => ({ ...m, uid: keep(uid) ? m.uid : uid, gid: keep(gid) ? m.gid : gid }))
  }

  /**
   * NaN leaves a time as it is (UTIME_OMIT). Infinity means now (UTIME_NOW):
   * the time is no longer a stored one but the object's LastModified, which
   * the rewrite moves to now, and which a file just uploaded already has.
   */
  async utimens (path: string, atimeMs: number, mtimeMs: number): Promise<void> {
    this.fs.writable(path)
    const time = (given: number, was: number | undefined): number | undefined =>
      Number.isNaN(given) ? was : given === Infinity ? undefined : given
    await this.setMeta(path, m => ({ ...m, atimeMs: time(atimeMs, m.atimeMs), mtimeMs: time(mtimeMs, m.mtimeMs) }),
      mtimeMs === Infinity)
  }

  async setxattr (path: string, name: string, value: Buffer, _flags: number): Promise<void> {
    if (!isStorableXattr(name)) throw new FsError('ENOTSUP', `only user.* and trusted.* extended attributes are stored`, path)
    this.fs.writable(path)
    await this.setMeta(path, m => ({ ...m, xattr: { ...m.xattr, [name]: Buffer.from(value) } }))
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
    this.fs.writable(path)
    if (!(name in await this.xattrs(path))) throw new FsError('ENODATA', name, path)
    await this.setMeta(path, m => {
      const xattr = { ...m.xattr }
      delete xattr[name]
      return { ...m, xattr }
    })
  }

  private async xattrs (path: string): Promise<Record<string, Buffer>> {
    if (path === '/') return {}
    const node = this.fs.files.node(path)
    if (node) return node.meta.xattr ?? {}
    const e = await this.fs.entry(path)
    return (await this.storedMeta(path, e)).meta.xattr ?? {}
  }

  /**
   * chmod, chown, utimens and xattrs: rewrite the object's metadata in place
   * (soon: see MetaWriter). `touch`: the object's date must become now too.
   */
  async setMeta (path: string, change: (m: Meta) => Meta, touch = false): Promise<void> {
    const node = this.fs.files.node(path)
    if (node?.dirty) {
      // not on the server yet: the upload will carry it
      node.meta = change(node.meta)
      return
    }
    if (path === '/') return // the mount root has no object to keep attributes on
    const e = await this.fs.entry(path)
    const stored = await this.storedMeta(path, e)
    const current: Meta = { ...stored.meta, mode: stored.meta.mode ?? this.fs.defaultMode(e.kind) }
    if (e.kind === 'file' && ((current.mode ?? 0) & S_IFMT) === S_IFDIR) current.mode = this.fs.defaultMode('file')
    const meta = change(current)
    const headers = { ...foreignHeaders(stored.headers), ...encodeMeta(meta) }
    const unchanged = JSON.stringify(headers) === JSON.stringify({ ...foreignHeaders(stored.headers), ...encodeMeta(current) })
    // nothing to store, and no date to move (or it is already about now: touch of a file just written)
    if (unchanged && (!touch || (e.lastModified && Math.abs(this.fs.now() - e.lastModified.getTime()) < 2000))) return
    if (e.kind === 'dir') {
      await this.fs.tree.deletes.before(e.key)
      const r = await this.fs.store.put(e.key, Buffer.alloc(0), { metadata: headers, priority: Priority.Metadata })
      this.fs.ns.changed(path, { ...e, meta, metaKnown: true, headers, lastModified: r.serverDate ?? e.lastModified })
    } else {
      const entry: Entry = { ...e, meta, metaKnown: true, headers, contentType: stored.contentType }
      // the attribute index learns of it when the copy lands, with the object's new date
      this.fs.ns.noted(path, entry)
      this.meta.schedule(path, { entry, headers, contentType: stored.contentType })
    }
    if (node) node.meta = { ...meta }
  }
}

/** the namespaces we store; system.* and security.* belong to the kernel */
function isStorableXattr (name: string): boolean {
  return name.startsWith('user.') || name.startsWith('trusted.')
}
