// Where the keys come from, in order: passwd_file=, the AWS_* environment,
// profile= (or an AWS shared config), ~/.passwd-oortfs, /etc/passwd-oortfs,
// and last the AWS default chain (instance roles...). Errors name files and
// line numbers, never the keys.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import type { Credentials } from './s3/client.js'
import { ConfigError } from './config.js'

export interface CredentialChoice {
  /** undefined: let the SDK's default chain find them */
  credentials?: Credentials
  profile?: string
  /** for messages and stats: where the keys came from, never the keys */
  source: string
}

export interface CredentialInput {
  bucket: string
  env: NodeJS.ProcessEnv
  /** absolute */
  passwdFile?: string
  profile?: string
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

/** reads a key file, refusing one that group or others can read */
export async function readPasswdFile (file: string, bucket: string): Promise<Credentials> {
  let text: string
  try {
    const st = await fsp.stat(file)
    if (!st.isFile()) throw new ConfigError(`passwd file ${file} is not a regular file`)
    if (st.mode & 0o077) {
      throw new ConfigError(`passwd file ${file} can be read by other users; run chmod 600 ${file}`)
    }
    text = await fsp.readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ConfigError(`passwd file ${file} does not exist; check passwd_file=`)
    throw new ConfigError(`cannot read passwd file ${file}: ${code ?? (err as Error).message}`)
  }
  const creds = parsePasswd(text, bucket, file)
  if (!creds) throw new ConfigError(`passwd file ${file} has no ACCESS:SECRET line and no line for bucket ${bucket}; add one`)
  return creds
}

async function exists (file: string): Promise<boolean> {
  try {
    await fsp.access(file)
    return true
  } catch {
    return false
  }
}

/** is there an AWS shared config or other source the SDK's chain would use? */
async function awsConfigPresent (env: NodeJS.ProcessEnv): Promise<boolean> {
  if (env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE || env.AWS_CONTAINER_CREDENTIALS_FULL_URI ||
    env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) return true
  const home = env.HOME
  const files = [env.AWS_SHARED_CREDENTIALS_FILE, env.AWS_CONFIG_FILE, home && join(home, '.aws', 'credentials'), home && join(home, '.aws', 'config')]
  for (const f of files) if (f && await exists(f)) return true
  return false
}

export async function resolveCredentials (input: CredentialInput): Promise<CredentialChoice> {
  const { bucket, env } = input
  if (input.passwdFile) {
    return { credentials: await readPasswdFile(input.passwdFile, bucket), source: `passwd_file ${input.passwdFile}` }
  }
  const id = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  if (id && secret) {
    const credentials: Credentials = { accessKeyId: id, secretAccessKey: secret }
    if (env.AWS_SESSION_TOKEN) credentials.sessionToken = env.AWS_SESSION_TOKEN
    return { credentials, source: 'environment (AWS_ACCESS_KEY_ID)' }
  }
  if (id || secret) {
    const missing = id ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'
    throw new ConfigError(`${id ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is set but ${missing} is not; set both or neither`)
  }
  if (input.profile) return { profile: input.profile, source: `AWS profile ${input.profile}` }
  if (await awsConfigPresent(env)) return { source: 'AWS default credential chain' }
  for (const file of [env.HOME && join(env.HOME, '.passwd-oortfs'), '/etc/passwd-oortfs']) {
    if (file && await exists(file)) return { credentials: await readPasswdFile(file, bucket), source: `passwd file ${file}` }
  }
  // instance roles and the like: if this finds nothing, the bucket check says so
  return { source: 'AWS default credential chain (no keys configured)' }
}
