// Signals and crashes of a real mount: SIGHUP reopens a background mount's
// log file (logrotate's postrotate) and stops nothing; an uncaught exception
// or unhandled rejection (injected with OORTFS_TEST_CRASH and SIGUSR2) is
// logged in the mount's log, what was written is saved, and the process
// exits 1 leaving no dead (ENOTCONN) mount behind. Also: the control socket
// sits in root's /run/oortfs, private.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { alive, cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { objectBytes } from '../helpers/ops.js'
import { ownSocketPath } from '../../src/control/server.js'

ensureBuilt()
const s3 = await withS3(t)
const home = tmpDir(t, 'oortfs-home-')
const env = cliEnv(s3, home)
const client = rawClient(s3)
t.teardown(() => client.destroy())

async function pidOf (mnt: string, e = env): Promise<number> {
  const r = await runCli(['stats', mnt, '--json'], e)
  if (r.code !== 0) throw new Error(`stats: ${r.stderr}`)
  return (JSON.parse(r.stdout) as { mount: { pid: number } }).mount.pid
}

/** a background mount logging to a file of its own, with `extraEnv` */
async function background (t: Test, extraEnv: NodeJS.ProcessEnv = {}): Promise<{ mnt: string, bucket: string, logFile: string, pid: number, e: NodeJS.ProcessEnv }> {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const logFile = join(work, 'oortfs.log')
  const bucket = await newBucket(s3, t, 'signals')
  const e = { ...env, ...extraEnv }
  let pid: number | undefined
  cleanupMount(t, mnt, () => pid)
  const r = await runCli([bucket, mnt, '-o', `endpoint=${s3.endpoint},log_file=${logFile},log_level=info`], e)
  if (r.code !== 0) throw new Error(`mount: ${r.stderr}`)
  pid = await pidOf(mnt, e)
  return { mnt, bucket, logFile, pid, e }
}

/** the mount point answers as a plain directory again: no dead FUSE mount (ENOTCONN) left */
async function plainDirectory (mnt: string): Promise<boolean> {
  try {
    await readdir(mnt)
    return !isMounted(mnt)
  } catch {
    return false
  }
}

t.test('SIGHUP after logrotate moved the log: a new file, the mount serving on', async t => {
  const { mnt, logFile, pid } = await background(t)
  t.equal(statSync(logFile).mode & 0o777, 0o600, 'the log file is private')
  renameSync(logFile, `${logFile}.1`)
  process.kill(pid, 'SIGHUP')
  t.ok(await waitFor(() => { try { return /SIGHUP: log file reopened/.test(readFileSync(logFile, 'utf8')) } catch { return false } }, 5000), 'a new log file')
  t.ok(alive(pid) && isMounted(mnt), 'SIGHUP stopped nothing')
  t.match(readFileSync(`${logFile}.1`, 'utf8'), /oortfs: mounted /, 'the earlier lines stay in the moved file')
  const u = await runCli(['unmount', mnt], env)
  t.equal(u.code, 0, u.stderr)
  t.ok(await waitFor(() => !alive(pid), 10_000))
  t.match(readFileSync(logFile, 'utf8'), new RegExp(`oortfs: unmounted ${mnt}\\n$`), 'later lines in the new file')
  t.equal(statSync(logFile).mode & 0o777, 0o600)
})

for (const how of ['throw', 'reject'] as const) {
  t.test(`an injected ${how === 'throw' ? 'uncaught exception' : 'unhandled rejection'}: logged, the open file saved, no dead mount, process gone`, async t => {
    const { mnt, bucket, logFile, pid } = await background(t, { OORTFS_TEST_CRASH: how })
    // a writer that keeps its file open: its bytes are written, not yet saved
    const writer = spawn('bash', ['-c', `exec 3>${JSON.stringify(join(mnt, 'open.txt'))}; printf 'unsaved bytes' >&3; echo ready; sleep 60`], { stdio: ['ignore', 'pipe', 'ignore'] })
    t.teardown(() => { writer.kill('SIGKILL') })
    await new Promise(resolve => writer.stdout!.once('data', resolve))
    process.kill(pid, 'SIGUSR2')
    t.ok(await waitFor(() => !alive(pid), 90_000), 'the process exited')
    const log = readFileSync(logFile, 'utf8')
    t.match(log, how === 'throw' ? /error: uncaught exception: Error: test crash \(OORTFS_TEST_CRASH\)/ : /error: unhandled promise rejection: Error: test crash/)
    t.match(log, /after the (uncaught exception|unhandled promise rejection): everything was saved/)
    t.ok(await waitFor(() => !isMounted(mnt), 5000), 'unmounted (lazily: a file was still open)')
    t.ok(await plainDirectory(mnt), 'the mount point is a plain directory again, not ENOTCONN')
    t.equal((await objectBytes(client, bucket, 'open.txt')).toString(), 'unsaved bytes', 'the open file\'s bytes reached the bucket')
  })
}

t.test('a foreground mount that crashes exits 1', async t => {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'signals')
  const fg = spawnForeground([bucket, mnt, '-o', `endpoint=${s3.endpoint}`], { ...env, OORTFS_TEST_CRASH: 'throw' })
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  await pidOf(mnt) // serving, control socket up
  fg.child.kill('SIGUSR2')
  t.equal(await fg.exited, 1)
  t.match(fg.stderr(), /oortfs: error: uncaught exception: Error: test crash/)
  t.ok(await plainDirectory(mnt), 'no dead mount left')
})

t.test('root\'s control socket is in /run/oortfs, private', { skip: process.getuid?.() !== 0 && 'root only' }, async t => {
  const { mnt } = await background(t)
  const sock = await ownSocketPath(mnt)
  t.match(sock, /^\/run\/oortfs\/[0-9a-f]{20}\.sock$/)
  t.equal(statSync('/run/oortfs').mode & 0o777, 0o700)
  t.equal(statSync(sock).mode & 0o777, 0o600)
})
