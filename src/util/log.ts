// One small logger. Levels; to stderr by default, to a file or syslog for a
// daemon. Secrets never reach it: callers log names and codes, never
// credentials, and redact() strips anything that looks like a signature.
import { appendFileSync } from 'node:fs'

export const LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = (typeof LEVELS)[number]

type Sink = (line: string) => void

let level = 1 // warn
let sink: Sink = line => process.stderr.write(line + '\n')

export function setLogLevel (name: LogLevel): void {
  level = LEVELS.indexOf(name)
}

export function logLevel (): LogLevel {
  return LEVELS[level]!
}

export function logToFile (path: string): void {
  sink = line => {
    try { appendFileSync(path, `${new Date().toISOString()} ${line}\n`) } catch { /* logging must never crash the mount */ }
  }
}

export function logTo (fn: Sink): void {
  sink = fn
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
