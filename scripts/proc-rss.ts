import { readFileSync } from 'node:fs'

/** the resident set of a process (VmRSS), in bytes; undefined once it is gone */
export function rssOf (pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}
