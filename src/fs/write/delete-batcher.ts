// Deletes go out in batches: `rm -r` unlinks one name at a time, and one
// DeleteObjects of up to 1,000 keys costs what a single DeleteObject does.
// An unlink is answered at once (the caches already show the name gone); its
// key waits for company while more unlinks keep coming (a quiet moment, a
// full batch, or at most maxWaitMs), and an rmdir, rename or unmount sends it. Anything that writes a key first takes it
// out of the batch (or waits for the batch in flight), so a file created again
// under a deleted name is never deleted by a late batch.
import type { ObjectStore } from '../../s3/store.js'
import { Priority } from '../../s3/store.js'
import { log } from '../../util/log.js'

const BATCH = 1000

export class DeleteBatcher {
  private pending = new Set<string>()
  private readonly inflight = new Map<string, Promise<void>>()
  private timer?: NodeJS.Timeout
  private firstPendingAt = 0
  failures = 0

  constructor (private readonly store: ObjectStore, private readonly quietMs = 200, private readonly maxWaitMs = 2000) {}

  delete (key: string): void {
    if (this.pending.size === 0) this.firstPendingAt = Date.now()
    this.pending.add(key)
    if (this.pending.size >= BATCH) { void this.flush(); return }
    // rm -r unlinks one name after another: wait until it pauses, but not for ever
    if (this.timer) clearTimeout(this.timer)
    const wait = Math.min(this.quietMs, Math.max(0, this.firstPendingAt + this.maxWaitMs - Date.now()))
    this.timer = setTimeout(() => { void this.flush() }, wait)
  }

  /** call before writing `key`: it must not be deleted after the write */
  async before (key: string): Promise<void> {
    this.pending.delete(key)
    await this.inflight.get(key)
  }

  /** true if the key is deleted or about to be */
  has (key: string): boolean {
    return this.pending.has(key) || this.inflight.has(key)
  }

  /** sends everything pending and waits for every batch in flight */
  async flush (): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = undefined }
    const keys = [...this.pending]
    this.pending = new Set()
    const sends: Promise<void>[] = []
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH)
      const p = this.send(batch)
      for (const k of batch) this.inflight.set(k, p)
      sends.push(p.finally(() => { for (const k of batch) if (this.inflight.get(k) === p) this.inflight.delete(k) }))
    }
    await Promise.all([...sends, ...this.inflight.values()])
  }

  private async send (keys: string[]): Promise<void> {
    // XML cannot carry control characters: such keys go one by one
    const plain = keys.filter(k => !/[\u0000-\u001f]/.test(k))
    const odd = keys.filter(k => /[\u0000-\u001f]/.test(k))
    const single = [...odd]
    try {
      if (plain.length === 1) single.push(plain[0]!)
      else if (plain.length > 1) {
        const r = await this.store.deleteMany(plain, { priority: Priority.Data })
        single.push(...r.failed.map(f => f.key))
      }
    } catch (err) {
      log.warn(`batch delete of ${plain.length} keys failed (${(err as Error).message}); deleting one by one`)
      single.push(...plain)
    }
    await Promise.all(single.map(k => this.store.delete(k, { priority: Priority.Data }).catch(err => {
      this.failures++
      log.error(`could not delete ${k}: ${(err as Error).message}`)
    })))
  }
}
