// Config from argv-like input: option parsing and types, the bucket and prefix,
// endpoint rules, mount point checks, key files and the credential order.
import t, { type Test } from 'tap'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConfigError, buildConfig, closeOptions, kernelFlags, parseOptions, parseSize, parseTarget, resolveEndpoint,
  type ConfigInput,
} from '../../src/config.js'
import { parsePasswd } from '../../src/credentials.js'

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'envsecret' }

function tmp (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** a fresh empty mount point, a private HOME, and an input for buildConfig */
function setup (t: Test, options: string[] = [], target = 'my-bucket'): { input: ConfigInput; dir: string; home: string } {
  const dir = tmp(t)
  const mnt = join(dir, 'mnt')
  const home = join(dir, 'home')
  mkdirSync(mnt)
  mkdirSync(home)
  return { dir, home, input: { target, mountpoint: mnt, options: [...options, `staging_dir=${join(dir, 'staging')}`], foreground: false, debug: false } }
}

async function configError (t: Test, p: Promise<unknown>, pattern: RegExp, what?: string): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ConfigError, `${what ?? pattern}: a ConfigError`)
  t.match((err as Error)?.message, pattern, what ?? String(pattern))
}

t.test('sizes', async t => {
  t.equal(parseSize('4096'), 4096)
  t.equal(parseSize('8M'), 8 * 2 ** 20)
  t.equal(parseSize('8m'), 8 * 2 ** 20)
  t.equal(parseSize('1G'), 2 ** 30)
  t.equal(parseSize('64KiB'), 64 * 1024)
  t.equal(parseSize('1.5G'), 1.5 * 2 ** 30)
  t.equal(parseSize('512b'), 512)
  t.equal(parseSize('8X'), undefined)
  t.equal(parseSize('-1M'), undefined)
  t.equal(parseSize(''), undefined)
})

t.test('option types', async t => {
  const v = parseOptions(['rps=50,concurrency=8', 'cache_size=1G', 'umask=027', 'ro', 'meta=head', 'attr_ttl=2.5', 'nopath_style'])
  t.same(v, { rps: 50, concurrency: 8, cache_size: 2 ** 30, umask: 0o027, ro: true, meta: 'head', attr_ttl: 2.5, path_style: false })
  t.same(parseOptions(['ro=false']), { ro: false })
  t.same(parseOptions(['ro,noro']), { ro: false }, 'the last one wins')
  t.same(parseOptions(['', ' , ']), {}, 'empty items are skipped')
  t.throws(() => parseOptions(['concurrency=abc']), /bad value for option concurrency=abc: expected a whole number/)
  t.throws(() => parseOptions(['rps=fast']), /expected a number/)
  t.throws(() => parseOptions(['cache_size=lots']), /expected a size like 8M/)
  t.throws(() => parseOptions(['umask=999']), /expected an octal mode/)
  t.throws(() => parseOptions(['meta=full']), /expected one of list, head/)
  t.throws(() => parseOptions(['ro=maybe']), /option ro=maybe/)
  t.throws(() => parseOptions(['region']), /option region needs a value/)
  t.throws(() => parseOptions(['region=']), /option region needs a value/)
})

t.test('unknown options name close matches', async t => {
  t.throws(() => parseOptions(['cache_sise=1M']), { name: 'ConfigError', message: /unknown option "cache_sise"; did you mean cache_size\?/ })
  t.throws(() => parseOptions(['readahed=1M']), /did you mean readahead/)
  t.throws(() => parseOptions(['allow_others']), /did you mean allow_other/)
  t.throws(() => parseOptions(['zzzzzzzz']), /unknown option "zzzzzzzz"; oortfs --help lists every option/)
  t.throws(() => parseOptions(['nofoo']), /unknown option "nofoo"/)
  t.throws(() => parseOptions(['noregion']), /unknown option "noregion"/, 'no only negates flags')
  t.same(closeOptions('concurency'), ['concurrency'])
})

t.test('mount-only options are accepted and ignored', async t => {
  t.same(parseOptions(['_netdev,nofail,noauto,user,rw,x-systemd.automount,comment=hello,noatime,defaults']), {})
  t.same(parseOptions(['_netdev,ro']), { ro: true })
})

t.test('bucket and prefix', async t => {
  t.same(parseTarget('my-bucket'), { bucket: 'my-bucket', prefix: '' })
  t.same(parseTarget('my-bucket:/'), { bucket: 'my-bucket', prefix: '' })
  t.same(parseTarget('my-bucket:/a/b'), { bucket: 'my-bucket', prefix: 'a/b/' })
  t.same(parseTarget('my-bucket:a//b/'), { bucket: 'my-bucket', prefix: 'a/b/' })
  t.same(parseTarget('b.1-x'), { bucket: 'b.1-x', prefix: '' })
  t.throws(() => parseTarget('My_Bucket'), /lowercase letters, digits, dots and hyphens/)
  t.throws(() => parseTarget('ab'), /3 to 63 characters/)
  t.throws(() => parseTarget('x'.repeat(64)), /3 to 63 characters/)
  t.throws(() => parseTarget('-abc'), /start and end with a letter or digit/)
  t.throws(() => parseTarget('a..b'), /dot next to a dot/)
  t.throws(() => parseTarget('192.168.1.1'), /IP address/)
  t.throws(() => parseTarget(':/x'), /bucket name is empty/)
  t.throws(() => parseTarget('bucket:/a/../b'), /must not contain \. or \.\. parts/)
})

t.test('endpoints', async t => {
  t.equal(resolveEndpoint('standard'), 'https://s3-standard.oortech.com')
  t.equal(resolveEndpoint('archive'), 'https://s3-archive.oortech.com')
  t.equal(resolveEndpoint('https://s3.example.com/'), 'https://s3.example.com')
  t.equal(resolveEndpoint('https://s3.example.com:8443'), 'https://s3.example.com:8443')
  t.equal(resolveEndpoint('http://127.0.0.1:9000'), 'http://127.0.0.1:9000')
  t.equal(resolveEndpoint('http://127.1.2.3:9000'), 'http://127.1.2.3:9000')
  t.equal(resolveEndpoint('http://localhost:9000'), 'http://localhost:9000')
  t.equal(resolveEndpoint('http://[::1]:9000'), 'http://[::1]:9000')
  t.throws(() => resolveEndpoint('http://s3.example.com'), /plain http.*use https:\/\//)
  t.throws(() => resolveEndpoint('http://10.0.0.1:9000'), /plain http/)
  t.throws(() => resolveEndpoint('http://localhost.evil.com'), /plain http/)
  t.throws(() => resolveEndpoint('ftp://example.com'), /must be an https:\/\/ URL/)
  t.throws(() => resolveEndpoint('nonsense'), /neither standard, archive nor a URL/)
})

t.test('a full config with defaults', async t => {
  const { input, dir } = setup(t, ['endpoint=http://127.0.0.1:9000'], 'my-bucket:/photos/2024')
  const c = await buildConfig(input, { ...KEYS })
  t.equal(c.bucket, 'my-bucket')
  t.equal(c.prefix, 'photos/2024/')
  t.equal(c.mountpoint, join(dir, 'mnt'))
  t.equal(c.endpoint, 'http://127.0.0.1:9000')
  t.equal(c.region, 'us-east-1')
  t.equal(c.signature, 'v4')
  t.equal(c.pathStyle, true)
  t.equal(c.readOnly, false)
  t.equal(c.uid, process.getuid!())
  t.equal(c.gid, process.getgid!())
  t.equal(c.umask, 0o022)
  t.equal(c.rps, 100)
  t.equal(c.attrTtlMs, 1_000)
  t.equal(c.partSize, 8 * 2 ** 20)
  t.equal(c.opTimeoutMs, 300_000)
  t.equal(c.logLevel, 'warn')
  t.equal(c.fsname, 'my-bucket:/photos/2024', 'the target as given: what fstab\'s first field says')
  t.equal(c.foreground, false)
  t.equal(c.stagingParent, join(dir, 'staging'), 'staging_dir= is where the mount makes its folder')
  t.same(c.credentials, { accessKeyId: 'AKIDENV', secretAccessKey: 'envsecret' })
  t.notMatch(c.credentialSource, /envsecret|AKIDENV/, 'the source never shows the keys')
})

t.test('options reach the config', async t => {
  const { input } = setup(t, ['ro,uid=1000,gid=1001,umask=077', 'rps=20,attr_ttl=0.5,op_timeout=60,meta=head,fsname=data,sigv2,nopath_style'])
  const c = await buildConfig(input, { ...KEYS })
  t.match(c, { readOnly: true, uid: 1000, gid: 1001, umask: 0o077, rps: 20, attrTtlMs: 500, opTimeoutMs: 60_000, metaMode: 'head', fsname: 'data', signature: 'v2', pathStyle: false })
  t.equal(c.endpoint, 'https://s3-standard.oortech.com')
})

t.test('-d means debug and foreground', async t => {
  const { input } = setup(t)
  const c = await buildConfig({ ...input, debug: true }, { ...KEYS })
  t.equal(c.logLevel, 'debug')
  t.equal(c.foreground, true)
})

t.test('range checks', async t => {
  for (const [opt, re] of [['part_size=1M', /part_size.*5M \(S3's least part\) to 1G/], ['part_size=5G', /part_size=5368709120 is out of range: .*each part is held in memory/], ['rps=0', /rps=0 is out of range/], ['concurrency=0', /concurrency=0/], ['fsname=a,b', /unknown option "b"/]] as const) {
    const { input } = setup(t, [opt])
    await configError(t, buildConfig(input, { ...KEYS }), re, opt)
  }
})

t.test('default staging parent is this user\'s private folder under the temp dir', async t => {
  const { input } = setup(t)
  input.options = []
  const c = await buildConfig(input, { ...KEYS })
  t.equal(c.stagingParent, join(tmpdir(), `oortfs-${process.getuid!()}`))
  t.equal(statSync(c.stagingParent).mode & 0o777, 0o700)
})

t.test('a staging_dir= the user gives is used as it is: never chmod-ed (staging_dir=/var/tmp keeps 1777)', async t => {
  const { input, dir } = setup(t)
  const shared = join(dir, 'shared-tmp')
  mkdirSync(shared)
  chmodSync(shared, 0o1777)
  input.options = [`staging_dir=${shared}`]
  const c = await buildConfig(input, { ...KEYS })
  t.equal(c.stagingParent, shared)
  t.equal(statSync(shared).mode & 0o7777, 0o1777, 'mode and sticky bit as they were')
  writeFileSync(join(dir, 'a-file'), '')
  input.options = [`staging_dir=${join(dir, 'a-file')}`]
  await configError(t, buildConfig(input, { ...KEYS }), /cannot use staging_dir=.*a-file: EEXIST/, 'a file is refused')
})

t.test('mount point checks', async t => {
  const { input, dir } = setup(t)
  await configError(t, buildConfig({ ...input, mountpoint: join(dir, 'nope') }, { ...KEYS }), /does not exist; create it with mkdir -p/)
  writeFileSync(join(dir, 'file'), 'x')
  await configError(t, buildConfig({ ...input, mountpoint: join(dir, 'file') }, { ...KEYS }), /is not a directory/)
  writeFileSync(join(dir, 'mnt', 'x'), 'x')
  await configError(t, buildConfig(input, { ...KEYS }), /is not empty/)
  await configError(t, buildConfig({ ...input, mountpoint: '/proc' }, { ...KEYS }), /already a mount point/)
})

t.test('passwd file formats', async t => {
  t.same(parsePasswd('AK:SK\n', 'b', 'f'), { accessKeyId: 'AK', secretAccessKey: 'SK' })
  t.same(parsePasswd('# keys\n\nother:AK1:SK1\nAK:SK\nmy-bucket:AK2:SK2\n', 'my-bucket', 'f'), { accessKeyId: 'AK2', secretAccessKey: 'SK2' }, 'the bucket line wins')
  t.same(parsePasswd('other:AK1:SK1\nAK:SK\n', 'my-bucket', 'f'), { accessKeyId: 'AK', secretAccessKey: 'SK' }, 'else the bucketless line')
  t.equal(parsePasswd('other:AK1:SK1\n', 'my-bucket', 'f'), undefined)
  t.throws(() => parsePasswd('AK:SK\nsecretwithoutcolon\n', 'b', 'f'), /f line 2 is not ACCESS:SECRET/)
  try {
    parsePasswd('a:b:c:verysecret', 'b', 'f')
  } catch (err) {
    t.notMatch((err as Error).message, /verysecret/, 'errors never echo the line')
  }
})

t.test('passwd_file: permissions and bucket lines', async t => {
  const { input, dir } = setup(t)
  const file = join(dir, 'keys')
  writeFileSync(file, 'AK:SK\nmy-bucket:AKB:SKB\n', { mode: 0o644 })
  chmodSync(file, 0o644)
  await configError(t, buildConfig({ ...input, options: [...input.options, `passwd_file=${file}`] }, {}), new RegExp(`chmod 600 ${file}`))
  chmodSync(file, 0o600)
  const c = await buildConfig({ ...input, options: [...input.options, `passwd_file=${file}`] }, { ...KEYS })
  t.same(c.credentials, { accessKeyId: 'AKB', secretAccessKey: 'SKB' }, 'passwd_file wins over the environment')
  t.equal(c.credentialSource, `passwd_file ${file}`)
  await configError(t, buildConfig({ ...input, options: [...input.options, `passwd_file=${join(dir, 'missing')}`] }, {}), /does not exist/)
  writeFileSync(join(dir, 'other'), 'x:AK:SK\n', { mode: 0o600 })
  await configError(t, buildConfig({ ...input, options: [...input.options, `passwd_file=${join(dir, 'other')}`] }, {}), /no ACCESS:SECRET line and no line for bucket my-bucket/)
})

t.test('credential order', async t => {
  const { input, home } = setup(t)
  const env = { HOME: home }
  // nothing configured: the SDK's chain gets its chance (instance roles)
  let c = await buildConfig(input, env)
  t.equal(c.credentials, undefined)
  t.match(c.credentialSource, /AWS default credential chain/)

  // ~/.passwd-oortfs
  writeFileSync(join(home, '.passwd-oortfs'), 'AKH:SKH\n', { mode: 0o600 })
  c = await buildConfig(input, env)
  t.same(c.credentials, { accessKeyId: 'AKH', secretAccessKey: 'SKH' })
  t.match(c.credentialSource, /\.passwd-oortfs/)

  // an AWS shared config without keys does not hide it (test/unit/credentials.ts has the whole order)
  mkdirSync(join(home, '.aws'))
  writeFileSync(join(home, '.aws', 'credentials'), '[default]\n')
  c = await buildConfig(input, env)
  t.same(c.credentials, { accessKeyId: 'AKH', secretAccessKey: 'SKH' })
  t.equal(c.profile, undefined)

  // profile= must give keys, and then comes before the environment
  await configError(t, buildConfig({ ...input, options: [...input.options, 'profile=work'] }, env), /profile=work gives no keys/)
  writeFileSync(join(home, '.aws', 'credentials'), '[work]\naws_access_key_id = AKW\naws_secret_access_key = SKW\n')
  c = await buildConfig({ ...input, options: [...input.options, 'profile=work'] }, { ...env, ...KEYS })
  t.equal(c.credentials, undefined)
  t.equal(c.profile, 'work')
  t.match(c.credentialSource, /profile work/)

  // the environment comes before the shared config and the key files
  c = await buildConfig(input, { ...env, ...KEYS, AWS_SESSION_TOKEN: 'tok' })
  t.same(c.credentials, { accessKeyId: 'AKIDENV', secretAccessKey: 'envsecret', sessionToken: 'tok' })
  t.equal(c.profile, undefined)

  await configError(t, buildConfig(input, { ...env, AWS_ACCESS_KEY_ID: 'x' }), /AWS_SECRET_ACCESS_KEY is not/)
  await configError(t, buildConfig({ ...input, options: [...input.options, 'sigv2'] }, { HOME: join(home, 'nothing-here') }), /sigv2 needs explicit keys/)
})

t.test('a group-readable default key file is refused too', async t => {
  const { input, home } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKH:SKH\n', { mode: 0o640 })
  chmodSync(join(home, '.passwd-oortfs'), 0o640)
  await configError(t, buildConfig(input, { HOME: home }), /chmod 600/)
})

t.test('the kernel\'s mount flags are kept, in order, for libfuse; mount(8)-only ones are not', async t => {
  t.same(kernelFlags(['_netdev,noexec,nosuid', 'relatime,nodev,exec,x-systemd.automount', 'sync,dirsync,noatime']),
    ['noexec', 'nosuid', 'nodev', 'exec', 'sync', 'dirsync', 'noatime'])
  const { input } = setup(t, ['noexec,nodev,_netdev'])
  const c = await buildConfig(input, { ...KEYS })
  t.same(c.kernelFlags, ['noexec', 'nodev'])
})
