// A real oortfs mount of a bucket for end-to-end tests, through the real CLI
// (bin/oortfs), and a shell to run ordinary tools against it.
//
//   const m = await mountBucket(t, { s3 })
//   await shOk(`cp -r ${m.dir}/src ${out}`)
//   const { requests } = await m.measure(`ls -l ${m.dir}/d`)   // S3 requests the command cost
//
// Every mount is unmounted in t's teardown, whatever happened (the mount's
// process is stopped by its pid, then fusermount -uz clears what is left).
// Everything here is async: the mount is another process, but a test process
// that blocked on its own FUSE calls would only hide the failure it waits for.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import type { RequestStats } from '../../src/s3/request-queue.js'
import { ask } from '../../src/control/client.js'
import { alive, cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, tmpDir, waitFor } from './oortfs-cli.js'
import { newBucket, rawClient, sharedS3, type LocalS3Info, type Teardown } from './s3-server.js'

// ---------------------------------------------------------------- the shell

export interface ShResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface ShOptions {
  cwd?: string
  /** killed (its whole process group) after this long; default 120 s */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  /** written to the command's stdin */
  input?: string | Buffer
}

/**
 * Runs `bash -c cmd` (pipefail on) in its own process group. Never throws for
 * a failing command: the result says how it ended. NODE_OPTIONS is dropped:
 * tap's loader must not follow `node` scripts into the mount.
 */
export function sh (cmd: string, opts: ShOptions = {}): Promise<ShResult> {
  const env = { ...process.env, ...opts.env }
  delete env.NODE_OPTIONS
  return new Promise(resolve => {
    const p = spawn('bash', ['-o', 'pipefail', '-c', cmd], {
      cwd: opts.cwd, env, detached: true, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    p.stdout!.on('data', (d: Buffer) => out.push(d))
    p.stderr!.on('data', (d: Buffer) => err.push(d))
    if (opts.input !== undefined) p.stdin!.end(opts.input)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      try { process.kill(-p.pid!, 'SIGKILL') } catch { /* gone */ }
    }, opts.timeoutMs ?? 120_000)
    p.on('error', e => err.push(Buffer.from(String(e))))
    p.on('close', (code, signal) => {
      clearTimeout(timer)
      const stderr = Buffer.concat(err).toString() + (timedOut ? `\n[sh: killed after ${opts.timeoutMs ?? 120_000} ms]` : '')
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr })
    })
  })
}

/** sh, but a non-zero exit throws an Error carrying the command, the code and stderr */
export async function shOk (cmd: string, opts: ShOptions = {}): Promise<string> {
  const r = await sh(cmd, opts)
  if (r.code !== 0) {
    throw new Error(`command failed (${r.signal ?? `exit ${r.code}`}): ${cmd}\n${r.stderr.trim().slice(-2000)}`)
  }
  return r.stdout
}

/** a path quoted for bash */
export function q (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

// ---------------------------------------------------------------- the bucket behind the mount

export const lines = (s: string): string[] => s.split('\n').filter(Boolean)

/** python3 running `code` with argv; stdout back, and a failure is a failed test */
export async function py (code: string, ...args: string[]): Promise<string> {
  const r = await sh(`python3 - ${args.map(q).join(' ')}`, { input: code, timeoutMs: 120_000 })
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr}`)
  return r.stdout
}
export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** sha256 of a file, read by sha256sum (through the mount when it is in one) */
export async function sha256sum (path: string): Promise<string> {
  return (await shOk(`sha256sum < ${q(path)}`)).split(' ')[0]!
}

/** an object's bytes, or undefined if there is no such key */
export async function objectBytes (client: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
    return Buffer.from(await out.Body!.transformToByteArray())
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined
    throw err
  }
}

export async function keysUnder (client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
    keys.push(...(page.Contents ?? []).map(o => o.Key!))
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return keys
}

/** puts every object (a key ending in '/' is a marker), 32 at a time: data written by someone else */
export async function seed (client: S3Client, bucket: string, objects: Iterable<[string, Buffer]>): Promise<void> {
  const todo = [...objects]
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const [Key, Body] = todo[next++]!
      await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body }))
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
}

// ---------------------------------------------------------------- the mount

export interface Stats {
  mount: { mountpoint: string; bucket: string; prefix: string; endpoint: string; pid: number; uptimeSeconds: number }
  requests: RequestStats
  /** requests on the wire when it answered: what, for how long (ms), which try */
  active: { what: string, ms: number, attempt: number }[]
  reqPerSecond: number
  rpsLimit: number
  app: Record<string, unknown>
}

/** requests between two stats readings */
export interface RequestDelta {
  total: number
  byType: Record<string, number>
}

export interface MountOptions {
  s3?: LocalS3Info
  /** an existing bucket (else a fresh one, deleted in teardown) */
  bucket?: string
  /** mount BUCKET:/PREFIX */
  prefix?: string
  /** -o options besides endpoint= (which defaults to the local S3's) */
  options?: string[]
  /** run with -f, the test holding the process (default: background, as users run it) */
  foreground?: boolean
  /** -d: a debug line per FUSE call and S3 request (foreground) */
  debug?: boolean
}

export interface Mount {
  dir: string
  bucket: string
  s3: LocalS3Info
  /** a plain S3 client of the same server: to seed and inspect the bucket behind the mount's back */
  client: S3Client
  /** the mount process, while mounted */
  pid(): number | undefined
  /** `oortfs stats DIR --json` */
  stats(): Promise<Stats>
  /** requests since an earlier reading (default: the last mark() or measure()) */
  requestsSince(before?: Stats): Promise<RequestDelta>
  /** remembers the current counters for requestsSince() */
  mark(): Promise<Stats>
  /**
   * runs a shell command and counts the S3 requests it caused, waiting until
   * the mount is quiet for `settleMs` (debounced index writes land ~1 s later)
   */
  measure(cmd: string, opts?: ShOptions & { settleMs?: number }): Promise<{ out: ShResult; requests: RequestDelta }>
  /** waits until no request has been sent for settleMs and none is queued (polls the control socket) */
  settle(settleMs?: number): Promise<Stats>
  /** the mount's log (its stderr in the foreground, its log file in the background) */
  log(): string
  /** `oortfs unmount DIR`: saves everything; throws if it refuses */
  unmount(): Promise<void>
  /** unmount, then mount again with the same options: a fresh process with cold caches */
  remount(): Promise<void>
}

export function diffRequests (before: Stats, after: Stats): RequestDelta {
  const byType: Record<string, number> = {}
  for (const [k, v] of Object.entries(after.requests.byType)) {
    const d = v - (before.requests.byType[k] ?? 0)
    if (d) byType[k] = d
  }
  return { total: after.requests.total - before.requests.total, byType }
}

/** "ListObjectsV2=2 GetObject=1" */
export function describeRequests (d: RequestDelta): string {
  const parts = Object.entries(d.byType).sort().map(([k, v]) => `${k}=${v}`)
  return `${d.total} request${d.total === 1 ? '' : 's'}${parts.length ? ` (${parts.join(' ')})` : ''}`
}

/**
 * Mounts a bucket (a fresh one unless given) with the real CLI and registers
 * its unmount in t's teardown. Register your own teardowns that need the mount
 * gone (removing the bucket) before calling this: tap runs them last first.
 */
export async function mountBucket (t: Teardown, opts: MountOptions = {}): Promise<Mount> {
  ensureBuilt()
  const s3 = opts.s3 ?? await sharedS3()
  const client = rawClient(s3)
  t.teardown(() => client.destroy())
  const bucket = opts.bucket ?? await newBucket(s3, t, 'e2e')
  const work = tmpDir(t, 'oortfs-mount-')
  const dir = join(work, 'mnt')
  mkdirSync(dir)
  const home = join(work, 'home')
  mkdirSync(home)
  const logFile = join(work, 'oortfs.log')
  const env = cliEnv(s3, home)
  const target = opts.prefix ? `${bucket}:/${opts.prefix.replace(/^\/+/, '')}` : bucket
  const hasEndpoint = (opts.options ?? []).some(o => o.split(',').some(p => p.startsWith('endpoint=')))
  const options = [...(hasEndpoint ? [] : [`endpoint=${s3.endpoint}`]), ...(opts.options ?? [])]
  const foreground = !!opts.foreground || !!opts.debug
  const args = [target, dir, '-o', options.join(','), ...(opts.debug ? ['-d'] : [])]

  let pid: number | undefined
  let fgErr: (() => string) | undefined
  let fgLog = ''
  cleanupMount(t, dir, () => pid)

  const stats = async (): Promise<Stats> => {
    const r = await runCli(['stats', dir, '--json'], env, 30_000)
    if (r.code !== 0) throw new Error(`oortfs stats ${dir} failed (${r.code}): ${r.stderr.trim()}`)
    return JSON.parse(r.stdout) as Stats
  }

  const mount = async (): Promise<void> => {
    if (foreground) {
      const fg = spawnForeground(args, env)
      pid = fg.child.pid
      fgErr = fg.stderr
      const up = await Promise.race([
        waitFor(() => isMounted(dir), 20_000),
        fg.exited.then(() => false),
      ])
      if (!up) throw new Error(`foreground mount of ${target} did not come up:\n${fg.stderr().slice(-3000)}`)
    } else {
      const r = await runCli([...args, '-o', `log_file=${logFile}`], env, 60_000)
      if (r.code !== 0 || !isMounted(dir)) throw new Error(`mount of ${target} failed (exit ${r.code}): ${r.stderr.trim()}`)
      pid = (await stats()).mount.pid
    }
  }

  const log = (): string => fgLog + (fgErr ? fgErr() : '') + (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '')

  const unmount = async (): Promise<void> => {
    const p = pid
    const r = await runCli(['unmount', dir], env, 120_000)
    if (r.code !== 0) {
      // what the mount was doing: the only clue to a hang
      const state = await stats().then(s => JSON.stringify({ ...s.requests, active: s.active, app: s.app }), err => (err as Error).message)
      throw new Error(`oortfs unmount ${dir} failed (exit ${r.code}): ${r.stderr.trim()}\nrequests: ${state}\nlog tail:\n${log().slice(-4000)}`)
    }
    if (p !== undefined && !await waitFor(() => !alive(p), 15_000)) throw new Error(`the mount process ${p} did not exit after unmount`)
    if (fgErr) fgLog += fgErr()
    fgErr = undefined
    pid = undefined
  }

  /** the same counters straight from the control socket: no CLI start-up, for polling */
  const quickStats = async (): Promise<Stats> => await ask(realpathSync(dir), { cmd: 'stats' }, 30_000) as Stats

  let last: Stats | undefined
  const settle = async (settleMs = 1500): Promise<Stats> => {
    let s = await quickStats()
    let since = Date.now()
    for (const end = Date.now() + 60_000; Date.now() < end;) {
      await new Promise(r => setTimeout(r, 100))
      const n = await quickStats()
      if (n.requests.total !== s.requests.total || n.requests.inFlight + n.requests.queued > 0) since = Date.now()
      s = n
      if (Date.now() - since >= settleMs) break
    }
    return s
  }

  await mount()
  const m: Mount = {
    dir, bucket, s3, client,
    pid: () => pid,
    stats,
    mark: async () => (last = await stats()),
    requestsSince: async (before?: Stats) => {
      const from = before ?? last
      if (!from) throw new Error('requestsSince: no earlier reading; call mark() first')
      return diffRequests(from, await stats())
    },
    settle,
    measure: async (cmd, o = {}) => {
      const before = await settle(o.settleMs)
      const out = await sh(cmd, o)
      const after = await settle(o.settleMs)
      last = after
      return { out, requests: diffRequests(before, after) }
    },
    log,
    unmount,
    remount: async () => { await unmount(); await mount() },
  }
  return m
}
