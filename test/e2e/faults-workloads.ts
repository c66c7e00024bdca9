// The everyday workloads of read-tools.ts and write-tools.ts, through the
// fault proxy with faults on: 5% 500 InternalError, 2% connections reset
// mid-body, SlowDown above 100 req/s. Retries must hide every fault: each tool
// succeeds and every byte is right (cp in and out, dd of 50 MiB, tar x and
// diff -r, ls -l and find counts, mv of a directory, rm -r, a tree written by
// another client read back), and the bucket holds exactly what it should.
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { INDEX_SUFFIX, JOURNAL_DIR } from '../../src/fs/names.js'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { keysUnder, q, sh, shOk, type Mount } from '../helpers/mount.js'
import { describeFaults, faultMount, FAULTS_ON } from '../helpers/fault-mount.js'
import type { FaultProxy } from '../../scripts/fault-proxy.js'

const s3 = await withS3(t)
const MiB = 1024 * 1024
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const lines = (s: string): string[] => s.split('\n').filter(Boolean)

async function sha256sum (path: string): Promise<string> {
  return (await shOk(`sha256sum < ${q(path)}`)).split(' ')[0]!
}

/** files only (no directory markers, attribute indexes or journal) */
const fileKeys = (keys: string[]): string[] => keys.filter(k => !k.endsWith('/') && !k.endsWith(INDEX_SUFFIX) && !k.startsWith(JOURNAL_DIR + '/'))

/** a local tree of n small files in a few directories */
function makeTree (root: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const dir = join(root, `d${i % 5}`, i % 3 === 0 ? 'sub' : '')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `f${i}${i % 11 === 0 ? ' with space' : ''}.txt`), `${i}:` + randomBytes(16 + (i * 37) % 3000).toString('hex') + '\n')
  }
}

function injected (t: Test, proxy: FaultProxy): void {
  const s = proxy.stats()
  t.comment(describeFaults(s))
  t.ok(s.error500 > 0 && s.resets > 0, `faults were injected (${s.error500} 500s, ${s.resets} resets)`)
}

t.test('cp in and out, dd of 50 MiB, through 500s and resets', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON })
  const work = tmpDir(t)
  const src = join(work, 'src.bin')
  const data = randomBytes(3 * MiB + 123)
  writeFileSync(src, data)
  await shOk(`cp ${q(src)} ${q(join(m.dir, 'copied.bin'))}`)
  await shOk(`cp ${q(join(m.dir, 'copied.bin'))} ${q(join(work, 'back.bin'))}`)
  t.equal(await sha256sum(join(work, 'back.bin')), sha(data), 'cp in and back out: same sha256')

  const big = join(work, 'big.bin')
  await shOk(`head -c ${50 * MiB} /dev/urandom > ${q(big)}`)
  const want = await sha256sum(big)
  const dd = await sh(`dd if=${q(big)} of=${q(join(m.dir, 'big.bin'))} bs=1M status=none`, { timeoutMs: 150_000 })
  t.same([dd.code, dd.stderr], [0, ''], 'dd bs=1M of 50 MiB into the mount')
  t.equal(await sha256sum(join(m.dir, 'big.bin')), want, 'read back through the mount: same sha256')
  await m.remount()
  t.equal(await sha256sum(join(m.dir, 'big.bin')), want, 'and from a fresh mount (nothing cached)')
  t.equal(await sha256sum(join(m.dir, 'copied.bin')), sha(data))
  injected(t, proxy)
})

t.test('tar x of 300 files and diff -r, ls -l and find counts, mv of a directory, rm -r', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON })
  const work = tmpDir(t)
  const tree = join(work, 'tree')
  makeTree(tree, 300)
  const archive = join(work, 'tree.tar')
  await shOk(`tar cf ${q(archive)} -C ${q(tree)} .`)

  const into = join(m.dir, 'untarred')
  await shOk(`mkdir ${q(into)}`)
  const x = await sh(`tar xf ${q(archive)} -C ${q(into)}`, { timeoutMs: 150_000 })
  t.same([x.code, x.stderr], [0, ''], 'tar x into the mount')
  const diff = await sh(`diff -r ${q(into)} ${q(tree)}`)
  t.same([diff.code, diff.stdout, diff.stderr], [0, '', ''], 'diff -r against the local tree')
  t.equal(Number(await shOk(`find ${q(into)} -type f | wc -l`)), 300, 'find: 300 files')
  t.equal(lines(await shOk(`ls -l ${q(join(into, 'd0'))}`)).filter(l => l.startsWith('-')).length, 40, 'ls -l d0: 40 files')
  t.equal(lines(await shOk(`ls -l ${q(join(into, 'd0', 'sub'))}`)).filter(l => l.startsWith('-')).length, 20, 'ls -l d0/sub: 20 files')

  await m.remount()
  const again = await sh(`diff -r ${q(into)} ${q(tree)}`)
  t.same([again.code, again.stdout], [0, ''], 'diff -r again from a fresh mount')

  // mv of a directory: every key moves
  const mv = await sh(`mv ${q(join(into, 'd1'))} ${q(join(m.dir, 'moved'))}`, { timeoutMs: 150_000 })
  t.same([mv.code, mv.stderr], [0, ''], 'mv of a directory of 60 files')
  t.same(fileKeys(await keysUnder(m.client, m.bucket, 'untarred/d1/')), [], 'no file left under the old prefix')
  t.equal(fileKeys(await keysUnder(m.client, m.bucket, 'moved/')).length, 60, '60 files under the new prefix')
  const moved = await sh(`diff -r ${q(join(m.dir, 'moved'))} ${q(join(tree, 'd1'))}`)
  t.same([moved.code, moved.stdout], [0, ''], 'the moved directory has every byte')

  // rm -r of the rest
  const rm = await sh(`rm -r ${q(into)} ${q(join(m.dir, 'moved'))}`, { timeoutMs: 150_000 })
  t.same([rm.code, rm.stderr], [0, ''], 'rm -r')
  t.equal((await sh(`ls ${q(into)}`)).code, 2, 'the directory is gone')
  t.same(fileKeys(await keysUnder(m.client, m.bucket, '')), [], 'no file left in the bucket')
  injected(t, proxy)
})

t.test('a tree written by another client: ls -l, cp -r out, grep -r, du', async t => {
  const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON })
  const work = tmpDir(t)
  const objects = new Map<string, Buffer>()
  for (let i = 0; i < 200; i++) objects.set(`seeded/d${i % 4}/f${i}.txt`, Buffer.from(`line ${i}\n${randomBytes(200 + i * 13).toString('base64')}\n`))
  objects.set('seeded/large.bin', randomBytes(12 * MiB))
  await seed(m, objects)
  const local = join(work, 'local')
  for (const [key, body] of objects) {
    mkdirSync(dirname(join(local, key)), { recursive: true })
    writeFileSync(join(local, key), body)
  }
  const ls = lines(await shOk(`ls -l ${q(join(m.dir, 'seeded', 'd2'))}`)).filter(l => l.startsWith('-'))
  t.equal(ls.length, 50, 'ls -l: 50 files')
  const out = join(work, 'out')
  const cp = await sh(`cp -r ${q(join(m.dir, 'seeded'))} ${q(out)}`, { timeoutMs: 150_000 })
  t.same([cp.code, cp.stderr], [0, ''], 'cp -r out of the mount')
  const diff = await sh(`diff -r ${q(out)} ${q(join(local, 'seeded'))}`)
  t.same([diff.code, diff.stdout], [0, ''], 'every byte right')
  t.equal(lines(await shOk(`grep -rl 'line 1' ${q(join(m.dir, 'seeded'))} | sort`)).length, 111, 'grep -r finds the 111 files that say "line 1..."')
  const du = Number((await shOk(`du -sb ${q(join(m.dir, 'seeded'))}`)).split(/\s/)[0])
  const total = [...objects.values()].reduce((a, b) => a + b.length, 0)
  t.ok(du >= total, `du -sb counts every byte (${du} >= ${total})`)
  injected(t, proxy)
})

async function seed (m: Mount, objects: Map<string, Buffer>): Promise<void> {
  const todo = [...objects]
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < todo.length) {
      const [Key, Body] = todo[next++]!
      await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key, Body }))
    }
  }))
}
