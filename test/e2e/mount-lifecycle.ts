// Real mounts through the real CLI: background start, the control socket
// (stats, url, unmount), SIGTERM and external umount save and exit 0, big
// writes reach the filesystem 128 KiB at a time, dead mounts can be cleared.
import t, { type Test } from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import {
  alive, cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, stagingDirsOf, tmpDir, waitFor,
} from '../helpers/oortfs-cli.js'
import { mountAt } from '../../src/fuse/mountinfo.js'
import { ownSocketPath } from '../../src/control/server.js'

ensureBuilt()
const s3 = await withS3(t)
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
const ep = `endpoint=${s3.endpoint}`
const client = rawClient(s3)
t.teardown(() => client.destroy())

/** an empty mount point and a bucket, both cleaned up after the mount */
async function prepare (t: Test): Promise<{ mnt: string; bucket: string }> {
  const mnt = join(tmpDir(t), 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'mount')
  return { mnt, bucket }
}

/** a foreground mount of a fresh bucket, mounted, torn down after the test */
async function foreground (t: Test): Promise<{ mnt: string; bucket: string; fg: ReturnType<typeof spawnForeground> }> {
  const { mnt, bucket } = await prepare(t)
  const fg = spawnForeground([bucket, mnt, '-o', ep], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  return { mnt, bucket, fg }
}

/** the process's exit code, or 'still running' after ms */
function exitWithin (fg: ReturnType<typeof spawnForeground>, ms: number): Promise<unknown> {
  return Promise.race([fg.exited, new Promise(resolve => setTimeout(() => resolve('still running'), ms))])
}

async function objectText (bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return await out.Body!.transformToString()
}

t.test('background mount, stats, url, unmount', async t => {
  const { mnt, bucket } = await prepare(t)
  let pid: number | undefined
  cleanupMount(t, mnt, () => pid)

  const r = await runCli([bucket, mnt, '-o', ep], env)
  t.same([r.code, r.stdout, r.stderr], [0, '', ''], 'exits 0 and prints nothing')
  t.equal((await stagingDirsOf(mnt)).length, 1, 'the mount has its staging folder')
  t.ok(r.ms < 10_000, `ready in ${r.ms} ms`)
  const entry = mountAt(mnt)
  t.match(entry, { fstype: 'fuse.oortfs', source: bucket })

  const stats = await runCli(['stats', mnt, '--json'], env)
  t.equal(stats.code, 0, stats.stderr)
  const s = JSON.parse(stats.stdout) as { mount: { pid: number; bucket: string }; requests: { total: number }; active: unknown[] }
  pid = s.mount.pid
  t.equal(s.mount.bucket, bucket)
  t.ok(s.requests.total >= 1, 'the bucket check was counted')
  t.ok(Array.isArray(s.active), 'and the requests on the wire now are listed (none or a few)')
  t.ok(alive(pid), 'the daemon runs on after the parent exited')

  writeFileSync(join(mnt, 'hello.txt'), 'hello world')
  t.match(execFileSync('ls', ['-a', mnt], { encoding: 'utf8' }).split('\n'), ['.', '..', 'hello.txt'], "readdir lists '.' and '..'")

  const table = await runCli(['stats', mnt], env)
  t.equal(table.code, 0)
  // another test's mount running at once shares the account's rate on this machine: its share then shows
  t.match(table.stdout, /^mount +.*\nrate +\d+ req\/s over the last second; limit (100\/s|\d+\/s \(configured 100\/s\))/)

  const url = await runCli(['url', join(mnt, 'hello.txt'), '--expires', '5m'], env)
  t.equal(url.code, 0, url.stderr)
  t.match(url.stdout, /X-Amz-Expires=300/)
  t.equal(await (await fetch(url.stdout.trim())).text(), 'hello world', 'the URL downloads the file')
  const put = await runCli(['url', join(mnt, 'up.txt'), '--put'], env)
  t.equal((await fetch(put.stdout.trim(), { method: 'PUT', body: 'uploaded' })).status, 200)
  t.equal(await objectText(bucket, 'up.txt'), 'uploaded', 'a PUT URL uploads')
  const outside = await runCli(['url', '/etc/passwd'], env)
  t.equal(outside.code, 1)
  t.match(outside.stderr, /^oortfs: \/etc\/passwd is not inside an oortfs mount/)

  const u = await runCli(['unmount', mnt], env)
  t.same([u.code, u.stderr], [0, ''])
  t.notOk(isMounted(mnt), 'unmounted')
  t.ok(await waitFor(() => !alive(pid!), 5000), 'the daemon exited')
  t.same(await stagingDirsOf(mnt), [], 'everything saved: its empty staging folder is gone with it')
  t.equal(await objectText(bucket, 'hello.txt'), 'hello world', 'the file was saved')
})

t.test('a mount point in use is refused', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  const again = await runCli([bucket, mnt, '-o', ep], env)
  t.equal(again.code, 2)
  t.match(again.stderr, /already a mount point; unmount it first/)
})

t.test('foreground: SIGTERM saves everything and exits 0', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  execFileSync('dd', ['if=/dev/urandom', `of=${join(mnt, 'data.bin')}`, 'bs=1M', 'count=3'], { stdio: 'ignore' })
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0, 'exit 0: all saved')
  t.notOk(isMounted(mnt))
  t.equal(fg.stderr(), '', 'nothing on stderr at the default log level')
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'data.bin' }))
  t.equal(head.ContentLength, 3 * 2 ** 20)
})

t.test('an external umount stops the process', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  writeFileSync(join(mnt, 'a.txt'), 'saved before umount')
  execFileSync('umount', [mnt])
  t.equal(await exitWithin(fg, 8000), 0, 'noticed and exited 0')
  t.equal(await objectText(bucket, 'a.txt'), 'saved before umount')
})

t.test('umount and a new mount at once (a restart): the new mount writes, the old process never takes its staging folder', async t => {
  const { mnt, bucket } = await prepare(t)
  const old = spawnForeground([bucket, mnt, '-o', ep], env)
  cleanupMount(t, mnt, () => old.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  writeFileSync(join(mnt, 'before.txt'), 'written by the first mount')
  execFileSync('umount', [mnt])
  // at once, as a systemd restart or a remount script does: the old process is still exiting
  const fresh = spawnForeground([bucket, mnt, '-o', ep], env)
  cleanupMount(t, mnt, () => fresh.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted again')
  const oldCode = await Promise.race([old.exited, new Promise(r => setTimeout(() => r('still running'), 8000))])
  t.equal(oldCode, 0, 'the old process saved and exited 0')
  t.equal(await objectText(bucket, 'before.txt'), 'written by the first mount')
  // the old process is gone now; the new one writes through its own staging folder
  const big = Buffer.alloc(3 * 2 ** 20, 7)
  writeFileSync(join(mnt, 'after.bin'), big)
  writeFileSync(join(mnt, 'after.txt'), 'written by the second mount')
  t.equal(await objectText(bucket, 'after.txt'), 'written by the second mount', 'a small write is saved')
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'after.bin' }))
  t.equal(head.ContentLength, big.length, 'a 3 MiB write is saved')
  t.equal((await stagingDirsOf(mnt)).length, 1, 'one staging folder: the new process\'s')
})

t.test('-o noexec, nosuid, nodev reach the kernel: a script on a noexec mount cannot run (EACCES)', async t => {
  const { mnt, bucket } = await prepare(t)
  const fg = spawnForeground([bucket, mnt, '-o', `${ep},noexec,nosuid,nodev,noatime`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  writeFileSync(join(mnt, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 })
  const r = spawnSync(join(mnt, 'run.sh'), { encoding: 'utf8' })
  t.equal((r.error as NodeJS.ErrnoException | undefined)?.code, 'EACCES', 'exec of a 0755 script: EACCES')
  const opts = readFileSync('/proc/self/mounts', 'utf8').split('\n').find(l => l.split(' ')[1] === mnt)?.split(' ')[3] ?? ''
  for (const flag of ['noexec', 'nosuid', 'nodev', 'noatime']) t.ok(opts.split(',').includes(flag), `${flag} in ${opts}`)
})

t.test('without noexec, a script on the mount runs', async t => {
  const { mnt, bucket } = await prepare(t)
  const fg = spawnForeground([bucket, mnt, '-o', `${ep},exec`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  writeFileSync(join(mnt, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 })
  t.equal(spawnSync(join(mnt, 'run.sh'), { encoding: 'utf8' }).stdout, 'ran\n')
})

t.test('staging_dir= of a shared folder (1777, as /var/tmp) is never chmod-ed: the mount makes its own private folder in it', async t => {
  const { mnt, bucket } = await prepare(t)
  const shared = join(tmpDir(t), 'shared-tmp')
  mkdirSync(shared)
  chmodSync(shared, 0o1777)
  const fg = spawnForeground([bucket, mnt, '-o', `${ep},staging_dir=${shared}`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  writeFileSync(join(mnt, 'f.txt'), 'staged')
  t.equal(statSync(shared).mode & 0o7777, 0o1777, 'the folder keeps 1777, sticky bit and all')
  const own = readdirSync(shared).filter(n => n.startsWith('staging-'))
  t.equal(own.length, 1, 'one folder of its own inside')
  t.equal(statSync(join(shared, own[0]!)).mode & 0o777, 0o700, 'and that one is private')
  t.equal(await objectText(bucket, 'f.txt'), 'staged')
})

t.test('odd names: a comma in the prefix adds no mount option, $(...) in the mount point runs nothing; SIGUSR1 opens no inspector', async t => {
  const base = tmpDir(t)
  // a name cannot hold a slash: the command would make its file in the mount process's folder (this one's)
  const markerName = `oortfs-pwned-${process.pid}`
  const marker = join(process.cwd(), markerName)
  const mnt = join(base, `m$(touch ${markerName}) x,y`)
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'odd-names')
  const fg = spawnForeground([`${bucket}:/reports,allow_other`, mnt, '-o', ep], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find(l => l.includes('odd-names'))
  t.ok(line && !/allow_other/.test(line.split(' - ')[1]!.split(' ').slice(2).join(' ')), `no allow_other among the mount's options: ${line}`)
  writeFileSync(join(mnt, 'f.txt'), 'under the prefix')
  t.equal(await objectText(bucket, 'reports,allow_other/f.txt'), 'under the prefix', 'the comma is part of the prefix')
  process.kill(fg.child.pid!, 'SIGUSR1')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.notMatch(spawnSync('ss', ['-ltn'], { encoding: 'utf8' }).stdout, /127\.0\.0\.1:9229\b/, 'no inspector listening')
  t.ok(alive(fg.child.pid!), 'and the mount goes on')
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0, 'SIGTERM: saved and exited 0')
  t.notOk(isMounted(mnt), 'unmounted')
  t.notOk(existsSync(marker), 'the $(...) in the mount point never ran')
})

t.test('dd bs=1M arrives as 128 KiB writes (big_writes; libfuse 2.9 caps max_write)', async t => {
  const { mnt, bucket } = await prepare(t)
  const fg = spawnForeground([bucket, mnt, '-o', ep, '-d'], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), 'mounted')
  execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'z')}`, 'bs=1M', 'count=4'], { stdio: 'ignore' })
  t.ok(await waitFor(() => /debug: release \/z /.test(fg.stderr()), 10_000), 'the debug log reached us')
  const writes = fg.stderr().split('\n').filter(l => /debug: write \/z /.test(l))
  const sizes = new Set(writes.map(l => Number(/ (\d+)@/.exec(l)?.[1])))
  t.same([...sizes], [131072], 'every write is 128 KiB')
  t.equal(writes.length, 32)
  t.notMatch(fg.stderr(), /hello|\0/, 'debug lines carry no file data')
})

t.test('oortfs unmount refuses a busy mount and keeps it up', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  const busy = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' })
  t.teardown(() => { busy.kill('SIGKILL') })
  const r = await runCli(['unmount', mnt], env)
  t.equal(r.code, 1)
  t.match(r.stderr, /^oortfs: .* is busy: .*fusermount -uz/)
  t.ok(isMounted(mnt), 'still mounted')
  writeFileSync(join(mnt, 'still-works.txt'), 'yes')
  busy.kill('SIGKILL')
  await new Promise(r => busy.on('exit', r))
  const again = await runCli(['unmount', mnt], env)
  t.same([again.code, again.stderr], [0, ''])
  t.equal(await fg.exited, 0)
  t.equal(await objectText(bucket, 'still-works.txt'), 'yes')
})

t.test('after oortfs unmount was refused (busy), an external umount still stops the process', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  const busy = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' })
  t.teardown(() => { busy.kill('SIGKILL') })
  t.equal((await runCli(['unmount', mnt], env)).code, 1, 'refused: busy')
  writeFileSync(join(mnt, 'after-refusal.txt'), 'kept')
  busy.kill('SIGKILL')
  await new Promise(r => busy.on('exit', r))
  execFileSync('umount', [mnt])
  t.equal(await exitWithin(fg, 8000), 0, 'the umount from outside is noticed: saved and exited 0')
  t.equal(await objectText(bucket, 'after-refusal.txt'), 'kept')
})

t.test('umount -l: files open on the detached mount keep working until the last closes, then it saves and exits', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'in.txt', Body: 'read after the detach' }))
  // a writer and a reader with their files open across the detach: python, one line at a time from stdin
  const peer = spawn('python3', ['-u', '-c', [
    'import os, sys',
    `w = os.open(${JSON.stringify(join(mnt, 'out.txt'))}, os.O_WRONLY | os.O_CREAT, 0o644)`,
    `r = os.open(${JSON.stringify(join(mnt, 'in.txt'))}, os.O_RDONLY)`,
    'os.write(w, b"before the detach\\n")',
    'print("open", flush=True)',
    'sys.stdin.readline()',
    'os.write(w, b"after the detach\\n")',
    'print(os.pread(r, 100, 0).decode(), flush=True)',
    'os.close(r)',
    'os.close(w)',
    'print("closed", flush=True)',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => { peer.kill('SIGKILL') })
  let out = ''
  let err = ''
  peer.stdout.on('data', d => { out += String(d) })
  peer.stderr.on('data', d => { err += String(d) })
  t.ok(await waitFor(() => out.includes('open'), 10_000), 'the peer has its files open')
  execFileSync('umount', ['-l', mnt])
  t.notOk(isMounted(mnt), 'detached from the mount point at once')
  await new Promise(resolve => setTimeout(resolve, 2500))
  t.ok(alive(fg.child.pid!), 'the mount process goes on while files are open there')
  peer.stdin.write('go\n')
  t.ok(await waitFor(() => out.includes('closed'), 10_000), `the peer wrote, read and closed on the detached mount: ${out} ${err}`)
  t.match(out, /read after the detach/, 'the read on the detached mount gave the file\'s bytes')
  t.equal(await exitWithin(fg, 10_000), 0, 'after the last close: saved and exited 0')
  t.equal(await objectText(bucket, 'out.txt'), 'before the detach\nafter the detach\n', 'every write is on the server')
  t.match(fg.stderr(), /detached \(umount -l\)/, 'the log says why it waits')
})

t.test('odd names: quotes, spaces, a newline and a dollar in the prefix and the mount point', async t => {
  const base = tmpDir(t)
  const mnt = join(base, `it's "odd" $HOME\nnew line`)
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'odd-names2')
  const prefix = `a "b" 'c' $x\ny`
  const fg = spawnForeground([`${bucket}:/${prefix}`, mnt, '-o', ep], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 10_000), `mounted: ${fg.stderr()}`)
  writeFileSync(join(mnt, 'f.txt'), 'under the odd prefix')
  t.equal(await objectText(bucket, `${prefix}/f.txt`), 'under the odd prefix', 'the prefix is used as given')
  const stats = await runCli(['stats', mnt, '--json'], env)
  t.equal(stats.code, 0, `oortfs stats finds the odd mount point: ${stats.stderr}`)
  const r = await runCli(['unmount', mnt], env)
  t.same([r.code, r.stderr], [0, ''], 'oortfs unmount of it')
  t.equal(await fg.exited, 0)
  t.notOk(isMounted(mnt), 'unmounted')
})

t.test('oortfs unmount clears a mount whose process died', async t => {
  const { mnt, bucket, fg } = await foreground(t)
  // the control socket opens just after the mount shows: kill only once it serves
  const sock = await ownSocketPath(mnt)
  t.ok(await waitFor(() => existsSync(sock), 10_000), 'the control socket is up')
  fg.child.kill('SIGKILL')
  await fg.exited
  t.ok(isMounted(mnt), 'a dead mount stays behind')
  const again = await runCli([bucket, mnt, '-o', ep], env)
  t.equal(again.code, 2)
  t.match(again.stderr, /dead FUSE mount; clear it with fusermount -uz|already a mount point/)
  const stats = await runCli(['stats', mnt], env)
  t.equal(stats.code, 1)
  t.match(stats.stderr, /^oortfs: the oortfs process of .* is gone; clear the dead mount with oortfs unmount/)
  const u = await runCli(['unmount', mnt], env)
  t.same([u.code, u.stderr], [0, ''], 'falls back to fusermount -u')
  t.notOk(isMounted(mnt))
})
