// The benchmark's one table, as Markdown (stdout and bench-results.md) and JSON.
import { MB, MiB } from './util.js'

export interface Baseline {
  /** what the raw SDK did */
  what: string
  /** MB/s of each run (one before and one after the oortfs run) */
  runs: number[]
  /** their mean: what the ratio compares with */
  mbps: number
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
  lines.push('| workload | s | requests | by type | per item | MB/s | SDK MB/s | ratio | peak req/s | RSS MiB | notes |')
  lines.push('|---|--:|--:|---|--:|--:|--:|--:|--:|--:|---|')
  for (const r of rows) {
    if (r.error) {
      lines.push(`| ${cell(r.label)} | ${num(r.seconds, 2)} | ${r.requests ?? ''} | ${cell(byTypeText(r.byType))} | | | | | | | **FAILED: ${cell(r.error)}** |`)
      continue
    }
    const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}${r.ratioTarget !== undefined ? (r.ratio >= r.ratioTarget ? '' : ` (< ${r.ratioTarget})`) : ''}` : ''
    lines.push(`| ${cell(r.label)} | ${num(r.seconds, 2)} | ${r.requests ?? ''} | ${cell(byTypeText(r.byType))} | ${perItemText(r)} | ${num(r.mbps)} | ${num(r.baseline?.mbps)} | ${ratio} | ${r.peakRps ?? ''} | ${r.peakRssBytes ? Math.round(r.peakRssBytes / MiB) : ''} | ${cell(r.notes.join('; '))} |`)
  }
  const rateOk = s.peakRps <= s.rpsLimit
  lines.push(`| **request rate** | | | | | | | | **${s.peakRps}** | | highest number of requests started in any one second of the run${s.peakRpsWhere ? ` (${cell(s.peakRpsWhere)})` : ''}: ${rateOk ? 'within' : '**over**'} the ${s.rpsLimit} req/s limit |`)
  if (s.memory) {
    lines.push(`| **memory** | | | | | | | | | **${Math.round(s.memory.peakRssBytes / MiB)}** | peak RSS of the mount copying a file in and out vs bound ${s.memory.bound} = ${Math.round(s.memory.boundBytes / MiB)} MiB: ${s.memory.ok ? 'within' : '**over**'} |`)
  }
  if (s.faults) lines.push(`| **faults** | | | | | | | | | | what the proxy did over the run: ${cell(s.faults)} |`)
  lines.push('')
  lines.push(`Total ${s.totalSeconds.toFixed(0)} s.`)
  return lines.join('\n') + '\n'
}

export function json (h: Header, rows: Row[], s: Summary): string {
  // 3 significant decimals are plenty for seconds, MB/s and ratios
  const round = (_k: string, v: unknown): unknown => typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v
  return JSON.stringify({ header: h, rows, summary: s, units: { mbps: `${MB} bytes/s`, seconds: 'wall seconds of the tool' } }, round, 2) + '\n'
}
