// Small helpers of the benchmark: running shell tools (timed, killable),
// dropping the page cache, progress lines, units.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, readFileSync } from 'node:fs'

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB
/** throughput unit of the table: 10^6 bytes per second */
export const MB = 1e6

const t0 = Date.now()

/** a progress line on stderr (stdout carries only the header and the table) */
export function say (msg: string): void {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`)
}

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** tools running now, each its own process group: Ctrl-C or a crash kills them by their ids */
const running = new Set<ChildProcess>()

export function killChildren (): void {
  for (const child of running) {
    if (child.pid === undefined) continue
    try { process.kill(-child.pid, 'SIGKILL') } catch { /* gone */ }
  }
}

export interface ShResult { code: number | null; stdout: string; stderr: string; seconds: number }

export interface ShOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs?: number
  /** exit codes that are not a failure (grep: 1 = no match) */
  okCodes?: number[]
}

/**
 * Runs `cmd` with bash, times it from spawn to exit, and rejects with the
 * tail of its stderr when it fails or outlives timeoutMs.
 */
export async function sh (cmd: string, opts: ShOptions = {}): Promise<ShResult> {
  const ok = opts.okCodes ?? [0]
  return await new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn('bash', ['-c', cmd], {
      env: opts.env ?? process.env, cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    })
    running.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 64 * MiB) stdout += d })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < MiB) stderr += d })
    let timedOut = false
    const timer = opts.timeoutMs
      ? setTimeout(() => { timedOut = true; try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } }, opts.timeoutMs)
      : undefined
    child.on('error', err => { clearTimeout(timer); running.delete(child); reject(err) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      const seconds = (performance.now() - start) / 1000
      if (code !== null && ok.includes(code)) return resolve({ code, stdout, stderr, seconds })
      const why = timedOut ? `timed out after ${Math.round(opts.timeoutMs! / 1000)} s` : signal ? `killed by ${signal}` : `exit code ${code}`
      const tail = stderr.trim().split('\n').slice(-3).join(' | ')
      reject(new Error(`\`${shortCmd(cmd)}\` ${why}${tail ? ': ' + tail : ''}`))
    })
  })
}

function shortCmd (cmd: string): string {
  return cmd.length > 120 ? cmd.slice(0, 117) + '...' : cmd
}

/** single-quoted for bash */
export function q (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function canDropCaches (): boolean {
  try {
    accessSync('/proc/sys/vm/drop_caches', constants.W_OK)
    return true
  } catch {
    return false
  }
}

/** writes back dirty pages and drops the page cache, dentries and inodes (root only); false if it could not */
export function dropCaches (): boolean {
  if (!canDropCaches()) return false
  spawnSync('sync', { stdio: 'ignore', timeout: 120_000 })
  return spawnSync('bash', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' }).status === 0
}

export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  return !/^\d+ \(.*\) Z/.test((() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return '' } })())
}

export function fmtSize (n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`
  if (n >= MiB) return `${Math.round(n / MiB)} MiB`
  if (n >= KiB) return `${Math.round(n / KiB)} KiB`
  return `${n} B`
}

/** 1000 -> "1,000" */
export function fmtCount (n: number): string {
  return n.toLocaleString('en-US')
}

