// Foreground and background mounts. Node cannot fork, so a background mount is
// a detached copy of this process (same argv, DAEMON_ENV set) that reports
// `ready` or one error line over IPC; the parent relays it and exits.
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from './config-types.js'
import { ConfigError } from './config.js'
import { runtimeDir } from './runtime-dir.js'
import { MountError, runMount, type MountedApp } from './fuse/mount.js'
import { RenameJournal, type RecoveryReport } from './fs/rename-journal.js'
import { log, logTo, logToFile, reopenLog, setLogLevel } from './util/log.js'
import { tlsReason } from './s3/errors.js'
import { monotonic } from './util/clock.js'
import { guardCrashes } from './crash-guard.js'

export const DAEMON_ENV = 'OORTFS_DAEMON_CHILD'
export type AppFactory = (config: Config) => Promise<MountedApp>

interface ChildMessage { type: 'ready' | 'error' | 'progress'; message?: string; code?: number }

/** one line saying why the bucket check failed and what to do */
export function explainCheckFailure (err: unknown, config: Config): string {
  const e = err as { code?: string; name?: string; status?: number; message?: string }
  const code = e?.code ?? e?.name ?? ''
  const keys = `check the keys from ${config.credentialSource}`
  const msg = e?.message ?? String(err)
  if (code === 'NoSuchBucket' || (e?.status === 404 && code !== 'NotFound')) return `bucket ${config.bucket} does not exist at ${config.endpoint}; check the bucket name and endpoint=`
  if (code === 'NotFound' || e?.status === 404) return `bucket ${config.bucket} was not found at ${config.endpoint}; check the bucket name and endpoint=`
  // before the 403s: a skewed clock answers 403, but the keys are fine
  if (code === 'RequestTimeTooSkewed') return `the server refuses this machine's clock (RequestTimeTooSkewed, clock skew) and its answers gave no time to correct by; set the clock (timedatectl set-ntp true, or ntpdate)`
  const tls = tlsReason(code)
  if (tls) return `${config.endpoint}: ${tls} (${code}); fix the server's certificate, or trust its CA here (NODE_EXTRA_CA_CERTS=/path/ca.pem), or check endpoint=`
  if (code === 'InvalidAccessKeyId') return `the server does not know the access key; ${keys}`
  if (code === 'SignatureDoesNotMatch') return `the secret key does not match the access key; ${keys}`
  if (code === 'AccessDenied' || code === 'Forbidden' || e?.status === 403) return `access to bucket ${config.bucket} denied; ${keys} and the bucket's permissions`
  if (code === 'CredentialsProviderError' || /credential/i.test(msg) && !e?.status) {
    return 'no credentials found: give -o passwd_file=FILE, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, use -o profile=NAME, or create ~/.passwd-oortfs (chmod 600)'
  }
  // no answer at all: a socket error (ECONNREFUSED...) or a timeout; anything else
  // without a status is a failure of ours, worth its own words
  if (!e?.status && /^(E[A-Z0-9_]+|UND_ERR_\w+|TimeoutError|RequestTimeout|NetworkError|TruncatedBody)$/.test(code)) {
    return `cannot reach ${config.endpoint} (${code}); check endpoint= and the network`
  }
  return `checking bucket ${config.bucket} at ${config.endpoint} failed: ${msg}`
}

/**
 * Builds the app and proves the bucket and keys work with one request, which
 * must come within `checkTimeoutMs`; interrupted renames are finished then,
 * however long that takes (`progress` is told it goes on).
 */
export async function prepareApp (config: Config, build: AppFactory, checkTimeoutMs = 25_000, progress: () => void = () => {}): Promise<MountedApp> {
  const app = await build(config)
  // the failure becomes one line below: the queue's retry warnings would only repeat it
  const quiet = !log.enabled('debug')
  if (quiet) setLogLevel('error')
  let timer: NodeJS.Timeout | undefined
  const noAnswer = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MountError(`no answer from ${config.endpoint} in ${checkTimeoutMs / 1000} s; check endpoint= and the network`)), checkTimeoutMs)
  })
  let report: RecoveryReport
  try {
    report = await Promise.race([app.start(() => { clearTimeout(timer); progress() }), noAnswer])
  } catch (err) {
    await app.close().catch(() => {})
    throw err instanceof MountError ? err : new MountError(explainCheckFailure(err, config))
  } finally {
    clearTimeout(timer)
    if (quiet) setLogLevel(config.logLevel)
  }
  for (const line of RenameJournal.describe(report)) log.warn(line)
  return app
}

/**
 * For e2e tests only: with OORTFS_TEST_CRASH=throw (or reject) in its
 * environment, SIGUSR2 makes the process fail as a bug would, with an
 * uncaught exception (or an unhandled rejection). Whoever sets a process's
 * environment can already kill it; without the variable SIGUSR2 keeps its
 * default meaning.
 */
export function testCrashHook (env: NodeJS.ProcessEnv = process.env): void {
  const how = env.OORTFS_TEST_CRASH
  if (how !== 'throw' && how !== 'reject') return
  process.on('SIGUSR2', () => setImmediate(() => {
    const err = new Error('test crash (OORTFS_TEST_CRASH)')
    if (how === 'throw') throw err
    void Promise.reject(err)
  }))
}

export async function mountForeground (config: Config, build: AppFactory): Promise<number> {
  guardCrashes()
  testCrashHook()
  const app = await prepareApp(config, build)
  // a terminal's hangup ends a foreground mount, as it ends its shell
  return await runMount(config, app, { signals: ['SIGINT', 'SIGTERM', 'SIGHUP'] })
}

function hasSyslog (): boolean {
  return existsSync('/dev/log') && spawnSync('logger', ['--version'], { stdio: 'ignore' }).status === 0
}

/** where a background mount logs: a file, or undefined for syslog */
export async function daemonLogFile (config: Config): Promise<string | undefined> {
  if (config.logFile) return config.logFile
  return hasSyslog() ? undefined : join(await runtimeDir(), 'oortfs.log')
}

/**
 * The parent: start the child, wait for its word (30 s at most), exit. Prints
 * nothing on success. The child's stderr (libfuse's own complaints, a crash
 * trace) goes to `stderrFile` when there is one.
 */
export function startDaemon (argv: readonly string[], stderrFile?: string, timeoutMs = 30_000): Promise<number> {
  return new Promise(resolve => {
    let errFd: number | 'ignore' = 'ignore'
    try {
      if (stderrFile) errFd = openSync(stderrFile, 'a', 0o600)
    } catch { /* the child's own logging will say what is wrong with the file */ }
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', errFd, 'ipc'],
      env: { ...process.env, [DAEMON_ENV]: '1' },
    })
    if (typeof errFd === 'number') closeSync(errFd)
    let settled = false
    const finish = (code: number, line?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (line) process.stderr.write(`oortfs: ${line.replace(/\s*\n\s*/g, ' ')}\n`)
      if (child.connected) child.disconnect()
      child.unref()
      resolve(code)
    }
    const timer = setTimeout(() => {
      child.kill('SIGTERM')
      finish(1, `timed out after ${Math.round(timeoutMs / 1000)} s waiting for the mount to come up; run with -f -d to see why`)
    }, timeoutMs)
    child.on('message', (m: ChildMessage) => {
      if (m?.type === 'progress') timer.refresh() // the bucket answered; the child finishes a crash's renames
      else if (m?.type === 'ready') finish(0)
      else if (m?.type === 'error') finish(m.code ?? 1, m.message ?? 'the mount failed')
    })
    child.on('error', err => finish(1, `cannot start the mount process: ${err.message}`))
    child.on('exit', (code, sig) => finish(1, `the mount process ended (${sig ?? `exit code ${code}`}) before the mount was ready; run with -f -d to see why`))
  })
}

/** syslog through logger(1) when there is a syslog, else a file in the temp dir */
async function daemonLogging (config: Config): Promise<void> {
  const file = await daemonLogFile(config)
  if (file) return logToFile(file)
  const fallback = join(await runtimeDir(), 'oortfs.log')
  // each line carries its own priority (<N>, facility daemon): journalctl -p err finds errors
  const p = spawn('logger', ['--prio-prefix', '-p', 'daemon.info', '-t', `oortfs[${process.pid}]`], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
  p.unref()
  let broken = false
  p.stdin!.on('error', () => { broken = true })
  p.on('exit', () => { broken = true })
  // the last line given to logger(1): a crash waits for it before exiting
  let sent: Promise<void> = Promise.resolve()
  logTo(line => {
    if (!broken) {
      sent = new Promise(resolve => p.stdin!.write(syslogLine(line), () => resolve()))
      return
    }
    logToFile(fallback) // logger died: the file from now on
    appendFileSync(fallback, `${new Date().toISOString()} ${line}\n`, { mode: 0o600 })
  }, () => sent)
}

/** daemon.err, .warning, .info or .debug by the line's level word; the syslog tag already says oortfs */
export function syslogLine (line: string): string {
  const text = line.replace(/^oortfs: /, '')
  const severity = { error: 3, warning: 4, debug: 7 }[/^(error|warning|debug): /.exec(text)?.[1] ?? ''] ?? 6
  return `<${3 * 8 + severity}>${text.replace(/\s*\n\s*/g, ' ')}\n`
}

/** The child: log away from the terminal, check, mount, report, serve. */
export async function runDaemonChild (config: Config, build: AppFactory): Promise<number> {
  const send = (m: ChildMessage): Promise<void> => new Promise(resolve => {
    if (!process.send || !process.connected) return resolve()
    process.send(m, undefined, {}, () => resolve())
  })
  // no terminal to lose: SIGHUP never stops a background mount; it reopens
  // the log file, after logrotate moved it away (postrotate kill -HUP)
  process.on('SIGHUP', () => { if (reopenLog()) log.info('SIGHUP: log file reopened') })
  try {
    await daemonLogging(config)
    guardCrashes()
    testCrashHook()
    // a long recovery of interrupted renames keeps the waiting parent waiting, not failing
    let told = -Infinity
    const progress = (): void => {
      if (monotonic() - told < 1000) return
      told = monotonic()
      void send({ type: 'progress' })
    }
    const app = await prepareApp(config, build, undefined, progress)
    return await runMount(config, app, {
      onReady: () => {
        void send({ type: 'ready' }).then(() => { if (process.connected) process.disconnect() })
        process.chdir('/') // do not keep the caller's directory busy
      },
    })
  } catch (err) {
    const message = (err as Error)?.message ?? String(err)
    log.error(message)
    const code = err instanceof ConfigError ? 2 : 1
    await send({ type: 'error', message, code })
    return code
  }
}
