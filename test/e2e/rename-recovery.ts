// A directory rename cut short by a crash, on the real server: its journal
// object and a tree half under the old name, half under the new. `oortfs fsck`
// finishes it without mounting (and says what it did), a mount finishes one
// at start, and neither loses a byte: a key whose new name holds other data
// stays under the old name.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { cliEnv, ensureBuilt, runCli, tmpDir } from '../helpers/oortfs-cli.js'
import { keysUnder, lines, mountBucket, objectBytes, q, seed, shOk } from '../helpers/mount.js'
import { JOURNAL_DIR } from '../../src/fs/names.js'

ensureBuilt()
const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
const ep = `endpoint=${s3.endpoint}`

/** the writer of a journal whose process died on this machine */
const crashedHere = (): { host: string, pid: number } => ({ host: hostname(), pid: spawnSync('true').pid! })

/**
 * What a crash in the middle of `mv from to` leaves: the journal, a marker and
 * five files under `from`, two of them already copied to `to`, and a `clash`
 * that exists under both names with different data (written there since).
 */
async function halfRenamed (bucket: string, from: string, to: string, writer: { host?: string, pid?: number } = crashedHere()): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>(['a.txt', 'b.txt', 'sub/c.txt', 'sub/d.bin', 'e.txt', 'clash.txt'].map(n => [n, randomBytes(100 + n.length * 50)]))
  const objects: [string, Buffer][] = [[from, Buffer.alloc(0)], ...[...files].map(([n, b]): [string, Buffer] => [from + n, b])]
  objects.push([to + 'a.txt', files.get('a.txt')!], [to + 'sub/c.txt', files.get('sub/c.txt')!], [to + 'clash.txt', Buffer.from('written at the new name since')])
  const journal = { v: 1, op: 'rename-dir', from, to, started: new Date(Date.now() - 60_000).toISOString(), ...writer }
  objects.push([`${JOURNAL_DIR}/${Date.now()}-test.json`, Buffer.from(JSON.stringify(journal))])
  await seed(client, bucket, objects)
  return files
}

/** every file under `to` as the rename would leave it, nothing left under `from` but the clash */
async function checkFinished (t: Test, bucket: string, files: Map<string, Buffer>, from: string, to: string): Promise<void> {
  for (const [n, b] of files) {
    if (n === 'clash.txt') continue
    t.ok((await objectBytes(client, bucket, to + n))?.equals(b), `${to}${n} holds the bytes of ${from}${n}`)
  }
  t.same(await keysUnder(client, bucket, from), [from + 'clash.txt'], `under ${from}: only the clash, kept`)
  t.ok((await objectBytes(client, bucket, from + 'clash.txt'))?.equals(files.get('clash.txt')!), 'with its own bytes')
  t.equal((await objectBytes(client, bucket, to + 'clash.txt'))?.toString(), 'written at the new name since', 'and the data at the new name untouched')
  t.same(await keysUnder(client, bucket, JOURNAL_DIR + '/'), [], 'the journal is gone')
}

t.test('oortfs fsck finishes an interrupted rename without mounting, and says what it did', async t => {
  const bucket = await newBucket(s3, t, 'fsck')
  const files = await halfRenamed(bucket, 'photos/', 'archive/photos/')

  // -o ro: says what it would finish, changes nothing
  const before = await keysUnder(client, bucket, '')
  const dry = await runCli(['fsck', bucket, '-o', `${ep},ro`], env)
  t.same([dry.code, dry.stderr], [0, ''])
  t.match(lines(dry.stdout), [
    /^not finished, this mount is read-only: the interrupted rename of photos\/ to archive\/photos\/ \(begun \S+\)/,
    `bucket ${bucket}: no interrupted directory rename finished; 1 to finish without -o ro`,
  ])
  t.same(await keysUnder(client, bucket, ''), before, '-o ro: not a key changed')

  const r = await runCli(['fsck', bucket, '-o', ep], env)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '', 'nothing on stderr')
  t.match(lines(r.stdout), [
    /^finished the interrupted rename of photos\/ to archive\/photos\/ \(begun \S+\): 4 key\(s\) copied now, 2 already there$/,
    '  kept under the old name, the new one holds other data: photos/clash.txt',
    `bucket ${bucket}: 1 interrupted directory rename finished`,
  ])
  await checkFinished(t, bucket, files, 'photos/', 'archive/photos/')

  const again = await runCli(['fsck', bucket, '-o', ep], env)
  t.same([again.code, again.stdout, again.stderr], [0, `bucket ${bucket}: no interrupted directory rename; nothing to do\n`, ''], 'a second run has nothing to do')
})

t.test('a rename another machine is running (its journal fresh) is left alone, and fsck says so', async t => {
  const bucket = await newBucket(s3, t, 'fsck-running')
  await halfRenamed(bucket, 'big/', 'moved/', { host: 'another-machine', pid: 4242 })
  const before = await keysUnder(client, bucket, '')
  const r = await runCli(['fsck', bucket, '-o', ep], env)
  t.same([r.code, r.stderr], [0, ''])
  t.match(lines(r.stdout), [
    /^left alone: the rename of big\/ to moved\/ is running \(process 4242 on another-machine, journal rewritten \d+ s ago\); if that process is gone, the next mount or oortfs fsck after 120 s finishes it$/,
    `bucket ${bucket}: no interrupted directory rename finished; 1 running elsewhere, left alone`,
  ])
  t.same(await keysUnder(client, bucket, ''), before, 'not a key touched')
})

t.test('a mount finishes an interrupted rename before it shows the tree', async t => {
  const bucket = await newBucket(s3, t, 'recover')
  const files = await halfRenamed(bucket, 'old/', 'new/')
  const m = await mountBucket(t, { s3, bucket })
  await checkFinished(t, bucket, files, 'old/', 'new/')
  const listed = (await shOk(`cd ${q(m.dir)} && find . -type f | sort`)).trim().split('\n')
  t.same(listed, ['./new/a.txt', './new/b.txt', './new/clash.txt', './new/e.txt', './new/sub/c.txt', './new/sub/d.bin', './old/clash.txt'], 'the mount shows the finished tree, and no journal')
  t.same(readFileSync(join(m.dir, 'new', 'sub', 'd.bin')), files.get('sub/d.bin'), 'a copied file reads back whole')
  t.match(m.log(), /warning: finished the interrupted rename of old\/ to new\/ \(begun \S+\): 4 key\(s\) copied now, 2 already there/, 'the log says what the mount did')
})

t.test('fsck with bad input: one line saying what is wrong, exit 1 or 2', async t => {
  const missing = await runCli(['fsck', 'no-such-bucket-here', '-o', ep], env)
  t.same([missing.code, missing.stdout], [1, ''])
  t.match(missing.stderr, /^oortfs: bucket no-such-bucket-here does not exist at http:\/\/127\.0\.0\.1:\d+; check the bucket name and endpoint=\n$/)

  const bucket = await newBucket(s3, t, 'fsck-keys')
  const wrongKey = await runCli(['fsck', bucket, '-o', ep], { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' })
  t.same([wrongKey.code, wrongKey.stdout], [1, ''])
  t.match(wrongKey.stderr, /^oortfs: the secret key does not match the access key; check the keys from .*\n$/)
  t.notOk(wrongKey.stderr.includes('not-the-secret'), 'the secret is never printed')

  const badOption = await runCli(['fsck', bucket, '-o', `${ep},rps=0`], env)
  t.equal(badOption.code, 2)
  t.match(badOption.stderr, /^oortfs: .*rps.*\n$/)
})
