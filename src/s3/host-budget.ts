// One account's request budget, shared by the oortfs processes of this user
// on this machine: two mounts of the same bucket, or a mount and `oortfs fsck`,
// must not each send the gateway's whole 100/s. Lock-free, in files: each
// process puts one file (its pid and its rps) in the account's folder, keyed
// by endpoint and access key, and removes it when it ends. Every process reads
// the folder when it joins, when the folder changes (inotify) and every few
// seconds, drops the files of processes that are gone (a crash, kill -9), and
// takes its max-min fair share of the largest rps among them: sorted by rps,
// each gets at most its own rps and what is left is split evenly among the
// rest (100 + 100: 50 each; a mount at 100 and an fsck at 10: 90 and 10). Every
// process computes the same split from the same files, so the shares never
// sum past the largest rps.
import { createHash, randomBytes } from 'node:crypto'
import { watch, unlinkSync, type FSWatcher } from 'node:fs'
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface Member { pid: number, rps: number }

/** the account's folder name: endpoint and access key, hashed (the key id stays out of file names) */
export function budgetKey (endpoint: string, account: string): string {
  return createHash('sha256').update(`${endpoint}\0${account}`).digest('hex').slice(0, 16)
}

/** max-min fair shares of the largest rps among `members`, in their order */
export function fairShares (members: number[]): number[] {
  const budget = Math.max(...members)
  const order = members.map((rps, i) => ({ rps, i })).sort((a, b) => a.rps - b.rps)
  const shares = new Array<number>(members.length)
  let left = budget
  order.forEach(({ rps, i }, k) => {
    const share = Math.min(rps, left / (order.length - k))
    shares[i] = share
    left -= share
  })
  return shares
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

export class HostBudget {
  private readonly file: string
  private watcher?: FSWatcher
  private timer?: NodeJS.Timeout
  private closed = false
  private readonly removeOnExit = (): void => { try { unlinkSync(this.file) } catch { /* gone already */ } }
  /** the share in force, and how many processes share */
  share: number
  members = 1

  private constructor (private readonly dir: string, private readonly rps: number, private readonly apply: (share: number, members: number) => void, private readonly rescanMs: number) {
    this.file = join(dir, `${process.pid}-${randomBytes(4).toString('hex')}.json`)
    this.share = rps
  }

  /** registers in `dir` (private, made by the caller) and applies the first share before returning */
  static async join (dir: string, rps: number, apply: (share: number, members: number) => void, rescanMs = 3000): Promise<HostBudget> {
    const b = new HostBudget(dir, rps, apply, rescanMs)
    await b.writeMine()
    process.on('exit', b.removeOnExit)
    try {
      await b.rescan()
    } catch (err) {
      // counted by the others but not sharing: never; the caller keeps its whole rps
      await b.close()
      throw err
    }
    try {
      b.watcher = watch(dir, () => { void b.rescan() })
      b.watcher.on('error', () => {}) // the timer still rescans
      b.watcher.unref()
    } catch { /* no inotify watch left (ENOSPC): the timer alone rescans */ }
    b.timer = setInterval(() => { void b.rescan() }, rescanMs)
    b.timer.unref()
    return b
  }

  /** our file, whole or not at all: a reader never sees half of it */
  private async writeMine (): Promise<void> {
    const tmp = this.file + '.tmp'
    await writeFile(tmp, JSON.stringify({ pid: process.pid, rps: this.rps } satisfies Member))
    await rename(tmp, this.file)
  }

  private scanning?: Promise<void>
  private again = false

  /** one scan at a time (a slower, older one must not put back a stale share), another after it if asked meanwhile */
  async rescan (): Promise<void> {
    if (this.scanning) { this.again = true; return await this.scanning }
    this.scanning = (async () => {
      do {
        this.again = false
        await this.scanOnce()
      } while (this.again && !this.closed)
    })().finally(() => { this.scanning = undefined })
    return await this.scanning
  }

  private async scanOnce (): Promise<void> {
    if (this.closed) return
    const names = await readdir(this.dir).catch(() => [] as string[])
    const rates: number[] = []
    let mine = -1
    for (const name of names) {
      if (!name.endsWith('.json')) continue
      const path = join(this.dir, name)
      let m: Member
      try { m = JSON.parse(await readFile(path, 'utf8')) as Member } catch { continue } // removed meanwhile
      if (!(m.rps >= 1)) continue
      if (!alive(m.pid)) { await unlink(path).catch(() => {}); continue }
      if (path === this.file) mine = rates.length
      rates.push(m.rps)
    }
    if (mine < 0) {
      // our file is gone (removed by someone else) or being replaced: count us anyway, and write it again
      mine = rates.length
      rates.push(this.rps)
      if (!this.closed) await this.writeMine().catch(() => {})
    }
    const share = Math.max(1, Math.floor(fairShares(rates)[mine]!))
    if (this.closed || (share === this.share && rates.length === this.members)) return
    this.share = share
    this.members = rates.length
    this.apply(share, rates.length)
  }

  async close (): Promise<void> {
    this.closed = true
    this.watcher?.close()
    clearInterval(this.timer)
    process.off('exit', this.removeOnExit)
    await unlink(this.file).catch(() => {})
  }
}
