// A Unix socket per mount (0600, in this user's runtime folder: runtime-dir.ts)
// speaking line-delimited JSON, for `oortfs stats|url|unmount`. Every request
// names the mount point it is for, and every answer says which mount the
// process serves: an old process still holding the socket while a new mount
// takes the point (a restart) refuses, rather than answer for the new one.
//   {"cmd":"stats","mount":"/mnt/x"}                       -> {"ok":true,"result":{...},"server":{...}}
//   {"cmd":"presign","mount":"/mnt/x","path":"/a/b","expires":3600,"method":"GET"} -> {"ok":true,"result":"https://..."}
//   {"cmd":"unmount","mount":"/mnt/x"}                     -> {"ok":true} once saved and unmounted
// "server" is {"mountpoint","bucket","prefix","pid"}. Failures answer
// {"ok":false,"error":"..."}, with "notServing":true from a process that does
// not serve that mount. A slow unmount sends {"progress":"..."} lines first.
import { promises as fsp } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { mountKey } from '../config.js'
import { runtimeDir } from '../runtime-dir.js'
import { log } from '../util/log.js'

/** who answers on a socket: sent with every answer */
export interface ServerIdentity {
  mountpoint: string
  bucket: string
  prefix: string
  pid: number
}

export interface ControlHandlers {
  /** is the mount at our mount point still this process's? (after `umount; mount` at once it is another's) */
  serving(): Promise<boolean>
  stats(): unknown
  presign(path: string, expiresSeconds: number, method: 'GET' | 'PUT'): Promise<string>
  /** resolves once everything is saved and unmounted; rejects saying what was not saved; `progress` tells the caller what a slow one waits for */
  unmount(progress: (line: string) => void): Promise<void>
}

export interface ControlServer {
  readonly path: string
  /** stops listening, answers what is pending, removes the socket */
  close(): Promise<void>
}

/** 7 days: the longest a SigV4 presigned URL may live */
export const MAX_EXPIRES = 7 * 24 * 3600
const MAX_LINE = 64 * 1024

/** the socket of the mount at `mountpoint` inside runtime folder `dir` */
export function socketPath (dir: string, mountpoint: string): string {
  return join(dir, `${mountKey(mountpoint)}.sock`)
}

/** where this process's control socket goes: this user's runtime folder, made or checked */
export async function ownSocketPath (mountpoint: string): Promise<string> {
  return socketPath(await runtimeDir(), mountpoint)
}

/** a request for a mount this process does not serve */
class NotServingError extends Error {}

async function dispatch (h: ControlHandlers, me: ServerIdentity, msg: Record<string, unknown>, progress: (line: string) => void): Promise<unknown> {
  if (typeof msg.mount !== 'string') throw new Error('every request names the mount point it is for: "mount"')
  if (msg.mount !== me.mountpoint) throw new NotServingError(`this oortfs process (pid ${me.pid}) serves ${me.mountpoint}, not ${msg.mount}`)
  if (!await h.serving()) throw new NotServingError(`this oortfs process (pid ${me.pid}) no longer serves ${me.mountpoint}: the mount there is another process's`)
  switch (msg.cmd) {
    case 'stats': return h.stats()
    case 'presign': {
      const { path, expires, method = 'GET' } = msg
      if (typeof path !== 'string' || !path.startsWith('/') || path.split('/').some(p => p === '..' || p === '.')) {
        throw new Error('presign needs "path": an absolute path inside the mount')
      }
      if (!Number.isInteger(expires) || (expires as number) < 1 || (expires as number) > MAX_EXPIRES) {
        throw new Error(`presign needs "expires": whole seconds from 1 to ${MAX_EXPIRES}`)
      }
      if (method !== 'GET' && method !== 'PUT') throw new Error('presign "method" is GET or PUT')
      return await h.presign(path, expires as number, method)
    }
    case 'unmount': return await h.unmount(progress)
    default: throw new Error(`unknown command ${JSON.stringify(msg.cmd)}; known: stats, presign, unmount`)
  }
}

/** is something answering on `path`? (a live mount we must not steal the socket of) */
function alive (path: string): Promise<boolean> {
  return new Promise(resolve => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

export async function startControlServer (path: string, me: ServerIdentity, handlers: ControlHandlers): Promise<ControlServer> {
  if (await alive(path)) throw new Error(`control socket ${path} is in use by another oortfs process`)
  await fsp.rm(path, { force: true })

  const sockets = new Set<Socket>()
  const pending = new Set<Promise<unknown>>()
  const server: Server = createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buf = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > MAX_LINE) return socket.destroy()
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim()
        buf = buf.slice(nl + 1)
        if (!line) continue
        const p = (async () => {
          const msg = JSON.parse(line) as Record<string, unknown>
          if (!msg || typeof msg !== 'object') throw new Error('expected a JSON object')
          return await dispatch(handlers, me, msg, line => { if (!socket.destroyed) socket.write(JSON.stringify({ progress: line }) + '\n') })
        })().then(result => ({ ok: true, result, server: me }), (err: unknown) => ({
          ok: false, error: (err as Error)?.message ?? String(err), server: me, ...(err instanceof NotServingError ? { notServing: true } : {}),
        }))
          .then(reply => { if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n') })
        pending.add(p)
        void p.finally(() => pending.delete(p))
      }
    })
  })

  // created 0600 from the start: no window in which others could connect
  const oldUmask = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => { server.off('error', reject); resolve() })
    })
  } finally {
    process.umask(oldUmask)
  }
  await fsp.chmod(path, 0o600)
  // the socket file this process made: at close it removes that one, never a newer mount's at the same path
  const own = (await fsp.stat(path)).ino
  log.debug(`control socket ${path}`)

  let closing: Promise<void> | undefined
  return {
    path,
    close: () => closing ??= (async () => {
      server.close()
      if ((await fsp.stat(path).catch(() => undefined))?.ino === own) await fsp.rm(path, { force: true })
      // let replies in progress (an unmount's answer) go out, but not forever
      await Promise.race([Promise.allSettled([...pending]), new Promise(r => setTimeout(r, 2000).unref())])
      for (const s of sockets) s.end()
    })(),
  }
}
