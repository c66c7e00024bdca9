// A background mount's log file: private (0600), held open so a crash's line
// is on disk at once, and reopened by SIGHUP after logrotate moved it away.
import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { flushLog, log, logTo, logToFile, reopenLog, setLogLevel } from '../../src/util/log.js'
import { runDaemonChild } from '../../src/daemon.js'
import type { Config } from '../../src/config-types.js'

function dir (t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'oortfs-log-test-'))
  t.teardown(() => {
    logTo(line => process.stderr.write(line + '\n'))
    setLogLevel('warn')
    rmSync(d, { recursive: true, force: true })
  })
  return d
}

t.test('the log file is made 0600: it names buckets, paths and errors', async t => {
  const file = join(dir(t), 'oortfs.log')
  const old = process.umask(0o022)
  try { logToFile(file) } finally { process.umask(old) }
  log.warn('hello')
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.match(readFileSync(file, 'utf8'), /^\S+Z oortfs: warning: hello\n$/)
})

t.test('logrotate: lines go to the moved file until SIGHUP\'s reopen, then to a new one; none lost', async t => {
  const d = dir(t)
  const file = join(d, 'oortfs.log')
  logToFile(file)
  log.warn('one')
  renameSync(file, `${file}.1`)
  log.warn('two') // between the move and the signal: still the open file
  t.equal(reopenLog(), true)
  log.warn('three')
  t.match(readFileSync(`${file}.1`, 'utf8'), /one\n.*two\n$/)
  t.match(readFileSync(file, 'utf8'), /^\S+ oortfs: warning: three\n$/)
  t.equal(statSync(file).mode & 0o777, 0o600)
})

t.test('a log folder that vanished: no crash, and the lines come back with it', async t => {
  const d = dir(t)
  const sub = join(d, 'sub')
  const file = join(sub, 'oortfs.log')
  logToFile(file)
  t.doesNotThrow(() => log.warn('lost'))
  t.equal(reopenLog(), true)
  const { mkdirSync } = await import('node:fs')
  mkdirSync(sub)
  log.warn('back')
  t.match(readFileSync(file, 'utf8'), /back\n$/)
})

t.test('reopen is nothing to do when the log goes elsewhere (stderr, syslog)', async t => {
  dir(t)
  logTo(() => {})
  t.equal(reopenLog(), false)
})

t.test('flushLog waits for lines on their way (logger(1)\'s pipe), but not forever', async t => {
  dir(t)
  let release!: () => void
  const pending = new Promise<void>(resolve => { release = resolve })
  logTo(() => {}, () => pending)
  let done = false
  const f = flushLog(5000).then(() => { done = true })
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(done, false)
  release()
  await f
  t.equal(done, true)
  logTo(() => {}, () => new Promise(() => {}))
  const alive = setInterval(() => {}, 1000) // flushLog's own timer keeps no process alive
  t.teardown(() => clearInterval(alive))
  const started = Date.now()
  await flushLog(50)
  t.ok(Date.now() - started < 1000, 'bounded')
})

t.test('a background mount: SIGHUP reopens its log file and never stops it', async t => {
  const d = dir(t)
  const file = join(d, 'mount.log')
  const before = { hup: process.listeners('SIGHUP'), ue: process.listeners('uncaughtException'), ur: process.listeners('unhandledRejection') }
  t.teardown(() => {
    for (const fn of process.listeners('SIGHUP')) if (!before.hup.includes(fn)) process.off('SIGHUP', fn)
    for (const fn of process.listeners('uncaughtException')) if (!before.ue.includes(fn)) process.off('uncaughtException', fn)
    for (const fn of process.listeners('unhandledRejection')) if (!before.ur.includes(fn)) process.off('unhandledRejection', fn)
  })
  const config = { logFile: file, logLevel: 'info', bucket: 'b', endpoint: 'http://127.0.0.1:1' } as Config
  setLogLevel('info')
  // the mount fails at once (its bucket check): what stays is the logging and the handlers
  const code = await runDaemonChild(config, async () => { throw new Error('no bucket here') })
  t.equal(code, 1)
  t.match(readFileSync(file, 'utf8'), /error: no bucket here/)
  const hup = process.listeners('SIGHUP').filter(fn => !before.hup.includes(fn))
  t.equal(hup.length, 1, 'a SIGHUP handler')
  t.equal(process.listeners('uncaughtException').length, before.ue.length + 1, 'uncaught exceptions are handled')
  t.equal(process.listeners('unhandledRejection').length, before.ur.length + 1, 'unhandled rejections are handled')
  renameSync(file, `${file}.1`)
  ;(hup[0] as () => void)()
  t.match(readFileSync(file, 'utf8'), /SIGHUP: log file reopened\n$/)
})
