// The fixed set of workloads: real tools on a real mount. Each works in its own
// folder, on its own fresh mount (cold caches), seeding what it reads with the
// raw SDK behind the mount's back; `ctx.measure` records one table row.
import { createWriteStream, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { BenchMount } from './mount.js'
import type { Baseline, Bulk, Row } from './report.js'
import type { S3fsMount } from './s3fs.js'
import { selfCpuSeconds } from './cpu.js'
import { deleteRel, listKeys, patternStream, putMany, sdkRangedRead, sdkUpload, type Target } from './target.js'
import { GiB, KiB, MB, MiB, fmtCount, fmtSize, q, sh } from './util.js'
import { prng } from '../prng.js'

export interface MeasureOptions {
  /** files (or reads) the tool handled: the per-item column */
  items?: number
  itemUnit?: string
  /** bytes it moved: the MB/s column */
  bytes?: number
  /**
   * run just before the measured tool, unmeasured: a warm run's cache made
   * warm right then (the measurements settle 1.5 s apart, past the mount's
   * 1 s freshness bound, after which the mount lists again)
   */
  warmup?: () => Promise<unknown>
  /** a row of the side-by-side bulk table */
  bulk?: Bulk
}

export interface MemoryResult { peakRssBytes: number }

export interface Ctx {
  target: Target
  scale: number
  /** local scratch directory */
  tmp: string
  /** the mount point */
  mnt: string
  /** a count scaled by --scale (at least 1) */
  n (count: number): number
  /** a size scaled by --scale, in whole MiB (at least 8 MiB) */
  size (bytes: number): number
  /** a fresh mount of the target on ctx.mnt, unmounted when the workload ends */
  mount (): Promise<BenchMount>
  /** drops the kernel page cache (no-op without root) */
  dropCaches (): void
  /**
   * Runs fn (the tool) on mount m: wall seconds of fn, then waits until the mount
   * is quiet and records the requests it sent meanwhile as one row.
   */
  measure (m: BenchMount, label: string, fn: () => Promise<unknown>, o?: MeasureOptions): Promise<Row>
  /** s3fs on the same bucket, for the bulk rows (unmounted when the workload ends) */
  s3fs (): Promise<S3fsMount>
  unmountS3fs (m: S3fsMount): Promise<void>
  /** runs fn (the tool) through s3fs: wall seconds, MB/s and s3fs's CPU seconds per GiB as one row */
  measureS3fs (m: S3fsMount, label: string, fn: () => Promise<unknown>, o: { bytes: number, bulk: Bulk }): Promise<Row>
  /** the big file of the read workloads, seeded once by the raw SDK */
  bigFile (): Promise<{ rel: string, size: number }>
  /** 1 MiB of random bytes: the content of big files */
  chunk: Buffer
  /** how long a tool may take for this many bytes */
  timeoutMs (bytes?: number): number
  memory?: MemoryResult
}

export interface Workload {
  id: string
  title: string
  /** uses ctx.bigFile() */
  big?: boolean
  run (ctx: Ctx): Promise<void>
}

const SMALL = 4 * KiB
/** rounds of each bulk transfer, oortfs and s3fs in turn: the side-by-side table takes their medians (one run swings by a fifth here) */
const BULK_ROUNDS = 3

function smallBody (rand: () => number, size = SMALL): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i += 4) b.writeUInt32LE(Math.floor(rand() * 2 ** 32), i)
  return b
}

/** local files to copy or tar into the mount */
function makeLocalFiles (dir: string, count: number, seed: number): void {
  mkdirSync(dir, { recursive: true })
  const rand = prng(seed)
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `f${String(i).padStart(4, '0')}`), smallBody(rand))
}

async function seedSmall (ctx: Ctx, rel: string, count: number, seed: number, body?: (i: number) => Buffer): Promise<void> {
  const rand = prng(seed)
  await putMany(ctx.target, Array.from({ length: count }, (_, i) => ({
    key: `${rel}/f${String(i).padStart(4, '0')}`, body: body ? body(i) : smallBody(rand),
  })))
}

function countFiles (dir: string): number {
  let n = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1
  return n
}

function check (row: Row, ok: boolean, what: string): void {
  if (!ok && !row.error) row.error = `wrong result: ${what}`
}

/** files (not directory markers) among keys */
function fileKeys (keys: string[]): string[] {
  return keys.filter(k => !k.endsWith('/') && !k.endsWith('.oortfs-attrs'))
}

/** a workload's files all reached the server */
async function checkObjects (row: Row, ctx: Ctx, prefix: string, n: number): Promise<void> {
  const count = fileKeys(await listKeys(ctx.target, prefix)).length
  check(row, count === n, `${count} objects under ${prefix} on the server, expected ${n}`)
}

/** one SDK transfer done by the bench process: its seconds and the CPU seconds it cost this process */
interface SdkRun { seconds: number, cpu: number }

async function sdkRun (fn: () => Promise<number>): Promise<SdkRun> {
  const c0 = selfCpuSeconds()
  const seconds = await fn()
  return { seconds, cpu: selfCpuSeconds() - c0 }
}

const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length

function setBaseline (row: Row, what: string, sdk: SdkRun[], bytes: number, target: number): void {
  const runs = sdk.map(r => bytes / r.seconds / MB)
  const cpuRuns = sdk.map(r => r.cpu / (bytes / GiB))
  const b: Baseline = { what, runs, mbps: mean(runs), cpuRuns, cpuPerGiB: mean(cpuRuns) }
  row.baseline = b
  if (row.mbps !== undefined) {
    row.ratio = row.mbps / b.mbps
    row.ratioTarget = target
  }
  row.notes.push(`SDK: ${what} (${runs.map(x => x.toFixed(0)).join(' / ')} MB/s, ${cpuRuns.map(x => x.toFixed(2)).join(' / ')} CPU s/GiB)`)
}

const RANDOM_READ_SCRIPT = `
const fs = require('node:fs')
const [file, count, size, seed] = process.argv.slice(2)
let a = Number(seed) >>> 0
const rand = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296 }
const fd = fs.openSync(file, 'r')
const buf = Buffer.alloc(4096)
const blocks = Math.floor(Number(size) / 4096)
for (let i = 0; i < Number(count); i++) {
  const n = fs.readSync(fd, buf, 0, 4096, Math.floor(rand() * blocks) * 4096)
  if (n !== 4096) { console.error('short read: ' + n); process.exit(1) }
}
fs.closeSync(fd)
`

export const WORKLOADS: Workload[] = [
  {
    id: 'create',
    title: 'create small files',
    async run (ctx) {
      const n = ctx.n(1000)
      const src = join(ctx.tmp, 'create-src')
      makeLocalFiles(src, n, 1)
      const m = await ctx.mount()
      const row = await ctx.measure(m, `create ${fmtCount(n)} × 4 KiB files (cp -r)`,
        () => sh(`cp -r ${q(src)} ${q(join(ctx.mnt, 'w01-create'))}`, { timeoutMs: ctx.timeoutMs() }), { items: n, itemUnit: 'file' })
      await checkObjects(row, ctx, 'w01-create/', n)
    },
  },
  {
    id: 'ls',
    title: 'ls -l',
    async run (ctx) {
      const n = ctx.n(1000)
      await seedSmall(ctx, 'w02-ls', n, 2)
      const m = await ctx.mount()
      const dir = join(ctx.mnt, 'w02-ls')
      for (const phase of ['cold (fresh mount)', 'warm (again at once)']) {
        let lines = 0
        const ls = () => sh(`ls -l ${q(dir)}`, { timeoutMs: ctx.timeoutMs() })
        const row = await ctx.measure(m, `ls -l of ${fmtCount(n)} files, ${phase}`, async () => {
          lines = (await ls()).stdout.trim().split('\n').length - 1
        }, { items: n, itemUnit: 'file', warmup: phase.startsWith('warm') ? ls : undefined })
        check(row, lines === n, `ls -l showed ${lines} files, expected ${n}`)
      }
    },
  },
  {
    id: 'find',
    title: 'find + stat',
    async run (ctx) {
      const per = ctx.n(100)
      const dirs = 10
      for (let d = 0; d < dirs; d++) await seedSmall(ctx, `w03-find/d${d}`, per, 30 + d)
      const m = await ctx.mount()
      let lines = 0
      const row = await ctx.measure(m, `find + stat over ${dirs} dirs × ${fmtCount(per)} files (cold)`, async () => {
        const r = await sh(`find ${q(join(ctx.mnt, 'w03-find'))} -type f -exec stat -c %s {} +`, { timeoutMs: ctx.timeoutMs() })
        lines = r.stdout.trim().split('\n').filter(l => l === String(SMALL)).length
      }, { items: dirs * per, itemUnit: 'file' })
      row.notes.push(`${dirs + 1} directories`)
      check(row, lines === dirs * per, `stat printed ${lines} sizes of ${SMALL}, expected ${dirs * per}`)
    },
  },
  {
    id: 'cat',
    title: 'cat of a big file',
    big: true,
    async run (ctx) {
      const big = await ctx.bigFile()
      let m = await ctx.mount()
      ctx.dropCaches()
      const a = await sdkRun(() => sdkRangedRead(ctx.target, big.rel, big.size))
      const label = `cat of a ${fmtSize(big.size)} file > /dev/null (cold)`
      const cat = (dir: string) => () => sh(`cat ${q(join(dir, big.rel))} > /dev/null`, { timeoutMs: ctx.timeoutMs(big.size) })
      let row: Row | undefined
      for (let round = 1; round <= BULK_ROUNDS; round++) {
        const oortfs = async (): Promise<void> => {
          if (round > 1) {
            await m.unmount()
            m = await ctx.mount()
          }
          ctx.dropCaches()
          const r = await ctx.measure(m, round > 1 ? `${label}, round ${round}` : label, cat(ctx.mnt), { bytes: big.size, bulk: { who: 'oortfs', dir: 'read', round } })
          check(r, (r.bytesIn ?? 0) >= big.size, `the mount fetched ${r.bytesIn} bytes of ${big.size}`)
          row ??= r
        }
        const s3fs = async (): Promise<void> => {
          const s = await ctx.s3fs()
          ctx.dropCaches()
          await ctx.measureS3fs(s, `s3fs: ${label}${round > 1 ? `, round ${round}` : ''}`, cat(s.dir), { bytes: big.size, bulk: { who: 's3fs', dir: 'read', round } })
          await ctx.unmountS3fs(s)
        }
        // in turn, each first every other round: a slow spell of the machine falls on both
        if (round % 2) { await oortfs(); await s3fs() } else { await s3fs(); await oortfs() }
      }
      const b = await sdkRun(() => sdkRangedRead(ctx.target, big.rel, big.size))
      setBaseline(row!, 'ranged GETs, 8 × 8 MiB at a time', [a, b], big.size, 0.9)
    },
  },
  {
    id: 'random-read',
    title: 'random 4 KiB reads',
    big: true,
    async run (ctx) {
      const big = await ctx.bigFile()
      const n = ctx.n(200)
      const script = join(ctx.tmp, 'random-read.cjs')
      writeFileSync(script, RANDOM_READ_SCRIPT)
      const m = await ctx.mount()
      ctx.dropCaches()
      const row = await ctx.measure(m, `${fmtCount(n)} random 4 KiB reads in the ${fmtSize(big.size)} file (cold)`,
        () => sh(`${q(process.execPath)} ${q(script)} ${q(join(ctx.mnt, big.rel))} ${n} ${big.size} 5`, { timeoutMs: ctx.timeoutMs() }),
        { items: n, itemUnit: 'read' })
      row.notes.push(`${((row.bytesIn ?? 0) / MiB).toFixed(0)} MiB fetched for ${((n * 4 * KiB) / MiB).toFixed(1)} MiB read`)
    },
  },
  {
    id: 'dd',
    title: 'dd write of a big file',
    async run (ctx) {
      const size = ctx.size(GiB)
      const zero = Buffer.alloc(MiB)
      let m = await ctx.mount()
      await sh(`mkdir ${q(join(ctx.mnt, 'w06-dd'))}`)
      await m.settle()
      try {
        const a = await sdkRun(() => sdkUpload(ctx.target, 'w06-dd-sdk/a', size, zero))
        await deleteRel(ctx.target, 'w06-dd-sdk/')
        const dd = (dir: string): string => `dd if=/dev/zero of=${q(join(dir, 'f'))} bs=1M count=${size / MiB} conv=fsync status=none`
        const label = `dd bs=1M count=${size / MiB} conv=fsync of /dev/zero into the mount`
        let row: Row | undefined
        for (let round = 1; round <= BULK_ROUNDS; round++) {
          const oortfs = async (): Promise<void> => {
            if (round > 1) {
              // the last round's file goes first (the local server keeps every object in RAM)
              await m.unmount()
              await deleteRel(ctx.target, 'w06-dd/f')
              m = await ctx.mount()
            }
            const r = await ctx.measure(m, round > 1 ? `${label}, round ${round}` : label,
              () => sh(dd(join(ctx.mnt, 'w06-dd')), { timeoutMs: ctx.timeoutMs(size) }), { bytes: size, bulk: { who: 'oortfs', dir: 'write', round } })
            check(r, (await listKeys(ctx.target, 'w06-dd/')).includes('w06-dd/f'), 'w06-dd/f is not on the server')
            row ??= r
          }
          const s3fs = async (): Promise<void> => {
            const s = await ctx.s3fs()
            await sh(`mkdir -p ${q(join(s.dir, 'w06-dd-s3fs'))}`)
            const srow = await ctx.measureS3fs(s, `s3fs: ${label}${round > 1 ? `, round ${round}` : ''}`,
              () => sh(dd(join(s.dir, 'w06-dd-s3fs')), { timeoutMs: ctx.timeoutMs(size) }), { bytes: size, bulk: { who: 's3fs', dir: 'write', round } })
            await ctx.unmountS3fs(s)
            check(srow, (await listKeys(ctx.target, 'w06-dd-s3fs/')).includes('w06-dd-s3fs/f'), 'w06-dd-s3fs/f is not on the server')
            await deleteRel(ctx.target, 'w06-dd-s3fs/')
          }
          if (round % 2) { await oortfs(); await s3fs() } else { await s3fs(); await oortfs() }
        }
        const b = await sdkRun(() => sdkUpload(ctx.target, 'w06-dd-sdk/b', size, zero))
        setBaseline(row!, 'lib-storage Upload, 8 MiB parts, queueSize 4', [a, b], size, 0.9)
      } finally {
        await deleteRel(ctx.target, 'w06-dd-sdk/')
        await deleteRel(ctx.target, 'w06-dd-s3fs/')
      }
    },
  },
  {
    id: 'cp-out',
    title: 'cp -r out of the mount',
    async run (ctx) {
      const n = ctx.n(200)
      await seedSmall(ctx, 'w07-cpout', n, 7)
      const m = await ctx.mount()
      ctx.dropCaches()
      const dest = join(ctx.tmp, 'cpout')
      const row = await ctx.measure(m, `cp -r of ${fmtCount(n)} × 4 KiB files out of the mount (cold)`,
        () => sh(`cp -r ${q(join(ctx.mnt, 'w07-cpout'))} ${q(dest)}`, { timeoutMs: ctx.timeoutMs() }), { items: n, itemUnit: 'file' })
      check(row, countFiles(dest) === n, `${countFiles(dest)} files copied, expected ${n}`)
    },
  },
  {
    id: 'tar',
    title: 'tar x into the mount',
    async run (ctx) {
      const n = ctx.n(500)
      const src = join(ctx.tmp, 'tar-src')
      makeLocalFiles(join(src, 'files'), n, 8)
      const archive = join(ctx.tmp, 'files.tar')
      await sh(`tar cf ${q(archive)} -C ${q(src)} files`)
      const m = await ctx.mount()
      await sh(`mkdir ${q(join(ctx.mnt, 'w08-tar'))}`)
      await m.settle()
      const row = await ctx.measure(m, `tar x of ${fmtCount(n)} × 4 KiB files into the mount`,
        () => sh(`tar xf ${q(archive)} -C ${q(join(ctx.mnt, 'w08-tar'))}`, { timeoutMs: ctx.timeoutMs() }), { items: n, itemUnit: 'file' })
      row.notes.push(process.getuid?.() === 0 ? 'as root: tar also restores owner, mode and mtime' : 'tar restores mode and mtime')
      await checkObjects(row, ctx, 'w08-tar/files/', n)
    },
  },
  {
    id: 'mv',
    title: 'mv of a directory',
    async run (ctx) {
      const n = ctx.n(100)
      await seedSmall(ctx, 'w09-mv/src', n, 9)
      const m = await ctx.mount()
      const row = await ctx.measure(m, `mv of a directory of ${fmtCount(n)} files (cold)`,
        () => sh(`mv ${q(join(ctx.mnt, 'w09-mv', 'src'))} ${q(join(ctx.mnt, 'w09-mv', 'dst'))}`, { timeoutMs: ctx.timeoutMs() }),
        { items: n, itemUnit: 'file' })
      const src = fileKeys(await listKeys(ctx.target, 'w09-mv/src/'))
      const dst = fileKeys(await listKeys(ctx.target, 'w09-mv/dst/'))
      check(row, src.length === 0 && dst.length === n, `${dst.length} objects under dst/ (expected ${n}), ${src.length} left under src/`)
    },
  },
  {
    id: 'rm',
    title: 'rm -r',
    async run (ctx) {
      const n = ctx.n(1000)
      await seedSmall(ctx, 'w10-rm/dir', n, 10)
      const m = await ctx.mount()
      const row = await ctx.measure(m, `rm -r of ${fmtCount(n)} files (cold)`,
        () => sh(`rm -r ${q(join(ctx.mnt, 'w10-rm', 'dir'))}`, { timeoutMs: ctx.timeoutMs() }), { items: n, itemUnit: 'file' })
      const left = await listKeys(ctx.target, 'w10-rm/dir/')
      check(row, left.length === 0, `${left.length} objects left on the server`)
    },
  },
  {
    id: 'grep',
    title: 'grep -r',
    async run (ctx) {
      const n = ctx.n(200)
      const line = 'the quick brown fox jumps over the lazy dog, again and again and again\n'
      const text = Buffer.from(line.repeat(Math.ceil(8 * KiB / line.length)))
      const needle = Buffer.from(text.toString().replace(/lazy dog/, 'needle dog'))
      const expected = Math.ceil(n / 10)
      await seedSmall(ctx, 'w11-grep', n, 11, i => i % 10 === 0 ? needle : text)
      const m = await ctx.mount()
      ctx.dropCaches()
      let matches = 0
      const row = await ctx.measure(m, `grep -r over ${fmtCount(n)} × ${fmtSize(text.length)} files (cold)`, async () => {
        const r = await sh(`grep -rl needle ${q(join(ctx.mnt, 'w11-grep'))}`, { timeoutMs: ctx.timeoutMs(), okCodes: [0, 1] })
        matches = r.stdout.trim() ? r.stdout.trim().split('\n').length : 0
      }, { items: n, itemUnit: 'file' })
      check(row, matches === expected, `grep found ${matches} files, expected ${expected}`)
    },
  },
  {
    id: 'memory',
    title: 'memory: copy a big file in and out',
    async run (ctx) {
      const size = ctx.size(2 * GiB)
      const local = join(ctx.tmp, 'mem-in.bin')
      const back = join(ctx.tmp, 'mem-out.bin')
      await pipeline(patternStream(size, ctx.chunk), createWriteStream(local))
      try {
        const m = await ctx.mount()
        await sh(`mkdir ${q(join(ctx.mnt, 'w12-mem'))}`)
        await m.settle()
        const from = performance.now()
        const inRow = await ctx.measure(m, `cp of a ${fmtSize(size)} file local → mount`,
          () => sh(`cp ${q(local)} ${q(join(ctx.mnt, 'w12-mem', 'big'))}`, { timeoutMs: ctx.timeoutMs(size) }), { bytes: size })
        ctx.dropCaches()
        const outRow = await ctx.measure(m, `cp of that file mount → local (cold page cache)`,
          () => sh(`cp ${q(join(ctx.mnt, 'w12-mem', 'big'))} ${q(back)}`, { timeoutMs: ctx.timeoutMs(size) }), { bytes: size })
        ctx.memory = { peakRssBytes: m.peakRss(from, performance.now()) }
        check(inRow, fileKeys(await listKeys(ctx.target, 'w12-mem/')).length === 1, 'the file is not on the server')
        check(outRow, statSync(back).size === size, `copied back ${statSync(back).size} bytes of ${size}`)
      } finally {
        await sh(`rm -f ${q(local)} ${q(back)}`)
        await deleteRel(ctx.target, 'w12-mem/')
      }
    },
  },
]
