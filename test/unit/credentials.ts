// The credential order, each source used only if it gives keys, and what
// -d and --explain-credentials say about it: which sources were tried, which
// one was used, the first characters of its access key id, never a secret.
import t, { type Test } from 'tap'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../src/config.js'
import { explainCredentials, keyHint, logCredentials, resolveCredentials, type CredentialInput } from '../../src/credentials.js'
import { main } from '../../src/cli/main.js'
import { captureLog } from '../helpers/log-capture.js'

const SECRETS = ['envSECRETenv', 'homeSECREThome', 'etcSECRETetc', 'iniSECRETini', 'workSECRETwork', 'fileSECRETfile']

/** a private HOME and system key file, and an input for resolveCredentials */
function setup (t: Test): { home: string, etc: string, input: (env?: NodeJS.ProcessEnv, more?: Partial<CredentialInput>) => CredentialInput } {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-creds-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const home = join(dir, 'home')
  mkdirSync(home)
  const etc = join(dir, 'etc-passwd-oortfs')
  return { home, etc, input: (env = {}, more = {}) => ({ bucket: 'my-bucket', env: { HOME: home, ...env }, systemFile: etc, ...more }) }
}

function awsFile (home: string, name: 'credentials' | 'config', text: string): void {
  mkdirSync(join(home, '.aws'), { recursive: true })
  writeFileSync(join(home, '.aws', name), text)
}

const ENV = { AWS_ACCESS_KEY_ID: 'AKIDENV0001', AWS_SECRET_ACCESS_KEY: 'envSECRETenv' }

async function rejects (t: Test, p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ConfigError, `a ConfigError: ${String(err)}`)
  t.match((err as Error)?.message, pattern)
}

t.test('empty AWS_* variables fall through to the next source', async t => {
  const { home, input } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  const c = await resolveCredentials(input({ AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }))
  t.same(c.credentials, { accessKeyId: 'AKIDHOME01', secretAccessKey: 'homeSECREThome' })
  t.match(c.tried[2], { used: false, outcome: 'set but empty' })
})

t.test('an AWS shared config without keys does not hide ~/.passwd-oortfs', async t => {
  const { home, input } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  awsFile(home, 'config', '[default]\nregion = eu-west-1\n')
  awsFile(home, 'credentials', '[default]\n')
  const c = await resolveCredentials(input())
  t.same(c.credentials, { accessKeyId: 'AKIDHOME01', secretAccessKey: 'homeSECREThome' })
  t.equal(c.profile, undefined)
  t.match(c.tried[3], { source: /AWS shared config, profile default/, used: false, outcome: /no keys for profile default/ })
})

t.test('AWS_PROFILE naming a profile without keys falls through too', async t => {
  const { home, input } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  awsFile(home, 'credentials', '[default]\naws_access_key_id = AKIDINI001\naws_secret_access_key = iniSECRETini\n')
  const c = await resolveCredentials(input({ AWS_PROFILE: 'missing' }))
  t.equal(c.credentials?.accessKeyId, 'AKIDHOME01', 'AWS_PROFILE chose the profile: its absence is not the default profile')
  t.match(c.tried[3], { source: /profile missing \(AWS_PROFILE\)/, used: false })
})

t.test('an AWS shared config with keys comes before the oortfs key files; the SDK reads the profile', async t => {
  const { home, input } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  awsFile(home, 'credentials', '[default]\naws_access_key_id = AKIDINI001\naws_secret_access_key = iniSECRETini\n')
  const c = await resolveCredentials(input())
  t.equal(c.credentials, undefined)
  t.equal(c.profile, 'default')
  t.match(c.tried[3], { used: true, outcome: `access key ${keyHint('AKIDINI001')}` })
  t.match(c.tried.slice(4), [{ outcome: 'not tried' }, { outcome: 'not tried' }, { outcome: 'not tried' }])
})

t.test('a key file without a line for the bucket, or that is no file, falls through to /etc/passwd-oortfs', async t => {
  const { home, etc, input } = setup(t)
  writeFileSync(etc, 'AKIDETC001:etcSECRETetc\n', { mode: 0o600 })
  writeFileSync(join(home, '.passwd-oortfs'), '# only another bucket here\nother-bucket:AKIDOTHER1:x\n', { mode: 0o600 })
  let c = await resolveCredentials(input())
  t.same(c.credentials, { accessKeyId: 'AKIDETC001', secretAccessKey: 'etcSECRETetc' })
  t.match(c.tried[4], { used: false, outcome: /no line for bucket my-bucket/ })
  t.match(c.source, etc)

  rmSync(join(home, '.passwd-oortfs'))
  mkdirSync(join(home, '.passwd-oortfs'))
  c = await resolveCredentials(input())
  t.equal(c.credentials?.accessKeyId, 'AKIDETC001')
  t.match(c.tried[4], { outcome: 'not a regular file' })
})

t.test('an unreadable key file falls through', { skip: process.getuid?.() === 0 && 'root reads any file' }, async t => {
  const { home, etc, input } = setup(t)
  writeFileSync(etc, 'AKIDETC001:etcSECRETetc\n', { mode: 0o600 })
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  chmodSync(join(home, '.passwd-oortfs'), 0)
  const c = await resolveCredentials(input())
  t.equal(c.credentials?.accessKeyId, 'AKIDETC001')
  t.match(c.tried[4], { outcome: /cannot be read \(EACCES\)/ })
})

t.test('nothing anywhere: the SDK default chain, each source saying why it gave nothing', async t => {
  const { input } = setup(t)
  const c = await resolveCredentials(input())
  t.equal(c.credentials, undefined)
  t.equal(c.profile, undefined)
  t.match(c.source, /AWS default credential chain/)
  t.same(c.tried.map(a => a.used), [false, false, false, false, false, false, true])
  t.same(c.tried.slice(0, 3).map(a => a.outcome), ['not given', 'not given', 'not set'])
  t.same(c.tried.slice(4, 6).map(a => a.outcome), ['no such file', 'no such file'])
})

t.test('what the user names comes first: -o profile= beats the environment, and must give keys', async t => {
  const { home, input } = setup(t)
  awsFile(home, 'credentials', '[work]\naws_access_key_id = AKIDWORK01\naws_secret_access_key = workSECRETwork\n')
  const c = await resolveCredentials(input({ ...ENV }, { profile: 'work' }))
  t.equal(c.credentials, undefined, 'not the exported keys')
  t.equal(c.profile, 'work')
  t.match(c.source, /profile work/)
  t.match(c.tried[2], { outcome: 'not tried' })
  await rejects(t, resolveCredentials(input({ ...ENV }, { profile: 'play' })), /profile=play gives no keys .*fix the profile or leave out profile=/)
})

t.test('-o passwd_file= comes before everything and must give keys', async t => {
  const { home, input } = setup(t)
  awsFile(home, 'credentials', '[work]\naws_access_key_id = AKIDWORK01\naws_secret_access_key = workSECRETwork\n')
  const file = join(home, 'keys')
  writeFileSync(file, 'AKIDFILE01:fileSECRETfile\n', { mode: 0o600 })
  const c = await resolveCredentials(input({ ...ENV }, { passwdFile: file, profile: 'work' }))
  t.same(c.credentials, { accessKeyId: 'AKIDFILE01', secretAccessKey: 'fileSECRETfile' })
  writeFileSync(file, '# nothing yet\n')
  await rejects(t, resolveCredentials(input({ ...ENV }, { passwdFile: file })), /has no ACCESS:SECRET line/)
})

t.test('a key file others can read is refused, not passed over', async t => {
  const { home, input } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o644 })
  chmodSync(join(home, '.passwd-oortfs'), 0o644)
  await rejects(t, resolveCredentials(input()), /chmod 600/)
})

t.test('a key id is shown by its first characters only', async t => {
  t.equal(keyHint('AKIAIOSFODNN7EXAMPLE'), 'AKIA... (20 characters)')
  t.equal(keyHint('abc'), 'a... (3 characters)', 'a short id keeps most of itself hidden')
})

/** every source set up with keys, each with its own secret, in turn the one used */
async function everyChoice (t: Test): Promise<{ outputs: string[], logs: string[] }> {
  const { home, etc, input } = setup(t)
  const outputs: string[] = []
  const logs = captureLog(t, 'debug')
  const record = async (inp: CredentialInput): Promise<void> => {
    const c = await resolveCredentials(inp)
    outputs.push(...explainCredentials(inp.bucket, c.tried), c.source, JSON.stringify(c.tried))
    logCredentials(inp.bucket, c.tried)
  }
  writeFileSync(etc, 'AKIDETC001:etcSECRETetc\n', { mode: 0o600 })
  await record(input())
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  await record(input())
  awsFile(home, 'credentials', '[default]\naws_access_key_id = AKIDINI001\naws_secret_access_key = iniSECRETini\n' +
    '[work]\naws_access_key_id = AKIDWORK01\naws_secret_access_key = workSECRETwork\n')
  await record(input())
  await record(input({ ...ENV }))
  await record(input({ ...ENV }, { profile: 'work' }))
  const file = join(home, 'keys')
  writeFileSync(file, 'AKIDFILE01:fileSECRETfile\n', { mode: 0o600 })
  await record(input({ ...ENV }, { passwdFile: file }))
  return { outputs, logs }
}

t.test('no secret in the explanation, the source, the trace or the -d log, whichever source is used', async t => {
  const { outputs, logs } = await everyChoice(t)
  const text = [...outputs, ...logs].join('\n')
  for (const s of SECRETS) t.notOk(text.includes(s), `${s} never shown`)
  for (const id of ['AKIDETC001', 'AKIDHOME01', 'AKIDINI001', 'AKIDENV0001', 'AKIDWORK01', 'AKIDFILE01']) {
    t.notOk(text.includes(id), `${id} never shown whole`)
  }
  t.equal(logs.filter(l => /USED/.test(l)).length, 6, 'the -d log says which source was used, each time')
  t.match(logs.join('\n'), /debug: 1\. -o passwd_file=: not given/)
})

t.test('oortfs --explain-credentials prints the sources in order and the one used, never the secret', async t => {
  const { home } = setup(t)
  writeFileSync(join(home, '.passwd-oortfs'), 'AKIDHOME01:homeSECREThome\n', { mode: 0o600 })
  const saved = { ...process.env }
  t.teardown(() => { process.env = saved })
  process.env = { PATH: saved.PATH, HOME: home, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }
  const out: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => { out.push(String(chunk)); return true }) as typeof process.stdout.write
  let code: number
  try {
    // as added to a mount command line: the mount point is ignored, nothing is mounted
    code = await main(['my-bucket', '/nonexistent/mnt', '-o', 'rps=10', '--explain-credentials'])
  } finally {
    process.stdout.write = write
  }
  t.equal(code, 0)
  const text = out.join('')
  t.match(text, /^credentials for bucket my-bucket: each source in order, the first with keys used\n {2}1\. -o passwd_file=: not given\n {2}2\. -o profile=: not given\n {2}3\. environment .*: set but empty\n {2}4\. AWS shared config, profile default: no keys .*\n {2}5\. ~\/\.passwd-oortfs .*: USED, access key AKID\.\.\. \(10 characters\)\n {2}6\. .*: not tried\n {2}7\. .*: not tried\n$/)
  t.notOk(text.includes('homeSECREThome'))
})
