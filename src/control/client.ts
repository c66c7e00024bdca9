// The client side of the control socket, and the commands built on it:
// `oortfs unmount DIR`, `oortfs stats DIR [--json]`, `oortfs url PATH`.
import { execFile } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import { connect } from 'node:net'
import { basename, dirname, join, resolve } from 'node:path'
import { ConfigError } from '../config.js'
import { OORTFS_FSTYPE, mountAt, oortfsMountContaining, readMounts } from '../fuse/mountinfo.js'
import { runtimeDirsToSearch } from '../runtime-dir.js'
import { MAX_EXPIRES, socketPath, type ServerIdentity } from './server.js'

/** the mount's socket is missing or nobody answers on it */
export class NotRunningError extends Error {}

/** the process that answered does not serve the mount asked for (an old one, still exiting) */
export class NotServingError extends Error {
  constructor (message: string, readonly server?: ServerIdentity) {
    super(message)
  }
}

/**
 * Sends one command for the mount at `msg.mount`, resolves with the result or
 * rejects with the mount's error; progress lines that come before the answer
 * go to `onProgress`. An answer from a process that does not say it serves
 * that mount (another's, an old one, an older oortfs) rejects with NotServingError.
 */
export function request (socket: string, msg: Record<string, unknown> & { mount: string }, timeoutMs = 30_000, onProgress?: (line: string) => void): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const s = connect(socket)
    let buf = ''
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`the mount did not answer within ${Math.round(timeoutMs / 1000)} s`)) }, timeoutMs)
    const fail = (err: Error): void => { clearTimeout(timer); s.destroy(); reject(err) }
    s.setEncoding('utf8')
    s.on('connect', () => s.write(JSON.stringify(msg) + '\n'))
    s.on('error', (err: NodeJS.ErrnoException) => {
      fail(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new NotRunningError(err.code) : err)
    })
    s.on('data', (chunk: string) => {
      buf += chunk
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let reply: { ok?: boolean; result?: unknown; error?: string; progress?: string; server?: ServerIdentity; notServing?: boolean }
        try {
          reply = JSON.parse(line) as typeof reply
        } catch {
          return fail(new Error('the mount answered with something that is not JSON'))
        }
        if (typeof reply.progress === 'string') { onProgress?.(reply.progress); continue }
        clearTimeout(timer)
        s.end()
        if (reply.notServing || reply.server?.mountpoint !== msg.mount) {
          const who = reply.server ? `the oortfs process (pid ${reply.server.pid}) on ${socket}` : `the process on ${socket}`
          reject(new NotServingError(reply.notServing && reply.error ? reply.error : `${who} does not serve ${msg.mount}`, reply.server))
        } else if (reply.ok) resolvePromise(reply.result)
        else reject(new Error(reply.error ?? 'the mount answered with an error'))
        return
      }
    })
    s.on('end', () => fail(new Error('the mount closed the connection without answering')))
  })
}

/**
 * An absolute path with every directory resolved but the last part left alone,
 * so that a hung mount point is never stat()ed.
 */
export async function canonical (path: string): Promise<string> {
  const abs = resolve(path)
  if (abs === '/') return abs
  try {
    return join(await fsp.realpath(dirname(abs)), basename(abs))
  } catch {
    return abs
  }
}

/** the oortfs mount holding `path`, and the path inside it ('/a/b') */
export async function locate (path: string): Promise<{ mountpoint: string; rel: string }> {
  const abs = await canonical(path)
  const m = oortfsMountContaining(abs)
  if (!m) throw new Error(`${abs} is not inside an oortfs mount (mounted ones: ${listMounts()})`)
  return { mountpoint: m.mountpoint, rel: abs.slice(m.mountpoint.length === 1 ? 0 : m.mountpoint.length) || '/' }
}

function listMounts (): string {
  const mine = readMounts().filter(m => m.fstype === OORTFS_FSTYPE).map(m => m.mountpoint)
  return mine.length ? mine.join(', ') : 'none'
}

/** '90', '90s', '15m', '1h', '7d' -> seconds */
export function parseDuration (text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/i.exec(text.trim())
  const secs = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]!.toLowerCase()] ?? 1) : NaN
  if (!(secs >= 1 && secs <= MAX_EXPIRES)) throw new ConfigError(`--expires ${text}: give a duration like 90s, 15m, 1h or 7d (at most 7d)`)
  return secs
}

export async function urlCommand (path: string, expiresSeconds: number, method: 'GET' | 'PUT'): Promise<string> {
  const { mountpoint, rel } = await locate(path)
  if (rel === '/') throw new Error(`${path} is the mount point itself; name a file inside it`)
  return String(await talk(mountpoint, { cmd: 'presign', path: rel, expires: expiresSeconds, method }))
}

export async function statsCommand (dir: string, json: boolean): Promise<string> {
  const { mountpoint } = await locate(dir)
  const stats = await talk(mountpoint, { cmd: 'stats' }) as Record<string, unknown>
  return json ? JSON.stringify(stats, null, 2) : formatStats(stats)
}

/** how long a client waits for a new mount to take the socket an old process is letting go of */
const TAKEOVER_MS = 5000

/**
 * Asks the process serving the mount at `mountpoint`, looking in each runtime
 * folder this user may trust; resolves with its answer. Throws NotRunningError
 * when no process serving it answers anywhere, NotServingError when only a
 * process that no longer serves it does (after waiting a little for the new one).
 */
export async function ask (mountpoint: string, msg: Record<string, unknown>, timeoutMs?: number, onProgress?: (line: string) => void, dirs?: string[]): Promise<unknown> {
  const deadline = Date.now() + TAKEOVER_MS
  for (;;) {
    let wrong: NotServingError | undefined
    let refused: NotRunningError | undefined
    for (const dir of dirs ?? await runtimeDirsToSearch()) {
      try {
        return await request(socketPath(dir, mountpoint), { ...msg, mount: mountpoint }, timeoutMs, onProgress)
      } catch (err) {
        if (err instanceof NotServingError) wrong = err
        else if (err instanceof NotRunningError) { if (err.message === 'ECONNREFUSED') refused = err } else throw err
      }
    }
    if (!wrong || Date.now() >= deadline) throw wrong ?? refused ?? new NotRunningError('ENOENT')
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

async function talk (mountpoint: string, msg: Record<string, unknown>): Promise<unknown> {
  try {
    return await ask(mountpoint, msg)
  } catch (err) {
    if (err instanceof NotRunningError && err.message === 'ECONNREFUSED') {
      throw new Error(`the oortfs process of ${mountpoint} is gone; clear the dead mount with oortfs unmount ${mountpoint}`)
    }
    if (err instanceof NotRunningError) throw new Error(`${mountpoint} has no control socket in ${(await runtimeDirsToSearch()).join(' or ') || 'any private runtime folder of this user'}; was it mounted by another user?`)
    if (err instanceof NotServingError) throw new Error(`${err.message}; the process now serving ${mountpoint} has not taken the control socket yet: retry in a few seconds`)
    throw err
  }
}

/** asks the mount to save and unmount; falls back to fusermount -u */
export async function unmountCommand (dir: string): Promise<void> {
  const mp = await canonical(dir)
  const entry = mountAt(mp)
  if (!entry) throw new Error(`${mp} is not a mount point`)
  if (entry.fstype === OORTFS_FSTYPE) {
    try {
      // saving can take as long as the uploads: wait for them
      await ask(mp, { cmd: 'unmount' }, 24 * 3600_000, line => process.stderr.write(`oortfs: ${line}\n`))
      for (let i = 0; i < 100 && mountAt(mp); i++) await new Promise(r => setTimeout(r, 100))
      return
    } catch (err) {
      // never fusermount a mount whose own process may still answer: it would skip its save
      if (err instanceof NotServingError) throw new Error(`${err.message}; the process now serving ${mp} has not taken the control socket yet: retry in a few seconds`)
      if (!(err instanceof NotRunningError)) throw err
    }
  }
  await new Promise<void>((res, rej) => execFile('fusermount', ['-u', mp], (err, _out, stderr) => {
    if (!err) return res()
    const why = String(stderr).trim().split('\n').pop()?.replace(/^fusermount:\s*/, '') || err.message
    rej(new Error(`could not unmount ${mp}: ${why}; close the files open there, or force it with fusermount -uz ${mp}`))
  }))
}

function bytes (n: unknown): string {
  let v = Number(n) || 0
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i ? v.toFixed(1) : v} ${units[i]}`
}

/** flattens {a: {b: 1}} to [['a.b', 1]] for the table */
function flatten (obj: unknown, prefix = ''): [string, unknown][] {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return [[prefix, obj]]
  return Object.entries(obj).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k))
}

/** app.stats() keys the rows above already show */
const SHOWN = /^(requests|bucket|prefix|endpoint|uptimeSeconds|rpsLimit)(\.|$)/

export function formatStats (s: Record<string, unknown>): string {
  const mount = (s.mount ?? {}) as Record<string, unknown>
  const r = (s.requests ?? {}) as Record<string, unknown>
  const rows: [string, string][] = []
  rows.push(['mount', `${mount.mountpoint} (bucket ${mount.bucket}${mount.prefix ? ', prefix ' + mount.prefix : ''}, pid ${mount.pid}, up ${mount.uptimeSeconds} s)`])
  rows.push(['rate', `${s.reqPerSecond} req/s over the last second; limit ${r.rateLimit}/s (configured ${s.rpsLimit}/s)`])
  rows.push(['requests', `${r.total} sent, ${r.inFlight} in flight, ${r.queued} queued`])
  for (const [type, n] of Object.entries((r.byType ?? {}) as Record<string, number>).sort((a, b) => b[1] - a[1])) rows.push([`  ${type}`, String(n)])
  rows.push(['retries', `${r.retries} (throttled ${r.throttled}, failed ${r.failed})`])
  rows.push(['bytes in', bytes(r.bytesIn)], ['bytes out', bytes(r.bytesOut)])
  for (const [k, v] of flatten(s.app)) {
    if (v === undefined || typeof v === 'object' || SHOWN.test(k)) continue
    rows.push([k, /bytes|size/i.test(k) && typeof v === 'number' ? bytes(v) : String(v)])
  }
  const w = Math.max(...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')
}
