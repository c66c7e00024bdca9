// CPU time of a process (all its threads, user + system) from /proc/PID/stat:
// what a transfer cost the machine, which carries over to another machine
// better than MB/s on a loaded one.
import { readFileSync } from 'node:fs'

/** clock ticks per second of /proc's times (USER_HZ: 100 on every Linux build that matters) */
const TICKS = 100

/** user + system seconds the process has used so far; undefined once it is gone */
export function cpuSecondsOf (pid: number): number | undefined {
  let text: string
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return undefined }
  // the command name (field 2) may hold spaces and parentheses: count from its last ')'
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name
  const utime = Number(f[11])
  const stime = Number(f[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / TICKS : undefined
}

/** this process's own user + system seconds (for transfers the bench itself does with the SDK) */
export function selfCpuSeconds (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
