// The content of one open file while it is written. Written bytes go to a local
// staging file (bounded memory, whatever the size); bytes never written still
// live in the object on the server (`base`) and are read from there, or copied
// server-side at upload. Each part of the multipart layout has a generation
// that every write into it bumps, so an upload knows which parts it still owes.
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { FsError } from '../../errors.js'
import type { Meta } from '../metadata.js'
import { RangeSet } from './range-set.js'
import { partIndexOf } from './part-layout.js'

/** the object a file's unwritten bytes come from */
export interface BaseObject {
  key: string
  /** names this version in the block cache; an ETag, or a made-up id if the server gave none */
  version: string
  size: number
}

export interface RemoteReader {
  read(base: BaseObject, buf: Buffer, length: number, position: number): Promise<number>
}

let stagingCounter = 0

export class FileNode {
  path: string
  key: string
  base?: BaseObject
  size: number
  /** remote bytes at or past this offset were cut off by a truncate */
  baseLimit: number
  readonly local = new RangeSet()
  /** content or attributes differ from the server's */
  dirty = false
  /** counts changes, so an upload can tell whether more came while it ran */
  changes = 0
  meta: Meta
  /** x-amz-meta entries we don't interpret, kept on rewrite */
  extraMeta: Record<string, string> = {}
  contentType?: string
  /** when the content last changed here (ms), shown as mtime until the upload dates it */
  modifiedAt?: number
  /** open handles; the node lives while > 0 or while dirty */
  refs = 0
  unlinked = false
  /** bumped by each change to a part; an upload records the generation it sent */
  private readonly gens = new Map<number, number>()
  private staging?: FileHandle
  private stagingPath?: string
  private readonly stagingDir: string
  private readonly partSize: number

  constructor (opts: { path: string, key: string, base?: BaseObject, meta: Meta, stagingDir: string, partSize: number }) {
    this.path = opts.path
    this.key = opts.key
    this.base = opts.base
    this.size = opts.base?.size ?? 0
    this.baseLimit = this.size
    this.meta = opts.meta
    this.stagingDir = opts.stagingDir
    this.partSize = opts.partSize
  }

  /** the local file holding the bytes written here, once there are any */
  get stagingFile (): string | undefined {
    return this.stagingPath
  }

  /** created here, nothing written yet: there is nothing to save but its name */
  isFreshEmpty (): boolean {
    return !this.base && this.size === 0 && this.changes <= 1
  }

  changed (): void {
    this.dirty = true
    this.changes++
  }

  gen (part: number): number {
    return this.gens.get(part) ?? 0
  }

  private touchParts (start: number, end: number): void {
    const first = partIndexOf(start, this.partSize)
    const last = partIndexOf(Math.max(start, end - 1), this.partSize)
    for (let i = first; i <= last; i++) this.gens.set(i, this.gen(i) + 1)
  }

  private async file (): Promise<FileHandle> {
    if (!this.staging) {
      this.stagingPath = join(this.stagingDir, `${process.pid}-${++stagingCounter}`)
      try {
        this.staging = await open(this.stagingPath, 'w+', 0o600)
      } catch (err) {
        throw new FsError('EIO', `cannot create staging file in ${this.stagingDir}: ${(err as Error).message}`, this.path, { cause: err })
      }
    }
    return this.staging
  }

  async write (buf: Buffer, length: number, position: number): Promise<number> {
    const f = await this.file()
    let done = 0
    while (done < length) {
      const { bytesWritten } = await f.write(buf, done, length - done, position + done)
      if (bytesWritten <= 0) throw new FsError('ENOSPC', 'staging file write failed', this.path)
      done += bytesWritten
    }
    this.local.add(position, position + length)
    if (position + length > this.size) this.size = position + length
    this.touchParts(position, position + length)
    this.changed()
    return length
  }

  async truncate (size: number): Promise<void> {
    if (size === this.size && this.dirty) return
    const f = await this.file()
    await f.truncate(size)
    const old = this.size
    if (size < old) {
      this.local.truncate(size)
      this.baseLimit = Math.min(this.baseLimit, size)
    } else if (size > old) {
      // the staging file reads zeros there, which is what the file holds now
      this.local.add(old, size)
    }
    this.touchParts(Math.min(size, old), Math.max(size, old, 1))
    this.size = size
    this.changed()
  }

  async read (remote: RemoteReader, buf: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(this.size, position + length)
    if (end <= position) return 0
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
        const remoteEnd = Math.min(p.end, this.base ? Math.min(this.baseLimit, this.base.size) : 0)
        let got = 0
        if (remoteEnd > p.start && this.base) {
          const view = buf.subarray(at, at + (remoteEnd - p.start))
          got = await remote.read(this.base, view, remoteEnd - p.start, p.start)
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
  async materialize (remote: RemoteReader, start: number, end: number): Promise<void> {
    for (const [s, e] of this.local.gaps(start, Math.min(end, this.size))) {
      const buf = Buffer.alloc(e - s)
      const remoteEnd = this.base ? Math.min(e, this.baseLimit, this.base.size) : s
      if (remoteEnd > s && this.base) await remote.read(this.base, buf, remoteEnd - s, s)
      const f = await this.file()
      await f.write(buf, 0, buf.length, s)
      this.local.add(s, e)
    }
  }

  /** the bytes of [start, end), all local (materialize first) */
  async readRange (start: number, end: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(end - start)
    if (end > start) await this.readLocal(buf, 0, end - start, start)
    return buf
  }

  /** [start, end) is untouched server data at the same offsets: it can be copied server-side */
  isRemote (start: number, end: number): boolean {
    if (!this.base || end > Math.min(this.baseLimit, this.base.size)) return false
    return this.local.within(start, end).length === 0
  }

  /** after a successful upload of the content as it was at change count `changes` */
  uploaded (base: BaseObject, changes: number): void {
    this.base = base
    this.baseLimit = base.size
    if (this.changes === changes) this.dirty = false
  }

  async close (): Promise<void> {
    const f = this.staging
    const p = this.stagingPath
    this.staging = undefined
    this.stagingPath = undefined
    if (f) await f.close().catch(() => {})
    if (p) await import('node:fs/promises').then(fs => fs.unlink(p)).catch(() => {})
  }
}
