// One oortfs mount made by the real CLI (bin/oortfs), read through its control
// socket: the same {"cmd":"stats"} answer `oortfs stats DIR --json` prints,
// asked directly so that sampling it every 100 ms costs no process start.
// The sampler also reads the mount process's VmRSS.
import { execFileSync, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ask, locate } from '../../src/control/client.js'
import { mountAt } from '../../src/fuse/mountinfo.js'
import { alive, messageOf, say, sleep } from './util.js'
import { rssOf } from '../proc-rss.js'
import type { RequestStats } from '../../src/s3/request-queue.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const BIN = join(ROOT, 'bin', 'oortfs')

export interface MountStats {
  mount: { pid: number }
  requests: RequestStats
  app: { dirtyBytes?: number, [k: string]: unknown }
}

export interface Sample { t: number, total: number }
export interface RssSample { t: number, rss: number }

/** every mount still up, for the cleanup on Ctrl-C or a crash */
export const liveMounts = new Set<BenchMount>()

interface RunResult { code: number | null, stdout: string, stderr: string }

function runBin (args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, nodeArgs: string[] = []): Promise<RunResult> {
  return new Promise(resolve => {
    // node's own flags (--cpu-prof): the mount's background process inherits them (daemon.ts)
    const p = spawn(process.execPath, [...nodeArgs, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    p.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
    p.on('error', err => { clearTimeout(timer); resolve({ code: -1, stdout, stderr: err.message }) })
  })
}

export class BenchMount {
  pid = 0
  readonly samples: Sample[] = []
  readonly rss: RssSample[] = []
  private mountpoint = ''
  private timer?: NodeJS.Timeout
  private asking = false

  private constructor (readonly dir: string, readonly logFile: string, private readonly env: NodeJS.ProcessEnv) {}

  /** `oortfs SPEC DIR -o endpoint=...`: returns once mounted, then samples every 100 ms */
  static async mount (spec: string, dir: string, opts: { endpoint: string, region?: string, env: NodeJS.ProcessEnv, logFile: string, extra?: string[], nodeArgs?: string[] }): Promise<BenchMount> {
    const m = new BenchMount(dir, opts.logFile, opts.env)
    liveMounts.add(m)
    const o = [`endpoint=${opts.endpoint}`, `log_file=${opts.logFile}`, ...(opts.region ? [`region=${opts.region}`] : []), ...(opts.extra ?? [])]
    const r = await runBin([spec, dir, '-o', o.join(',')], opts.env, 60_000, opts.nodeArgs)
    if (r.code !== 0 || !mountAt(dir)) {
      m.forceSync()
      liveMounts.delete(m)
      throw new Error(`mount failed (${r.code}): ${(r.stderr || r.stdout).trim() || 'no message'}`)
    }
    const { mountpoint } = await locate(dir)
    m.mountpoint = mountpoint
    m.pid = (await m.stats()).mount.pid
    m.timer = setInterval(() => m.tick(), 100)
    return m
  }

  /** the mount's counters; every answer is also a sample of the request rate */
  async stats (): Promise<MountStats> {
    const s = await ask(this.mountpoint, { cmd: 'stats' }, 30_000) as MountStats
    if (this.timer) this.samples.push({ t: performance.now(), total: s.requests.total })
    return s
  }

  private tick (): void {
    const r = rssOf(this.pid)
    if (r !== undefined) this.rss.push({ t: performance.now(), rss: r })
    if (this.asking) return
    this.asking = true
    this.stats().catch(() => {}).finally(() => { this.asking = false })
  }

  /**
   * Waits until the mount is quiet: nothing queued or in flight, nothing dirty, and
   * no new request for `quietMs` (debounced index, metadata and delete writes fire
   * about 1 s after the last change).
   */
  async settle (quietMs = 1500, maxMs = 120_000): Promise<void> {
    const end = Date.now() + maxMs
    let last = -1
    let since = Date.now()
    while (Date.now() < end) {
      const s = await this.stats()
      const busy = s.requests.inFlight > 0 || s.requests.queued > 0 || (s.app.dirtyBytes ?? 0) > 0
      if (busy || s.requests.total !== last) {
        last = s.requests.total
        since = Date.now()
      } else if (Date.now() - since >= quietMs) {
        return
      }
      await sleep(100)
    }
    say(`warning: ${this.dir} still busy after ${maxMs / 1000} s`)
  }

  /** the highest count of requests started within any one second of [from, to] (performance.now() times) */
  peakRate (from: number, to: number): number {
    // from the last sample before `from` (the count then) to the first after `to`
    let a = 0
    while (a + 1 < this.samples.length && this.samples[a + 1]!.t <= from) a++
    let b = a
    while (b < this.samples.length && this.samples[b]!.t <= to) b++
    const s = this.samples.slice(a, b + 1)
    let best = 0
    let i = 0
    for (let j = 0; j < s.length; j++) {
      while (s[j]!.t - s[i]!.t > 1000) i++
      best = Math.max(best, s[j]!.total - s[i]!.total)
    }
    return best
  }

  peakRss (from: number, to: number): number {
    let best = 0
    for (const x of this.rss) if (x.t >= from && x.t <= to) best = Math.max(best, x.rss)
    return best
  }

  private unmounting?: Promise<void>

  /** `oortfs unmount DIR` (saves first); if that fails, SIGTERM, then lazy unmount and SIGKILL. Once, whoever asks. */
  async unmount (): Promise<void> {
    this.unmounting ??= this.doUnmount()
    await this.unmounting
  }

  private async doUnmount (): Promise<void> {
    clearInterval(this.timer)
    try {
      if (!mountAt(this.dir)) return
      const r = await runBin(['unmount', this.dir], this.env, 300_000)
      if (r.code === 0 && !mountAt(this.dir)) {
        for (let i = 0; i < 100 && this.pid && alive(this.pid); i++) await sleep(50)
        return
      }
      say(`oortfs unmount ${this.dir} failed (${r.code}): ${r.stderr.trim()}; stopping pid ${this.pid}`)
      if (this.pid && alive(this.pid)) {
        try { process.kill(this.pid, 'SIGTERM') } catch { /* gone */ }
        for (let i = 0; i < 200 && alive(this.pid); i++) await sleep(50)
      }
      this.forceSync()
      throw new Error(`oortfs unmount failed: ${r.stderr.trim() || `exit code ${r.code}`}`)
    } finally {
      liveMounts.delete(this)
    }
  }

  /** lazy unmount and SIGKILL of the mount process: synchronous, for 'exit' */
  forceSync (): void {
    clearInterval(this.timer)
    try {
      if (mountAt(this.dir)) execFileSync('fusermount', ['-uz', this.dir], { stdio: 'ignore', timeout: 10_000 })
    } catch (err) {
      say(`fusermount -uz ${this.dir}: ${messageOf(err)}`)
    }
    if (this.pid && alive(this.pid)) {
      try { process.kill(this.pid, 'SIGKILL') } catch { /* gone */ }
    }
  }
}
