// s3fs-fuse (Debian's; scripts/setup.sh installs it) mounted on a bucket of the
// local S3 server, for tests that check what s3fs and oortfs see of each other's objects.
import type { Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LocalS3Info } from './s3-server.js'
import { cleanupMount, isMounted, tmpDir, waitFor } from './oortfs-cli.js'
import { q, shOk } from './mount.js'

/** mounts BUCKET with s3fs in the foreground (so its pid is ours to stop) */
export async function s3fsMount (t: Test, s3: LocalS3Info, bucket: string): Promise<{ dir: string, unmount(): Promise<void> }> {
  const work = tmpDir(t, 'oortfs-s3fs-')
  const dir = join(work, 'mnt')
  mkdirSync(dir)
  const passwd = join(work, 'passwd')
  writeFileSync(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`, { mode: 0o600 })
  const child = spawn('s3fs', [bucket, dir, '-f', '-o', [
    `url=${s3.endpoint}`, 'use_path_request_style', `endpoint=${s3.region}`, `passwd_file=${passwd}`,
    'use_xattr', 'stat_cache_expire=1', 'dbglevel=warn',
  ].join(',')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
  cleanupMount(t, dir, () => child.pid)
  const exited = new Promise(resolve => child.on('exit', resolve))
  if (!await Promise.race([waitFor(() => isMounted(dir), 20_000), exited.then(() => false)])) {
    throw new Error(`s3fs did not mount ${bucket}: ${stderr.slice(-2000)}`)
  }
  return {
    dir,
    async unmount () {
      await shOk(`fusermount -u ${q(dir)}`)
      await exited
    },
  }
}
