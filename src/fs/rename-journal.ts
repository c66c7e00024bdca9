// A directory rename is many copies and deletes; a crash between them would
// leave a tree half here and half there. Before copying, a small journal
// object records the rename; the next mount (its first request lists the
// journal, which doubles as the bucket check) finishes any rename it finds:
// copies what is still only under the old prefix, deletes the old keys that
// are safely at the new place, then the journal. Keys sit at the bucket root
// under .oortfs-journal/, a name a bucket-root mount hides and refuses.
import { randomUUID } from 'node:crypto'
import type { ObjectStore, ObjectSummary } from '../s3/store.js'
import { Priority, sameEtag } from '../s3/store.js'
import { log } from '../util/log.js'
import { copyObject } from './write/copy-object.js'

import { JOURNAL_DIR } from './names.js'

const PREFIX = JOURNAL_DIR + '/'

interface JournalRecord {
  v: 1
  op: 'rename-dir'
  from: string
  to: string
  started: string
}

export interface RecoveryReport {
  finished: number
  /** old keys left in place because the new place holds something else */
  kept: string[]
}

export class RenameJournal {
  constructor (private readonly store: ObjectStore) {}

  async begin (from: string, to: string): Promise<string> {
    const key = `${PREFIX}${Date.now()}-${randomUUID()}.json`
    const rec: JournalRecord = { v: 1, op: 'rename-dir', from, to, started: new Date().toISOString() }
    await this.store.put(key, Buffer.from(JSON.stringify(rec)), { contentType: 'application/json', priority: Priority.Metadata })
    return key
  }

  async end (key: string): Promise<void> {
    await this.store.delete(key, { priority: Priority.Data })
  }

  /** finishes the renames a crash left behind; the listing is also the mount's bucket check */
  async recover (): Promise<RecoveryReport> {
    const report: RecoveryReport = { finished: 0, kept: [] }
    const page = await this.store.list({ prefix: PREFIX, maxKeys: 1000 }, { priority: Priority.Metadata })
    for (const o of page.objects) {
      const got = await this.store.read(o.key, { priority: Priority.Metadata })
      if (!got) continue
      let rec: JournalRecord
      try { rec = JSON.parse(got.body.toString('utf8')) as JournalRecord } catch { continue }
      if (rec.v !== 1 || rec.op !== 'rename-dir' || !rec.from.endsWith('/') || !rec.to.endsWith('/')) continue
      log.warn(`finishing an interrupted rename of ${rec.from} to ${rec.to} (started ${rec.started})`)
      report.kept.push(...await this.finish(rec.from, rec.to))
      await this.end(o.key)
      report.finished++
    }
    return report
  }

  private async finish (from: string, to: string): Promise<string[]> {
    const [src, dst] = await Promise.all([this.listAll(from), this.listAll(to)])
    const there = new Map(dst.map(o => [o.key.slice(to.length), o]))
    const kept: string[] = []
    const removable: string[] = []
    for (const o of src) {
      const rest = o.key.slice(from.length)
      const at = there.get(rest)
      if (!at) {
        await copyObject(this.store, o.key, to + rest, o.size)
        removable.push(o.key)
      } else if (sameEtag(at.etag, o.etag) || at.size === o.size) {
        removable.push(o.key) // copied before the crash
      } else {
        kept.push(o.key) // something else is there now: keep both
      }
    }
    for (let i = 0; i < removable.length; i += 1000) await this.store.deleteMany(removable.slice(i, i + 1000))
    return kept
  }

  private async listAll (prefix: string): Promise<ObjectSummary[]> {
    const out: ObjectSummary[] = []
    let token: string | undefined
    do {
      const page = await this.store.list({ prefix, continuationToken: token }, { priority: Priority.Metadata })
      out.push(...page.objects)
      token = page.truncated ? page.nextToken : undefined
    } while (token)
    return out
  }
}
