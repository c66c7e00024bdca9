// `npm run bench`: mounts a fresh bucket with the real CLI, runs a fixed set of
// workloads with real tools (cp, ls, find, cat, dd, tar, mv, rm, grep), and
// prints one table: wall seconds, the requests the mount sent by type (its own
// counters, as `oortfs stats --json` shows them), MB/s, and for bulk transfers
// the ratio against the raw AWS SDK doing the same transfer on the same server.
// Writes bench-results.md and bench-results.json (repo root, or --out DIR).
//
//   node dist/scripts/bench.js [--scale F] [--only create,ls,...] [--out DIR]
//                              [--endpoint URL --bucket B [--region R]]
//
// Without --endpoint it starts the local S3 server (Ceph radosgw); with it, it
// works under a fresh prefix of bucket B (keys from the environment) and removes
// that prefix afterwards. Ctrl-C unmounts, stops the server and cleans up.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { mountAt } from '../src/fuse/mountinfo.js'
import { describeFaults, FAULTS_ON, startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { OPTIONS } from '../src/options.js'
import { BenchMount, ROOT, liveMounts } from './bench/mount.js'
import { json, markdown, type Header, type Row, type Summary } from './bench/report.js'
import { closeTarget, closeTargetSync, deleteRel, openTarget, sdkUpload, type Target } from './bench/target.js'
import { WORKLOADS, type Ctx, type Workload } from './bench/workloads.js'
import { cpuSecondsOf } from './bench/cpu.js'
import { S3fsMount, S3FS_OPTIONS } from './bench/s3fs.js'
import { GiB, MB, MiB, canDropCaches, dropCaches, fmtSize, killChildren, messageOf, say } from './bench/util.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

const USAGE = `usage: npm run bench -- [--scale F] [--only ID,...] [--out DIR] [--cpu-prof DIR] [--faults] [--endpoint URL --bucket B [--region R]]
  --scale F      sizes and file counts times F (0.1 for a quick run; default 1)
  --faults       mount through the fault proxy (scripts/fault-proxy.ts): 5% 500s, 2% connections
                 reset mid-body, 503 SlowDown above 100 req/s; writes bench-results-faults.md/json
  --only IDS     run only these workloads (ids or numbers): ${WORKLOADS.map((w, i) => `${i + 1}=${w.id}`).join(', ')}
  --out DIR      where bench-results.md and bench-results.json go (default: the repo root)
  --cpu-prof DIR each mount runs under node --cpu-prof: profiles in DIR/mount-N-WORKLOAD/ at unmount
                 (the largest is the serving process's; open it in Chrome DevTools, or
                 node dist/scripts/cpu-profile.js FILE for the top functions)
  --endpoint URL --bucket B [--region R]
                 another S3 server (keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): the benchmark
                 works under a fresh prefix of B and removes it afterwards
`

function option (name: string): number {
  const o = OPTIONS.find(x => x.name === name)
  return Number(o?.default)
}

// everything the cleanup must undo, whatever happens
let target: Target | undefined
let proxy: FaultProxy | undefined
let tmp: string | undefined
let mnt: string | undefined
let aborted = false
/** s3fs mounts up now (bulk rows) */
const liveS3fs = new Set<S3fsMount>()

/** unmount (saving), stop the server or remove the remote prefix, remove the scratch dir */
async function cleanup (): Promise<void> {
  killChildren()
  for (const m of [...liveS3fs]) { await m.unmount().catch(() => {}); liveS3fs.delete(m) }
  for (const m of [...liveMounts]) {
    try {
      await m.unmount()
    } catch (err) {
      say(`unmount ${m.dir}: ${messageOf(err)}`)
      m.forceSync()
    }
  }
  await proxy?.close().catch(() => {})
  proxy = undefined
  const t = target
  target = undefined
  if (t) {
    try {
      await closeTarget(t)
    } catch (err) {
      say(`cleaning up the server: ${messageOf(err)}${t.remote ? `; remove s3://${t.bucket}/${t.prefix} by hand` : ''}`)
      closeTargetSync(t)
    }
  }
  removeTmp()
}

/** for 'exit', where nothing async runs: lazy unmount, SIGKILL the mounts and the local server */
function cleanupSync (): void {
  killChildren()
  for (const m of liveS3fs) {
    try { execFileSync('fusermount', ['-uz', m.dir], { stdio: 'ignore', timeout: 10_000 }) } catch { /* not mounted */ }
    try { if (m.pid) process.kill(m.pid, 'SIGKILL') } catch { /* gone */ }
  }
  liveS3fs.clear()
  for (const m of liveMounts) m.forceSync()
  liveMounts.clear()
  if (target) {
    closeTargetSync(target)
    if (target.remote) process.stderr.write(`bench: left s3://${target.bucket}/${target.prefix} behind; remove it by hand\n`)
    target = undefined
  }
  removeTmp()
}

function removeTmp (): void {
  if (!tmp) return
  // never recurse into a mount that is still there: that would delete the bucket's files
  if (mnt && mountAt(mnt)) {
    process.stderr.write(`bench: ${mnt} is still mounted; left ${tmp} in place\n`)
    return
  }
  rmSync(tmp, { recursive: true, force: true })
  tmp = undefined
}

function installHandlers (): void {
  process.on('exit', cleanupSync)
  let signalled = false
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      process.stderr.write(`bench: ${sig} again: forcing\n`)
      cleanupSync()
      process.exit(130)
    }
    signalled = true
    aborted = true
    say(`${sig}: unmounting and cleaning up (again to force)`)
    void cleanup().finally(() => process.exit(130))
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal)
  const onCrash = (err: unknown): void => {
    process.stderr.write(`bench: crashed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    aborted = true
    void cleanup().finally(() => process.exit(1))
  }
  process.on('uncaughtException', onCrash)
  process.on('unhandledRejection', onCrash)
}

function memAvailable (): number | undefined {
  try {
    const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

function readOr (file: string): string {
  try { return readFileSync(file, 'utf8') } catch { return '' }
}

function gitCommit (): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return head + (dirty ? ' + uncommitted changes in src/' : '')
  } catch {
    return undefined
  }
}

function selectWorkloads (only: string | undefined): Workload[] {
  if (!only) return WORKLOADS
  const picked = new Set<Workload>()
  for (const raw of only.split(',').map(s => s.trim()).filter(Boolean)) {
    const w = /^\d+$/.test(raw) ? WORKLOADS[Number(raw) - 1] : WORKLOADS.find(x => x.id === raw)
    if (!w) throw new Error(`--only ${raw}: no such workload; known: ${WORKLOADS.map(x => x.id).join(', ')}`)
    picked.add(w)
  }
  return WORKLOADS.filter(w => picked.has(w))
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' },
      endpoint: { type: 'string' }, bucket: { type: 'string' }, region: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      faults: { type: 'boolean' }, 'cpu-prof': { type: 'string' },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const scale = values.scale !== undefined ? Number(values.scale) : 1
  if (!(scale > 0 && scale <= 10)) throw new Error(`--scale ${values.scale}: give a number in (0, 10]`)
  const selected = selectWorkloads(values.only)
  const outDir = resolve(values.out ?? ROOT)
  const cpuProf = values['cpu-prof'] !== undefined ? resolve(values['cpu-prof']) : undefined
  if (cpuProf) mkdirSync(cpuProf, { recursive: true })
  const started = performance.now()

  installHandlers()
  tmp = mkdtempSync(join(os.tmpdir(), 'oortfs-bench-'))
  mnt = join(tmp, 'mnt')
  mkdirSync(mnt)
  mkdirSync(join(tmp, 'logs'))

  const rpsLimit = option('rps')
  const header: Header = {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: gitCommit(),
    machine: { nproc: os.availableParallelism(), memTotalBytes: os.totalmem(), memFreeBytes: os.freemem(), memAvailableBytes: memAvailable(), load: os.loadavg() },
    node: process.version,
    server: '',
    endpoint: '',
    scale,
    mountOptions: `defaults (rps ${rpsLimit}, cache_size ${fmtSize(option('cache_size'))}, readahead ${fmtSize(option('readahead'))}, ` +
      `part_size ${fmtSize(option('part_size'))}, upload_concurrency ${option('upload_concurrency')}, attr_ttl ${option('attr_ttl')} s)`,
    rpsLimit,
    pageCache: canDropCaches() ? 'dropped (echo 3 > /proc/sys/vm/drop_caches) before cold reads' : 'NOT dropped (needs root)',
    workloads: selected.map(w => w.id),
  }

  target = await openTarget({
    endpoint: values.endpoint, bucket: values.bucket, region: values.region,
    memoryBytes: Math.ceil((2 + 6 * scale) * GiB),
  })
  header.server = target.kind
  header.endpoint = target.endpoint
  const t = target
  if (values.faults) {
    proxy = await startFaultProxy({ target: t.endpoint, ...FAULTS_ON })
    const f = proxy.settings()
    header.faults = `the mount goes through a fault proxy (${100 * f.error500}% 500s, ${100 * f.resetMidBody}% reset mid-body, 503 SlowDown above ${f.rps} req/s); the SDK baselines go straight to the server`
  }
  const mountEndpoint = proxy?.url ?? t.endpoint

  const rows: Row[] = []
  const summary: Summary = { peakRps: 0, rpsLimit, totalSeconds: 0, loadAfter: [] }
  const recorded = new WeakSet<object>()
  const workloadMounts = new Set<BenchMount>()
  const workloadLogs: string[] = []
  let current: Workload = selected[0]!
  let mountSeq = 0
  let big: Promise<{ rel: string, size: number }> | undefined

  const notePeak = (n: number, where: string): void => {
    if (n > summary.peakRps) {
      summary.peakRps = n
      summary.peakRpsWhere = where
    }
  }

  const ctx: Ctx = {
    target: t,
    scale,
    tmp,
    mnt,
    chunk: randomBytes(MiB),
    n: count => Math.max(1, Math.round(count * scale)),
    size: bytes => Math.max(8, Math.round(bytes * scale / MiB)) * MiB,
    timeoutMs: bytes => 300_000 + Math.round((bytes ?? 0) / (2 * MB) * 1000),
    dropCaches: () => { dropCaches() },
    async mount () {
      if (aborted) throw new Error('interrupted')
      const logFile = join(tmp!, 'logs', `mount-${++mountSeq}-${current.id}.log`)
      workloadLogs.push(logFile)
      const m = await BenchMount.mount(t.mountSpec, mnt!, {
        endpoint: mountEndpoint,
        region: t.remote ? t.region : undefined,
        env: t.env,
        nodeArgs: cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(cpuProf, `mount-${mountSeq}-${current.id}`)}`] : undefined,
        logFile,
      })
      workloadMounts.add(m)
      return m
    },
    async measure (m, label, fn, o = {}) {
      const row: Row = { workload: current.id, label, notes: [] }
      rows.push(row)
      say(`  ${label}`)
      await o.warmup?.()
      const before = await m.stats()
      const cpu0 = cpuSecondsOf(m.pid)
      const t0 = performance.now()
      let failure: unknown
      try {
        await fn()
      } catch (err) {
        failure = err
      }
      row.seconds = (performance.now() - t0) / 1000
      try {
        await m.settle(1500, failure ? 30_000 : 120_000)
        const after = await m.stats()
        const byType: Record<string, number> = {}
        for (const [k, v] of Object.entries(after.requests.byType)) {
          const d = v - (before.requests.byType[k] ?? 0)
          if (d) byType[k] = d
        }
        row.byType = byType
        row.requests = after.requests.total - before.requests.total
        row.bytesIn = after.requests.bytesIn - before.requests.bytesIn
        row.bytesOut = after.requests.bytesOut - before.requests.bytesOut
        row.retries = after.requests.retries - before.requests.retries
        row.throttled = after.requests.throttled - before.requests.throttled
        if (row.retries) row.notes.push(`${row.retries} retries (${row.throttled} throttled)`)
        const end = performance.now()
        row.peakRps = m.peakRate(t0, end)
        row.peakRssBytes = m.peakRss(t0, end) || undefined
        const cpu1 = cpuSecondsOf(m.pid)
        if (cpu0 !== undefined && cpu1 !== undefined) row.cpuSeconds = cpu1 - cpu0
        notePeak(row.peakRps, label)
      } catch (err) {
        if (!failure) failure = err
      }
      if (o.items !== undefined && row.requests !== undefined) {
        row.items = o.items
        row.itemUnit = o.itemUnit
        row.perItem = row.requests / o.items
      }
      if (o.bytes !== undefined && !failure) {
        row.bytes = o.bytes
        row.mbps = o.bytes / row.seconds / MB
        if (row.cpuSeconds !== undefined) row.cpuPerGiB = row.cpuSeconds / (o.bytes / GiB)
      }
      row.bulk = o.bulk
      if (failure) {
        row.error = messageOf(failure)
        if (typeof failure === 'object' && failure) recorded.add(failure)
        throw failure
      }
      say(`    ${row.seconds.toFixed(2)} s, ${row.requests} requests${row.mbps ? `, ${row.mbps.toFixed(1)} MB/s` : ''}${row.cpuPerGiB !== undefined ? `, ${row.cpuPerGiB.toFixed(2)} CPU s/GiB` : ''}`)
      return row
    },
    async s3fs () {
      if (aborted) throw new Error('interrupted')
      const m = await S3fsMount.mount(t, tmp!)
      liveS3fs.add(m)
      summary.s3fs = `${m.version} (${S3FS_OPTIONS})`
      return m
    },
    async unmountS3fs (m) {
      await m.unmount()
      liveS3fs.delete(m)
    },
    async measureS3fs (m, label, fn, o) {
      const row: Row = { workload: current.id, label, notes: [], bulk: o.bulk }
      rows.push(row)
      say(`  ${label}`)
      const cpu0 = cpuSecondsOf(m.pid)
      const t0 = performance.now()
      try {
        await fn()
      } catch (err) {
        row.error = messageOf(err)
        recorded.add(err as object)
        throw err
      }
      row.seconds = (performance.now() - t0) / 1000
      const cpu1 = cpuSecondsOf(m.pid)
      if (cpu0 !== undefined && cpu1 !== undefined) row.cpuSeconds = cpu1 - cpu0
      row.bytes = o.bytes
      row.mbps = o.bytes / row.seconds / MB
      if (row.cpuSeconds !== undefined) row.cpuPerGiB = row.cpuSeconds / (o.bytes / GiB)
      say(`    ${row.seconds.toFixed(2)} s, ${row.mbps.toFixed(1)} MB/s, ${row.cpuPerGiB?.toFixed(2)} CPU s/GiB`)
      return row
    },
    async bigFile () {
      big ??= (async () => {
        const size = ctx.size(GiB)
        const rel = 'w04-big/big.bin'
        say(`  seeding a ${fmtSize(size)} file with the SDK (multipart)`)
        await sdkUpload(t, rel, size, ctx.chunk, 8)
        return { rel, size }
      })()
      return await big
    },
  }

  for (const [i, w] of selected.entries()) {
    if (aborted) break
    current = w
    say(`${WORKLOADS.indexOf(w) + 1}. ${w.title}`)
    const firstRow = rows.length
    const work = join(tmp, `work-${w.id}`)
    mkdirSync(work)
    ctx.tmp = work
    try {
      await w.run(ctx)
    } catch (err) {
      say(`  FAILED: ${messageOf(err)}`)
      for (const f of workloadLogs) {
        const tail = readOr(f).trimEnd().split('\n').slice(-15).join('\n')
        if (tail) process.stderr.write(`  --- tail of the mount's log ${f} ---\n${tail}\n`)
      }
      if (!(typeof err === 'object' && err && recorded.has(err))) {
        rows.push({ workload: w.id, label: w.title, notes: [], error: messageOf(err) })
      }
    } finally {
      for (const m of workloadMounts) {
        notePeak(m.peakRate(0, Infinity), `${w.id}, outside the measured tool runs`)
        try {
          await m.unmount()
        } catch (err) {
          const last = rows.slice(firstRow).at(-1)
          if (last && !last.error) last.error = `unmount: ${messageOf(err)}`
        }
      }
      workloadMounts.clear()
      for (const m of [...liveS3fs]) await ctx.unmountS3fs(m).catch(err => say(`unmounting s3fs: ${messageOf(err)}`))
      workloadLogs.length = 0
      rmSync(work, { recursive: true, force: true })
      // the big file stays only while a later workload reads it (the local server keeps it in RAM)
      if (big && !selected.slice(i + 1).some(x => x.big)) {
        const b = big
        big = undefined
        await b.then(x => deleteRel(t, x.rel), () => {}).catch(err => say(`deleting the big file: ${messageOf(err)}`))
      }
    }
  }

  if (ctx.memory) {
    const boundBytes = option('cache_size') + option('part_size') * option('upload_concurrency') + 150 * MiB
    summary.memory = {
      peakRssBytes: ctx.memory.peakRssBytes,
      boundBytes,
      bound: `cache_size ${fmtSize(option('cache_size'))} + part_size ${fmtSize(option('part_size'))} × upload_concurrency ${option('upload_concurrency')} + 150 MiB`,
      ok: ctx.memory.peakRssBytes <= boundBytes,
    }
  }
  if (proxy) summary.faults = describeFaults(proxy.stats())
  summary.totalSeconds = (performance.now() - started) / 1000
  summary.loadAfter = os.loadavg()

  if (aborted) return 130 // the signal handler cleans up and exits; a partial table would overwrite a full one
  const md = markdown(header, rows, summary)
  mkdirSync(outDir, { recursive: true })
  const name = values.faults ? 'bench-results-faults' : 'bench-results'
  writeFileSync(join(outDir, `${name}.md`), md)
  writeFileSync(join(outDir, `${name}.json`), json(header, rows, summary))
  process.stdout.write('\n' + md)
  say(`wrote ${join(outDir, name)}.md and .json`)

  await cleanup()
  return rows.some(r => r.error) ? 1 : 0
}

main().then(code => { process.exitCode = code }, async err => {
  process.stderr.write(`bench: ${messageOf(err)}\n`)
  await cleanup().catch(() => {})
  process.exitCode = 1
})
