// A directory rename is many copies and deletes; a crash between them would
// leave a tree half here and half there. Before copying, a small journal
// object records the rename; the next mount (its first request lists the
// journal, which doubles as the bucket check) finishes any rename it finds:
// copies what is still only under the old prefix, deletes the old keys that
// are safely at the new place, then the journal. Keys sit at the mount's root
// (the bucket's, or the prefix's) under .oortfs-journal/, a name the mount
// hides and refuses there; a prefix mount so writes nothing outside its prefix.
//
// Finishing keeps every version it is not sure of: an old key is deleted only
// where the new one has the same ETag. One rename that cannot be finished (a
// key the server refuses) is reported and left for later; the others, and the
// mount, go on.
//
// A rename may be running, not dead: another machine's mount in the middle of
// a large one. Its writer rewrites the journal every BEAT_MS while it works, so
// a journal is left alone while it is fresh, unless the process that wrote it
// is known dead (same host, no such pid) or is this one (its rename failed).
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { ObjectStore, ObjectSummary } from '../s3/store.js'
import { Priority, sameEtag } from '../s3/store.js'
import { log } from '../util/log.js'
import { copyObject } from './write/copy-object.js'

import { JOURNAL_DIR } from './names.js'


interface JournalRecord {
  v: 1
  op: 'rename-dir'
  from: string
  to: string
  started: string
  /** who runs it; absent in a journal of an older oortfs */
  host?: string
  pid?: number
}

/** how often a running rename rewrites its journal */
export const BEAT_MS = 30_000
/** a journal not rewritten for this long belongs to a rename nobody runs any more */
export const STALE_MS = 4 * BEAT_MS

/** a rename that is running: its journal, kept fresh until end() */
export interface JournalEntry {
  key: string
  stop(): Promise<void>
}

/** a rename seen running elsewhere, left alone */
export interface RunningRename {
  from: string
  to: string
  host?: string
  pid?: number
  /** seconds since its journal was last rewritten */
  beatAgo: number
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
  /** old keys left in place because the server refused to copy them, with why */
  refused: { key: string, why: string }[]
}

/** an interrupted rename that could not be finished now: its journal stays for the next try */
export interface FailedRename {
  from: string
  to: string
  started: string
  why: string
}

export interface RecoveryReport {
  renames: FinishedRename[]
  running: RunningRename[]
  failed: FailedRename[]
  /** abandoned renames a read-only mount must not finish */
  pending: { from: string, to: string, started: string }[]
}

export class RenameJournal {
  private readonly dir: string

  /** `root`: the mount's prefix ('' or ending in '/'), under which the journal lives */
  constructor (private readonly store: ObjectStore, private readonly beatMs = BEAT_MS, root = '') {
    this.dir = root + JOURNAL_DIR + '/'
  }

  async begin (from: string, to: string): Promise<JournalEntry> {
    // wall time, on purpose: the key's time and `started` are dates for a person
    // reading the journal (and keys sort by them), not intervals anyone measures
    const key = `${this.dir}${Date.now()}-${randomUUID()}.json`
    const rec: JournalRecord = { v: 1, op: 'rename-dir', from, to, started: new Date().toISOString(), host: hostname(), pid: process.pid }
    const body = Buffer.from(JSON.stringify(rec))
    const write = (): Promise<unknown> => this.store.put(key, body, { contentType: 'application/json', priority: Priority.Metadata })
    await write()
    let beat: Promise<unknown> = Promise.resolve()
    // a beat that fails is no harm: the next one, or a stale journal finished by the next mount
    const timer = setInterval(() => { beat = write().catch(() => {}) }, this.beatMs)
    return {
      key,
      // a beat landing after end()'s delete would bring the journal back
      stop: async () => { clearInterval(timer); await beat },
    }
  }

  async end (entry: JournalEntry): Promise<void> {
    await entry.stop()
    await this.store.delete(entry.key, { priority: Priority.Data })
  }

  /**
   * Finishes the renames a crash left behind; the listing is also the mount's
   * bucket check. `progress` is called once the server has answered, and as
   * the work goes on (a large rename takes a while: the caller's patience).
   * A read-only mount only reports them: it writes nothing, and its keys may
   * not be allowed to.
   */
  async recover (opts: { progress?: () => void, readOnly?: boolean } = {}): Promise<RecoveryReport> {
    const progress = opts.progress ?? (() => {})
    const report: RecoveryReport = { renames: [], running: [], pending: [], failed: [] }
    const page = await this.store.list({ prefix: this.dir, maxKeys: 1000 }, { priority: Priority.Metadata })
    progress()
    // a journal's age is the server's time now less the LastModified of its last
    // beat: both from the server's clock, which every process writing journals
    // shares, so neither this machine's clock nor another's can make a running
    // rename look abandoned
    const now = (page.serverDate ?? new Date()).getTime()
    for (const o of page.objects) {
      const got = await this.store.read(o.key, { priority: Priority.Metadata })
      if (!got) continue
      let rec: JournalRecord
      try { rec = JSON.parse(got.body.toString('utf8')) as JournalRecord } catch { continue }
      if (rec.v !== 1 || rec.op !== 'rename-dir' || !rec.from.endsWith('/') || !rec.to.endsWith('/')) continue
      const beatAgo = now - got.lastModified.getTime()
      if (!abandoned(rec, beatAgo)) {
        report.running.push({ from: rec.from, to: rec.to, host: rec.host, pid: rec.pid, beatAgo: Math.max(0, Math.round(beatAgo / 1000)) })
        continue
      }
      if (opts.readOnly) {
        report.pending.push({ from: rec.from, to: rec.to, started: rec.started })
        continue
      }
      log.debug(`finishing an interrupted rename of ${rec.from} to ${rec.to} (begun ${rec.started})`)
      try {
        const done = await this.finish(rec.from, rec.to, progress)
        await this.store.delete(o.key, { priority: Priority.Data })
        report.renames.push({ from: rec.from, to: rec.to, started: rec.started, ...done })
      } catch (err) {
        // the server away, or refusing the listing: this rename waits for the next mount; the others go on
        report.failed.push({ from: rec.from, to: rec.to, started: rec.started, why: (err as Error).message })
      }
    }
    return report
  }

  /** what recover() did, for a person: a line per rename (and per key kept), none if there was nothing to do */
  static describe (report: RecoveryReport): string[] {
    return [
      ...report.renames.flatMap(r => [
        `finished the interrupted rename of ${r.from} to ${r.to} (begun ${r.started}): ${r.copied} key(s) copied now, ${r.alreadyThere} already there`,
        ...r.kept.map(k => `  kept under the old name, the new one holds other data: ${k}`),
        ...r.refused.map(k => `  kept under the old name, the server refused to copy it (${k.why}): ${k.key}`),
      ]),
      ...report.failed.map(r => `could not finish the interrupted rename of ${r.from} to ${r.to} (begun ${r.started}): ${r.why}; ` +
        'its journal stays, and the next mount or oortfs fsck tries again'),
      ...report.running.map(r => `left alone: the rename of ${r.from} to ${r.to} is running ` +
        `(${r.pid !== undefined ? `process ${r.pid} on ${r.host}, ` : ''}journal rewritten ${r.beatAgo} s ago); ` +
        `if that process is gone, the next mount or oortfs fsck after ${Math.round(STALE_MS / 1000)} s finishes it`),
      ...report.pending.map(r => `not finished, this mount is read-only: the interrupted rename of ${r.from} to ${r.to} ` +
        `(begun ${r.started}); until a read-write mount or oortfs fsck finishes it, its files are split between the two names`),
    ]
  }

  private async finish (from: string, to: string, progress: () => void): Promise<Pick<FinishedRename, 'copied' | 'alreadyThere' | 'kept' | 'refused'>> {
    const [src, dst] = await Promise.all([this.listAll(from), this.listAll(to)])
    const there = new Map(dst.map(o => [o.key.slice(to.length), o]))
    const done = { copied: 0, alreadyThere: 0, kept: [] as string[], refused: [] as { key: string, why: string }[] }
    const removable: string[] = []
    for (const o of src) {
      const rest = o.key.slice(from.length)
      const at = there.get(rest)
      if (!at) {
        try {
          await copyObject(this.store, o.key, to + rest, o.size)
        } catch (err) {
          // a refusal (a new key over 1,024 bytes, AccessDenied) will not change: keep the old key, go on
          const status = (err as { status?: number }).status ?? 0
          if (status < 400 || status >= 500) throw err
          done.refused.push({ key: o.key, why: (err as Error).message })
          continue
        }
        removable.push(o.key)
        done.copied++
        progress()
      } else if (sameEtag(at.etag, o.etag)) {
        removable.push(o.key) // copied before the crash
        done.alreadyThere++
      } else {
        // something else is there now, or a copy whose ETag differs (a size alone proves nothing): keep both
        done.kept.push(o.key)
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

/** nobody will finish this rename but us: its writer failed here, died here, or stopped beating */
function abandoned (rec: JournalRecord, beatAgo: number): boolean {
  if (rec.host === hostname() && rec.pid !== undefined) {
    if (rec.pid === process.pid) return true
    if (!processAlive(rec.pid)) return true
  }
  return beatAgo > STALE_MS
}

function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // someone else's process: alive
  }
}
