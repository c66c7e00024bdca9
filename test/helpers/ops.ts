// Helpers of the operations tests (fstab, shutdown, URLs, SigV2, stats, logs):
// a shell, a recording HTTP proxy and a cuttable TCP proxy in front of the S3
// server, a private mount namespace, and a foreground mount started the way
// users start it.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { connect, createServer, type Socket } from 'node:net'
import { Readable } from 'node:stream'
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { alive, waitFor } from './oortfs-cli.js'
import type { Teardown } from './s3-server.js'

export interface ShResult { code: number | null; stdout: string; stderr: string }

/** the environment without tap's loader (it must not follow `node` into the mount) */
export function plainEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  delete env.NODE_OPTIONS
  return env
}

/** `bash -c cmd`, its own process group, killed after timeoutMs; never throws */
export function sh (cmd: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<ShResult> {
  return new Promise(resolve => {
    // tap's processinfo puts its loader back into NODE_OPTIONS of every child: env(1) drops it last
    const p = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'bash', '-o', 'pipefail', '-c', cmd],
      { env: opts.env ?? plainEnv(), cwd: opts.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', d => { stdout += d })
    p.stderr.on('data', d => { stderr += d })
    const timer = setTimeout(() => { try { process.kill(-p.pid!, 'SIGKILL') } catch { /* gone */ } }, opts.timeoutMs ?? 60_000)
    p.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

export async function shOk (cmd: string, opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const r = await sh(cmd, opts)
  if (r.code !== 0) throw new Error(`${cmd}: exit ${r.code}: ${r.stderr.trim().slice(-1500)}`)
  return r.stdout
}

/** a path quoted for bash */
export function q (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export async function objectBytes (client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return Buffer.from(await out.Body!.transformToByteArray())
}

export async function objectMd5 (client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  const h = createHash('md5')
  for await (const chunk of out.Body as Readable) h.update(chunk as Buffer)
  return h.digest('hex')
}

export interface SeenRequest { method: string; url: string; auth: string; status: number }

/** An HTTP proxy in front of the S3 server that records each request's method, URL, Authorization scheme and status. */
export async function recordingProxy (endpoint: string, t: Teardown): Promise<{ url: string; seen: SeenRequest[] }> {
  const target = new URL(endpoint)
  const seen: SeenRequest[] = []
  const agent = new http.Agent({ keepAlive: true })
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? ''
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, r => {
      seen.push({ method: req.method!, url: req.url!, auth, status: r.statusCode! })
      res.writeHead(r.statusCode!, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()); agent.destroy() }))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen }
}

/** A TCP proxy to the S3 server; cut() makes the server unreachable (connections reset, new ones refused). */
export async function cuttableProxy (endpoint: string, t: Teardown): Promise<{ url: string; cut: () => Promise<void> }> {
  const target = new URL(endpoint)
  const open = new Set<Socket>()
  const server = createServer(c => {
    const u = connect(Number(target.port), target.hostname)
    open.add(c).add(u)
    const drop = (): void => { open.delete(c); open.delete(u); c.destroy(); u.destroy() }
    c.on('error', drop).on('close', drop)
    u.on('error', drop).on('close', drop)
    c.pipe(u)
    u.pipe(c)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  let closed: Promise<void> | undefined
  const cut = (): Promise<void> => closed ??= new Promise(resolve => {
    server.close(() => resolve())
    for (const s of open) s.resetAndDestroy()
  })
  t.teardown(cut)
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, cut }
}

/** pids of processes whose command line has every one of `words` */
export function pidsWith (...words: string[]): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      if (words.every(w => cmd.some(a => a.includes(w)))) out.push(Number(name))
    } catch { /* gone */ }
  }
  return out
}

/** stops pids (SIGTERM, then SIGKILL after `graceMs`) */
export async function stopPids (pids: number[], graceMs = 10_000): Promise<void> {
  for (const p of pids) { try { process.kill(p, 'SIGTERM') } catch { /* gone */ } }
  await waitFor(() => pids.every(p => !alive(p)), graceMs)
  for (const p of pids) { try { process.kill(p, 'SIGKILL') } catch { /* gone */ } }
}

export interface Namespace {
  /** the process holding the namespace */
  pid: number
  /** runs `bash -c cmd` inside the namespace */
  sh(cmd: string, opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ShResult>
  /** is `dir` a mount point in the namespace? */
  mounted(dir: string): boolean
}

/**
 * A private mount namespace (unshare -m): what is mounted there is seen only
 * there, and everything goes away with its last process. Teardown stops the
 * holder; stop the namespace's other processes first (register after this).
 */
export async function mountNamespace (t: Teardown): Promise<Namespace> {
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '3600'], { stdio: 'ignore' })
  const pid = holder.pid!
  t.teardown(async () => { holder.kill('SIGKILL'); await waitFor(() => !alive(pid), 5000) })
  // unshare execs sleep once the namespace exists
  const ready = await waitFor(() => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep') } catch { return false }
  }, 5000)
  if (!ready) throw new Error('unshare --mount did not start')
  return {
    pid,
    sh: (cmd, opts = {}) => sh(`exec nsenter --target ${pid} --mount -- bash -o pipefail -c ${q(cmd)}`, opts),
    mounted: dir => {
      try {
        return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').some(l => l.split(' ')[4] === dir)
      } catch { return false }
    },
  }
}
