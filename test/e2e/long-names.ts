// Names past 255 bytes, up to S3's 1,024-byte keys, through a real mount and
// ordinary tools; directory link counts as find and stat read them; hard
// links refused with EPERM.
import t from 'tap'
import { join } from 'node:path'
import type { S3Client } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { keysUnder, lines, mountBucket, q, seed, sh, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/**
 * The keys under prefix (the journal aside), once they stop changing: touch's
 * new empty file reaches the server with its last release, which the kernel
 * sends after close(2) has returned.
 */
async function keysAppear (client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  let last: string[] = []
  for (let i = 0; i < 50; i++) {
    const now = (await keysUnder(client, bucket, prefix)).filter(k => !k.startsWith('.oortfs')).sort()
    if (now.length > 0 && now.join('\n') === last.join('\n')) return now
    last = now
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return last
}

t.test('a 300-byte name through touch, python, ls, mv and rm; a 1,000-byte key the SDK wrote is listed', async t => {
  const m = await mountBucket(t, { s3 })
  const long = 'k'.repeat(996) // under 'sdk/': a key of 1,000 bytes
  await seed(m.client, m.bucket, [['sdk/' + long, Buffer.from('from the SDK\n')]])
  const a = 'a'.repeat(300)
  const b = 'b'.repeat(300)
  const p = 'p'.repeat(300)
  await shOk(`touch ${q(join(m.dir, a))}`)
  await shOk(`python3 -c ${q(`import os; os.close(os.open(${JSON.stringify(join(m.dir, p))}, os.O_CREAT | os.O_WRONLY))`)}`)
  t.same(lines(await shOk(`ls ${q(m.dir)}`)).sort(), [a, p, 'sdk'], 'ls shows both')
  t.same(await keysAppear(m.client, m.bucket, ''), [a, p, 'sdk/' + long], 'each is its own key')
  await shOk(`cd ${q(m.dir)} && mv ${a} ${b}`)
  t.same(lines(await shOk(`ls ${q(m.dir)}`)).sort(), [b, p, 'sdk'], 'mv renames it')
  await shOk(`cd ${q(m.dir)} && rm ${b} ${p}`)
  t.same(lines(await shOk(`ls ${q(m.dir)}`)), ['sdk'], 'rm removes them')
  t.same(lines(await shOk(`ls ${q(join(m.dir, 'sdk'))}`)), [long], 'ls shows the key another client wrote')
  t.equal(await shOk(`cd ${q(join(m.dir, 'sdk'))} && cat ${long}`), 'from the SDK\n')
  t.equal((await shOk(`getconf NAME_MAX ${q(m.dir)}`)).trim(), '1023', 'statfs tells tools the longest name')
  const over = await sh(`cd ${q(m.dir)} && touch ${'n'.repeat(1024)}`)
  t.not(over.code, 0)
  t.match(over.stderr, /File name too long/, 'a 1,024-byte name: ENAMETOOLONG')
})

t.test('a key of 1,024 bytes with the prefix is made; one byte more is "File name too long"', async t => {
  const m = await mountBucket(t, { s3, prefix: 'pre' })
  // 'pre/' and 1,020 bytes
  const fits = 'f'.repeat(1020)
  await shOk(`cd ${q(m.dir)} && touch ${fits}`)
  t.same(await keysAppear(m.client, m.bucket, 'pre/f'), ['pre/' + fits], 'its key is 1,024 bytes')
  const over = await sh(`cd ${q(m.dir)} && touch ${'g'.repeat(1021)}`)
  t.not(over.code, 0)
  t.match(over.stderr, /File name too long/)
  const dir = await sh(`cd ${q(m.dir)} && mkdir ${'d'.repeat(1020)}`)
  t.match(dir.stderr, /File name too long/, 'mkdir: the marker key would be 1,025 bytes')
})

t.test('find -type d finds every directory, cold and warm; stat -c %h of a directory with 3 subdirectories is 5', async t => {
  const m = await mountBucket(t, { s3 })
  await seed(m.client, m.bucket, ['t/x/y/z/f', 't/x/w/f', 't/v/f', 't/u/', 't/f'].map(k => [k, Buffer.from(k.endsWith('/') ? '' : 'x')]))
  const want = ['t', 't/u', 't/v', 't/x', 't/x/w', 't/x/y', 't/x/y/z']
  const find = async (): Promise<string[]> => lines(await shOk(`cd ${q(m.dir)} && find t -type d | LC_ALL=C sort`))
  t.same(await find(), want, 'cold: nothing listed yet')
  await shOk(`ls -R ${q(join(m.dir, 't'))} > /dev/null`)
  t.same(await find(), want, 'warm: every listing held')
  await shOk(`cd ${q(m.dir)} && mkdir -p n/a n/b n/c && touch n/file`)
  // ls lists n; stat then counts from that listing (within the 1 s freshness bound)
  t.equal((await shOk(`cd ${q(m.dir)} && ls n > /dev/null && stat -c %h n`)).trim(), '5', '2 + 3 subdirectories')
  t.equal((await shOk(`cd ${q(m.dir)} && stat -c %h n/file`)).trim(), '1')
})

t.test('ln of a hard link fails with "Operation not permitted"', async t => {
  const m = await mountBucket(t, { s3 })
  await shOk(`cd ${q(m.dir)} && echo data > a`)
  const r = await sh(`cd ${q(m.dir)} && ln a b`)
  t.not(r.code, 0)
  t.match(r.stderr, /Operation not permitted/)
  t.same(lines(await shOk(`ls ${q(m.dir)}`)), ['a'], 'nothing made')
})
