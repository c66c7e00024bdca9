// Where a mount keeps what other processes must find (its control socket; the
// log of a background mount without syslog) and, apart from that, where it
// stages written bytes. Each is a directory only this user can write to,
// checked before use: a path anyone could create first (/tmp/oortfs-UID) is
// never trusted by its name. Runtime files go to $XDG_RUNTIME_DIR/oortfs
// (/run/user/UID: made by logind, private, gone at logout) or /run/oortfs
// for root; staging stays on disk, as runtime dirs are small tmpfs mounts.
import { promises as fsp } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { dirname, isAbsolute, join } from 'node:path'
import { ConfigError } from './config.js'

function uid (): number {
  return process.getuid?.() ?? 0
}

/** the private folder in the system temp dir: the last choice for runtime files, the first for staging */
function tmpFolder (): string {
  return join(tmpdir(), `oortfs-${uid()}`)
}

/** runtime folders in the order a mount picks them; a client looks in each */
export function runtimeCandidates (env: NodeJS.ProcessEnv = process.env, id = uid()): string[] {
  const xdg = env.XDG_RUNTIME_DIR
  const dirs = id === 0
    ? ['/run/oortfs']
    // /run/user/UID too: a shell without XDG_RUNTIME_DIR (cron, su) still finds a mount's socket
    : [xdg && isAbsolute(xdg) ? join(xdg, 'oortfs') : '', `/run/user/${id}/oortfs`]
  return [...new Set([...dirs.filter(Boolean), join(tmpdir(), `oortfs-${id}`)])]
}

/** staging parents in order: the temp dir's private folder, else one in this user's cache */
export function stagingCandidates (env: NodeJS.ProcessEnv = process.env): string[] {
  const cache = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(env.HOME || homedir(), '.cache')
  return [tmpFolder(), join(cache, 'oortfs')]
}

function octal (mode: number): string {
  return '0' + (mode & 0o7777).toString(8)
}

/**
 * Why `dir` is not a private directory of ours, or undefined. Not followed
 * if it is a symlink; group or others may read it (we tighten that) but never write.
 */
export async function privateDirProblem (dir: string): Promise<string | undefined> {
  let st
  try {
    st = await fsp.lstat(dir)
  } catch (err) {
    return `cannot be used (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  if (st.isSymbolicLink()) return 'is a symbolic link'
  if (!st.isDirectory()) return 'is not a directory'
  if (st.uid !== uid()) return `belongs to another user (uid ${st.uid}), who made it first`
  if (st.mode & 0o022) return `can be written by group or others (mode ${octal(st.mode)})`
  return undefined
}

/** a parent in which nobody else can replace what we make: ours or root's, and sticky if others may write */
async function parentProblem (dir: string): Promise<string | undefined> {
  const parent = dirname(dir)
  const st = await fsp.stat(parent).catch(() => undefined)
  if (!st?.isDirectory()) return `is in ${parent}, which does not exist`
  if (st.uid !== uid() && st.uid !== 0) return `is in ${parent}, which belongs to another user (uid ${st.uid})`
  if ((st.mode & 0o022) && !(st.mode & 0o1000)) return `is in ${parent}, which others can write to (mode ${octal(st.mode)})`
  return undefined
}

/** makes `dir` (0700) if missing, or checks it is ours and private; says why not */
async function makePrivate (dir: string, recursive: boolean): Promise<string | undefined> {
  if (recursive) await fsp.mkdir(dirname(dir), { recursive: true, mode: 0o700 }).catch(() => {})
  const parent = await parentProblem(dir)
  if (parent) return parent
  try {
    await fsp.mkdir(dir, { mode: 0o700 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot be made (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  const problem = await privateDirProblem(dir)
  if (problem) return problem
  const st = await fsp.lstat(dir)
  // ours, written only by us: readable by others is ours to take back
  if (st.mode & 0o077) await fsp.chmod(dir, 0o700)
  return await fsp.access(dir, 2 /* W_OK */).then(() => undefined, () => 'is not writable')
}

/** the first candidate that is, or can be made, a private directory of ours */
export async function pickPrivateDir (candidates: readonly string[], what: string, recursive = false): Promise<string> {
  const refused: string[] = []
  for (const dir of candidates) {
    const problem = await makePrivate(dir, recursive)
    if (!problem) return dir
    refused.push(`${dir} ${problem}`)
  }
  throw new ConfigError(`no private folder for ${what}: ${refused.join('; ')}; ` +
    (uid() === 0 ? 'remove the one that is not root\'s' : 'set XDG_RUNTIME_DIR to a directory of yours (mode 0700), or ask root to remove the one made by another user'))
}

let runtime: Promise<string> | undefined

/** this user's runtime folder, made or checked once per process */
export function runtimeDir (): Promise<string> {
  runtime ??= pickPrivateDir(runtimeCandidates(), 'the control socket', false)
  runtime.catch(() => { runtime = undefined })
  return runtime
}

/** the staging parent used when staging_dir= is not given */
export function defaultStagingParent (): Promise<string> {
  return pickPrivateDir(stagingCandidates(), 'staging files (or give staging_dir=)', true)
}

/** the runtime folders a client may trust to find a mount's socket in: those that exist and are private */
export async function runtimeDirsToSearch (candidates = runtimeCandidates()): Promise<string[]> {
  const out: string[] = []
  for (const dir of candidates) if (!await privateDirProblem(dir) && !await parentProblem(dir)) out.push(dir)
  return out
}
