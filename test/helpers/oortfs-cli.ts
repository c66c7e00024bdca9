// Runs the real `oortfs` command (bin/oortfs -> dist/) for end-to-end tests,
// and makes sure every mount a test starts is gone by its teardown.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mountAt } from '../../src/fuse/mountinfo.js'
import { defaultStagingParent } from '../../src/runtime-dir.js'
import { stagingFoldersOf } from '../../src/staging-dir.js'
import { ownSocketPath } from '../../src/control/server.js'
import type { LocalS3Info, Teardown } from './s3-server.js'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'oortfs')

function newest (dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

/** builds dist/ when it is missing or older than src/ (a file run without `npm test`) */
export function ensureBuilt (): void {
  const out = join(ROOT, 'dist', 'src', 'cli', 'main.js')
  if (existsSync(out) && statSync(out).mtimeMs >= newest(join(ROOT, 'src'))) return
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'ignore' })
  } catch { /* type errors elsewhere still emit JS */ }
}

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** the environment a CLI run sees: the local S3's keys, nothing from the user's HOME */
export function cliEnv (s3: LocalS3Info | undefined, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: process.env.TMPDIR }
  if (s3) Object.assign(env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey })
  return { ...env, ...extra }
}

/**
 * tap's processinfo wraps child_process and puts its loader into every child's
 * NODE_OPTIONS; that loader cannot load bin/oortfs (extensionless ESM), and the
 * CLI should run as users run it anyway: strip it at the last moment with env(1).
 */
function nodeCommand (args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args]]
}

export function runCli (args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<CliResult> {
  const start = Date.now()
  return new Promise(resolve => {
    const p = spawn(...nodeCommand(args), { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', d => { stdout += d })
    p.stderr.on('data', d => { stderr += d })
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: Date.now() - start }) })
  })
}

/** a foreground mount (-f), its stderr collected; stopped in teardown */
export function spawnForeground (args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(...nodeCommand([...args, '-f']), { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.on('data', d => { err += d })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  return { child, stderr: () => err, exited }
}

export function tmpDir (t: Teardown, name = 'oortfs-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), name))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function isMounted (dir: string): boolean {
  return mountAt(dir) !== undefined
}

export async function waitFor (cond: () => boolean, ms: number, step = 50): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (cond()) return true
    await new Promise(r => setTimeout(r, step))
  }
  return cond()
}

export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Registers the cleanup of a mount on `dir`. tap runs teardowns last-registered
 * first: register this after tmpDir() and newBucket(), so it runs before they
 * remove the directory and the bucket. Stops `pid()` (the mount's process)
 * politely, then lazily unmounts and kills whatever is left.
 */
export function cleanupMount (t: Teardown, dir: string, pid: () => number | undefined): void {
  t.teardown(async () => {
    const p = pid()
    if (p && alive(p)) {
      try { process.kill(p, 'SIGTERM') } catch { /* gone */ }
      await waitFor(() => !alive(p), 10_000)
    }
    if (isMounted(dir)) {
      try { execFileSync('fusermount', ['-uz', dir], { stdio: 'ignore' }) } catch { /* already gone */ }
    }
    if (p && alive(p)) {
      try { process.kill(p, 'SIGKILL') } catch { /* gone */ }
    }
    // a mount killed, or one that could not save, leaves its staging files: a
    // run's worth of them (GiBs) must not pile up in /tmp on a reused machine
    if (!p || !alive(p)) {
      for (const f of await stagingDirsOf(dir)) rmSync(f, { recursive: true, force: true })
      rmSync(await ownSocketPath(canonicalOf(dir)), { force: true }) // a killed mount's control socket
    }
  })
}

function canonicalOf (dir: string): string {
  try { return realpathSync(dir) } catch { return dir }
}

/** the staging folders of a mount point (one per process that mounted it) in the default place */
export async function stagingDirsOf (dir: string): Promise<string[]> {
  return await stagingFoldersOf(await defaultStagingParent(), canonicalOf(dir))
}
