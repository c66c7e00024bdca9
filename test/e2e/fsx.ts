// fsx-style: seeded random operations on a few files through a real mount
// (writes at random offsets, truncates, reads compared as they go, close,
// reopen, O_TRUNC, rename, fsync, reads with O_DIRECT past the page cache, a
// close while another descriptor writes, and mapped I/O: MAP_SHARED
// read-write mappings, stores and loads through them, msync, munmap, a close
// while still mapped), mirrored on a local directory. Every read must match
// the mirror, and at the end every file's sha256 must match: through the
// mount, after a remount, and as objects read with a plain S3 client. Five
// seeds, each in a directory of its own: three straight to the server, two
// through the fault proxy with 5% 500s, 2% connections reset mid-body and
// SlowDown above 100 req/s (CI time: each seed takes 20-40 s here). Small part (5M, S3's least) and block sizes put
// multipart uploads, server-side part copies and block-cache reads on the path.
//
// Mapped I/O and O_DIRECT go through test/helpers/mmap-peer.py (python3,
// ctypes): the same mapping on the mount's file and on the mirror's. A mapping
// stays inside the file's size when made; after a truncate, loads and stores
// stay inside the current size (past it they would be SIGBUS), on both sides
// alike. Renames are of closed, unmapped files (open ones are another test's).
// Writeback of a mapping sends dirty pages as concurrent WRITEs, and a close
// sends FLUSH without the inode lock: the two races these runs found.
//
// OORTFS_FSX_SEED=n[,n...] OORTFS_FSX_OPS=n override the seeds (then each runs
// both ways) and the op count;
// OORTFS_FSX_DEBUG=1 mounts with -d, marks each operation in the mount's log
// (a getattr of fsx-SEED/.op-N) and writes that log to the tmp dir at the end.
// A failure writes every operation of its seed to the tmp dir too.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, stat, truncate, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { INDEX_SUFFIX } from '../../src/fs/names.js'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { mountBucket, type Mount } from '../helpers/mount.js'
import { describeFaults, faultMount, FAULTS_ON } from '../helpers/fault-mount.js'
import { mmapPeer, PAGE, type MmapPeer } from '../helpers/mmap-peer.js'
import type { FaultProxy } from '../../scripts/fault-proxy.js'
import { prng } from '../../scripts/prng.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024
const KiB = 1024
// 5 seeds x 1,500 operations: about 2 minutes on 2 CPUs
const OPS = Number(process.env.OORTFS_FSX_OPS ?? 1500)
const GIVEN = process.env.OORTFS_FSX_SEED?.split(',').map(Number)
const STRAIGHT_SEEDS = GIVEN ?? [20240611, 1, 2]
const FAULT_SEEDS = GIVEN ?? [3, 4]
const DEBUG = !!process.env.OORTFS_FSX_DEBUG
const FILES = 4
const MAX_SIZE = 6 * MiB
/** share of operations that are mapped I/O */
const MAPPED = 0.3
const OPTIONS = ['part_size=5M', 'block_size=256K', 'cache_size=16M', 'readahead=1M', 'attr_ttl=5']

const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** the same mapping of one file on both sides: file offset and length, a page multiple at the start */
interface Mapping {
  mnt: number
  loc: number
  off: number
  len: number
}

/** one file, the same on both sides: a name, and maybe an open handle and a mapping on each */
interface Slot {
  name: string
  mnt?: FileHandle
  loc?: FileHandle
  map?: Mapping
  size: number
}

interface Report {
  seed: number
  /** the local mirror */
  local: string
  dir: string
  /** operations run */
  done: number
  ops: Record<string, number>
  mismatches: string[]
  errors: string[]
  log: string[]
  /** every operation, for a failure's post-mortem */
  history: string[]
  secs: number
}

async function fsx (t: Test, m: Mount, peer: MmapPeer, seed: number, ops: number): Promise<Report> {
  const started = Date.now()
  const random = prng(seed)
  const int = (n: number): number => Math.floor(random() * n)
  const local = tmpDir(t, 'oortfs-fsx-')
  const dir = join(m.dir, `fsx-${seed}`)
  await mkdir(dir)
  const report: Report = { seed, local, dir, done: 0, ops: {}, mismatches: [], errors: [], log: [], history: [], secs: 0 }
  let serial = 0
  const slots: Slot[] = []
  const note = (s: string): void => {
    report.history.push(s)
    report.log.push(s)
    if (report.log.length > 60) report.log.shift()
  }
  const both = async <T>(what: string, fn: (root: string) => Promise<T>): Promise<[T, T]> => {
    const l = await fn(local)
    try {
      return [await fn(dir), l]
    } catch (err) {
      report.errors.push(`${what}: ${(err as Error).message}`)
      throw err
    }
  }
  const compare = (n: number, what: string, mb: Buffer, lb: Buffer): void => {
    if (mb.equals(lb)) return
    const where = differingRanges(mb, lb).map(([a, b]) => `+${a}..+${b}`).join(' ')
    report.mismatches.push(`op ${n}: ${what}: got ${mb.length} bytes, want ${lb.length}; differ at ${where || 'none below the shorter length'}`)
  }
  const openBoth = async (s: Slot, flags: string): Promise<void> => {
    const [mh, lh] = await both(`open ${s.name} ${flags}`, root => open(join(root, s.name), flags))
    s.mnt = mh
    s.loc = lh
    if (flags.startsWith('w')) s.size = 0
  }
  const closeBoth = async (s: Slot): Promise<void> => {
    const mh = s.mnt
    const lh = s.loc
    s.mnt = s.loc = undefined
    await lh?.close()
    if (mh) {
      try { await mh.close() } catch (err) { report.errors.push(`close ${s.name}: ${(err as Error).message}`); throw err }
    }
  }
  const unmapBoth = async (s: Slot): Promise<void> => {
    const mp = s.map
    if (!mp) return
    s.map = undefined
    await peer.unmap(mp.loc)
    try { await peer.unmap(mp.mnt) } catch (err) { report.errors.push(`munmap ${s.name}: ${(err as Error).message}`); throw err }
  }
  /** the part of a slot's mapping inside the file's current size: only there are loads and stores defined */
  const mappedSpan = (s: Slot): [number, number] | undefined => {
    if (!s.map) return undefined
    const end = Math.min(s.map.off + s.map.len, s.size)
    return end > s.map.off ? [s.map.off, end] : undefined
  }
  const fill = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n)
    let x = int(2 ** 31) | 1
    for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24 }
    return b
  }
  const ensureOpen = async (s: Slot): Promise<void> => { if (!s.mnt) await openBoth(s, 'r+') }

  for (let i = 0; i < FILES; i++) {
    const s: Slot = { name: `f${i}`, size: 0 }
    slots.push(s)
    await openBoth(s, 'w+')
  }

  const count = (op: string): void => { report.ops[op] = (report.ops[op] ?? 0) + 1 }
  for (let n = 0; n < ops && report.errors.length === 0 && report.mismatches.length < 5; n++) {
    const s = slots[int(slots.length)]!
    let r = random()
    report.done++
    // a mark in the mount's -d log: getattr of a name that is not there
    if (DEBUG) await stat(join(dir, `.op-${n}`)).catch(() => {})
    try {
      if (r < MAPPED) {
        const span = mappedSpan(s)
        const q = random()
        if (!s.map) {
          // map: a page-aligned start inside the file, up to its end; often the fd closed at once
          if (s.size === 0) { count('map (empty file)'); continue }
          const off = random() < 0.5 ? 0 : int(Math.ceil(s.size / PAGE)) * PAGE
          const len = random() < 0.5 ? s.size - off : 1 + int(s.size - off)
          const close = random() < 0.5
          note(`${n} map ${s.name} ${off}+${len}${close ? ' (fd closed)' : ''}`)
          const [mid, lid] = await both(`mmap ${s.name}`, root => peer.map(join(root, s.name), off, len, { close }))
          s.map = { mnt: mid, loc: lid, off, len }
          count('map')
        } else if (q < 0.13) {
          note(`${n} munmap ${s.name}`)
          await unmapBoth(s)
          count('munmap')
        } else if (q < 0.25) {
          const async = random() < 0.3
          note(`${n} msync ${s.name}${async ? ' MS_ASYNC' : ''}`)
          const mp = s.map
          await both(`msync ${s.name}`, root => peer.sync(root === local ? mp.loc : mp.mnt, async))
          count(async ? 'msync async' : 'msync')
        } else if (!span) {
          // the file was cut below the mapping: nothing to touch
          count('mapped (past the end)')
        } else if (q < 0.65) {
          // stores: one range (past 128 KiB, writeback sends it as several WRITEs), or a
          // few small ones scattered over the mapping, as a database updates its pages
          // (dirty pages apart go back as WRITEs of their own, sent at once)
          const [from, to] = span
          const scattered = random() < 0.4
          const stores = scattered ? 2 + int(5) : 1
          const mp = s.map
          for (let k = 0; k < stores; k++) {
            const len = 1 + int(Math.min(to - from, scattered ? 2 * KiB : random() < 0.85 ? 16 * KiB : 256 * KiB))
            const at = from + int(to - from - len + 1)
            const data = fill(len)
            note(`${n} mwrite ${s.name} ${at}+${len}${scattered ? ` (${k + 1} of ${stores})` : ''}`)
            await both(`mapped write ${s.name}`, root => peer.write(root === local ? mp.loc : mp.mnt, at, data))
          }
          count(scattered ? 'mwrite scattered' : 'mwrite')
        } else {
          const [from, to] = span
          const len = 1 + int(Math.min(to - from, random() < 0.8 ? 64 * KiB : MiB))
          const at = from + int(to - from - len + 1)
          note(`${n} mread ${s.name} ${at}+${len}`)
          const mp = s.map
          const [mb, lb] = await both(`mapped read ${s.name}`, root => peer.read(root === local ? mp.loc : mp.mnt, at, len))
          compare(n, `mapped read ${s.name} ${at}+${len}`, mb, lb)
          count('mread')
        }
        continue
      }
      r = (r - MAPPED) / (1 - MAPPED)
      if (r < 0.44) {
        // write: mostly small, sometimes up to 512 KiB, anywhere up to the cap (holes included)
        const len = random() < 0.85 ? 1 + int(64 * KiB) : 1 + int(512 * KiB)
        const off = Math.min(MAX_SIZE - len, random() < 0.3 ? s.size : int(Math.min(MAX_SIZE, s.size + MiB)))
        const data = fill(len)
        note(`${n} write ${s.name} ${off}+${len}`)
        await ensureOpen(s)
        await both(`write ${s.name}`, async root => (root === local ? s.loc : s.mnt)!.write(data, 0, len, off))
        s.size = Math.max(s.size, off + len)
        count('write')
      } else if (r < 0.8) {
        // read a range (past the end too) and compare
        const len = 1 + int(random() < 0.8 ? 128 * KiB : MiB)
        const off = int(s.size + 64 * KiB)
        // O_DIRECT on the mount's side: the kernel writes dirty pages back, then the
        // filesystem answers, not the page cache (what a process after a remount would read)
        const direct = random() < 0.2
        const how = direct ? ' O_DIRECT' : s.mnt ? '' : ' (closed: a fresh reader)'
        note(`${n} read ${s.name} ${off}+${len}${how}`)
        let mb: Buffer; let lb: Buffer
        if (direct) {
          const [a, b] = await both(`O_DIRECT read ${s.name}`, root => peer.pread(join(root, s.name), off, len, root !== local))
          mb = a; lb = b
        } else if (s.mnt) {
          const [a, b] = await both(`read ${s.name}`, async root => {
            const buf = Buffer.alloc(len)
            const { bytesRead } = await (root === local ? s.loc : s.mnt)!.read(buf, 0, len, off)
            return buf.subarray(0, bytesRead)
          })
          mb = a; lb = b
        } else {
          const [a, b] = await both(`read ${s.name}`, async root => {
            const h = await open(join(root, s.name), 'r')
            try {
              const buf = Buffer.alloc(len)
              const { bytesRead } = await h.read(buf, 0, len, off)
              return buf.subarray(0, bytesRead)
            } finally { await h.close() }
          })
          mb = a; lb = b
        }
        compare(n, `read ${s.name} ${off}+${len}${how}`, mb, lb)
        count(direct ? 'read O_DIRECT' : 'read')
      } else if (r < 0.86) {
        // to zero sometimes, mostly under 1 MiB, sometimes anywhere up to the cap (past the part size: multipart)
        const t = random()
        const size = t < 0.1 ? 0 : t < 0.7 ? int(MiB) : int(MAX_SIZE)
        note(`${n} truncate ${s.name} ${size}${s.mnt ? ' (open)' : ''}${s.map ? ' (mapped)' : ''}`)
        if (s.mnt) await both(`ftruncate ${s.name}`, root => (root === local ? s.loc : s.mnt)!.truncate(size))
        else await both(`truncate ${s.name}`, root => truncate(join(root, s.name), size))
        s.size = size
        count('truncate')
      } else if (r < 0.9) {
        note(`${n} close ${s.name}${s.map ? ' (still mapped)' : ''}`)
        count(s.mnt ? 'close' : 'close (already closed)')
        if (s.mnt) await closeBoth(s)
      } else if (r < 0.93) {
        await ensureOpen(s)
        if (random() < 0.5 && s.size > 0) {
          // close, and a write through another descriptor at the same time: the kernel
          // sends FLUSH without the inode lock, so the write can land while the
          // close's save is fetching the bytes around it; it must survive
          const len = 1 + int(Math.min(s.size, 16 * KiB))
          const off = int(s.size - len + 1)
          const data = fill(len)
          note(`${n} close ${s.name} with a write ${off}+${len} through another fd during it, then reopen`)
          await both(`close + write ${s.name}`, async root => {
            const h = (root === local ? s.loc : s.mnt)!
            const other = await open(join(root, s.name), 'r+')
            try {
              await Promise.all([h.close(), other.write(data, 0, len, off)])
            } finally { await other.close() }
          })
          s.mnt = s.loc = undefined
          await openBoth(s, 'r+')
          count('close + concurrent write')
        } else {
          note(`${n} fsync ${s.name}`)
          await both(`fsync ${s.name}`, root => (root === local ? s.loc : s.mnt)!.sync())
          count('fsync')
        }
      } else if (r < 0.96) {
        // reopen, sometimes with O_TRUNC
        const trunc = random() < 0.25
        note(`${n} reopen ${s.name}${trunc ? ' O_TRUNC' : ''}${s.map ? ' (mapped)' : ''}`)
        await closeBoth(s)
        await openBoth(s, trunc ? 'w+' : 'r+')
        count(trunc ? 'reopen O_TRUNC' : 'reopen')
      } else {
        // rename a closed, unmapped file: to a new name, or over another closed file
        // (a mapping holds the file open: renames of open files are another test's)
        await closeBoth(s)
        await unmapBoth(s)
        const victims = slots.filter(v => v !== s)
        const over = random() < 0.3 ? victims[int(victims.length)] : undefined
        const to = over ? over.name : `g${++serial}`
        note(`${n} rename ${s.name} -> ${to}`)
        if (over) { await closeBoth(over); await unmapBoth(over) }
        await both(`rename ${s.name} ${to}`, root => rename(join(root, s.name), join(root, to)))
        if (over) {
          // the victim's slot is gone; a new empty file takes its place
          slots.splice(slots.indexOf(over), 1)
          const fresh: Slot = { name: `h${++serial}`, size: 0 }
          slots.push(fresh)
          await openBoth(fresh, 'w+')
        }
        s.name = to
        count(over ? 'rename over' : 'rename')
      }
    } catch (err) {
      if (report.errors.length === 0) report.errors.push(`op ${n}: ${(err as Error).message}`)
    }
  }
  for (const s of slots) {
    await unmapBoth(s).catch(() => {})
    await closeBoth(s).catch(() => {})
  }
  report.secs = (Date.now() - started) / 1000
  return report
}

/** every operation of a run, to a file in the tmp dir: its name */
function writeHistory (r: Report): string {
  const file = join(tmpdir(), `oortfs-fsx-${r.seed}-ops.txt`)
  writeFileSync(file, r.history.join('\n') + '\n')
  return file
}

/** the first few [start, end) where a and b differ, below the shorter length */
function differingRanges (a: Buffer, b: Buffer, max = 8): [number, number][] {
  const out: [number, number][] = []
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n && out.length < max;) {
    if (a[i] === b[i]) { i++; continue }
    // random bytes agree by chance one time in 256: a range ends after 64 equal ones
    let last = i
    for (let j = i + 1; j < n && j - last <= 64; j++) if (a[j] !== b[j]) last = j
    out.push([i, last + 1])
    i = last + 1
  }
  return out
}

/** where two directories' files differ: "name: size a, want b; bytes [x, y) differ" per file (a failure's clue) */
async function differences (got: string, want: string): Promise<string[]> {
  const out: string[] = []
  const names = new Set([...await readdir(got), ...await readdir(want)])
  for (const name of [...names].sort()) {
    const a = await readFile(join(got, name)).catch(() => undefined)
    const b = await readFile(join(want, name)).catch(() => undefined)
    if (!a || !b) { out.push(`${name}: ${a ? 'not in the mirror' : 'missing'}`); continue }
    if (a.equals(b)) continue
    const ranges = differingRanges(a, b).map(([x, y]) => `[${x}, ${y})`).join(' ')
    out.push(`${name}: ${a.length} bytes, want ${b.length}; differ at ${ranges || 'none below the shorter size'}`)
  }
  return out
}

/** name -> sha256 of every file in a directory */
async function shas (dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const name of (await readdir(dir)).sort()) out[name] = sha(await readFile(join(dir, name)))
  return out
}

async function objectShas (m: Mount, prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const page = await m.client.send(new ListObjectsV2Command({ Bucket: m.bucket, Prefix: prefix }))
  for (const o of page.Contents ?? []) {
    const name = o.Key!.slice(prefix.length)
    if (!name || name.includes('/') || name.endsWith(INDEX_SUFFIX)) continue
    const got = await m.client.send(new GetObjectCommand({ Bucket: m.bucket, Key: o.Key! }))
    out[name] = sha(await got.Body!.transformToByteArray())
  }
  return Object.fromEntries(Object.entries(out).sort())
}

async function run (t: Test, m: Mount, seeds: number[], proxy?: FaultProxy): Promise<void> {
  const peer = mmapPeer(t)
  const reports: Report[] = []
  for (const seed of seeds) {
    const report = await fsx(t, m, peer, seed, OPS)
    reports.push(report)
    t.comment(`seed ${seed}: ${Object.entries(report.ops).map(([k, v]) => `${k} ${v}`).join(', ')} in ${report.secs.toFixed(1)} s`)
    t.equal(report.done, OPS, `seed ${seed}: ${OPS} operations done`)
    t.same(report.errors, [], `seed ${seed}: no operation failed`)
    t.same(report.mismatches, [], `seed ${seed}: 0 mismatches between the mount and the mirror`)
    t.ok((report.ops.mwrite ?? 0) > 0 && (report.ops['mwrite scattered'] ?? 0) > 0 && (report.ops.mread ?? 0) > 0, `seed ${seed}: mapped stores and loads ran`)
    if (report.errors.length || report.mismatches.length) {
      t.comment(`seed ${seed}: last operations:\n${report.log.join('\n')}\n(every operation: ${writeHistory(report)})`)
    }
  }
  await peer.close()
  if (proxy) t.comment(`through the proxy: ${describeFaults(proxy.stats())}`)
  const requests = (await m.stats()).requests
  t.comment(`mount: ${JSON.stringify(requests)}`)
  t.ok((requests.byType.CompleteMultipartUpload ?? 0) > 0, 'the runs went through multipart uploads')

  const want: Record<string, string>[] = []
  for (const r of reports) want.push(await shas(r.local))
  const check = async (r: Report, i: number, what: string): Promise<void> => {
    if (t.same(await shas(r.dir), want[i], `seed ${r.seed}: ${what}`)) return
    t.comment(`seed ${r.seed}: ${(await differences(r.dir, r.local)).join('\n')}\n(every operation: ${writeHistory(r)})`)
  }
  for (const [i, r] of reports.entries()) await check(r, i, 'every file through the mount has the sha256 of its mirror')
  await m.remount()
  for (const [i, r] of reports.entries()) {
    await check(r, i, 'and after a remount (a fresh process, nothing cached)')
    t.same(await objectShas(m, `fsx-${r.seed}/`), want[i], `seed ${r.seed}: and as objects read with a plain S3 client`)
  }
  if (DEBUG) {
    const file = join(tmpdir(), `oortfs-fsx-${proxy ? 'proxy' : 'plain'}-${Date.now()}.log`)
    writeFileSync(file, m.log())
    t.comment(`the mount's -d log: ${file}`)
  }
}

t.test('fsx straight to the server', async t => {
  const m = await mountBucket(t, { s3, options: OPTIONS, debug: DEBUG })
  await run(t, m, STRAIGHT_SEEDS)
})

t.test('fsx through the fault proxy: 5% 500s, 2% resets mid-body, SlowDown above 100/s', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON, options: OPTIONS, debug: DEBUG })
  await run(t, m, FAULT_SEEDS, proxy)
  const s = proxy.stats()
  t.ok(s.error500 > 0 && s.resets > 0, `faults were injected (${s.error500} 500s, ${s.resets} resets)`)
})
