// A `-o sigv2` mount doing real work against Ceph, which verifies V2
// signatures (a signing mistake is a 403 SignatureDoesNotMatch). A recording
// proxy between the two proves every request was V2-signed and none refused.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { objectBytes, objectMd5, q, recordingProxy, shOk } from '../helpers/ops.js'

ensureBuilt()
const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))

async function keys (bucket: string, prefix = ''): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
  return (out.Contents ?? []).map(o => o.Key!).filter(k => !k.includes('.oortfs-')).sort()
}

/** the keys once they are `want` (deletes leave in batches, within a moment), or as they are after 5 s */
async function keysBecome (bucket: string, want: string[], prefix = ''): Promise<string[]> {
  let got = await keys(bucket, prefix)
  for (const end = Date.now() + 5000; JSON.stringify(got) !== JSON.stringify(want) && Date.now() < end;) {
    await new Promise(r => setTimeout(r, 100))
    got = await keys(bucket, prefix)
  }
  return got
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex')

t.test('a real workload under sigv2', async t => {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'sigv2')
  const proxy = await recordingProxy(s3.endpoint, t)
  const fg = spawnForeground([bucket, mnt, '-d', '-o', `endpoint=${proxy.url},sigv2`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  t.ok(await waitFor(() => isMounted(mnt), 15_000), `mounted: ${fg.stderr().slice(-500)}`)
  const m = (p: string): string => q(join(mnt, p))

  t.equal(await shOk(`ls -A ${m('')}`), '', 'ls of the empty bucket')

  // small files with awkward names: in, listed, back out
  const names = ['plain.txt', 'a b.txt', 'c+d.txt', 'e%f.txt', '100%25.txt', 'g#h.txt', 'ü ñ 日本.txt', "p(q)!'*.txt", 'x~y=z&w.txt']
  const local = join(work, 'small.txt')
  writeFileSync(local, 'small file\n')
  for (const n of names) await shOk(`cp ${q(local)} ${m(n)}`)
  t.same(await keys(bucket), [...names].sort(), 'the keys are exactly the names')
  t.same((await shOk(`ls ${m('')}`)).split('\n').filter(Boolean).sort(), [...names].sort(), 'ls lists them')
  for (const n of names) t.equal(await shOk(`cat ${m(n)}`), 'small file\n', `cat ${n}`)

  // a multipart file (20 MiB: three parts of 8 MiB), read back
  await shOk(`mkdir ${m('dir')}`) // never a sync call on the mount: the proxy runs in this process
  const big = randomBytes(20 * 2 ** 20)
  writeFileSync(join(work, 'big.bin'), big)
  await shOk(`cp ${q(join(work, 'big.bin'))} ${m('dir/big file.bin')}`)
  t.equal(await objectMd5(client, bucket, 'dir/big file.bin'), md5(big), 'the multipart upload is whole')
  t.equal((await shOk(`md5sum < ${m('dir/big file.bin')}`)).slice(0, 32), md5(big), 'and reads back')

  // a 1 MiB rewrite in the middle: the unchanged parts are copied server-side (UploadPartCopy)
  const patch = randomBytes(2 ** 20)
  writeFileSync(join(work, 'patch.bin'), patch)
  await shOk(`dd if=${q(join(work, 'patch.bin'))} of=${m('dir/big file.bin')} bs=1M seek=12 conv=notrunc status=none`)
  patch.copy(big, 12 * 2 ** 20)
  t.equal(await objectMd5(client, bucket, 'dir/big file.bin'), md5(big), 'rewritten in place')

  // chmod: a CopyObject onto itself with new metadata
  await shOk(`chmod 640 ${m('dir/big file.bin')} ${m('c+d.txt')}`)
  const modes = await waitFor(() => false, 2500).then(() => Promise.all(['dir/big file.bin', 'c+d.txt'].map(k =>
    client.send(new HeadObjectCommand({ Bucket: bucket, Key: k })).then(h => h.Metadata?.mode))))
  t.same(modes, [String(0o100640), String(0o100640)], 'x-amz-meta-mode on the server')
  t.match(await shOk(`stat -c %a ${m('c+d.txt')}`), /^640\n$/)

  // renames: a file (copy, delete), then a directory
  await shOk(`mv ${m('a b.txt')} ${m('dir/renamed ü+.txt')}`)
  await shOk(`mv ${m('dir')} ${m('dir two')}`)
  const moved = ['dir two/', 'dir two/big file.bin', 'dir two/renamed ü+.txt'].sort()
  t.same(await keysBecome(bucket, moved, 'dir'), moved, 'moved')
  t.equal((await objectBytes(client, bucket, 'dir two/renamed ü+.txt')).toString(), 'small file\n')

  // removals: one file, then a tree (DeleteObjects)
  await shOk(`rm ${m('e%f.txt')}`)
  await shOk(`rm -r ${m('dir two')}`)
  await shOk(`rm ${m("p(q)!'*.txt")} ${m('g#h.txt')} ${m('100%25.txt')}`)
  const left = ['c+d.txt', 'plain.txt', 'x~y=z&w.txt', 'ü ñ 日本.txt'].sort()
  t.same(await keysBecome(bucket, left), left, 'removed')

  // every request was signed with V2, and the server accepted every signature
  const seen = proxy.seen
  t.ok(seen.length > 30, `${seen.length} requests`)
  // data GETs go straight from the socket (raw-get.ts), signed in their URL as a V2 presigned one is
  const signedInUrl = (q: URLSearchParams): boolean => q.get('AWSAccessKeyId') === s3.accessKeyId && q.has('Signature') && q.has('Expires')
  const v2 = (r: { method: string, url: string, auth: string }): boolean => r.auth.startsWith(`AWS ${s3.accessKeyId}:`) ||
    (!r.auth && r.method === 'GET' && signedInUrl(new URL(r.url, 'http://x').searchParams))
  t.same(seen.filter(r => !v2(r)).map(r => `${r.method} ${r.url} ${r.auth.slice(0, 20)}`), [], 'all signed V2')
  t.ok(seen.some(r => !r.auth && r.method === 'GET'), 'data GETs among them, signed in their URLs')
  t.same(seen.filter(r => r.status === 403).map(r => `${r.method} ${r.url}`), [], 'no 403')
  const kinds = (re: RegExp): number => seen.filter(r => re.test(`${r.method} ${r.url}`)).length
  t.ok(kinds(/^POST .*[?&]uploads(=|&|$)/) >= 2, 'CreateMultipartUpload (?uploads)')
  t.ok(kinds(/^PUT .*[?&]partNumber=\d+.*uploadId=|^PUT .*[?&]uploadId=.*partNumber=/) >= 3, 'UploadPart (?partNumber&uploadId)')
  t.ok(kinds(/^POST .*[?&]uploadId=/) >= 2, 'CompleteMultipartUpload')
  t.ok(kinds(/^POST .*[?&]delete(=|&|$)/) >= 1, 'DeleteObjects (?delete)')
  t.ok(kinds(/^GET .*[?&]list-type=2/) >= 1, 'ListObjectsV2')

  // the debug log: every S3 request, never a secret
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0)
  const log = fg.stderr()
  t.match(log, /debug: S3 UploadPartCopy PUT \/\S+\/dir\/big%20file\.bin\?(partNumber=\d+&uploadId=\S+|uploadId=\S+&partNumber=\d+) -> 200/)
  for (const secret of [s3.secretAccessKey, 'Signature', 'Authorization', `AWS ${s3.accessKeyId}:`]) t.notOk(log.includes(secret), `no ${secret === s3.secretAccessKey ? 'secret key' : secret} in the log`)
})

t.test('a wrong secret under sigv2 is refused in one line', async t => {
  const mnt = join(tmpDir(t), 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'sigv2-keys')
  const bad = await runCli([bucket, mnt, '-o', `endpoint=${s3.endpoint},sigv2`], { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' })
  t.equal(bad.code, 1)
  t.match(bad.stderr, /^oortfs: the secret key does not match the access key; check the keys from environment \(AWS_ACCESS_KEY_ID\)\n$/)
  const unknown = await runCli([bucket, mnt, '-o', `endpoint=${s3.endpoint},sigv2`], { ...env, AWS_ACCESS_KEY_ID: 'nobody' })
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /^oortfs: the server does not know the access key/)
  t.notOk(isMounted(mnt))
})
