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

/** one interrupted rename, finished */
export interface FinishedRename {
  from: string
  to: string
  started: string
  /** keys copied now (the crash came before their copy) */
  copied: number
  /** keys already at the new place (copied before the crash), their old copies deleted */
  alreadyThere: number
  /** old keys left in place because the new place holds something else */
  kept: string[]
}

export interface RecoveryReport {
  finished: number
  /** old keys left in place because the new place holds something else */
  kept: string[]
  renames: FinishedRename[]
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

  /**
   * Finishes the renames a crash left behind; the listing is also the mount's
   * bucket check. `progress` is called once the server has answered, and as
   * the work goes on (a large rename takes a while: the caller's patience).
   */
  async recover (progress: () => void = () => {}): Promise<RecoveryReport> {
    const report: RecoveryReport = { finished: 0, kept: [], renames: [] }
    const page = await this.store.list({ prefix: PREFIX, maxKeys: 1000 }, { priority: Priority.Metadata })
    progress()
    for (const o of page.objects) {
      const got = await this.store.read(o.key, { priority: Priority.Metadata })
      if (!got) continue
      let rec: JournalRecord
      try { rec = JSON.parse(got.body.toString('utf8')) as JournalRecord } catch { continue }
      if (rec.v !== 1 || rec.op !== 'rename-dir' || !rec.from.endsWith('/') || !rec.to.endsWith('/')) continue
      log.debug(`finishing an interrupted rename of ${rec.from} to ${rec.to} (begun ${rec.started})`)
      const done = await this.finish(rec.from, rec.to, progress)
      await this.end(o.key)
      report.kept.push(...done.kept)
      report.renames.push({ from: rec.from, to: rec.to, started: rec.started, ...done })
      report.finished++
    }
    return report
  }

  /** what recover() did, for a person: a line per rename (and per key kept), none if there was nothing to do */
  static describe (report: RecoveryReport): string[] {
    return report.renames.flatMap(r => [
      `finished the interrupted rename of ${r.from} to ${r.to} (begun ${r.started}): ${r.copied} key(s) copied now, ${r.alreadyThere} already there`,
      ...r.kept.map(k => `  kept under the old name, the new one holds other data: ${k}`),
    ])
  }

  private async finish (from: string, to: string, progress: () => void): Promise<Pick<FinishedRename, 'copied' | 'alreadyThere' | 'kept'>> {
    const [src, dst] = await Promise.all([this.listAll(from), this.listAll(to)])
    const there = new Map(dst.map(o => [o.key.slice(to.length), o]))
    const done = { copied: 0, alreadyThere: 0, kept: [] as string[] }
    const removable: string[] = []
    for (const o of src) {
      const rest = o.key.slice(from.length)
      const at = there.get(rest)
      if (!at) {
        await copyObject(this.store, o.key, to + rest, o.size)
        removable.push(o.key)
        done.copied++
        progress()
      } else if (sameEtag(at.etag, o.etag) || at.size === o.size) {
        removable.push(o.key) // copied before the crash
        done.alreadyThere++
      } else {
        done.kept.push(o.key) // something else is there now: keep both
      }
    }
    for (let i = 0; i < removable.length; i += 1000) await this.store.deleteMany(removable.slice(i, i + 1000))
    return done
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
