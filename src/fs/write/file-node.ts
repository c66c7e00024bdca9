// One open file: the inode its handles hold. Written bytes go to a local
// staging file (bounded memory, whatever the size); bytes never written still
// live in the object version on the server (`base`) and are read from there,
// pinned to its ETag, or copied server-side at upload. Each part of the
// multipart layout has a generation that every write into it bumps, so an
// upload knows which parts it still owes.
//
// Its life, as `state` names it:
//   created   -> new here, never on the server
//   clean     -> the same as its base object
//   dirty     -> content or attributes differ from the server's
//   uploading -> an upload is on its way (changes may keep coming: they stay dirty)
//   unlinked  -> its name is gone; it lives on for the handles still open
// Only OpenFiles (open-files.ts) changes a node: it alone moves it (rename),
// unlinks it, and starts and ends its uploads.
import { open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { FsError } from '../../errors.js'
import { encodeMeta, type Meta } from '../metadata.js'
import { RangeSet } from './range-set.js'
import { partIndexOf } from './part-layout.js'

/** the object a file's unwritten bytes come from */
export interface BaseObject {
  key: string
  /** names this version in the block cache; an ETag, or a made-up id if the server gave none */
  version: string
  /** the server's ETag of this version, to pin reads and copies to it; undefined if unknown */
  etag?: string
  size: number
}

export type FileState = 'created' | 'clean' | 'dirty' | 'uploading' | 'unlinked'

/** what an upload started from: given back to uploaded() */
export interface UploadMark {
  changes: number
  content: number
}

export interface RemoteReader {
  read(base: BaseObject, buf: Buffer, length: number, position: number): Promise<number>
}

let stagingCounter = 0

export class FileNode {
  private _path: string
  private _key: string
  private _base?: BaseObject
  size: number
  /** remote bytes at or past this offset were cut off by a truncate */
  private baseLimit: number
  readonly local = new RangeSet()
  /** counts changes (content and attributes), so an upload can tell whether more came while it ran */
  private changes = 0
  /** counts changes of content alone */
  private contentChanges = 0
  /** the counts the server's copy has */
  private savedChanges = 0
  private savedContent = 0
  /** the lowest size a truncate gave since the running upload took its snapshot */
  private cutSince = Infinity
  private uploading = false
  private _unlinked = false
  private _meta: Meta
  /** x-amz-meta entries we don't interpret, kept on rewrite */
  extraMeta: Record<string, string> = {}
  contentType?: string
  /** when the content last changed here (ms), shown as mtime until the upload dates it */
  modifiedAt?: number
  /** the base object's LastModified (ms): the date of a file open but not written */
  baseDate?: number
  /** open handles; the node lives while > 0 or while dirty */
  refs = 0
  /** bumped by each change to a part; an upload records the generation it sent */
  private readonly gens = new Map<number, number>()
  /** the staging file, opening or open: one per node, however many writes race to make it */
  private staging?: Promise<FileHandle>
  /** the staging file, once open */
  private stagingOpen?: FileHandle
  private stagingPath?: string
  private readonly stagingDir: string
  private readonly partSize: number
  private chain: Promise<void> = Promise.resolve()
  /**
   * Called whenever what a read of the node returns may change (a write, a
   * truncate, bytes made local, a new base), before that change is answered:
   * handles answered without the core (the read shortcut) are unbound here.
   */
  onReadsChanged?: (node: FileNode) => void
  /**
   * Runs a change of the staging file made other than by write() (a
   * truncate, server bytes fetched into it, its close): the writes the FUSE
   * binding makes into it itself are stopped and in first (WriteArming).
   */
  exclusively: <T>(fn: () => Promise<T>) => Promise<T> = fn => fn()

  constructor (opts: { path: string, key: string, base?: BaseObject, meta: Meta, stagingDir: string, partSize: number }) {
    this._path = opts.path
    this._key = opts.key
    this._base = opts.base
    this.size = opts.base?.size ?? 0
    this.baseLimit = this.size
    this._meta = opts.meta
    this.stagingDir = opts.stagingDir
    this.partSize = opts.partSize
  }

  get path (): string { return this._path }
  /**
   * Nothing written here: a read returns the base object's bytes as they are.
   * (It may become true again: a write past the end, then a truncate back to
   * the base's size, leaves the base's bytes alone.)
   */
  get readsBaseAsIs (): boolean {
    return this.local.empty && this._base !== undefined && this.baseLimit >= this._base.size && this.size === this._base.size
  }

  private readsChanged (): void {
    this.onReadsChanged?.(this)
  }
  get key (): string { return this._key }
  get base (): BaseObject | undefined { return this._base }
  get meta (): Meta { return this._meta }
  get unlinked (): boolean { return this._unlinked }
  /** content or attributes differ from the server's */
  get dirty (): boolean { return this.changes !== this.savedChanges || !this._base }
  /** the content differs from the server's: an upload must send bytes, not only attributes */
  get contentDirty (): boolean { return this.contentChanges !== this.savedContent || !this._base }
  get isUploading (): boolean { return this.uploading }

  get state (): FileState {
    if (this._unlinked) return 'unlinked'
    if (this.uploading) return 'uploading'
    if (!this._base) return 'created'
    return this.dirty ? 'dirty' : 'clean'
  }

  /** a rename: the node now lives at path, its base object under key (with the copy's ETag, if it gave one) */
  moveTo (path: string, key: string, etag?: string): void {
    this._path = path
    this._key = key
    if (this._base) this._base = { ...this._base, key, version: etag || this._base.version, etag: etag || this._base.etag }
    this.readsChanged()
  }

  /** its name is gone: nothing of it is uploaded again */
  unlink (): void {
    this._unlinked = true
  }

  /** new attributes; a change the server does not have yet makes the node dirty */
  setMeta (meta: Meta): void {
    const before = JSON.stringify(encodeMeta(this._meta))
    this._meta = meta
    if (JSON.stringify(encodeMeta(meta)) !== before) this.changes++
  }

  /** the attributes the server already has (learned, not changed): the node stays as clean as it was */
  learnMeta (meta: Meta, extra: Record<string, string>, contentType?: string): void {
    this._meta = meta
    this.extraMeta = extra
    this.contentType = contentType
  }

  /**
   * The content changed: mtime and ctime are now, and become the object's
   * LastModified once saved (a stored one from before, a chmod's ctime say,
   * would hide the write). atime stays: writes do not move it.
   */
  modified (now: number): void {
    if (this._meta.mtimeMs !== undefined || this._meta.ctimeMs !== undefined) {
      this._meta = { ...this._meta, mtimeMs: undefined, ctimeMs: undefined }
    }
    this.modifiedAt = now
  }

  /** the staging file's descriptor, once it is open (the FUSE binding writes into it) */
  get stagingFd (): number | undefined {
    return this.stagingOpen?.fd
  }

  /** the local file holding the bytes written here, once there are any */
  get stagingFile (): string | undefined {
    return this.stagingPath
  }

  /** created here, nothing written yet: there is nothing to save but its name */
  isFreshEmpty (): boolean {
    return !this._base && this.size === 0 && this.contentChanges === 0
  }

  private changed (): void {
    this.changes++
    this.contentChanges++
  }

  gen (part: number): number {
    return this.gens.get(part) ?? 0
  }

  private touchParts (start: number, end: number): void {
    const first = partIndexOf(start, this.partSize)
    const last = partIndexOf(Math.max(start, end - 1), this.partSize)
    for (let i = first; i <= last; i++) this.gens.set(i, this.gen(i) + 1)
  }

  private file (): Promise<FileHandle> {
    if (!this.staging) {
      const path = this.stagingPath = join(this.stagingDir, `${process.pid}-${++stagingCounter}`)
      this.staging = open(path, 'w+', 0o600).then(h => { this.stagingOpen = h; return h }, err => {
        this.staging = undefined
        throw new FsError('EIO', `cannot create staging file in ${this.stagingDir}: ${(err as Error).message}`, this.path, { cause: err })
      })
    }
    return this.staging
  }

  /**
   * Changes of the staging file and of what it covers run one at a time: a
   * fetch of the server's bytes (materialize) must never fill a range a write
   * has just put there, nor two writes interleave with a truncate.
   */
  private locked<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn)
    this.chain = run.then(() => {}, () => {})
    return run
  }

  write (buf: Buffer, length: number, position: number): Promise<number> {
    return this.locked(async () => {
      await writeAll(await this.file(), buf.subarray(0, length), position)
      this.wrote(position, length)
      return length
    })
  }

  /** [position, position + length) of the staging file was written (here, or by the FUSE binding) */
  wrote (position: number, length: number): void {
    if (length <= 0) return
    this.local.add(position, position + length)
    if (position + length > this.size) this.size = position + length
    this.readsChanged()
    this.touchParts(position, position + length)
    this.changed()
  }

  truncate (size: number): Promise<void> {
    return this.exclusively(() => this.locked(() => this.truncateNow(size)))
  }

  private async truncateNow (size: number): Promise<void> {
    if (size === this.size && this.dirty) return
    const f = await this.file()
    await f.truncate(size)
    const old = this.size
    if (size < old) {
      this.local.truncate(size)
      this.baseLimit = Math.min(this.baseLimit, size)
      this.cutSince = Math.min(this.cutSince, size)
    } else if (size > old) {
      // the staging file reads zeros there, which is what the file holds now
      this.local.add(old, size)
    }
    this.touchParts(Math.min(size, old), Math.max(size, old, 1))
    this.size = size
    this.readsChanged()
    this.changed()
  }

  async read (remote: RemoteReader, buf: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(this.size, position + length)
    if (end <= position) return 0
    // nothing written here (a file open for reading): the server's version, as it is
    if (this.readsBaseAsIs) {
      return await remote.read(this._base!, buf, end - position, position)
    }
    // local ranges and remote gaps, in order
    const pieces: { start: number, end: number, local: boolean }[] = []
    for (const [s, e] of this.local.within(position, end)) pieces.push({ start: s, end: e, local: true })
    for (const [s, e] of this.local.gaps(position, end)) pieces.push({ start: s, end: e, local: false })
    pieces.sort((a, b) => a.start - b.start)
    for (const p of pieces) {
      const at = p.start - position
      const n = p.end - p.start
      if (p.local) {
        await this.readLocal(buf, at, n, p.start)
      } else {
        const remoteEnd = Math.min(p.end, this._base ? Math.min(this.baseLimit, this._base.size) : 0)
        let got = 0
        if (remoteEnd > p.start && this._base) {
          const view = buf.subarray(at, at + (remoteEnd - p.start))
          got = await remote.read(this._base, view, remoteEnd - p.start, p.start)
        }
        buf.fill(0, at + got, at + n)
      }
    }
    return end - position
  }

  private async readLocal (buf: Buffer, offset: number, length: number, position: number): Promise<void> {
    const f = await this.file()
    let done = 0
    while (done < length) {
      const { bytesRead } = await f.read(buf, offset + done, length - done, position + done)
      if (bytesRead <= 0) { buf.fill(0, offset + done, offset + length); return }
      done += bytesRead
    }
  }

  /** makes [start, end) local, fetching what only the server has */
  materialize (remote: RemoteReader, start: number, end: number): Promise<void> {
    // all local already (a part a writer filled): nothing is fetched, nothing to keep apart
    if (this.local.covers(start, Math.min(end, this.size))) return Promise.resolve()
    return this.exclusively(() => this.materializeNow(remote, start, end))
  }

  private async materializeNow (remote: RemoteReader, start: number, end: number): Promise<void> {
    // a part at a time: memory stays bounded whatever the file's size
    for (let from = start; from < Math.min(end, this.size); from += this.partSize) {
      const to = Math.min(from + this.partSize, end, this.size)
      for (const [s, e] of this.local.gaps(from, to)) {
        const buf = Buffer.alloc(e - s)
        const base = this._base
        const remoteEnd = base ? Math.min(e, this.baseLimit, base.size) : s
        if (remoteEnd > s && base) await remote.read(base, buf, remoteEnd - s, s)
        // what was written here meanwhile is newer than the server's bytes: only gaps still open are filled
        await this.locked(async () => {
          const f = await this.file()
          // a truncate meanwhile cut the server's bytes off: what it left there reads zeros
          const limit = this._base ? Math.min(this.baseLimit, this._base.size) : 0
          if (limit < e) buf.fill(0, Math.max(0, limit - s))
          for (const [a, b] of this.local.gaps(s, Math.min(e, this.size))) {
            await writeAll(f, buf.subarray(a - s, b - s), a)
            this.local.add(a, b)
            this.readsChanged()
          }
        })
      }
    }
  }

  /** the bytes of [start, end), all local (materialize first); into `buf` when given (end - start bytes long) */
  async readRange (start: number, end: number, into?: Buffer): Promise<Buffer> {
    const buf = into ?? Buffer.allocUnsafe(end - start)
    if (end > start) await this.readLocal(buf, 0, end - start, start)
    return buf
  }

  /** [start, end) is untouched server data at the same offsets: it can be copied server-side */
  isRemote (start: number, end: number): boolean {
    if (!this._base || end > Math.min(this.baseLimit, this._base.size)) return false
    return this.local.within(start, end).length === 0
  }

  /** an upload takes its snapshot: what it sends is the node as it is now */
  beginUpload (): UploadMark {
    this.uploading = true
    this.cutSince = Infinity
    return { changes: this.changes, content: this.contentChanges }
  }

  /**
   * The upload that took `mark` landed as `base`. Changes that came while it
   * ran keep the node dirty; bytes a truncate cut off meanwhile stay cut (the
   * new object still has them).
   */
  uploaded (base: BaseObject, mark: UploadMark): void {
    this.uploading = false
    this._base = base
    this.baseLimit = Math.min(base.size, this.cutSince)
    this.readsChanged()
    this.savedChanges = mark.changes
    this.savedContent = mark.content
  }

  /** attributes alone were stored (an in-place copy), as they were at mark */
  metaSaved (mark: UploadMark, etag?: string): void {
    this.uploading = false
    if (etag) this.recopied(etag)
    this.savedChanges = mark.changes
  }

  /** the object was copied in place (new attributes, the same bytes): reads pin its new ETag, cached blocks still serve */
  recopied (etag: string): void {
    if (this._base) this._base = { ...this._base, etag }
    this.readsChanged()
  }

  uploadFailed (): void {
    this.uploading = false
  }

  close (): Promise<void> {
    return this.exclusively(() => this.closeNow())
  }

  private async closeNow (): Promise<void> {
    const f = this.staging
    const p = this.stagingPath
    this.staging = undefined
    this.stagingOpen = undefined
    this.stagingPath = undefined
    if (f) await f.then(h => h.close()).catch(() => {})
    if (p) await unlink(p).catch(() => {})
  }
}

async function writeAll (f: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesWritten } = await f.write(buf, done, buf.length - done, position + done)
    if (bytesWritten <= 0) throw new FsError('ENOSPC', 'staging file write failed')
    done += bytesWritten
  }
}
