// Attributes: chmod, chown, utimens and readlink, and the one rewrite of
// metadata they and extended attributes (xattr-ops.ts) share. A file that is
// open with changes on their way takes them itself (open-files.ts); any other
// object's metadata is rewritten in place, soon (meta-writer.ts).
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import type { ExactTimes } from './api.js'
import { DIRECTORY_TYPE } from './content-type.js'
import { defaultMode, type FsContext, writable } from './context.js'
import type { Entry } from './entry.js'
import { msOfNs } from './exact-time.js'
import { checkMetadataSize, encodeMeta, foreignHeaders, S_IFDIR, S_IFLNK, S_IFMT, type Meta } from './metadata.js'
import type { NodeDates, OpenFiles } from './open-files.js'
import { ACL_ACCESS, chmodAcl } from './posix-acl.js'
import { storedMeta, type StoredMeta } from './stored-meta.js'
import { copyObject } from './write/copy-object.js'
import type { DeleteBatcher } from './write/delete-batcher.js'
import type { DirTimes } from './write/dir-times.js'
import type { MetaWriter } from './write/meta-writer.js'

export class AttrOps {
  constructor (
    private readonly ctx: FsContext,
    private readonly files: OpenFiles,
    private readonly meta: MetaWriter,
    private readonly deletes: DeleteBatcher,
    private readonly dirs: DirTimes,
  ) {}

  async readlink (path: string): Promise<string> {
    const e = await this.files.existing(path)
    if (e.kind !== 'file' || ((e.meta?.mode ?? 0) & S_IFMT) !== S_IFLNK) throw new FsError('EINVAL', 'not a symbolic link', path)
    if (e.target !== undefined) return e.target
    const body = await this.ctx.store.get(e.key, 0, Math.min(e.size, 4096), { priority: Priority.Metadata, ifMatch: e.etag })
    const target = body.toString('utf8')
    this.ctx.ns.changed(path, { ...e, target })
    return target
  }

  /** a stored access ACL follows the new mode (posix-acl.ts chmodAcl), so getfacl and ls -l agree */
  async chmod (path: string, mode: number): Promise<void> {
    writable(this.ctx, path)
    await this.setMeta(path, m => {
      const acl = m.xattr?.[ACL_ACCESS]
      const changed = { ...m, mode: ((m.mode ?? 0) & S_IFMT) | (mode & 0o7777) }
      return acl ? { ...changed, xattr: { ...m.xattr, [ACL_ACCESS]: chmodAcl(acl, mode) } } : changed
    })
  }

  async chown (path: string, uid: number, gid: number): Promise<void> {
    writable(this.ctx, path)
    // -1 (as unsigned 32-bit too) means "leave as is"
    const keep = (v: number) => v === -1 || v === 0xffffffff
    await this.setMeta(path, m => ({ ...m, uid: keep(uid) ? m.uid : uid, gid: keep(gid) ? m.gid : gid }))
  }

  /**
   * NaN leaves a time as it is (UTIME_OMIT). Infinity means now (UTIME_NOW):
   * a file's mtime is no longer a stored one but the object's LastModified,
   * which the rewrite moves to now, and which a file just uploaded already
   * has; its atime, unstored, shows that mtime when both are now (`touch`
   * stores nothing more), and is stored as now when the mtime is not (`touch
   * -a`). An atime that showed the mtime keeps that value when only the mtime
   * moves (`touch -m`). `exact` (the request's timespecs) wins over the ms
   * arguments: they come from the binding's 64-bit ms, which cannot hold
   * every 64-bit second, and where 1 and 2 ms before the epoch read as
   * UTIME_NOW and UTIME_OMIT.
   */
  async utimens (path: string, atimeMs: number, mtimeMs: number, exact?: ExactTimes): Promise<void> {
    writable(this.ctx, path)
    // a directory has no LastModified to show (listings give it no date): now is stored as a time
    const now = this.ctx.now()
    const isDir = path === '/' || (await this.files.entry(path))?.kind === 'dir'
    type Time = { ms?: number, ns?: bigint }
    const given = (ms: number, ns: bigint | undefined): Time | 'now' | 'omit' =>
      ns !== undefined ? { ms: msOfNs(ns), ns } : Number.isNaN(ms) ? 'omit' : ms === Infinity ? 'now' : { ms }
    const a = given(atimeMs, exact?.atimeNs)
    const m = given(mtimeMs, exact?.mtimeNs)
    const change = (meta: Meta, shownMtimeMs: number | undefined): Meta => {
      // the exact value is set with the ms one, or none: an old one must not ride along with a new time
      const mtime: Time = m === 'omit' ? { ms: meta.mtimeMs, ns: meta.mtimeNs } : m === 'now' ? { ms: isDir ? now : undefined } : m
      const atime: Time = a === 'omit'
        ? (meta.atimeMs !== undefined || m === 'omit' ? { ms: meta.atimeMs, ns: meta.atimeNs } : { ms: meta.mtimeMs ?? shownMtimeMs, ns: meta.mtimeNs })
        : a === 'now' ? { ms: m === 'now' && !isDir ? undefined : now } : a
      return { ...meta, atimeMs: atime.ms, atimeNs: atime.ns, mtimeMs: mtime.ms, mtimeNs: mtime.ns }
    }
    await this.setMeta(path, change, m === 'now' && !isDir)
  }

  /**
   * chmod, chown, utimens and xattrs: rewrite the object's metadata in place
   * (soon: see MetaWriter). `touch`: the object's date must become now too.
   * Each sets ctime to now and leaves mtime as it was: an object that had no
   * stored mtime (it showed its LastModified) gets that one stored, so the
   * copy's new LastModified does not move it. A touch leaves mtime to the
   * copy's date (now).
   */
  async setMeta (path: string, change: (m: Meta, shownMtimeMs: number | undefined) => Meta, touch = false): Promise<void> {
    const now = this.ctx.now()
    const stamp = (m: Meta, shownMtimeMs: number | undefined): Meta =>
      ({ ...m, ctimeMs: now, mtimeMs: m.mtimeMs ?? (touch ? undefined : shownMtimeMs) })
    // content on its way: its upload dates mtime and ctime, after this change
    const onNode = (m: Meta, n: NodeDates): Meta => n.contentPending ? { ...change(m, n.mtimeMs), ctimeMs: undefined } : stamp(change(m, n.mtimeMs), n.mtimeMs)
    // not on the server yet, or on its way: the upload (or one after it) carries it
    if (this.files.changeMeta(path, onNode)) return
    const e = path === '/' ? undefined : await this.files.existing(path)
    if (!e || e.kind === 'dir') {
      // a directory's attributes and times are one write of its object (the root's own one: dir-times.ts)
      await this.dirs.store(path, (current, shownMtimeMs) => {
        const meta = change(current, shownMtimeMs)
        if (JSON.stringify(encodeMeta(meta)) === JSON.stringify(encodeMeta(current))) return undefined
        return { ...meta, ctimeMs: now }
      })
      return
    }
    const stored = await storedMeta(this.ctx, path, e)
    const current: Meta = { ...stored.meta, mode: stored.meta.mode ?? defaultMode(this.ctx, e.kind) }
    if (((current.mode ?? 0) & S_IFMT) === S_IFDIR) current.mode = defaultMode(this.ctx, 'file')
    const changed = change(current, stored.entry.lastModified?.getTime())
    const unchanged = JSON.stringify(encodeMeta(changed)) === JSON.stringify(encodeMeta(current))
    // nothing to store (a chmod to the mode it has: its ctime is not worth a copy), and no date
    // to move (or it is already about now: touch of a file just written)
    if (unchanged && (!touch || (e.lastModified && Math.abs(now - e.lastModified.getTime()) < 2000))) return
    const meta = stamp(changed, stored.entry.lastModified?.getTime())
    const headers = { ...foreignHeaders(stored.headers), ...encodeMeta(meta) }
    // over S3's metadata limit every upload of the object would fail: refuse the change now
    checkMetadataSize(headers, path)
    // an upload of the file may have begun while we looked: then it, or one after it, carries the change
    if (this.files.changeMeta(path, onNode)) return
    // a touch (UTIME_NOW) shows now at once; the copy, when it lands, dates it as the server does
    const lastModified = touch ? new Date(this.ctx.now()) : stored.entry.lastModified
    const entry: Entry = { ...stored.entry, meta, metaKnown: true, headers, contentType: stored.contentType, lastModified }
    // the attribute index learns of it when the copy lands, with the object's new date
    this.ctx.ns.noted(path, entry)
    this.meta.schedule(path, { entry, headers, contentType: stored.contentType })
    this.files.metaStored(path, meta)
  }

  /**
   * A directory's attributes (and times: dir-times.ts) rewritten from what
   * the server holds, `change` answering undefined when there is nothing to
   * store. False if the directory is gone.
   */
  async storeDir (path: string, change: (m: Meta, e: Entry) => Meta | undefined, checkGone = false): Promise<boolean> {
    // what the mount holds of it, fresh or not: a write of times waits for no listing
    // (one may be waiting for this very write, at unmount); asked for only if unknown
    const e = this.ctx.ns.previous(path) ?? await this.files.entry(path)
    if (e?.kind !== 'dir') return false
    // a batched write of its times, seconds after we wrote into it: another client may have
    // removed the directory since (its rm -r, even within the freshness bound), and a marker
    // written now would bring it back for everyone
    if (checkGone && !await this.stillThere(e)) {
      this.ctx.ns.stale(path)
      return false
    }
    const stored = await storedMeta(this.ctx, path, e)
    const current: Meta = { ...stored.meta, mode: stored.meta.mode ?? defaultMode(this.ctx, 'dir') }
    const meta = change(current, stored.entry)
    if (!meta) return true
    const headers = { ...foreignHeaders(stored.headers), ...encodeMeta(meta) }
    checkMetadataSize(headers, path)
    await this.storeDirMeta(path, stored, meta, headers)
    return true
  }

  /**
   * One key under the directory (a request per directory and burst of
   * changes, not per file), its own object (another tool's), or keys under it
   * that this mount deleted: emptied here (`rm dir/*`), it stays until rmdir.
   */
  private async stillThere (e: Entry): Promise<boolean> {
    const page = await this.ctx.store.list({ prefix: e.key, maxKeys: 1 }, { priority: Priority.Metadata })
    if (page.objects.length > 0 || page.prefixes.length > 0) return true
    if (this.deletes.deletedUnder(e.key)) return true
    return !!e.object && !!await this.ctx.store.head(e.object, { priority: Priority.Metadata })
  }

  /**
   * A directory's attributes, rewritten at once on the object that holds them
   * (its marker, or another tool's `dir_$folder$` or slashless `dir`), keeping
   * its other headers and its Content-Type; a directory without any object
   * gets a `dir/` marker.
   */
  private async storeDirMeta (path: string, stored: StoredMeta, meta: Meta, headers: Record<string, string>): Promise<void> {
    const e = stored.entry
    const key = stored.dirObject?.key ?? e.key
    // an object another tool wrote keeps its type (only what changed is ours to set); a new marker gets s3fs's
    const contentType = stored.dirObject ? stored.contentType : DIRECTORY_TYPE
    await this.deletes.before(key)
    // a directory object has no bytes to keep, but one that has some keeps them
    const r = stored.dirObject && stored.dirObject.size > 0
      ? await copyObject(this.ctx.store, key, key, stored.dirObject.size, { metadata: headers, contentType, priority: Priority.Metadata })
      : await this.ctx.store.put(key, Buffer.alloc(0), { metadata: headers, contentType, priority: Priority.Metadata })
    this.ctx.ns.changed(path, { ...e, meta, metaKnown: true, headers, contentType, lastModified: r.serverDate ?? e.lastModified })
    // the marker the directory's next listing shows is this one: no HEAD for it (namespace.ts checkMarker)
    if (key === e.key) this.ctx.ns.markerWritten(path)
  }
}

