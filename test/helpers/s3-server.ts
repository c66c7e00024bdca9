// The real S3 server for tap tests. Under `tap` the before script has started one
// cluster for the whole run (see before.ts); a file run without it starts its own.

import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand,
  DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3'
import { isRunning, killLocalS3Sync, startLocalS3, type LocalS3, type LocalS3State } from '../../scripts/local-s3.js'
import { readState, sharedStateFile } from './s3-state.js'

export type LocalS3Info = LocalS3State

/** What we need of a tap Test: structural, so any tap version's `t` fits. */
export interface Teardown { teardown(fn: () => unknown): void }

let own: Promise<LocalS3> | undefined

function fromTapRun (): LocalS3Info | undefined {
  const state = readState(sharedStateFile())
  return state && isRunning(state) ? state : undefined
}

function info (s3: LocalS3): LocalS3Info {
  const { stop: _stop, ...state } = s3
  return state
}

async function startOwn (): Promise<LocalS3> {
  own ??= startLocalS3().then(s3 => {
    // last resort if nobody stopped it: 'exit' allows only sync work, so SIGKILL
    process.on('exit', () => { killLocalS3Sync(s3); rmSync(s3.dir, { recursive: true, force: true }) })
    return s3
  }, err => { own = undefined; throw err })
  return await own
}

/** The tap run's cluster, or one for this process (killed at process exit). */
export async function sharedS3 (): Promise<LocalS3Info> {
  return fromTapRun() ?? info(await startOwn())
}

/** Like sharedS3, but a cluster started here is stopped in t's teardown: pass the root `t`. */
export async function withS3 (t: Teardown): Promise<LocalS3Info> {
  const shared = fromTapRun()
  if (shared) return shared
  const first = own === undefined
  const s3 = await startOwn()
  if (first) t.teardown(async () => { own = undefined; await s3.stop() })
  return info(s3)
}

export function rawClient (s3: LocalS3Info): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    forcePathStyle: true,
    // else streamed PutObject goes aws-chunked with a CRC trailer: radosgw answers 411
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

let seq = 0

/** Creates a uniquely named bucket, emptied and deleted in t's teardown (memstore holds it in RAM). */
export async function newBucket (s3: LocalS3Info, t: Teardown, prefix = 'oortfs'): Promise<string> {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 30)
  const bucket = `${safe}-${process.pid}-${++seq}-${randomBytes(3).toString('hex')}`
  const client = rawClient(s3)
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  t.teardown(async () => {
    try { await deleteBucket(client, bucket) } catch { /* best effort: the cluster goes away anyway */ }
    client.destroy()
  })
  return bucket
}

/** Deletes every object and pending upload, then the bucket. */
export async function deleteBucket (client: S3Client, bucket: string): Promise<void> {
  for (;;) {
    // url encoding: keys with control characters are not valid XML otherwise
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, EncodingType: 'url' }))
    const keys = (page.Contents ?? []).map(o => decodeURIComponent((o.Key ?? '').replace(/\+/g, '%20')))
    if (keys.length === 0) break
    const plain = keys.filter(k => !/[\x00-\x1f]/.test(k))
    if (plain.length) {
      const res = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: plain.map(Key => ({ Key })), Quiet: true } }))
      if (res.Errors?.length) throw new Error(`DeleteObjects: ${res.Errors[0].Code} for ${res.Errors[0].Key}`)
    }
    // DeleteObjects cannot name keys with control characters (XML): one by one
    for (const Key of keys.filter(k => /[\x00-\x1f]/.test(k))) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }))
  }
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }))
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }))
}
