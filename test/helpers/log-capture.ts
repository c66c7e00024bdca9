// The log's lines, kept for a test to read: at `level`, until t's teardown
// puts back the level and stderr.
import type { Test } from 'tap'
import { logLevel, logTo, setLogLevel, type LogLevel } from '../../src/util/log.js'

export function captureLog (t: Test, level: LogLevel = 'warn'): string[] {
  const lines: string[] = []
  const before = logLevel()
  setLogLevel(level)
  logTo(line => lines.push(line))
  t.teardown(() => {
    setLogLevel(before)
    logTo(line => process.stderr.write(line + '\n'))
  })
  return lines
}
