// chmod, chown, utimens and xattrs of a file that is already on the server
// rewrite its metadata with a CopyObject in place. They come in bursts (tar
// and rsync set mode and times one after the other, then often rename), so
// the rewrite waits a moment: changes to the same file merge into one copy,
// a rename right after carries them in its own copy, an unlink drops them.
// The caches show the new attributes at once; the server has them within
// `delayMs` (and before unmount).
import type { ObjectStore } from '../../s3/store.js'
import { Priority } from '../../s3/store.js'
import { log } from '../../util/log.js'
import type { Entry } from '../entry.js'
import { copyObject } from './copy-object.js'

export interface PendingMeta {
  entry: Entry
  headers: Record<string, string>
  contentType?: string
}

export class MetaWriter {
  private readonly pending = new Map<string, PendingMeta>()
  /** copies sent and not yet answered */
  private readonly sending = new Map<string, PendingMeta>()
  private timer?: NodeJS.Timeout
  failures = 0

  constructor (
    private readonly store: ObjectStore,
    /** told the object's new ETag and date once a rewrite lands */
    private readonly landed: (path: string, entry: Entry) => void,
    private readonly delayMs = 1000,
  ) {}

  schedule (path: string, p: PendingMeta): void {
    this.pending.set(path, p)
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.flush().catch(() => {}) }, this.delayMs)
  }

  /** the pending change of path, removed: the caller's own copy will carry it */
  take (path: string): PendingMeta | undefined {
    const p = this.pending.get(path)
    this.pending.delete(path)
    return p
  }

  has (path: string): boolean {
    return this.pending.has(path)
  }

  /** the attributes path will have once what is pending or being sent lands */
  current (path: string): PendingMeta | undefined {
    return this.pending.get(path) ?? this.sending.get(path)
  }

  /** writes every pending change now */
  async flush (): Promise<void> {
    const all = [...this.pending]
    this.pending.clear()
    const failed: string[] = []
    await Promise.all(all.map(async ([path, p]) => {
      this.sending.set(path, p)
      try {
        const r = await copyObject(this.store, p.entry.key, p.entry.key, p.entry.size, { metadata: p.headers, contentType: p.contentType, priority: Priority.Metadata })
        this.landed(path, { ...p.entry, etag: r.etag || p.entry.etag, lastModified: r.lastModified ?? r.serverDate ?? p.entry.lastModified })
      } catch (err) {
        this.failures++
        failed.push(path)
        log.error(`could not store the attributes of ${path}: ${(err as Error).message}`)
      } finally {
        if (this.sending.get(path) === p) this.sending.delete(path)
      }
    }))
    if (failed.length) throw new Error(`attributes of ${failed.length} file(s) not stored: ${failed.slice(0, 5).join(', ')}`)
  }
}
