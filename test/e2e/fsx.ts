// fsx-style: thousands of seeded random operations on a few files through a
// real mount (writes at random offsets, truncates, reads compared as they go,
// close, reopen, O_TRUNC, rename, fsync), mirrored on a local directory. Every
// read must match the mirror, and at the end every file's sha256 must match:
// through the mount, after a remount, and as objects read with a plain S3
// client. Run twice: straight to the server, and through the fault proxy with
// 5% 500s, 2% connections reset mid-body and SlowDown above 100 req/s.
// Small part (5M, S3's least) and block sizes put multipart uploads, server-side
// part copies and block-cache reads on the path.
//
// OORTFS_FSX_SEED=n OORTFS_FSX_OPS=n override the seed and the op count.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, truncate, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { INDEX_SUFFIX } from '../../src/fs/names.js'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { mountBucket, type Mount } from '../helpers/mount.js'
import { describeFaults, faultMount, FAULTS_ON } from '../helpers/fault-mount.js'
import type { FaultProxy } from '../../scripts/fault-proxy.js'
import { prng } from '../../scripts/prng.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024
const KiB = 1024
const OPS = Number(process.env.OORTFS_FSX_OPS ?? 1500)
const SEED = Number(process.env.OORTFS_FSX_SEED ?? 20240611)
const FILES = 4
const MAX_SIZE = 6 * MiB
const OPTIONS = ['part_size=5M', 'block_size=256K', 'cache_size=16M', 'readahead=1M', 'attr_ttl=5']

const sha = (b: Buffer | Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** one file, the same on both sides: a name, and maybe an open handle on each */
interface Slot {
  name: string
  mnt?: FileHandle
  loc?: FileHandle
  size: number
}

interface Report {
  /** the local mirror */
  local: string
  /** operations run */
  done: number
  ops: Record<string, number>
  mismatches: string[]
  errors: string[]
  log: string[]
}

async function fsx (t: Test, m: Mount, seed: number, ops: number): Promise<Report> {
  const random = prng(seed)
  const int = (n: number): number => Math.floor(random() * n)
  const local = tmpDir(t, 'oortfs-fsx-')
  const dir = join(m.dir, 'fsx')
  await mkdir(dir)
  const report: Report = { local, done: 0, ops: {}, mismatches: [], errors: [], log: [] }
  let serial = 0
  const slots: Slot[] = []
  const note = (s: string): void => {
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
    const r = random()
    report.done++
    try {
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
        note(`${n} read ${s.name} ${off}+${len}${s.mnt ? '' : ' (closed: a fresh reader)'}`)
        let mb: Buffer; let lb: Buffer
        if (s.mnt) {
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
        if (!mb.equals(lb)) {
          let at = 0
          while (at < Math.min(mb.length, lb.length) && mb[at] === lb[at]) at++
          report.mismatches.push(`op ${n}: read ${s.name} ${off}+${len}: got ${mb.length} bytes, want ${lb.length}, first difference at +${at}`)
        }
        count('read')
      } else if (r < 0.86) {
        // to zero sometimes, mostly under 1 MiB, sometimes anywhere up to the cap (past the part size: multipart)
        const t = random()
        const size = t < 0.1 ? 0 : t < 0.7 ? int(MiB) : int(MAX_SIZE)
        note(`${n} truncate ${s.name} ${size}${s.mnt ? ' (open)' : ''}`)
        if (s.mnt) await both(`ftruncate ${s.name}`, root => (root === local ? s.loc : s.mnt)!.truncate(size))
        else await both(`truncate ${s.name}`, root => truncate(join(root, s.name), size))
        s.size = size
        count('truncate')
      } else if (r < 0.9) {
        note(`${n} close ${s.name}`)
        count(s.mnt ? 'close' : 'close (already closed)')
        if (s.mnt) await closeBoth(s)
      } else if (r < 0.93) {
        note(`${n} fsync ${s.name}`)
        await ensureOpen(s)
        await both(`fsync ${s.name}`, root => (root === local ? s.loc : s.mnt)!.sync())
        count('fsync')
      } else if (r < 0.96) {
        // reopen, sometimes with O_TRUNC
        const trunc = random() < 0.25
        note(`${n} reopen ${s.name}${trunc ? ' O_TRUNC' : ''}`)
        await closeBoth(s)
        await openBoth(s, trunc ? 'w+' : 'r+')
        count(trunc ? 'reopen O_TRUNC' : 'reopen')
      } else {
        // rename a closed file: to a new name, or over another closed file
        await closeBoth(s)
        const victims = slots.filter(v => v !== s)
        const over = random() < 0.3 ? victims[int(victims.length)] : undefined
        const to = over ? over.name : `g${++serial}`
        note(`${n} rename ${s.name} -> ${to}`)
        if (over) await closeBoth(over)
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
  for (const s of slots) await closeBoth(s).catch(() => {})
  return report
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

async function run (t: Test, m: Mount, proxy?: FaultProxy): Promise<void> {
  const started = Date.now()
  const report = await fsx(t, m, SEED, OPS)
  const secs = ((Date.now() - started) / 1000).toFixed(1)
  t.comment(`seed ${SEED}: ${Object.entries(report.ops).map(([k, v]) => `${k} ${v}`).join(', ')} in ${secs} s`)
  if (proxy) t.comment(`through the proxy: ${describeFaults(proxy.stats())}`)
  const requests = (await m.stats()).requests
  t.comment(`mount: ${JSON.stringify(requests)}`)
  t.ok((requests.byType.CompleteMultipartUpload ?? 0) > 0, 'the run went through multipart uploads')
  t.equal(report.done, OPS, `${OPS} operations done`)
  t.same(report.errors, [], 'no operation failed')
  t.same(report.mismatches, [], '0 mismatches between the mount and the mirror')
  if (report.errors.length || report.mismatches.length) t.comment(`last operations:\n${report.log.join('\n')}`)

  const want = await shas(report.local)
  t.same(await shas(join(m.dir, 'fsx')), want, 'every file through the mount has the sha256 of its mirror')
  await m.remount()
  t.same(await shas(join(m.dir, 'fsx')), want, 'and after a remount (a fresh process, nothing cached)')
  t.same(await objectShas(m, 'fsx/'), want, 'and as objects read with a plain S3 client')
}

t.test('fsx straight to the server', async t => {
  const m = await mountBucket(t, { s3, options: OPTIONS })
  await run(t, m)
})

t.test('fsx through the fault proxy: 5% 500s, 2% resets mid-body, SlowDown above 100/s', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON, options: OPTIONS })
  await run(t, m, proxy)
  const s = proxy.stats()
  t.ok(s.error500 > 0 && s.resets > 0, `faults were injected (${s.error500} 500s, ${s.resets} resets)`)
})
