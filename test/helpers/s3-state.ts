// Where tap's `before` script leaves the shared cluster's state for the test files.
// Keyed by the tap runner's pid (the parent of both the before script and every
// test file), so two `tap` runs in one checkout do not stop each other's cluster.

import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LocalS3State } from '../../scripts/local-s3.js'

export const STATE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.tap')

/** The state file of this tap run (OORTFS_TEST_S3_STATE overrides it). */
export function sharedStateFile (): string {
  const runnerPid = process.env.OORTFS_TAP_RUNNER_PID ?? process.ppid
  return process.env.OORTFS_TEST_S3_STATE ?? path.join(STATE_DIR, `oortfs-s3-${runnerPid}.json`)
}

export function readState (file: string): LocalS3State | undefined {
  try { return JSON.parse(readFileSync(file, 'utf8')) as LocalS3State } catch { return undefined }
}

/** State files left by tap runs that are gone (interrupted before their `after` ran). */
export function staleStateFiles (): string[] {
  let names: string[] = []
  try { names = readdirSync(STATE_DIR) } catch { return [] }
  return names.flatMap(n => {
    const m = /^oortfs-s3-(\d+)\.json$/.exec(n)
    return m && !pidAlive(Number(m[1])) ? [path.join(STATE_DIR, n)] : []
  })
}

export function pidAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/**
 * tap records coverage of its before/after scripts even with disable-coverage, and then
 * fails the run for the "incomplete coverage" of scripts/local-s3.ts. So the hooks do
 * their work in a child without coverage: returns true in that child, else runs it,
 * sets the exit code and returns false. Import scripts/ modules only in the child.
 */
export async function inChildWithoutCoverage (selfUrl: string): Promise<boolean> {
  if (process.env.OORTFS_TAP_HOOK_CHILD === '1') return true
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(selfUrl)], {
    stdio: 'inherit',
    env: { ...process.env, OORTFS_TAP_HOOK_CHILD: '1', OORTFS_TAP_RUNNER_PID: String(process.ppid), _TAPJS_PROCESSINFO_COVERAGE_: '0' },
  })
  process.exitCode = await new Promise<number>(resolve => child.on('exit', code => resolve(code ?? 1)))
  return false
}
