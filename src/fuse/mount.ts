// The life of a mount: mount, serve, and on SIGINT/SIGTERM, `oortfs unmount`
// or an external umount: save everything, unmount, close. The exit code says
// whether everything was saved.
import { execFile, execFileSync } from 'node:child_process'
import type { Config } from '../config-types.js'
import type { FileSystem } from '../fs/api.js'
import type { ActiveRequest, RequestStats } from '../s3/request-queue.js'
import { log } from '../util/log.js'
import { fuseOps } from './adapter.js'
import { addonPath, addonProblem } from './fuse-addon.js'
import { patient, whileMoving } from './patience.js'
import { OortFuse, mountFuse, unmountFuse } from './oort-fuse.js'
import { writeGate, type WriteGate } from './write-gate.js'
import type { RecoveryReport } from '../fs/rename-journal.js'
import { watchStage } from './stage-watch.js'
import { ownSocketPath, startControlServer, type ControlServer } from '../control/server.js'
import { selfPing } from './self-ping.js'
import { crashed, setFinalSave } from '../crash-guard.js'
import { monotonic } from '../util/clock.js'
import { fuseDescriptors, sessionSince } from './fuse-session.js'
import { nativeShortcuts } from './native-shortcuts.js'
import type { ReadShortcut } from '../fs/read/read-bindings.js'
import type { WriteShortcut } from '../fs/write/write-arming.js'

/** What a mount needs of the app (src/app.ts's App has all of it). */
export interface MountedApp {
  fs: FileSystem
  /** proves bucket and keys with the mount's first request, and finishes interrupted renames */
  start(progress?: () => void): Promise<RecoveryReport>
  queue: { stats(): RequestStats, active(): ActiveRequest[] }
  stats(): Record<string, unknown>
  presign(relPath: string, expiresSeconds: number, method: 'GET' | 'PUT'): Promise<string>
  close(): Promise<void>
  /** the core's side of the shortcuts (src/app.ts's core); without it every read and write goes through fs */
  shortcuts?: {
    attachReadShortcut(shortcut: ReadShortcut): void
    served(fh: number, position: number, length: number): void
    attachWriteShortcut(shortcut: WriteShortcut): void
  }
}

export interface RunMountOptions {
  /** called once mounted and the control socket listens */
  onReady?: () => void
  /** signals that mean "save and unmount" */
  signals?: NodeJS.Signals[]
  /** how often to look for an external umount */
  pollMs?: number
}

export class MountError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'MountError'
  }
}

/** fusermount -u, not -uz: refuses (EBUSY) while a process has a file or its cwd there */
function politeUnmount (mp: string): Promise<void> {
  return new Promise((resolve, reject) => execFile('fusermount', ['-u', mp], (err, _out, stderr) => {
    if (!err) return resolve()
    const why = String(stderr).trim().split('\n').pop()?.replace(/^fusermount:\s*/, '') || err.message
    reject(new Error(/busy/i.test(why)
      ? `${mp} is busy: a process has a file open there or is inside it; close or leave it and retry, or force it with fusermount -uz ${mp}`
      : `could not unmount ${mp}: ${why}`))
  }))
}

/** what a save still waits for: calls under way, requests on the wire, unsaved files */
function waitingOn (app: MountedApp, gate: WriteGate): string {
  const q = app.queue.stats()
  const active = app.queue.active() // oldest first
  const shown = active.slice(0, 5).map(a => `${a.what} (${Math.round(a.ms / 1000)} s, try ${a.attempt})`).join(', ')
  const s = app.stats()
  return `${gate.pending} changing call(s) under way; ${q.inFlight} request(s) in flight${shown ? `: ${shown}${active.length > 5 ? ', ...' : ''}` : ''}; ` +
    `${q.queued} queued; rate limit ${q.rateLimit}/s; ${String(s.openFiles ?? '?')} file(s) open, ${String(s.dirtyBytes ?? '?')} byte(s) not yet uploaded`
}

function messageOf (err: unknown): string {
  return (err as Error)?.message ?? String(err)
}

/** reads of cached blocks answered, and writes made, in the FUSE threads from now on (native-shortcuts.ts) */
function startShortcuts (fuse: OortFuse, config: Config, app: MountedApp): void {
  const core = app.shortcuts
  // fuse-native's per-mount state, made by its mount
  const thread = (fuse as unknown as { _thread?: Buffer })._thread
  if (!core || !thread) return
  const shortcuts = nativeShortcuts({
    thread, blockSize: config.blockSize, blocks: Math.ceil(config.cacheSize / config.blockSize),
    served: (fh, position, length) => core.served(fh, position, length),
  })
  if (shortcuts && config.readShortcut) core.attachReadShortcut(shortcuts.read)
  if (shortcuts && config.writeShortcut) core.attachWriteShortcut(shortcuts.write)
  log.debug(`shortcuts: ${shortcuts ? `reads ${config.readShortcut ? 'on' : 'off'}, writes ${config.writeShortcut ? 'on' : 'off'}` : 'not in this addon'}`)
}

/** Mounts and serves until shut down; resolves with the exit code (0: all saved). */
export async function runMount (config: Config, app: MountedApp, opts: RunMountOptions = {}): Promise<number> {
  const mp = config.mountpoint
  // an unpatched addon would mount with every new file the mounting user's, times cut to ms and some mtimes lost
  const problem = addonProblem()
  if (problem) throw new MountError(problem)
  log.debug(`FUSE addon: ${addonPath()}`)
  // closed first thing at shutdown: nothing is acknowledged after the final save
  const gate = writeGate(app.fs)
  // long calls wait while the mount's requests make progress
  const moved = (): number => { const q = app.queue.stats(); return q.succeeded + q.bytesIn + q.bytesOut }
  const ping = selfPing(mp)
  const fuse = new OortFuse(config, fuseOps(patient(gate.fs, moved, config.opTimeoutMs), { debug: log.enabled('debug'), onPing: name => ping.heard(name) }))
  const fdsBefore = fuseDescriptors()
  try {
    await mountFuse(fuse)
  } catch (err) {
    throw new MountError(`could not mount on ${mp}: ${messageOf(err)}; check that /dev/fuse exists and fusermount is installed (run with -f to see libfuse's reason)`)
  }
  log.info(`mounted ${config.bucket}${config.prefix ? ':/' + config.prefix : ''} on ${mp}`)
  if (config.readShortcut || config.writeShortcut) startShortcuts(fuse, config, app)
  const started = monotonic()
  const session = sessionSince(fdsBefore)
  const stillOurs = (): Promise<boolean> => ping.stillOurs()
  /** lazy unmount, if the mount there is still ours: open files then fail, but nothing hangs on a dead mount */
  const detachIfOurs = async (): Promise<void> => {
    if (!await stillOurs()) return
    try { execFileSync('fusermount', ['-uz', mp], { stdio: 'ignore' }) } catch { /* already gone */ }
  }

  // req/s over the last second, sampled once a second
  let lastTotal = app.queue.stats().total
  let reqPerSecond = 0
  const sampler = setInterval(() => {
    const total = app.queue.stats().total
    reqPerSecond = total - lastTotal
    lastTotal = total
  }, 1000)
  sampler.unref()

  let phase1: Promise<string | undefined> | undefined
  let finished: Promise<number> | undefined
  let resolveDone!: (code: number) => void
  const done = new Promise<number>(resolve => { resolveDone = resolve })
  let control: ControlServer | undefined
  /** the `oortfs unmount` waiting for this shutdown, told what a slow one waits for */
  let tell: ((line: string) => void) | undefined
  /** a shutdown stage that says every 15 s what it still waits for */
  const watched = <T>(stage: string, work: Promise<T>): Promise<T> => watchStage(stage, work, () => waitingOn(app, gate), tell)

  /** save, then unmount; resolves with what could not be saved, if anything */
  const stop = (reason: string): Promise<string | undefined> => {
    phase1 ??= (async () => {
      log.info(`${reason}: saving changes and unmounting ${mp}`)
      stopPolling()
      let failure: string | undefined
      // calls under way (a long mv, a close) are waited for while they move, as they themselves wait
      const quiet = await watched('waiting for calls under way', whileMoving(gate.close(7 * 24 * 3600 * 1000), 'calls under way', moved, config.opTimeoutMs).catch(() => false))
      try {
        await watched('saving before unmount', app.fs.flushAll())
      } catch (err) {
        failure = messageOf(err)
      }
      if (!quiet) failure ??= `calls still changing files after ${config.opTimeoutMs / 1000} s (op_timeout) were not waited for`
      if (await stillOurs()) {
        try {
          await watched('unmounting', unmountFuse(fuse))
        } catch (err) {
          log.warn(`unmounting ${mp} failed: ${messageOf(err)}; clear it with fusermount -uz ${mp}`)
        }
      }
      return failure
    })()
    finished ??= phase1.then(async failure => {
      // after a crash the unmount above may have been refused (a file open): never leave a dead mount
      if (crashed()) await detachIfOurs()
      await control?.close().catch(() => {})
      // after a failed save, closing would only try (and wait) once more
      if (!failure) await app.close().catch(err => log.warn(`closing: ${messageOf(err)}`))
      clearInterval(sampler)
      unguard()
      for (const [sig, fn] of handlers) process.off(sig, fn)
      // the errno prefixes of nested errors (EIO: ... EIO: ...) say nothing here
      if (failure) log.error(`some changes could not be saved: ${failure.replace(/\bEIO: /g, '')}`)
      else log.info(`unmounted ${mp}`)
      // after an uncaught error the crash guard says how it went and exits (1), once the mount is detached
      if (crashed()) await new Promise(() => {})
      return failure ? 1 : 0
    })
    void finished.then(resolveDone)
    return phase1
  }

  // external umount (fusermount -u, umount -l): fuse-native never says so.
  // A lazy one (umount -l) leaves the kernel's connection alive while files
  // are open there: those keep working, and the mount saves and exits only
  // once the kernel lets the connection go (fuse-session.ts).
  let polling = false
  let detached = false
  let poller: NodeJS.Timeout | undefined
  const poll = (): void => {
    if (polling) return
    polling = true
    void stillOurs().then(mine => {
      if (mine) return
      if (!detached) {
        // nothing addresses this mount by its path any more, and a new mount
        // there (now or while open files keep this one alive) takes the socket
        void control?.close().catch(() => {})
      }
      if (session.alive()) {
        if (!detached) log.warn(`${mp} was detached (umount -l): the files still open there keep working; saving and exiting once the last one closes`)
        detached = true
        return
      }
      void stop(detached ? 'the last file open on the detached mount closed' : 'unmounted from outside')
    }).finally(() => { polling = false })
  }
  const startPolling = (): void => { poller ??= setInterval(poll, opts.pollMs ?? 1000) }
  const stopPolling = (): void => { clearInterval(poller); poller = undefined }
  startPolling()

  let signalled = 0
  const handlers: [NodeJS.Signals, () => void][] = (opts.signals ?? ['SIGINT', 'SIGTERM']).map(sig => [sig, () => {
    if (++signalled === 1) return void stop(`${sig}`)
    // a second signal: the user gave up waiting for uploads
    log.error(`${sig} again: unmounting without saving; changes not yet uploaded are lost`)
    try { execFileSync('fusermount', ['-uz', mp], { stdio: 'ignore' }) } catch { /* already gone */ }
    resolveDone(1)
  }])
  for (const [sig, fn] of handlers) process.on(sig, fn)
  // an uncaught error (crash-guard.ts): the same save as a signal's, then a lazy
  // detach if the mount is still ours, so no dead ENOTCONN mount stays behind
  const unguard = setFinalSave({ save: () => stop('uncaught error'), detach: detachIfOurs })

  // an old process at the same mount point may still hold the socket while it exits (a restart): wait a little for it
  const identity = { mountpoint: mp, bucket: config.bucket, prefix: config.prefix, pid: process.pid }
  const startControl = async (handlers: Parameters<typeof startControlServer>[2]): Promise<ControlServer> => {
    const path = await ownSocketPath(mp)
    for (let tries = 1; ; tries++) {
      try {
        return await startControlServer(path, identity, handlers)
      } catch (err) {
        if (tries >= 30 || phase1 || !/in use by another oortfs process/.test(messageOf(err))) throw err
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
  }
  try {
    control = await startControl({
      serving: stillOurs,
      stats: () => ({
        mount: { mountpoint: mp, bucket: config.bucket, prefix: config.prefix, endpoint: config.endpoint, pid: process.pid, uptimeSeconds: Math.round((monotonic() - started) / 1000) },
        requests: app.queue.stats(),
        /** the requests on the wire now: what a slow command waits for */
        active: app.queue.active(),
        reqPerSecond,
        rpsLimit: config.rps,
        app: app.stats(),
      }),
      presign: (path, expires, method) => app.presign(path, expires, method),
      unmount: async progress => {
        tell = progress
        // unlike a signal, a request may be refused: the mount stays up when
        // saving fails or a process still uses it, and the caller is told why
        if (!phase1) {
          try {
            await watched('saving before unmount', app.fs.flushAll())
          } catch (err) {
            throw new Error(`not unmounted: some changes could not be saved (${messageOf(err)}); retry later, or force it with fusermount -uz ${mp} and lose them`)
          }
          stopPolling() // the unmount below is ours, not one from outside
          // during the save a umount (and a new mount there) may have come: never unmount another's
          if (!phase1 && await stillOurs()) {
            try {
              await watched('unmounting', politeUnmount(mp))
            } catch (err) {
              // refused (busy): still mounted, and a later umount from outside must still be seen
              startPolling()
              throw err
            }
          }
        }
        const failure = await stop('unmount requested')
        if (failure) throw new Error(`some changes could not be saved: ${failure}`)
      },
    })
    if (phase1) void control.close() // a signal came while it started
  } catch (err) {
    log.warn(`no control socket (oortfs stats/url/unmount will not reach this mount): ${messageOf(err)}`)
  }

  opts.onReady?.()
  return await done
}
