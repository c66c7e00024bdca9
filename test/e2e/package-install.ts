// Installed the way users install it: `npm pack` of this checkout (prepack and
// prepare build it), then the README's install line with that tarball for the
// name, into a temporary global prefix. The package holds only what the
// command needs (no tests, CI files, sources or bench results), runs no install
// script and compiles nothing at the user's site. The installed command then
// works as a user uses it: --version (also with no environment, as mount(8)
// runs it), npx --help, a mount with reads and writes, `oortfs stats`, `oortfs
// url`, `oortfs unmount`, and an fstab line through mount(8) with the prefix as
// /usr/local. Last, without its packed FUSE addon the mount refuses in one line,
// and the command that line names makes it mount again.
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { alive, cleanupMount, cliEnv, isMounted, ROOT, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { mountNamespace, objectBytes, pidsWith, plainEnv, q, sh, stopPids } from '../helpers/ops.js'
import { packCopy, packageVersion, userEnv } from '../helpers/package.js'

const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const version = packageVersion()

const work = tmpDir(t, 'oortfs-pkg-')
const packed = await packCopy(work)
const prefix = join(work, 'prefix')
const pkgDir = join(prefix, 'lib', 'node_modules', 'oortfs')
const oortfs = join(prefix, 'bin', 'oortfs')
/** npm as the user runs it, its global prefix the temporary one, from the npm cache when it can */
const npmEnv = userEnv({ NPM_CONFIG_PREFIX: prefix, npm_config_prefer_offline: 'true', npm_config_fund: 'false', npm_config_audit: 'false' })

t.test('the packed files: the command, its compiled code, the patched addon, README and LICENSE; no tests, CI or bench files', async t => {
  const list = (await sh(`tar tzf ${q(packed.tarball)}`)).stdout.split('\n').filter(Boolean).map(f => f.replace(/^package\//, ''))
  for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/oortfs', 'dist/src/cli/main.js', 'dist/src/fuse/fuse-addon.js',
    'scripts/patch-fuse-native.mjs', 'scripts/fuse-shortcuts.c', `prebuilds/${process.platform}-${process.arch}/node.napi.glibc.node`]) {
    t.ok(list.includes(f), `packs ${f}`)
  }
  const allowed = /^(package\.json|README\.md|LICENSE|bin\/oortfs|scripts\/patch-fuse-native\.mjs|scripts\/fuse-shortcuts\.c|prebuilds\/[a-z0-9]+-[a-z0-9]+\/node\.napi(\.glibc|\.musl)?\.node|dist\/src\/.+\.js)$/
  t.same(list.filter(f => !allowed.test(f)), [], 'nothing else')
  t.same(list.filter(f => /(^|\/)(test|\.ci|\.tap)\/|bench-results|\.taprc|tsconfig|\.ts$|\.map$/.test(f)), [], 'no test, CI, bench, TypeScript or source map file')

  // the README states the size: it must stay true (within a quarter)
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const said = /The package is about (\d+) kB/.exec(readme)
  t.ok(said, 'the README states the package size')
  const size = statSync(packed.tarball).size / 1000
  t.ok(Math.abs(size - Number(said![1])) < Number(said![1]) / 4, `README says about ${said![1]} kB, the tarball is ${Math.round(size)} kB`)
  t.comment(`npm pack took ${packed.ms} ms`)
})

const installed = t.test('the README\'s install line, with the tarball: no install script of oortfs, nothing compiled', async t => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const m = /<!-- install[^>]*-->\n```sh\n(.+)\n```/.exec(readme)
  t.ok(m, 'the README has the install block')
  const line = m![1]!
  t.equal(line, 'npm install -g oortfs', 'one command, nothing to allow')
  const start = Date.now()
  const r = await sh(line.replace(/ oortfs$/, ` ${q(packed.tarball)}`), { cwd: work, env: npmEnv, timeoutMs: 180_000 })
  t.equal(r.code, 0, `installs: ${r.stderr.slice(-2000)}`)
  t.comment(`npm install -g took ${Date.now() - start} ms`)
  t.ok(existsSync(oortfs), 'oortfs is in the prefix\'s bin')
  const scripts = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {}
  t.same(['preinstall', 'install', 'postinstall'].filter(s => scripts[s]), [], 'the package has no script npm runs at install')
  const fuseNative = join(pkgDir, 'node_modules', 'fuse-native')
  t.ok(existsSync(fuseNative), 'fuse-native installed beside it')
  t.notOk(existsSync(join(fuseNative, 'build')), 'nothing was compiled at install')
})

t.test('oortfs --version, also with no environment (as mount(8) runs it); npx oortfs --help from the tarball', async t => {
  await installed
  const v = await sh(`${q(oortfs)} --version`, { env: userEnv() })
  t.same([v.code, v.stdout, v.stderr], [0, `${version}\n`, ''])
  const bare = await sh(`env -i ${q(oortfs)} --version`)
  t.same([bare.code, bare.stdout], [0, `${version}\n`], `with env -i: ${bare.stderr}`)

  const npxDir = join((await sh('npm config get cache', { env: userEnv() })).stdout.trim(), '_npx')
  const before = new Set(existsSync(npxDir) ? readdirSync(npxDir) : [])
  const name = packed.tarball.split('/').pop()!
  // npx installs into the npm cache: remove what it added for this tarball, or each run leaves 40 MB
  t.teardown(() => {
    for (const d of existsSync(npxDir) ? readdirSync(npxDir) : []) {
      let spec = ''
      try { spec = readFileSync(join(npxDir, d, 'package.json'), 'utf8') } catch { /* not one of npx's */ }
      if (!before.has(d) && spec.includes(name)) rmSync(join(npxDir, d), { recursive: true, force: true })
    }
  })
  // by its absolute path: npx keeps one install per spec, and this one is new
  const h = await sh(`npx --yes --package=${q(packed.tarball)} oortfs --help`, { cwd: work, env: userEnv({ npm_config_prefer_offline: 'true' }), timeoutMs: 120_000 })
  t.equal(h.code, 0, `npx: ${h.stderr.slice(-2000)}`)
  t.match(h.stdout, /^oortfs BUCKET\[:\/PREFIX\] MOUNTPOINT/)
})

t.test('the installed oortfs mounts, reads, writes, answers stats and url, and unmounts', async t => {
  await installed
  const bucket = await newBucket(s3, t, 'pkg')
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'seed.txt', Body: 'seeded\n' }))
  const mnt = join(tmpDir(t), 'mnt')
  mkdirSync(mnt)
  const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
  let pid: number | undefined
  cleanupMount(t, mnt, () => pid)
  const m = await sh(`${q(oortfs)} ${q(bucket)} ${q(mnt)} -o endpoint=${s3.endpoint}`, { env })
  t.same([m.code, m.stderr], [0, ''], 'mounts, prints nothing, returns once mounted')
  pid = pidsWith('oortfs', mnt)[0]
  t.ok(isMounted(mnt) && pid, 'mounted, served by a background process')
  t.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1], join(pkgDir, 'bin', 'oortfs'), 'the installed command serves it')

  const rw = await sh(`cat ${q(mnt)}/seed.txt && echo installed > ${q(mnt)}/new.txt && cat ${q(mnt)}/new.txt && ls ${q(mnt)}`)
  t.same([rw.code, rw.stdout], [0, 'seeded\ninstalled\nnew.txt\nseed.txt\n'], `reads and writes: ${rw.stderr}`)

  const st = await sh(`${q(oortfs)} stats ${q(mnt)} --json`, { env })
  t.equal(st.code, 0, `oortfs stats: ${st.stderr}`)
  t.ok((JSON.parse(st.stdout) as { requests: { total: number } }).requests.total > 0, 'stats count the requests')

  const u = await sh(`${q(oortfs)} url ${q(mnt)}/seed.txt`, { env })
  t.equal(u.code, 0, `oortfs url: ${u.stderr}`)
  const got = await sh(`curl -sf ${q(u.stdout.trim())}`)
  t.equal(got.stdout, 'seeded\n', 'the URL serves the file')

  const un = await sh(`${q(oortfs)} unmount ${q(mnt)}`, { env })
  t.same([un.code, un.stderr], [0, ''], 'oortfs unmount')
  t.notOk(isMounted(mnt))
  t.ok(await waitFor(() => !alive(pid!), 10_000), 'the mount process exited')
  t.equal((await objectBytes(client, bucket, 'new.txt')).toString(), 'installed\n', 'what was written is in the bucket')
})

t.test('an fstab line through mount(8), with the prefix as /usr/local (npm install -g as root there)', { skip: process.getuid?.() !== 0 && 'needs root (mount -T, unshare --mount)' }, async t => {
  await installed
  const bucket = await newBucket(s3, t, 'pkg-fstab')
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'seed.txt', Body: 'seeded\n' }))
  const dir = tmpDir(t)
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  const passwd = join(dir, 'passwd-oortfs')
  writeFileSync(passwd, `${s3.accessKeyId}:${s3.secretAccessKey}\n`)
  chmodSync(passwd, 0o600)
  const fstab = join(dir, 'fstab')
  writeFileSync(fstab, `${bucket} ${mnt} fuse.oortfs _netdev,allow_other,endpoint=${s3.endpoint},passwd_file=${passwd} 0 0\n`)
  const ns = await mountNamespace(t)
  t.teardown(() => stopPids(pidsWith('oortfs', mnt)))
  const b = await ns.sh(`mount --bind ${q(prefix)} /usr/local && env -i sh -c 'command -v oortfs'`)
  t.same([b.code, b.stdout], [0, '/usr/local/bin/oortfs\n'], `mount(8)'s PATH finds the installed oortfs: ${b.stderr}`)

  // mount(8)'s environment: no AWS keys (passwd_file= must do), no tap loader
  const env = plainEnv({ HOME: dir })
  for (const k of Object.keys(env)) if (k.startsWith('AWS_')) delete env[k]
  const m = await ns.sh(`mount -T ${q(fstab)} ${q(mnt)}`, { env })
  t.same([m.code, m.stdout, m.stderr], [0, '', ''], 'mount exits 0 and prints nothing')
  t.ok(ns.mounted(mnt), 'mounted (in the namespace)')
  const [pid] = pidsWith('oortfs', mnt)
  t.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1], '/usr/local/lib/node_modules/oortfs/bin/oortfs', 'mount.fuse ran the installed command')
  const rw = await ns.sh(`cat ${q(mnt)}/seed.txt && echo via-fstab > ${q(mnt)}/new.txt && ls ${q(mnt)}`)
  t.same([rw.code, rw.stdout], [0, 'seeded\nnew.txt\nseed.txt\n'], `reads and writes: ${rw.stderr}`)
  const u = await ns.sh(`umount ${q(mnt)}`)
  t.same([u.code, u.stderr], [0, ''], 'umount DIR')
  t.ok(await waitFor(() => !alive(pid!), 10_000), 'the mount process exited')
  t.equal((await objectBytes(client, bucket, 'new.txt')).toString(), 'via-fstab\n', 'what was written is in the bucket')
})

t.test('without its packed addon the mount refuses in one line; the command it names fixes it', async t => {
  await installed
  // fuse-native's stock prebuild is then the only addon: the one without oortfs's fixes
  renameSync(join(pkgDir, 'prebuilds'), join(pkgDir, 'prebuilds.off'))
  const bucket = await newBucket(s3, t, 'pkg-refuse')
  const mnt = join(tmpDir(t), 'mnt')
  mkdirSync(mnt)
  const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
  let pid: number | undefined
  cleanupMount(t, mnt, () => pid)
  const mount = `${q(oortfs)} ${q(bucket)} ${q(mnt)} -o endpoint=${s3.endpoint}`
  const r = await sh(mount, { env })
  t.not(r.code, 0, 'refused')
  const lines = r.stderr.split('\n').filter(Boolean)
  t.equal(lines.length, 1, `one line: ${r.stderr}`)
  t.match(lines[0], /^oortfs: the FUSE addon .*fuse-native\/prebuilds\/.* is not oortfs's patched build oortfs-v\d+, .* build it with: /)
  t.notOk(isMounted(mnt), 'nothing mounted')

  const fix = /build it with: (.+) \(needs /.exec(lines[0] ?? '')?.[1]
  t.ok(fix?.includes(join(pkgDir, 'scripts', 'patch-fuse-native.mjs')), `names the installed package's patch script: ${fix}`)
  const f = await sh(fix!, { env: userEnv(), timeoutMs: 120_000 })
  t.equal(f.code, 0, `the fix runs: ${f.stderr.slice(-2000)}`)
  const again = await sh(mount, { env })
  t.same([again.code, again.stderr], [0, ''], 'mounts after the fix')
  pid = pidsWith('oortfs', mnt)[0]
  const w = await sh(`echo fixed > ${q(mnt)}/f.txt && touch -m -d '2001-02-03 04:05:06.123456789' ${q(mnt)}/f.txt && stat -c %y ${q(mnt)}/f.txt`)
  t.match(w.stdout, /^2001-02-03 04:05:06\.123456789/, `exact times, as only the patched addon gives: ${w.stderr}`)
  const un = await sh(`${q(oortfs)} unmount ${q(mnt)}`, { env })
  t.equal(un.code, 0, `unmounts: ${un.stderr}`)
  t.ok(await waitFor(() => !alive(pid!), 10_000), 'the mount process exited')
})

