// s3fs-fuse (Debian's 1.90; scripts/setup.sh installs it) on the same bucket and
// server as the mount, in the foreground so that its pid is ours to measure and
// stop: the bulk rows run the same tools through it, for MB/s and CPU per GiB
// side by side. Its options are those of test/helpers/s3fs-mount.ts, otherwise
// s3fs's defaults (10 MiB parts, 5 at a time, a temporary file per open file).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mountAt } from '../../src/fuse/mountinfo.js'
import type { Target } from './target.js'
import { alive, sh, q, sleep } from './util.js'

export const S3FS_OPTIONS = 'use_path_request_style, stat_cache_expire=1, otherwise defaults'

export class S3fsMount {
  private constructor (readonly dir: string, private readonly child: ChildProcess, readonly version: string) {}

  get pid (): number { return this.child.pid ?? 0 }

  static async available (): Promise<string | undefined> {
    try {
      const r = await sh('s3fs --version', { timeoutMs: 10_000 })
      return /V(\d[\d.]*)/.exec(r.stdout)?.[1] ?? '?'
    } catch {
      return undefined
    }
  }

  /** mounts the target's bucket (and prefix) on a fresh directory under work */
  static async mount (t: Target, work: string): Promise<S3fsMount> {
    const version = await S3fsMount.available()
    if (!version) throw new Error('s3fs is not installed (scripts/setup.sh installs it)')
    const dir = join(work, 's3fs-mnt')
    mkdirSync(dir, { recursive: true })
    const passwd = join(work, 's3fs-passwd')
    const key = t.env.AWS_ACCESS_KEY_ID
    const secret = t.env.AWS_SECRET_ACCESS_KEY
    if (!key || !secret) throw new Error('s3fs needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
    writeFileSync(passwd, `${key}:${secret}\n`, { mode: 0o600 })
    const child = spawn('s3fs', [t.mountSpec, dir, '-f', '-o', [
      `url=${t.endpoint}`, 'use_path_request_style', `endpoint=${t.region}`, `passwd_file=${passwd}`,
      'stat_cache_expire=1', 'dbglevel=warn',
    ].join(',')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (b: Buffer) => { if (stderr.length < 64 * 1024) stderr += b.toString() })
    const m = new S3fsMount(dir, child, version)
    for (let i = 0; i < 200 && !mountAt(dir); i++) {
      if (child.exitCode !== null) break
      await sleep(100)
    }
    if (!mountAt(dir)) {
      await m.unmount().catch(() => {})
      throw new Error(`s3fs did not mount ${t.mountSpec}: ${stderr.trim().slice(-500) || 'no message'}`)
    }
    return m
  }

  async unmount (): Promise<void> {
    if (mountAt(this.dir)) await sh(`fusermount -u ${q(this.dir)}`, { timeoutMs: 120_000 }).catch(() => {})
    for (let i = 0; i < 100 && this.pid && alive(this.pid); i++) await sleep(50)
    if (this.pid && alive(this.pid)) {
      try { process.kill(this.pid, 'SIGKILL') } catch { /* gone */ }
      await sh(`fusermount -uz ${q(this.dir)}`).catch(() => {})
    }
  }
}
