// fstab lines mounted by util-linux mount(8) through mount.fuse, as at boot:
//   BUCKET[:/PREFIX] DIR fuse.oortfs _netdev,allow_other,endpoint=URL,passwd_file=FILE 0 0
// mount(8) runs its helpers with no PATH at all, so `oortfs` must be in one of
// sh's standard directories: each case runs in a private mount namespace where
// /usr/local/sbin holds a symlink to bin/oortfs (nothing is installed on the
// machine), and one where node is only in /usr/local/bin, as with Node's own
// tarballs, where `#!/usr/bin/env node` would not find it.
import t, { type Test } from 'tap'
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { BIN, alive, cliEnv, ensureBuilt, runCli, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { mountNamespace, objectBytes, pidsWith, plainEnv, q, sh, stopPids, type Namespace } from '../helpers/ops.js'

ensureBuilt()
const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const version = (JSON.parse(readFileSync(join(BIN, '..', '..', 'package.json'), 'utf8')) as { version: string }).version

/** the environment mount(8) is run with: no AWS keys (passwd_file= must do), no tap loader */
function mountEnv (home: string): NodeJS.ProcessEnv {
  const env = plainEnv({ HOME: home })
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k]
  return env
}

interface Setup { work: string; bucket: string; passwd: string; sbin: string; env: NodeJS.ProcessEnv }

async function setup (t: Test): Promise<Setup> {
  const work = tmpDir(t, 'oortfs-fstab-')
  const bucket = await newBucket(s3, t, 'fstab')
  const passwd = join(work, 'passwd-oortfs')
  writeFileSync(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`)
  chmodSync(passwd, 0o600)
  const sbin = join(work, 'sbin')
  mkdirSync(sbin)
  symlinkSync(BIN, join(sbin, 'oortfs'))
  mkdirSync(join(work, 'home'))
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'seed.txt', Body: 'seeded\n' }))
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'photos/p1.jpg', Body: 'jpeg' }))
  return { work, bucket, passwd, sbin, env: mountEnv(join(work, 'home')) }
}

/** the oortfs processes serving `dir`, stopped in teardown (register after the namespace) */
function stopMountsOf (t: Test, dir: string): void {
  t.teardown(() => stopPids(pidsWith('oortfs', dir)))
}

function line (s: Setup, source: string, dir: string, extra = ''): string {
  return `${source} ${dir} fuse.oortfs _netdev,allow_other,endpoint=${s3.endpoint},passwd_file=${s.passwd}${extra} 0 0\n`
}

async function nsWithOortfs (t: Test, s: Setup): Promise<Namespace> {
  const ns = await mountNamespace(t)
  const r = await ns.sh(`mount --bind ${q(s.sbin)} /usr/local/sbin`)
  t.equal(r.code, 0, `bind mount in the namespace: ${r.stderr}`)
  return ns
}

t.test('oortfs --version and --help, also with no PATH at all', async t => {
  const home = tmpDir(t, 'oortfs-home-')
  const v = await runCli(['--version'], cliEnv(undefined, home))
  t.same([v.code, v.stdout, v.stderr], [0, `${version}\n`, ''])
  const bare = await sh(`env -i ${q(BIN)} --version`)
  t.same([bare.code, bare.stdout], [0, `${version}\n`], 'runs with an empty environment (as mount.fuse runs it)')
  const h = await runCli(['--help'], cliEnv(undefined, home))
  t.equal(h.code, 0)
  t.match(h.stdout, /^oortfs BUCKET\[:\/PREFIX\] MOUNTPOINT/)
  for (const cmd of ['unmount <dir>', 'stats <dir>', 'url <path>']) t.match(h.stdout, cmd)
  t.match(h.stdout, /endpoint=TEXT +`?standard/)
  t.match(h.stdout, /passwd_file=TEXT/)
  t.match(h.stdout, /_netdev, nofail, noauto, user, rw are accepted and ignored/)
  t.equal(h.stderr, '')
})

/** mount(8) with fstab lines, and private mount namespaces, need root */
const asRoot = { skip: process.getuid?.() !== 0 && 'needs root (mount -T, unshare --mount)' }

const installed = await sh('env -i sh -c "command -v oortfs"')
t.test('mount(8) gives its helpers no PATH: oortfs on PATH alone is not found', {
  skip: asRoot.skip || (installed.code === 0 && `an oortfs is installed at ${installed.stdout.trim()}: mount(8) would find that one`),
}, async t => {
  const s = await setup(t)
  const mnt = join(s.work, 'mnt')
  mkdirSync(mnt)
  stopMountsOf(t, mnt)
  const fstab = join(s.work, 'fstab')
  writeFileSync(fstab, line(s, s.bucket, mnt))
  const r = await sh(`mount -T ${q(fstab)} ${q(mnt)}`, { env: { ...s.env, PATH: `${s.sbin}:${process.env.PATH}` } })
  t.not(r.code, 0, 'mount fails')
  t.match(r.stderr, /oortfs: not found/, 'because sh could not find oortfs')
})

t.test('mount -T FSTAB DIR, use it, umount DIR', asRoot, async t => {
  const s = await setup(t)
  const mnt = join(s.work, 'mnt')
  mkdirSync(mnt)
  const ns = await nsWithOortfs(t, s)
  stopMountsOf(t, mnt)
  const fstab = join(s.work, 'fstab')
  writeFileSync(fstab, line(s, s.bucket, mnt))

  const start = Date.now()
  const m = await ns.sh(`mount -T ${q(fstab)} ${q(mnt)}`, { env: s.env })
  t.same([m.code, m.stdout, m.stderr], [0, '', ''], 'mount exits 0 and prints nothing')
  t.ok(Date.now() - start < 15_000, `mounted in ${Date.now() - start} ms`)
  t.ok(ns.mounted(mnt), 'mounted (in the namespace)')
  const info = readFileSync(`/proc/${ns.pid}/mountinfo`, 'utf8').split('\n').find(l => l.split(' ')[4] === mnt) ?? ''
  t.match(info, new RegExp(` - fuse\\.oortfs ${s.bucket} .*allow_other`), 'fuse.oortfs, named as fstab names it, with allow_other')

  const [pid] = pidsWith('oortfs', mnt)
  t.ok(pid, 'the mount process runs on after mount(8) returned')
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  const opts = argv[argv.indexOf('-o') + 1] ?? ''
  t.match(opts.split(','), ['rw', 'allow_other', `endpoint=${s3.endpoint}`, `passwd_file=${s.passwd}`, 'dev', 'suid'],
    'mount.fuse passes rw, dev and suid (accepted and ignored) and drops _netdev')
  t.notOk(opts.includes('_netdev'))

  const ls = await ns.sh(`ls ${q(mnt)} && cat ${q(mnt)}/seed.txt && echo through-fstab > ${q(mnt)}/new.txt`)
  t.same([ls.code, ls.stdout], [0, 'photos\nseed.txt\nseeded\n'], `ls and cat work: ${ls.stderr}`)

  const u = await ns.sh(`umount ${q(mnt)}`)
  t.same([u.code, u.stderr], [0, ''], 'umount DIR')
  t.notOk(ns.mounted(mnt))
  t.ok(await waitFor(() => !alive(pid!), 10_000), 'the mount process exited')
  t.equal((await objectBytes(client, s.bucket, 'new.txt')).toString(), 'through-fstab\n', 'what was written is in the bucket')
})

t.test('mount -a -T FSTAB with a prefix, node only in /usr/local/bin; mount -a again', asRoot, async t => {
  const s = await setup(t)
  const mnt = join(s.work, 'photos')
  mkdirSync(mnt)
  const lbin = join(s.work, 'lbin')
  mkdirSync(lbin)
  writeFileSync(join(lbin, 'node'), '')
  const ns = await nsWithOortfs(t, s)
  stopMountsOf(t, mnt)
  // node moves to /usr/local/bin; /usr/bin/node is no longer executable
  const moved = await ns.sh(`mount --bind ${q(lbin)} /usr/local/bin && mount --bind ${q(process.execPath)} /usr/local/bin/node && ` +
    `mount --bind /dev/null ${q(process.execPath)} && ! ${q(process.execPath)} --version 2>/dev/null && env -i sh -c 'command -v node'`)
  t.same([moved.code, moved.stdout], [0, '/usr/local/bin/node\n'], `node only in /usr/local/bin: ${moved.stderr}`)

  const fstab = join(s.work, 'fstab')
  // no fsname=: the mount's source is the first field itself, so a second mount -a sees it mounted
  writeFileSync(fstab, '# oortfs\n' + line(s, `${s.bucket}:/photos`, mnt, ''))
  const m = await ns.sh(`mount -a -T ${q(fstab)}`, { env: s.env })
  t.same([m.code, m.stderr], [0, ''], 'mount -a exits 0')
  t.ok(ns.mounted(mnt), 'mounted')
  const [pid] = pidsWith('oortfs', mnt)
  t.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0], '/usr/local/bin/node', 'bin/oortfs found node in /usr/local/bin')
  const ls = await ns.sh(`ls -l ${q(mnt)}`)
  t.match(ls.stdout, / 4 .* p1\.jpg\n$/, `the prefix is the root: ${ls.stderr}`)
  t.notMatch(ls.stdout, /seed/)

  const again = await ns.sh(`mount -a -v -T ${q(fstab)}`, { env: s.env })
  t.equal(again.code, 0, `a second mount -a: ${again.stderr}`)
  t.match(again.stdout + again.stderr, /already mounted/)
  t.equal(pidsWith('oortfs', mnt).length, 1, 'one mount process')

  const u = await ns.sh(`umount ${q(mnt)}`)
  t.equal(u.code, 0)
  t.ok(await waitFor(() => !alive(pid!), 10_000), 'the mount process exited')
  t.notOk(existsSync(join(mnt, 'p1.jpg')))
})
