// The benchmark's one table, as Markdown (stdout and bench-results.md) and JSON.
import { MB, MiB } from './util.js'

export interface Baseline {
  /** what the raw SDK did */
  what: string
  /** MB/s of each run (one before and one after the oortfs run) */
  runs: number[]
  /** their mean: what the ratio compares with */
  mbps: number
  /** CPU seconds per GiB the bench process spent on each run (user + system), and their mean */
  cpuRuns?: number[]
  cpuPerGiB?: number
}

/** which bulk transfer a row is, for the side-by-side table */
export interface Bulk {
  who: 'oortfs' | 's3fs'
  dir: 'write' | 'read'
  /** 1 for the row in the main table; the bulk table takes the median of all rounds */
  round?: number
}

export interface Row {
  /** workload id (--only) */
  workload: string
  /** what was measured */
  label: string
  seconds?: number
  /** requests the mount sent (retries included) */
  requests?: number
  byType?: Record<string, number>
  items?: number
  itemUnit?: string
  perItem?: number
  /** bytes moved by the tool (throughput rows) */
  bytes?: number
  mbps?: number
  baseline?: Baseline
  /** mbps / baseline.mbps */
  ratio?: number
  ratioTarget?: number
  bytesIn?: number
  bytesOut?: number
  retries?: number
  throttled?: number
  /** the most requests the mount started within one second during the row */
  peakRps?: number
  peakRssBytes?: number
  /** user + system seconds of the mount process over the tool run and until it was quiet */
  cpuSeconds?: number
  /** cpuSeconds per GiB moved (throughput rows) */
  cpuPerGiB?: number
  /** a bulk row of the side-by-side table */
  bulk?: Bulk
  notes: string[]
  error?: string
}

export interface Header {
  date: string
  commit?: string
  machine: { nproc: number, memTotalBytes: number, memFreeBytes: number, memAvailableBytes?: number, load: number[] }
  node: string
  server: string
  endpoint: string
  scale: number
  mountOptions: string
  rpsLimit: number
  pageCache: string
  workloads: string[]
  /** set when the mount goes through the fault proxy */
  faults?: string
}

export interface Summary {
  peakRps: number
  peakRpsWhere?: string
  rpsLimit: number
  memory?: { peakRssBytes: number, boundBytes: number, bound: string, ok: boolean }
  /** what the fault proxy did, in a fault run */
  faults?: string
  /** s3fs's version and options, when the bulk rows ran it */
  s3fs?: string
  totalSeconds: number
  loadAfter: number[]
}

const SHORT: Record<string, string> = {
  ListObjectsV2: 'LIST',
  HeadObject: 'HEAD',
  HeadBucket: 'HEADB',
  GetObject: 'GET',
  PutObject: 'PUT',
  CopyObject: 'COPY',
  DeleteObject: 'DEL',
  DeleteObjects: 'DELMULTI',
  CreateMultipartUpload: 'MPU-INIT',
  UploadPart: 'PART',
  UploadPartCopy: 'PARTCOPY',
  CompleteMultipartUpload: 'MPU-DONE',
  AbortMultipartUpload: 'MPU-ABORT',
}

export function byTypeText (byType: Record<string, number> | undefined): string {
  if (!byType) return ''
  const parts = Object.entries(byType).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${SHORT[k] ?? k} ${n}`)
  return parts.length ? parts.join(', ') : '—'
}

function num (n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return ''
  return n.toFixed(digits)
}

function cell (s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

export function perItemText (r: Row): string {
  if (r.perItem === undefined || !r.itemUnit) return ''
  return `${r.perItem.toFixed(r.perItem < 10 ? 2 : 1)}/${r.itemUnit}`
}

export function markdown (h: Header, rows: Row[], s: Summary): string {
  const lines: string[] = []
  const gib = (n: number): string => `${(n / 1024 ** 3).toFixed(1)} GiB`
  lines.push(`### oortfs benchmark, ${h.date}${h.commit ? ` (commit ${h.commit})` : ''}`)
  lines.push('')
  lines.push(`- machine: ${h.machine.nproc} CPUs, ${gib(h.machine.memTotalBytes)} RAM (${gib(h.machine.memAvailableBytes ?? h.machine.memFreeBytes)} available), load ${h.machine.load.map(x => x.toFixed(2)).join(' ')} at start, ${s.loadAfter.map(x => x.toFixed(2)).join(' ')} at end`)
  lines.push(`- node ${h.node}; server: ${h.server} at ${h.endpoint}`)
  lines.push(`- scale ${h.scale}; mount options: ${h.mountOptions}; page cache: ${h.pageCache}`)
  if (h.faults) lines.push(`- **faults**: ${h.faults}`)
  lines.push('- requests: what the mount sent during the tool run (and until it was quiet after), from its own counters; ' +
    'MB/s = 10^6 bytes/s; SDK: raw @aws-sdk/client-s3 doing the same transfer on the same server, mean of a run before and one after')
  lines.push('')
  lines.push('| workload | s | requests | by type | per item | MB/s | SDK MB/s | ratio | CPU s/GiB | peak req/s | RSS MiB | notes |')
  lines.push('|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|---|')
  for (const r of rows) {
    // later rounds of a bulk transfer are in the side-by-side table's medians only
    if ((r.bulk?.round ?? 1) > 1 && !r.error) continue
    if (r.error) {
      lines.push(`| ${cell(r.label)} | ${num(r.seconds, 2)} | ${r.requests ?? ''} | ${cell(byTypeText(r.byType))} | | | | | | | | **FAILED: ${cell(r.error)}** |`)
      continue
    }
    const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}${r.ratioTarget !== undefined ? (r.ratio >= r.ratioTarget ? '' : ` (< ${r.ratioTarget})`) : ''}` : ''
    lines.push(`| ${cell(r.label)} | ${num(r.seconds, 2)} | ${r.requests ?? ''} | ${cell(byTypeText(r.byType))} | ${perItemText(r)} | ${num(r.mbps)} | ${num(r.baseline?.mbps)} | ${ratio} | ${num(r.cpuPerGiB, 2)} | ${r.peakRps ?? ''} | ${r.peakRssBytes ? Math.round(r.peakRssBytes / MiB) : ''} | ${cell(r.notes.join('; '))} |`)
  }
  const rateOk = s.peakRps <= s.rpsLimit
  lines.push(`| **request rate** | | | | | | | | | **${s.peakRps}** | | highest number of requests started in any one second of the run${s.peakRpsWhere ? ` (${cell(s.peakRpsWhere)})` : ''}: ${rateOk ? 'within' : '**over**'} the ${s.rpsLimit} req/s limit |`)
  if (s.memory) {
    lines.push(`| **memory** | | | | | | | | | | **${Math.round(s.memory.peakRssBytes / MiB)}** | peak RSS of the mount copying a file in and out vs bound ${s.memory.bound} = ${Math.round(s.memory.boundBytes / MiB)} MiB: ${s.memory.ok ? 'within' : '**over**'} |`)
  }
  if (s.faults) lines.push(`| **faults** | | | | | | | | | | | what the proxy did over the run: ${cell(s.faults)} |`)
  lines.push('')
  lines.push(...bulkTable(rows, s))
  lines.push(`Total ${s.totalSeconds.toFixed(0)} s.`)
  return lines.join('\n') + '\n'
}

/**
 * The bulk transfers side by side: oortfs, s3fs and the raw SDK, each MB/s and
 * the CPU seconds per GiB of the process doing it (the mount's, s3fs's, the
 * bench's own for the SDK), all from this one run.
 */
export function bulkTable (rows: Row[], s: Summary): string[] {
  const bulk = rows.filter(r => r.bulk && !r.error)
  if (!bulk.length) return []
  const all = (who: Bulk['who'], dir: Bulk['dir']): Row[] => bulk.filter(r => r.bulk!.who === who && r.bulk!.dir === dir)
  const first = (who: Bulk['who'], dir: Bulk['dir']): Row | undefined => all(who, dir).find(r => (r.bulk!.round ?? 1) === 1)
  const what = (dir: Bulk['dir']): string => (first('oortfs', dir) ?? first('s3fs', dir))?.label ?? ''
  const rounds = Math.max(...bulk.map(r => r.bulk!.round ?? 1))
  const lines = [
    '**Bulk data, side by side** (same run, same server; CPU = user + system seconds of the process moving the bytes, from /proc, per GiB' +
      (rounds > 1 ? `; oortfs and s3fs each the median of ${rounds} rounds, taken in turn, each on a fresh mount` : '') + '):',
    '',
    `- write: ${what('write')}; read: ${what('read')}`,
  ]
  if (s.s3fs) lines.push(`- s3fs: ${s.s3fs}`)
  lines.push('', '| | write MB/s | write CPU s/GiB | read MB/s | read CPU s/GiB |', '|---|--:|--:|--:|--:|')
  const sdkW = first('oortfs', 'write')?.baseline
  const sdkR = first('oortfs', 'read')?.baseline
  if (sdkW || sdkR) lines.push(`| raw @aws-sdk/client-s3 (${[sdkW?.what, sdkR?.what].filter(Boolean).join('; ')}) | ${num(sdkW?.mbps)} | ${num(sdkW?.cpuPerGiB, 2)} | ${num(sdkR?.mbps)} | ${num(sdkR?.cpuPerGiB, 2)} |`)
  const each: string[] = []
  for (const who of ['s3fs', 'oortfs'] as const) {
    const w = all(who, 'write')
    const r = all(who, 'read')
    if (!w.length && !r.length) continue
    const name = who === 's3fs' ? `s3fs ${s.s3fs?.split(' ')[0] ?? ''}`.trim() : 'oortfs'
    lines.push(`| ${name} | ${num(median(w.map(x => x.mbps)))} | ${num(median(w.map(x => x.cpuPerGiB)), 2)} | ${num(median(r.map(x => x.mbps)))} | ${num(median(r.map(x => x.cpuPerGiB)), 2)} |`)
    if (rounds > 1) {
      const list = (xs: Row[]): string => xs.map(x => `${num(x.mbps)} MB/s ${num(x.cpuPerGiB, 2)} s`).join(', ')
      each.push(`- ${name}, each round: write ${list(w)}; read ${list(r)}`)
    }
  }
  lines.push('')
  if (each.length) lines.push(...each, '')
  return lines
}

/** the middle value (the mean of the middle two), of those known */
function median (xs: (number | undefined)[]): number | undefined {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b)
  if (!v.length) return undefined
  const mid = Math.floor(v.length / 2)
  return v.length % 2 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2
}

export function json (h: Header, rows: Row[], s: Summary): string {
  // 3 significant decimals are plenty for seconds, MB/s and ratios
  const round = (_k: string, v: unknown): unknown => typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v
  return JSON.stringify({ header: h, rows, summary: s, units: { mbps: `${MB} bytes/s`, seconds: 'wall seconds of the tool' } }, round, 2) + '\n'
}
