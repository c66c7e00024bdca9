// One small logger. Levels; to stderr by default, to a file or syslog for a
// daemon. Secrets never reach it: callers log names and codes, never
// credentials, and redact() strips anything that looks like a signature.
// A log file is held open (0600) and written a line at a time, synchronously,
// so the line of a crash is on disk before the process exits; reopenLog()
// (SIGHUP) opens the path anew after logrotate moved the file away.
import { closeSync, openSync, writeSync } from 'node:fs'

export const LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LEVELS)[number]

type Sink = (line: string) => void

let level = 1 // warn
let sink: Sink = line => process.stderr.write(line + '\n')
/** resolves once what the sink was given has left the process (a pipe to logger(1)) */
let flushSink: () => Promise<void> = async () => {}
/** the log file, if the log goes to one, and its descriptor while open */
let filePath: string | undefined
let fd: number | undefined

export function setLogLevel (name: LogLevel): void {
  level = LEVELS.indexOf(name)
}

export function logLevel (): LogLevel {
  return LEVELS[level]!
}

function closeFile (): void {
  if (fd !== undefined) try { closeSync(fd) } catch { /* already closed */ }
  fd = undefined
}

function openFile (path: string): number {
  return openSync(path, 'a', 0o600)
}

export function logToFile (path: string): void {
  closeFile()
  filePath = path
  try { fd = openFile(path) } catch { /* each line tries again: the folder may come back */ }
  flushSink = async () => {}
  sink = line => {
    try {
      fd ??= openFile(path)
      writeSync(fd, `${new Date().toISOString()} ${line}\n`)
    } catch { /* logging must never crash the mount */ }
  }
}

/**
 * After logrotate moved the log file away (SIGHUP): the next lines go to a
 * new file at the same path. False when the log goes to no file.
 */
export function reopenLog (): boolean {
  if (filePath === undefined) return false
  let next: number | undefined
  try { next = openFile(filePath) } catch { /* the next line tries again */ }
  closeFile()
  fd = next
  return true
}

export function logTo (fn: Sink, flush: () => Promise<void> = async () => {}): void {
  closeFile()
  filePath = undefined
  sink = fn
  flushSink = flush
}

/** waits (briefly) until the lines logged so far have left the process: before a crash exits */
export async function flushLog (timeoutMs = 2000): Promise<void> {
  await Promise.race([flushSink().catch(() => {}), new Promise(resolve => setTimeout(resolve, timeoutMs).unref())])
}

const SECRET_PATTERNS: [RegExp, string][] = [
  [/(X-Amz-Signature=)[0-9a-f]+/gi, '$1<redacted>'],
  [/(X-Amz-Credential=)[^&\s]+/gi, '$1<redacted>'],
  [/(Signature=)[^&\s]+/g, '$1<redacted>'],
  [/(AWSAccessKeyId=)[^&\s]+/g, '$1<redacted>'],
  [/(Authorization:?\s*)[^\n]+/gi, '$1<redacted>'],
]

export function redact (text: string): string {
  let out = text
  for (const [re, rep] of SECRET_PATTERNS) out = out.replace(re, rep)
  return out
}

function emit (at: number, tag: string, msg: string): void {
  if (at > level) return
  sink(`oortfs: ${tag}${redact(msg)}`)
}

export const log = {
  error: (msg: string) => emit(0, 'error: ', msg),
  warn: (msg: string) => emit(1, 'warning: ', msg),
  info: (msg: string) => emit(2, '', msg),
  debug: (msg: string) => emit(3, 'debug: ', msg),
  enabled: (name: LogLevel) => LEVELS.indexOf(name) <= level,
}
