// Proves the local S3 server is a real one: signatures are checked, listings and
// UploadPartCopy behave like S3, deleted data is garbage-collected, cleanup works.

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  HeadBucketCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, UploadPartCopyCommand,
} from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3, deleteBucket } from '../helpers/s3-server.js'

const s3 = await withS3(t)
t.comment(`S3 at ${s3.endpoint} (${s3.dir})`)
const client = rawClient(s3)
t.teardown(() => client.destroy())

t.test('SigV4 put, get, list round trip', async t => {
  const Bucket = await newBucket(s3, t)
  await client.send(new PutObjectCommand({ Bucket, Key: 'dir/hello.txt', Body: 'hello world', Metadata: { Mode: '644' } }))
  const got = await client.send(new GetObjectCommand({ Bucket, Key: 'dir/hello.txt' }))
  t.equal(await got.Body?.transformToString(), 'hello world')
  t.equal(got.ETag, '"5eb63bbbe01eeed093cb22bb8f5acdc3"', 'ETag is the quoted md5')
  t.same(got.Metadata, { mode: '644' }, 'metadata names come back lowercased')
  const list = await client.send(new ListObjectsV2Command({ Bucket }))
  t.same(list.Contents?.map(o => [o.Key, o.Size]), [['dir/hello.txt', 11]])
})

t.test('a wrong secret is refused with 403 SignatureDoesNotMatch', async t => {
  const Bucket = await newBucket(s3, t)
  const bad = rawClient({ ...s3, secretAccessKey: 'not-the-secret' })
  t.teardown(() => bad.destroy())
  await t.resolves(client.send(new HeadBucketCommand({ Bucket })), 'the right secret works')
  await t.rejects(bad.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x' })), {
    name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 },
  })
})

t.test('delimiter listing shows a prefix that has only deeper keys', async t => {
  const Bucket = await newBucket(s3, t)
  await client.send(new PutObjectCommand({ Bucket, Key: 'x/y/z', Body: 'deep' }))
  const top = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/' }))
  t.same(top.CommonPrefixes?.map(p => p.Prefix), ['x/'])
  t.equal(top.Contents, undefined)
  const x = await client.send(new ListObjectsV2Command({ Bucket, Delimiter: '/', Prefix: 'x/' }))
  t.same(x.CommonPrefixes?.map(p => p.Prefix), ['x/y/'])
})

t.test('UploadPartCopy builds an object from a range of another', async t => {
  const Bucket = await newBucket(s3, t)
  const MiB = 1024 * 1024
  const src = Buffer.alloc(6 * MiB)
  for (let i = 0; i < src.length; i += 4) src.writeUInt32LE(i, i)
  await client.send(new PutObjectCommand({ Bucket, Key: 'src', Body: src }))
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'dst' }))
  const p1 = await client.send(new UploadPartCopyCommand({
    Bucket, Key: 'dst', UploadId, PartNumber: 1, CopySource: `${Bucket}/src`, CopySourceRange: `bytes=0-${5 * MiB - 1}`,
  }))
  const p2 = await client.send(new UploadPartCommand({ Bucket, Key: 'dst', UploadId, PartNumber: 2, Body: 'tail' }))
  await client.send(new CompleteMultipartUploadCommand({
    Bucket, Key: 'dst', UploadId,
    MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult?.ETag }, { PartNumber: 2, ETag: p2.ETag }] },
  }))
  const got = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket, Key: 'dst' }))).Body!.transformToByteArray())
  t.equal(got.length, 5 * MiB + 4)
  t.ok(got.subarray(0, 5 * MiB).equals(src.subarray(0, 5 * MiB)), 'copied range')
  t.equal(got.subarray(5 * MiB).toString(), 'tail')
})

t.test('deleted data is garbage-collected within seconds (memstore keeps it in RAM until then)', async t => {
  const Bucket = await newBucket(s3, t)
  // over 4 MiB: radosgw stores a tail, which only gc removes
  await client.send(new PutObjectCommand({ Bucket, Key: 'big', Body: Buffer.alloc(12 * 1024 * 1024, 1) }))
  const stats = JSON.parse(await ceph('radosgw-admin', 'bucket', 'stats', `--bucket=${Bucket}`)) as { marker: string }
  const count = async (): Promise<number> => (await ceph('rados', '-p', 'default.rgw.buckets.data', 'ls'))
    .split('\n').filter(name => name.startsWith(stats.marker + '_')).length
  const before = await count()
  t.ok(before > 1, `head and tail objects: ${before}`)
  await client.send(new DeleteObjectCommand({ Bucket, Key: 'big' }))
  const deadline = Date.now() + 30_000
  while (await count() > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(await count(), 0, 'no RADOS object of the bucket is left')
})

t.test('deleteBucket empties buckets with awkward keys', async t => {
  const Bucket = await newBucket(s3, { teardown: () => {} })
  for (const Key of ['a b', 'plus+sign', 'pct%41', 'hash#', 'ünï/cödé', 'ctl\x01char', 'dir/']) {
    await client.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }))
  }
  await client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'pending' }))
  await deleteBucket(client, Bucket)
  await t.rejects(client.send(new HeadBucketCommand({ Bucket })), { name: 'NotFound', $metadata: { httpStatusCode: 404 } })
})

/** Runs a ceph tool against the test cluster, returns its stdout. */
async function ceph (cmd: string, ...args: string[]): Promise<string> {
  return (await promisify(execFile)(cmd, ['-c', `${s3.dir}/ceph.conf`, ...args], { maxBuffer: 64 << 20 })).stdout
}
