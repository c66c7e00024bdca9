// argv + environment + key files -> one validated Config. Every mistake a user
// can make here ends in a ConfigError whose message says what is wrong and
// what to do, so the CLI can print it as one line and exit 2.
import { createHash } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { Config } from './config-types.js'
import { KERNEL_FLAGS, OPTIONS, isMountOnlyOption, type OptionSpec } from './options.js'
import { resolveCredentials } from './credentials.js'
import { mountAt } from './fuse/mountinfo.js'
import { defaultStagingParent } from './runtime-dir.js'
import type { LogLevel } from './util/log.js'

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

export interface ConfigInput {
  /** BUCKET[:/PREFIX] */
  target: string
  /** undefined for commands that reach the bucket without mounting it (fsck) */
  mountpoint?: string
  /** raw -o strings, each possibly `a,b=c,d` */
  options: string[]
  foreground: boolean
  debug: boolean
}

export const ENDPOINTS: Record<string, string> = {
  standard: 'https://s3-standard.oortech.com',
  archive: 'https://s3-archive.oortech.com',
}

export type OptionValues = Record<string, string | number | boolean>

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }

/** '8M', '1.5G', '64KiB', '4096' -> bytes; undefined when malformed */
export function parseSize (text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?$/i.exec(text.trim())
  if (!m) return undefined
  const n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : undefined
}

function levenshtein (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]!
}

/** option names close to a mistyped one, best first */
export function closeOptions (name: string): string[] {
  const bare = name.startsWith('no') && !OPTIONS.some(o => o.name === name) ? name.slice(2) : name
  return OPTIONS
    .map(o => ({ o: o.name, d: Math.min(levenshtein(name, o.name), levenshtein(bare, o.name)) }))
    .filter(({ o, d }) => d <= Math.max(2, Math.floor(o.length / 3)) || (name.length >= 3 && o.includes(name)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map(({ o }) => o)
}

const FLAG_WORDS: Record<string, boolean> = { true: true, yes: true, on: true, 1: true, false: false, no: false, off: false, 0: false }

function coerce (spec: OptionSpec, value: string | undefined): string | number | boolean {
  const name = spec.name
  const bad = (want: string): never => { throw new ConfigError(`bad value for option ${name}=${value}: expected ${want}`) }
  if (spec.type === 'flag') {
    if (value === undefined) return true
    const b = FLAG_WORDS[value.toLowerCase()]
    return b ?? bad(`nothing (write ${name} or no${name})`)
  }
  if (value === undefined || value === '') throw new ConfigError(`option ${name} needs a value: -o ${name}=...`)
  switch (spec.type) {
    case 'int': return /^\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : bad('a whole number')
    case 'number': return /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : bad('a number')
    case 'size': return parseSize(value) ?? bad('a size like 8M, 1G, 512K or a number of bytes')
    case 'octal': return /^0?[0-7]{1,3}$/.test(value) ? parseInt(value, 8) : bad('an octal mode like 022')
    case 'enum': return spec.values?.includes(value) ? value : bad(`one of ${spec.values?.join(', ')}`)
    default: return value
  }
}

/** the kernel's mount flags among the -o strings, in order (libfuse applies them, the last one winning) */
export function kernelFlags (raw: readonly string[]): string[] {
  return raw.flatMap(s => s.split(',')).map(s => s.trim()).filter(o => KERNEL_FLAGS.includes(o))
}

/** raw -o strings -> typed values of the options given (mount-only ones dropped) */
export function parseOptions (raw: readonly string[]): OptionValues {
  const out: OptionValues = {}
  for (const item of raw.flatMap(s => s.split(','))) {
    const opt = item.trim()
    if (!opt) continue
    const eq = opt.indexOf('=')
    const name = eq < 0 ? opt : opt.slice(0, eq)
    const value = eq < 0 ? undefined : opt.slice(eq + 1)
    if (isMountOnlyOption(name) || isMountOnlyOption(opt)) continue
    const spec = OPTIONS.find(o => o.name === name)
    if (spec) {
      out[name] = coerce(spec, value)
      continue
    }
    const negated = name.startsWith('no') ? OPTIONS.find(o => o.name === name.slice(2) && o.type === 'flag') : undefined
    if (negated && value === undefined) {
      out[negated.name] = false
      continue
    }
    const close = closeOptions(name)
    const hint = close.length ? `did you mean ${close.join(' or ')}? ` : ''
    throw new ConfigError(`unknown option "${name}"; ${hint}oortfs --help lists every option`)
  }
  return out
}

/** [min, max] of numeric options, and what the bound means */
const RANGES: Record<string, [number, number, string?]> = {
  rps: [1, 1e6], concurrency: [1, 1024], retries: [1, 1e6], retry_time: [1, 86400], upload_concurrency: [1, 256],
  attr_ttl: [0, 86400 * 365], op_timeout: [1, 86400], list_cache: [1000, 1e8, 'at least 1000'],
  uid: [0, 2 ** 32 - 2], gid: [0, 2 ** 32 - 2], umask: [0, 0o777],
  block_size: [4096, 2 ** 30, 'at least 4K'], cache_size: [0, 2 ** 50], readahead: [0, 2 ** 40],
  // S3 takes parts up to 5G, but a part goes out from one buffer of its size (and
  // upload_concurrency of them per file): past 1G that is memory, not speed
  part_size: [5 * 2 ** 20, 2 ** 30, 'use 5M (S3\'s least part) to 1G (each part is held in memory while it uploads; parts grow by themselves for very large files)'],
}

function checkRanges (v: OptionValues): void {
  for (const [name, [min, max, why]] of Object.entries(RANGES)) {
    const n = v[name]
    if (typeof n === 'number' && (n < min || n > max)) {
      throw new ConfigError(`option ${name}=${n} is out of range: ${why ?? `use ${min} to ${max}`}`)
    }
  }
  if (typeof v.fsname === 'string' && /[,\s]/.test(v.fsname)) {
    throw new ConfigError('option fsname must not contain commas or spaces')
  }
}

/** why `name` is not a valid S3 bucket name, or undefined */
export function bucketProblem (name: string): string | undefined {
  if (!name) return 'the bucket name is empty'
  if (name.length < 3 || name.length > 63) return `bucket name "${name}" must be 3 to 63 characters long`
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    return `bucket name "${name}" may only hold lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit`
  }
  if (name.includes('..') || name.includes('.-') || name.includes('-.')) return `bucket name "${name}" must not have a dot next to a dot or hyphen`
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `bucket name "${name}" must not look like an IP address`
  return undefined
}

/** 'bucket', 'bucket:/a/b', 'bucket:a//b/' -> bucket and '' or 'a/b/' */
export function parseTarget (target: string): { bucket: string; prefix: string } {
  const colon = target.indexOf(':')
  const bucket = colon < 0 ? target : target.slice(0, colon)
  const problem = bucketProblem(bucket)
  if (problem) throw new ConfigError(`${problem}; the first argument is BUCKET or BUCKET:/PREFIX`)
  const parts = (colon < 0 ? '' : target.slice(colon + 1)).split('/').filter(Boolean)
  if (parts.some(p => p === '.' || p === '..')) throw new ConfigError(`prefix "${target.slice(colon + 1)}" must not contain . or .. parts`)
  return { bucket, prefix: parts.length ? parts.join('/') + '/' : '' }
}

function isLoopback (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)
}

/** 'standard' / 'archive' / a URL -> the endpoint URL; plain http only on loopback */
export function resolveEndpoint (value: string): string {
  const named = ENDPOINTS[value.toLowerCase()]
  if (named) return named
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`endpoint "${value}" is neither standard, archive nor a URL like https://host[:port]`)
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new ConfigError(`endpoint ${url.origin} is plain http, which would send data unencrypted; use https:// (plain http is allowed only for localhost)`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(`endpoint "${value}" must be an https:// URL`)
  return url.href.replace(/\/+$/, '')
}

/** checks the mount point and returns its canonical path */
async function checkMountpoint (dir: string, allowNonEmpty: boolean): Promise<string> {
  const abs = resolve(dir)
  try {
    const st = await fsp.stat(abs)
    if (!st.isDirectory()) throw new ConfigError(`mount point ${abs} is not a directory`)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new ConfigError(`mount point ${abs} does not exist; create it with mkdir -p ${abs}`)
    if (code === 'ENOTCONN') throw new ConfigError(`mount point ${abs} is a dead FUSE mount; clear it with fusermount -uz ${abs}`)
    throw new ConfigError(`cannot use mount point ${abs}: ${code ?? (err as Error).message}`)
  }
  const real = await fsp.realpath(abs)
  const [st, parent] = await Promise.all([fsp.stat(real), fsp.stat(dirname(real))])
  if (mountAt(real) || (real !== '/' && st.dev !== parent.dev)) {
    throw new ConfigError(`${real} is already a mount point; unmount it first (oortfs unmount ${real}) or pick another directory`)
  }
  if (!allowNonEmpty && (await fsp.readdir(real)).length > 0) {
    throw new ConfigError(`mount point ${real} is not empty; mount on an empty directory (or add -o nonempty to hide what is there)`)
  }
  return real
}

/**
 * A folder the user gave for staging: made (private) if missing, else used as
 * it is, never chmod-ed: /var/tmp stays 1777 (the folder made inside is private).
 */
async function checkUsableDir (dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 })
    const st = await fsp.stat(dir)
    if (!st.isDirectory()) throw new ConfigError(`staging_dir=${dir} is not a directory`)
    await fsp.access(dir, 2 /* W_OK */)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError(`cannot use staging_dir=${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** a short stable name for a mount point: keys its socket and staging folder */
export function mountKey (mountpoint: string): string {
  return createHash('sha1').update(mountpoint).digest('hex').slice(0, 20)
}

async function userAllowOther (): Promise<boolean> {
  const conf = await fsp.readFile('/etc/fuse.conf', 'utf8').catch(() => '')
  return /^\s*user_allow_other\s*$/m.test(conf)
}

function str (v: OptionValues, name: string): string | undefined {
  const x = v[name]
  return typeof x === 'string' ? x : undefined
}

function defaultOf (name: string): string | number | boolean {
  const d = OPTIONS.find(o => o.name === name)?.default
  if (d === undefined) throw new Error(`option ${name} has no default`)
  return d
}

export async function buildConfig (input: ConfigInput, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const given = parseOptions(input.options)
  checkRanges(given)
  const v = (name: string): string | number | boolean => given[name] ?? defaultOf(name)
  const num = (name: string): number => v(name) as number
  const { bucket, prefix } = parseTarget(input.target)
  const endpoint = resolveEndpoint(String(v('endpoint')))
  const mounting = input.mountpoint !== undefined
  const mountpoint = mounting ? await checkMountpoint(input.mountpoint!, v('nonempty') === true) : ''

  const passwdFile = str(given, 'passwd_file')
  const creds = await resolveCredentials({
    bucket, env, passwdFile: passwdFile && resolve(passwdFile), profile: str(given, 'profile'),
  })
  const signature = v('sigv2') ? 'v2' : 'v4'
  if (signature === 'v2' && !creds.credentials) {
    throw new ConfigError('sigv2 needs explicit keys: give passwd_file= or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY')
  }

  if (v('allow_other') && process.getuid?.() !== 0 && !await userAllowOther()) {
    throw new ConfigError('allow_other needs user_allow_other in /etc/fuse.conf; ask root to add that line, or mount without allow_other')
  }

  // without a mount nothing is written locally; the folder itself is made by the process that serves
  const givenStaging = str(given, 'staging_dir')
  let stagingParent = ''
  if (mounting && givenStaging !== undefined) await checkUsableDir(stagingParent = resolve(givenStaging))
  else if (mounting) stagingParent = await defaultStagingParent()
  const logFile = str(given, 'log_file')

  return {
    bucket,
    prefix,
    mountpoint,
    // like libfuse, -d implies -f: debug output belongs on the terminal
    foreground: input.foreground || input.debug,
    endpoint,
    region: String(v('region')),
    credentials: creds.credentials,
    profile: creds.profile,
    credentialSource: creds.source,
    credentialsTried: creds.tried,
    signature,
    pathStyle: Boolean(v('path_style')),
    readOnly: Boolean(v('ro')),
    uid: (given.uid as number | undefined) ?? process.getuid?.() ?? 0,
    gid: (given.gid as number | undefined) ?? process.getgid?.() ?? 0,
    umask: num('umask'),
    allowOther: Boolean(v('allow_other')),
    nonEmpty: Boolean(v('nonempty')),
    kernelFlags: kernelFlags(input.options),
    rps: num('rps'),
    concurrency: num('concurrency'),
    retries: given.retries as number | undefined,
    retryTimeMs: Math.round(num('retry_time') * 1000),
    attrTtlMs: Math.round(num('attr_ttl') * 1000),
    listCacheEntries: num('list_cache'),
    metaMode: v('meta') as Config['metaMode'],
    blockSize: num('block_size'),
    cacheSize: num('cache_size'),
    readahead: num('readahead'),
    readShortcut: Boolean(v('read_shortcut')),
    writeShortcut: Boolean(v('write_shortcut')),
    partSize: num('part_size'),
    uploadConcurrency: num('upload_concurrency'),
    stagingParent,
    opTimeoutMs: Math.round(num('op_timeout') * 1000),
    logLevel: input.debug ? 'debug' : v('log_level') as LogLevel,
    logFile: logFile && resolve(logFile),
    // what fstab's first field says, so mount -a sees the line is mounted already
    fsname: str(given, 'fsname') ?? input.target,
  }
}
