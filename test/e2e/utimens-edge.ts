// utimensat's edge cases through a real mount (issue 16): Python's os.utime
// with ns, before the epoch, 2^40 s and 2^62 s, on a file, a directory, a
// FIFO and a symlink (not followed); `touch -d` with ns, `touch -a` and
// `touch -m` (the other time UTIME_OMIT), `touch -h`, UTIME_NOW; each stat
// compared with the same calls on a local tmpfs directory (ext4 clamps
// seconds past 2446; tmpfs keeps 64 bits), and again after a remount. Then
// `cp -a` of a tree and `rsync -a` a second time, before and after a remount:
// rsync compares mtimes to the ns and copies nothing.
import t from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { lines, mountBucket, q, sh, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/** a local directory that keeps 64-bit seconds (tmpfs), else /tmp's (then the far times are not compared) */
function localDir (): { dir: string, wide: boolean } {
  if (existsSync('/dev/shm')) {
    const dir = mkdtempSync('/dev/shm/oortfs-utimens-')
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    return { dir, wide: true }
  }
  return { dir: tmpDir(t), wide: false }
}

/** lstat's atime, mtime and ctime in ns, of each path */
async function nsTimes (...paths: string[]): Promise<bigint[][]> {
  const out = await shOk(`python3 -c 'import os, sys
for p in sys.argv[1:]:
    s = os.lstat(p)
    print(s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)' ${paths.map(q).join(' ')}`)
  return lines(out).map(l => l.split(' ').map(BigInt))
}

/** os.utime(path, ns=(a, m)) without following a symlink: the times it then shows, or the error */
async function utime (path: string, a: bigint, m: bigint): Promise<string> {
  const r = await sh(`python3 -c 'import os, sys
p, a, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    os.utime(p, ns=(a, m), follow_symlinks=False)
except OSError as e:
    print("error", e.strerror)
    sys.exit(0)
s = os.lstat(p)
print(s.st_atime_ns, s.st_mtime_ns)' ${q(path)} ${a} ${m}`)
  if (r.code !== 0) throw new Error(r.stderr)
  return r.stdout.trim()
}

const S = 1_000_000_000n
/** what os.utime is given: ns, before the epoch, the binding's UTIME_NOW/OMIT look-alikes (-1 ms, -2 ms), far times */
const TIMES: [string, bigint, bigint][] = [
  ['ns', 1_700_000_000_123_456_789n, 1_600_000_000_987_654_321n],
  ['before the epoch', -1_234_567_890_123_456_789n, -1n],
  ['1 and 2 ms before the epoch', -1_000_000n, -2_000_000n],
  ['2^40 s', (2n ** 40n) * S + 5n, (2n ** 40n) * S + 999_999_999n],
  ['2^62 s', (2n ** 62n) * S + 7n, -(2n ** 62n) * S],
  ['the 64-bit ends', (2n ** 63n - 1n) * S, -(2n ** 63n) * S],
  // the kernel's own limit (tmpfs's too): the last second's ns are dropped
  ['the last ns of 64-bit seconds', (2n ** 63n - 1n) * S + 999_999_999n, 0n],
]
const FAR = new Set(['2^40 s', '2^62 s', 'the 64-bit ends', 'the last ns of 64-bit seconds'])

const MAKE = 'echo data > f && mkdir d && mkfifo p && ln -s f l'
const KINDS = ['f', 'd', 'p', 'l']

t.test('os.utime with ns, before the epoch, 2^40 and 2^62 s on a file, a directory, a FIFO, a symlink: as on tmpfs, and after a remount', async t => {
  const m = await mountBucket(t, { s3 })
  const local = localDir()
  // each time on its own fresh set, so the remount sees every one
  const sets = TIMES.map((_, i) => `s${i}`)
  for (const s of sets) await shOk(`cd ${q(local.dir)} && mkdir ${s} && cd ${s} && ${MAKE} && cd ${q(m.dir)} && mkdir ${s} && cd ${s} && ${MAKE}`)
  const paths: string[] = []
  for (const [i, [what, a, mt]] of TIMES.entries()) {
    for (const k of KINDS) {
      const name = `${what} on ${k}`
      const here = await utime(join(m.dir, sets[i]!, k), a, mt)
      if (local.wide || !FAR.has(what)) t.equal(here, await utime(join(local.dir, sets[i]!, k), a, mt), `${name}: as on a local directory (${here})`)
      if (what !== 'the last ns of 64-bit seconds') t.equal(here, `${a} ${mt}`, `${name}: exact`)
      paths.push(join(m.dir, sets[i]!, k))
    }
  }
  // the headers, as s3fs reads them (whole seconds first)
  const h = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: `${sets[0]}/f` }))
  t.same([h.Metadata?.atime, h.Metadata?.mtime], ['1700000000.123456789', '1600000000.987654321'], 'stored as seconds.nanoseconds')
  const far = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: `${sets[4]}/f` }))
  t.same([far.Metadata?.atime, far.Metadata?.mtime], ['4611686018427387904.000000007', '-4611686018427387904'], '2^62 s: the whole seconds first')

  // dated now to the ns, both times alike: within a second of the object's date, the exact time
  // alone tells it from the date a listing shows
  await shOk(`mkdir now && cd now && ${MAKE} && python3 -c 'import os, time
for k in ["f", "d", "p", "l"]:
    t = time.time_ns()
    os.utime(k, ns=(t, t), follow_symlinks=False)'`, { cwd: m.dir })
  for (const k of KINDS) paths.push(join(m.dir, 'now', k))
  const nowTimes = await nsTimes(...KINDS.map(k => join(m.dir, 'now', k)))
  t.ok(nowTimes.every(([a, mt]) => a === mt && a! % 1_000_000n !== 0n), 'dated to the ns')

  const before = await nsTimes(...paths)
  await m.remount()
  await shOk(`ls -lR ${q(m.dir)} > /dev/null`)
  t.same(await nsTimes(...paths), before, 'a new mount shows the same times to the ns')
})

t.test('touch -d with ns, touch -a, touch -m, UTIME_NOW, touch -h: as on a local directory, and after a remount', async t => {
  const m = await mountBucket(t, { s3 })
  const local = localDir()
  const steps = [
    `touch -d '2020-01-01 00:00:00.123456789' f`,
    `touch -a -d '2021-02-03 04:05:06.000000007' f`, // mtime UTIME_OMIT
    `touch -m -d '1969-07-20 20:17:40.5' f`, // atime UTIME_OMIT
    `touch -h -d '2001-09-09 01:46:40.999999999' l`, // the link, not f
    `touch -d '2022-02-22 22:22:22.222222222' d p`,
    `touch -m d`, // UTIME_NOW for mtime, atime as it was
  ]
  // every one dated first: what a step leaves alone is the same on both sides
  const known = `touch -h -d '2010-10-10 10:10:10.101010101' ${KINDS.join(' ')}`
  await shOk(`cd ${q(local.dir)} && ${MAKE} && ${known} && cd ${q(m.dir)} && ${MAKE} && ${known}`)
  for (const step of steps) {
    await shOk(`cd ${q(local.dir)} && TZ=UTC ${step} && cd ${q(m.dir)} && TZ=UTC ${step}`)
    const [here, there] = [await nsTimes(...KINDS.map(k => join(m.dir, k))), await nsTimes(...KINDS.map(k => join(local.dir, k)))]
    // atime and mtime as on the local directory (UTIME_NOW: within the seconds between the two calls)
    for (const [i, k] of KINDS.entries()) {
      for (const w of [0, 1]) {
        const d = here[i]![w]! - there[i]![w]!
        t.ok(d === 0n || (step === 'touch -m d' && k === 'd' && w === 1 && d >= 0n && d < 5n * S), `${step}: ${k}'s ${w ? 'mtime' : 'atime'} ${here[i]![w]} (local ${there[i]![w]})`)
      }
    }
  }
  const [f, l] = await nsTimes(join(m.dir, 'f'), join(m.dir, 'l'))
  t.same([f![0], f![1]], [1_612_325_106_000_000_007n, -14_182_939_500_000_000n], 'touch -a set atime alone, touch -m mtime alone, to the ns')
  t.same([l![0], l![1]], [1_000_000_000_999_999_999n, 1_000_000_000_999_999_999n], 'touch -h dated the link')

  // UTIME_NOW for both: os.utime(p) dates the file now, ctime too
  const start = BigInt(Date.now()) * 1_000_000n - S
  await shOk(`python3 -c 'import os; os.utime("f")'`, { cwd: m.dir })
  const [now] = await nsTimes(join(m.dir, 'f'))
  const end = BigInt(Date.now()) * 1_000_000n + S
  t.ok(now!.every(x => x >= start && x <= end), `os.utime(p): atime, mtime and ctime now (${now!.join(' ')})`)

  // (a file dated now shows the mount's clock at once, then the date the server gave its copy)
  await m.settle()
  const before = await nsTimes(...KINDS.map(k => join(m.dir, k)))
  await m.remount()
  await shOk(`ls -l ${q(m.dir)} > /dev/null`)
  const after = await nsTimes(...KINDS.map(k => join(m.dir, k)))
  t.same(after.map(x => x.slice(0, 2)), before.map(x => x.slice(0, 2)), 'a new mount shows the same atimes and mtimes')
})

t.test('cp -a of a tree, then rsync -a a second time copies nothing, also after a remount: mtimes match to the ns', async t => {
  const m = await mountBucket(t, { s3 })
  const src = tmpDir(t)
  // files dated now (ns on ext4), files dated with ns, a subdirectory, a symlink, a FIFO
  await shOk(`cd ${q(src)} && mkdir -p a/b && for i in 1 2 3 4 5; do echo $i > a/n$i; echo $i > a/b/m$i; done &&
    touch -d '2019-05-05 05:05:05.555555555' a/b/m1 && touch -d '@1.000000001' a/n1 && ln -s n2 a/link && mkfifo a/fifo &&
    touch -h -d '2018-01-01 00:00:00.1' a/link && touch -d '2017-07-07 07:07:07.7' a/b`)
  await shOk(`cp -a ${q(join(src, 'a'))} ${q(m.dir)}`)
  const itemize = async (): Promise<string[]> =>
    lines(await shOk(`rsync -a --itemize-changes ${q(join(src, 'a'))}/ ${q(join(m.dir, 'a'))}/`))
  t.same(await itemize(), [], 'rsync -a after cp -a: nothing to copy')
  const dst = await shOk(`cd ${q(join(m.dir, 'a'))} && find . -exec stat -c '%n %.9Y' {} + | LC_ALL=C sort`)
  t.equal(dst, await shOk(`cd ${q(join(src, 'a'))} && find . -exec stat -c '%n %.9Y' {} + | LC_ALL=C sort`), 'every mtime as the source\'s, to the ns')
  await m.remount()
  t.same(await itemize(), [], 'and after a remount')
  // a file rsync does copy is dated as the source, so a third run is quiet too
  await shOk(`echo changed > ${q(join(src, 'a', 'n3'))}`)
  // rsync's copy is dated (utimens) within a second of its upload: its exact mtime needs its own record
  t.same(await itemize(), ['>f.st...... n3'], 'a changed file is copied')
  t.same(await itemize(), [], 'and then matches')
  await m.remount()
  t.same(await itemize(), [], 'also after a remount')
})
