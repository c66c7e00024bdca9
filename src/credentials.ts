// Where the keys come from, in order, the first source that yields keys
// winning: -o passwd_file=, -o profile=, the AWS_* environment, the AWS shared
// config (AWS_PROFILE or the default profile), ~/.passwd-oortfs,
// /etc/passwd-oortfs, and last the AWS default chain (instance roles...).
// What the user names (-o passwd_file=, -o profile=) comes first and must
// work: falling past it would sign with other keys than the ones asked for.
// The rest are tried only if present, and one that gives no keys (an empty
// variable, a file that cannot be read or has no line for the bucket, a
// profile without keys) passes on to the next. Every source tried is noted,
// with why it was passed over, for -d and --explain-credentials. Errors and
// notes name files, profiles and the first characters of an access key id;
// never a secret.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import type { Credentials } from './s3/client.js'
import { ConfigError } from './config.js'
import { log } from './util/log.js'

/** one source, and what came of it */
export interface CredentialAttempt {
  source: string
  /** why it was passed over, or which key it gave; never the secret */
  outcome: string
  used: boolean
}

export interface CredentialChoice {
  /** undefined: let the SDK find them (with `profile` when set) */
  credentials?: Credentials
  profile?: string
  /** for messages and stats: where the keys came from, never the keys */
  source: string
  /** every source in order: passed over, used, or not tried after the one used */
  tried: CredentialAttempt[]
}

export interface CredentialInput {
  bucket: string
  env: NodeJS.ProcessEnv
  /** absolute */
  passwdFile?: string
  profile?: string
  /** the system-wide key file; tests give another */
  systemFile?: string
}

/** enough of an access key id to tell which one it is: its first characters, never all of it */
export function keyHint (accessKeyId: string): string {
  return `${accessKeyId.slice(0, Math.min(4, Math.floor(accessKeyId.length / 2)))}... (${accessKeyId.length} characters)`
}

/**
 * s3fs format: `ACCESS:SECRET` lines, or `BUCKET:ACCESS:SECRET` lines (the
 * matching bucket wins over a bucketless line); `#` starts a comment line.
 */
export function parsePasswd (text: string, bucket: string, file: string): Credentials | undefined {
  let fallback: Credentials | undefined
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (!line || line.startsWith('#')) continue
    const parts = line.split(':')
    if ((parts.length !== 2 && parts.length !== 3) || parts.some(p => !p)) {
      throw new ConfigError(`${file} line ${i + 1} is not ACCESS:SECRET or BUCKET:ACCESS:SECRET; fix that line`)
    }
    if (parts.length === 3) {
      if (parts[0] === bucket) return { accessKeyId: parts[1]!, secretAccessKey: parts[2]! }
    } else {
      fallback ??= { accessKeyId: parts[0]!, secretAccessKey: parts[1]! }
    }
  }
  return fallback
}

/** a key file, refused if group or others can read it; a string says why it gives no keys */
async function passwdKeys (file: string, bucket: string): Promise<Credentials | string> {
  let text: string
  try {
    const st = await fsp.stat(file)
    if (!st.isFile()) return 'not a regular file'
    // others may have read it already: the user must know, not have it skipped
    if (st.mode & 0o077) throw new ConfigError(`passwd file ${file} can be read by other users; run chmod 600 ${file}`)
    text = await fsp.readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (err as Error).message})`
  }
  return parsePasswd(text, bucket, file) ?? `no ACCESS:SECRET line and no line for bucket ${bucket}`
}

/** reads the key file given as passwd_file=: it must give keys */
export async function readPasswdFile (file: string, bucket: string): Promise<Credentials> {
  const keys = await passwdKeys(file, bucket)
  if (typeof keys !== 'string') return keys
  if (keys === 'no such file') throw new ConfigError(`passwd file ${file} does not exist; check passwd_file=`)
  if (keys.startsWith('no ACCESS')) throw new ConfigError(`passwd file ${file} has ${keys}; add one`)
  throw new ConfigError(`passwd file ${file}: ${keys}`)
}

/** the keys an AWS shared-config profile gives (static, SSO, credential_process, a role...), or why none */
async function profileKeys (profile: string, env: NodeJS.ProcessEnv): Promise<Credentials | string> {
  const home = env.HOME
  const filepath = env.AWS_SHARED_CREDENTIALS_FILE || (home ? join(home, '.aws', 'credentials') : undefined)
  const configFilepath = env.AWS_CONFIG_FILE || (home ? join(home, '.aws', 'config') : undefined)
  const files = [filepath, configFilepath].filter(Boolean).join(' or ')
  try {
    const { fromIni } = await import('@aws-sdk/credential-provider-ini')
    const c = await fromIni({ profile, filepath, configFilepath, ignoreCache: true })()
    if (c.accessKeyId && c.secretAccessKey) return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }
    return `no keys for profile ${profile} in ${files}`
  } catch (err) {
    // only the error's name: the SDK's message of a failing credential_process quotes its command line and stderr, which may hold a token
    const e = err as { name?: string, code?: string }
    return `no keys for profile ${profile} in ${files} (${e?.code ?? e?.name ?? 'error'})`
  }
}

interface Found { credentials?: Credentials; profile?: string; source: string; note: string }
interface Step { source: string; run(): Promise<Found | string> }

function steps (input: CredentialInput): Step[] {
  const { bucket, env } = input
  const homeFile = env.HOME ? join(env.HOME, '.passwd-oortfs') : undefined
  const sharedProfile = env.AWS_PROFILE || 'default'
  return [{
    source: input.passwdFile ? `-o passwd_file=${input.passwdFile}` : '-o passwd_file=',
    run: async () => {
      if (!input.passwdFile) return 'not given'
      const credentials = await readPasswdFile(input.passwdFile, bucket)
      return { credentials, source: `passwd_file ${input.passwdFile}`, note: `access key ${keyHint(credentials.accessKeyId)}` }
    },
  }, {
    source: input.profile ? `-o profile=${input.profile}` : '-o profile=',
    run: async () => {
      if (!input.profile) return 'not given'
      const keys = await profileKeys(input.profile, env)
      if (typeof keys === 'string') throw new ConfigError(`profile=${input.profile} gives no keys (${keys}); fix the profile or leave out profile=`)
      // the SDK reads the profile again, and so renews keys that expire (SSO, roles)
      return { profile: input.profile, source: `AWS profile ${input.profile}`, note: `access key ${keyHint(keys.accessKeyId)}` }
    },
  }, {
    source: 'environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)',
    run: async () => {
      const id = env.AWS_ACCESS_KEY_ID
      const secret = env.AWS_SECRET_ACCESS_KEY
      if (id && secret) {
        const credentials: Credentials = { accessKeyId: id, secretAccessKey: secret }
        if (env.AWS_SESSION_TOKEN) credentials.sessionToken = env.AWS_SESSION_TOKEN
        return { credentials, source: 'environment (AWS_ACCESS_KEY_ID)', note: `access key ${keyHint(id)}${credentials.sessionToken ? ', with AWS_SESSION_TOKEN' : ''}` }
      }
      if (id || secret) {
        const [set, unset] = id ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] : ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID']
        throw new ConfigError(`${set} is set but ${unset} is not; set both or neither`)
      }
      return id === undefined && secret === undefined ? 'not set' : 'set but empty'
    },
  }, {
    source: `AWS shared config, profile ${sharedProfile}${env.AWS_PROFILE ? ' (AWS_PROFILE)' : ''}`,
    run: async () => {
      const keys = await profileKeys(sharedProfile, env)
      if (typeof keys === 'string') return keys
      return { profile: sharedProfile, source: `AWS profile ${sharedProfile} (shared config)`, note: `access key ${keyHint(keys.accessKeyId)}` }
    },
  }, ...[homeFile, input.systemFile ?? '/etc/passwd-oortfs'].filter((f): f is string => !!f).map((file): Step => ({
    source: file === homeFile ? `~/.passwd-oortfs (${file})` : file,
    run: async () => {
      const keys = await passwdKeys(file, bucket)
      if (typeof keys === 'string') return keys
      return { credentials: keys, source: `passwd file ${file}`, note: `access key ${keyHint(keys.accessKeyId)}` }
    },
  })), {
    source: 'AWS default chain (web identity, container, instance role)',
    // asked only when the mount starts: on a machine without them, the check says no keys were found
    run: async () => ({ source: 'AWS default credential chain (no keys configured)', note: 'no keys found above; asked for at the bucket check' }),
  }]
}

export async function resolveCredentials (input: CredentialInput): Promise<CredentialChoice> {
  const tried: CredentialAttempt[] = []
  const all = steps(input)
  for (const [i, step] of all.entries()) {
    const r = await step.run()
    if (typeof r === 'string') {
      tried.push({ source: step.source, outcome: r, used: false })
      continue
    }
    tried.push({ source: step.source, outcome: r.note, used: true })
    for (const rest of all.slice(i + 1)) tried.push({ source: rest.source, outcome: 'not tried', used: false })
    return { credentials: r.credentials, profile: r.profile, source: r.source, tried }
  }
  throw new Error('unreachable: the last source always answers')
}

/** the -d log's lines about credentials: where the keys came from, never the secret */
export function logCredentials (bucket: string, tried: readonly CredentialAttempt[]): void {
  for (const line of explainCredentials(bucket, tried)) log.debug(line.trim())
}

/** the lines of `oortfs --explain-credentials` and of the -d log */
export function explainCredentials (bucket: string, tried: readonly CredentialAttempt[]): string[] {
  return [
    `credentials for bucket ${bucket}: each source in order, the first with keys used`,
    ...tried.map((a, i) => `  ${i + 1}. ${a.source}: ${a.used ? `USED, ${a.outcome}` : a.outcome}`),
  ]
}
