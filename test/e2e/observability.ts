// What a mount tells about itself: `oortfs stats` counters that move with the
// work (requests by type, bytes in and out), `-d` (each FUSE call and S3
// request on stderr, never a secret), `-o log_level=info`, where a
// background mount's log lines land, and what a slow unmount says.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newBucket, withS3 } from '../helpers/s3-server.js'
import { BIN, alive, cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { mountNamespace, pidsWith, plainEnv, q, shOk, stopPids } from '../helpers/ops.js'
import type { RequestStats } from '../../src/s3/request-queue.js'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { faultMount } from '../helpers/fault-mount.js'

ensureBuilt()
const s3 = await withS3(t)
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
const MiB = 2 ** 20

interface Stats { mount: { pid: number }; requests: RequestStats }

async function stats (mnt: string, e = env): Promise<Stats> {
  const r = await runCli(['stats', mnt, '--json'], e)
  if (r.code !== 0) throw new Error(`stats: ${r.stderr}`)
  return JSON.parse(r.stdout) as Stats
}

/** stats once nothing is queued or in flight and the total has not moved for 1.5 s */
async function settled (mnt: string): Promise<Stats> {
  let s = await stats(mnt)
  let since = Date.now()
  for (const end = Date.now() + 30_000; Date.now() < end && Date.now() - since < 1500;) {
    await new Promise(r => setTimeout(r, 250))
    const n = await stats(mnt)
    if (n.requests.total !== s.requests.total || n.requests.inFlight + n.requests.queued > 0) since = Date.now()
    s = n
  }
  return s
}

/** a background mount (as users run it) with `options`; its process stopped in teardown */
async function background (t: Test, options: string, e = env): Promise<{ work: string; mnt: string; bucket: string; pid: number }> {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'observe')
  let pid: number | undefined
  cleanupMount(t, mnt, () => pid)
  const r = await runCli([bucket, mnt, '-o', `endpoint=${s3.endpoint},${options}`], e)
  if (r.code !== 0) throw new Error(`mount: ${r.stderr}`)
  pid = (await stats(mnt, e)).mount.pid
  return { work, mnt, bucket, pid }
}

async function unmount (t: Test, mnt: string, pid: number, e = env): Promise<void> {
  const u = await runCli(['unmount', mnt], e)
  t.same([u.code, u.stderr], [0, ''], 'oortfs unmount')
  t.ok(await waitFor(() => !alive(pid), 10_000), 'the mount process exited')
}

t.test('oortfs stats: requests by type and bytes grow with a workload', async t => {
  const logFile = join(tmpDir(t), 'mount.log')
  const { work, mnt, bucket, pid } = await background(t, `log_file=${logFile},log_level=info`)
  const before = await settled(mnt)
  const big = join(work, 'big.bin')
  writeFileSync(big, randomBytes(12 * MiB))
  await shOk(`for i in 1 2 3; do echo small $i > ${q(mnt)}/small$i.txt; done; cp ${q(big)} ${q(mnt)}/big.bin; mkdir ${q(mnt)}/d; ls -l ${q(mnt)} >/dev/null`)
  // a cold read: a fresh look at the file through another name
  await shOk(`mv ${q(mnt)}/big.bin ${q(mnt)}/d/big.bin && cmp ${q(big)} ${q(mnt)}/d/big.bin && rm ${q(mnt)}/small1.txt`)
  const after = await settled(mnt)

  const d = (k: string): number => (after.requests.byType[k] ?? 0) - (before.requests.byType[k] ?? 0)
  t.ok(d('PutObject') >= 3, `PutObject +${d('PutObject')}`)
  t.ok(d('CreateMultipartUpload') >= 1 && d('UploadPart') >= 2 && d('CompleteMultipartUpload') >= 1,
    `multipart: Create +${d('CreateMultipartUpload')}, UploadPart +${d('UploadPart')}, Complete +${d('CompleteMultipartUpload')}`)
  t.ok(d('GetObject') >= 1, `GetObject +${d('GetObject')}`)
  t.ok(d('ListObjectsV2') >= 1, `ListObjectsV2 +${d('ListObjectsV2')}`)
  t.ok(d('CopyObject') + d('UploadPartCopy') >= 1, 'the rename copied')
  t.ok(d('DeleteObject') + d('DeleteObjects') >= 1, 'and deleted')
  const sum = (s: Stats): number => Object.values(s.requests.byType).reduce((a, b) => a + b, 0)
  t.equal(after.requests.total, sum(after), 'the total is the sum of the types')
  const out = after.requests.bytesOut - before.requests.bytesOut
  const inn = after.requests.bytesIn - before.requests.bytesIn
  t.ok(out >= 12 * MiB && out < 14 * MiB, `bytes out +${out}`)
  t.ok(inn >= 12 * MiB && inn < 20 * MiB, `bytes in +${inn}`)
  t.same([after.requests.inFlight, after.requests.queued, after.requests.failed], [0, 0, 0])

  const table = await runCli(['stats', mnt], env)
  t.equal(table.code, 0)
  t.match(table.stdout, /^ {2}PutObject +\d+$/m)
  t.match(table.stdout, /^ {2}UploadPart +\d+$/m)
  t.match(table.stdout, /^bytes out +1[2-3]\.\d MiB$/m)
  t.match(table.stdout, /^bytes in +1\d\.\d MiB$/m)

  await unmount(t, mnt, pid)
  const log = readFileSync(logFile, 'utf8')
  t.match(log, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z oortfs: mounted ${bucket} on ${mnt}$`, 'm'), 'the log file has the mount line')
  t.match(log, new RegExp(`oortfs: unmounted ${mnt}$`, 'm'))
  t.notOk(log.includes(s3.secretAccessKey))
})

t.test('-d: every FUSE call and S3 request on stderr, never a secret', async t => {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'debug')
  const fg = spawnForeground([bucket, mnt, '-d', '-o', `endpoint=${s3.endpoint}`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 15_000), 'mounted')
  await shOk(`echo hello > ${q(mnt)}/f.txt; cat ${q(mnt)}/f.txt >/dev/null; mv ${q(mnt)}/f.txt ${q(mnt)}/g.txt; chmod 600 ${q(mnt)}/g.txt; ls -l ${q(mnt)} >/dev/null`)
  const url = await runCli(['url', join(mnt, 'g.txt')], env)
  t.equal(url.code, 0)
  await shOk(`rm ${q(mnt)}/g.txt`)
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0)
  const log = fg.stderr()
  for (const call of ['getattr /f.txt', 'create /f.txt', 'write /f.txt fh=', 'flush /f.txt', 'release /f.txt', 'open /f.txt', 'read /f.txt',
    'rename /f.txt /g.txt', 'chmod /g.txt 0100600', 'readdir /', 'unlink /g.txt']) {
    t.match(log, new RegExp(`^oortfs: debug: ${call.replace(/[/.]/g, '\\$&')}.* -> .* ms$`, 'm'), call)
  }
  for (const req of ['PutObject PUT', 'GetObject GET', 'CopyObject PUT', 'ListObjectsV2 GET', 'DeleteObjects? (DELETE|POST)']) {
    t.match(log, new RegExp(`^oortfs: debug: S3 ${req} /${bucket}/.* -> \\d{3}.* ms$`, 'm'), `S3 ${req}`)
  }
  for (const secret of [s3.secretAccessKey, 'Signature=', 'Authorization', 'Credential=', 'X-Amz-']) {
    t.notOk(log.includes(secret), `no ${secret === s3.secretAccessKey ? 'secret key' : secret}`)
  }
})

t.test('-o log_level=info in the foreground: mount and unmount, nothing more', async t => {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'info')
  const fg = spawnForeground([bucket, mnt, '-o', `endpoint=${s3.endpoint},log_level=info`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 15_000), 'mounted')
  await shOk(`echo x > ${q(mnt)}/x.txt`)
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0)
  t.same(fg.stderr().split('\n').filter(Boolean), [
    `oortfs: mounted ${bucket} on ${mnt}`,
    `oortfs: SIGTERM: saving changes and unmounting ${mnt}`,
    `oortfs: unmounted ${mnt}`,
  ])
})

// A background mount without log_file= logs to syslog when there is one
// (/dev/log, through logger(1)), else to oortfs.log in the runtime folder
// (/run/oortfs for root). Both run in a private mount namespace whose /dev is
// a copy with or without a /dev/log (here a stream socket that records what
// logger sends), and whose /run/oortfs is a tmpfs of its own.
const LISTENER = `
import net from 'node:net'
import { appendFileSync, chmodSync } from 'node:fs'
const [path, out] = process.argv.slice(2)
net.createServer(c => c.on('data', d => appendFileSync(out, d))).listen(path, () => chmodSync(path, 0o666))
`

for (const syslog of [true, false]) {
  t.test(syslog ? 'a background mount logs to syslog, one line per event, with its priority' : 'without a syslog, to oortfs.log in the runtime folder, 0600', {
    skip: process.getuid?.() !== 0 && 'needs root (unshare --mount)',
  }, async t => {
    const work = tmpDir(t)
    const mnt = join(work, 'mnt')
    const olddev = join(work, 'dev')
    mkdirSync(mnt)
    mkdirSync(olddev)
    const bucket = await newBucket(s3, t, 'syslog')
    const ns = await mountNamespace(t)
    t.teardown(() => stopPids(pidsWith('oortfs', mnt)))
    const e = { ...plainEnv(env), TMPDIR: tmpDir(t, 'oortfs-tmp-') }
    const devices = ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'fuse']
    t.equal((await ns.sh(`mount --bind /dev ${q(olddev)} && mount -t tmpfs tmpfs /dev && ` +
      `for n in ${devices.join(' ')}; do touch /dev/$n && mount --bind ${q(olddev)}/$n /dev/$n || exit 1; done && ` +
      'mkdir -p /run/oortfs && mount -t tmpfs -o mode=0700 tmpfs /run/oortfs')).code, 0, 'a /dev and a /run/oortfs of our own')
    const out = join(work, 'syslog.out')
    if (syslog) {
      writeFileSync(join(work, 'listener.mjs'), LISTENER)
      const l = await ns.sh(`${q(process.execPath)} ${q(join(work, 'listener.mjs'))} /dev/log ${q(out)} >/dev/null 2>&1 & echo $!; ` +
        'for i in $(seq 100); do test -S /dev/log && exit 0; sleep 0.1; done; exit 1')
      const listener = Number(l.stdout.trim())
      t.ok(l.code === 0 && listener > 0, `a listener on /dev/log: ${l.stderr}`)
      t.teardown(() => { try { process.kill(listener, 'SIGKILL') } catch { /* gone */ } })
    }
    const m = await ns.sh(`${q(BIN)} ${bucket} ${q(mnt)} -o endpoint=${s3.endpoint},log_level=info`, { env: e })
    t.same([m.code, m.stderr], [0, ''], 'mounted in the background')
    const st = await ns.sh(`${q(BIN)} stats ${q(mnt)} --json`, { env: e })
    const pid = (JSON.parse(st.stdout) as Stats).mount.pid
    t.same([(await ns.sh(`${q(BIN)} unmount ${q(mnt)}`, { env: e })).code], [0], 'unmounted')
    t.ok(await waitFor(() => !alive(pid), 10_000), 'the mount process exited')
    if (syslog) {
      const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean)
      t.match(lines, [
        new RegExp(`^<30>.* oortfs\\[${pid}\\]: mounted ${bucket} on ${mnt}$`),
        // through the control socket, or (when it answers slowly, under load) fusermount's fallback
        new RegExp(`^<30>.* oortfs\\[${pid}\\]: (unmount requested|unmounted from outside): saving changes and unmounting ${mnt}$`),
        new RegExp(`^<30>.* oortfs\\[${pid}\\]: unmounted ${mnt}$`),
      ], 'daemon.info lines tagged oortfs[PID]')
      t.equal((await ns.sh('test -e /run/oortfs/oortfs.log')).code, 1, 'no log file')
      t.notOk(existsSync(join(e.TMPDIR, `oortfs-${process.getuid!()}`, 'oortfs.log')), 'none in the temp dir either')
    } else {
      const log = (await ns.sh('cat /run/oortfs/oortfs.log')).stdout
      t.equal((await ns.sh('stat -c %a /run/oortfs/oortfs.log')).stdout.trim(), '600', 'readable by its owner alone')
      t.match(log, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z oortfs: mounted ${bucket} on ${mnt}$`, 'm'))
      t.match(log, new RegExp(`oortfs: unmounted ${mnt}$`, 'm'))
    }
  })
}

t.test('a slow unmount says what it waits for, on the command\'s stderr and in the log', async t => {
  const { m, proxy } = await faultMount(t, { s3 })
  await shOk(`cp /etc/hostname ${q(join(m.dir, 'f.txt'))}`)
  // every request from now on sits 16 s at the "server": the save at unmount outlasts one 15 s report
  proxy.set({ latencyMs: 16_000 })
  await shOk(`chmod 600 ${q(join(m.dir, 'f.txt'))}`) // answered at once; its CopyObject waits for the save
  const u = await runCli(['unmount', m.dir], env, 90_000)
  t.equal(u.code, 0, u.stderr)
  t.match(u.stderr, /^oortfs: saving before unmount: still waiting after 15 s: \d+ changing call\(s\) under way; \d+ request\(s\) in flight: copy f\.txt to f\.txt \(1[45] s, try 1\)/m,
    'the waiting command is told what the mount waits for')
  t.match(m.log(), /warning: saving before unmount: still waiting after 15 s: .*copy f\.txt to f\.txt/, 'and so is the log')
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'f.txt' }))
  t.equal(head.Metadata?.mode, String(0o100600), 'the chmod was saved')
})
