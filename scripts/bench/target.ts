// Where the benchmark's objects live, and the raw @aws-sdk/client-s3 side of it:
// seeding workloads behind the mount's back, the SDK baselines of bulk
// transfers, and removing everything afterwards.
//  - local (default): a throwaway Ceph radosgw (scripts/local-s3.ts) and a fresh bucket;
//  - remote (--endpoint URL --bucket B): a fresh prefix in that bucket, keys from the
//    environment; the prefix and any unfinished multipart upload under it are removed after.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import PQueue from 'p-queue'
import { killLocalS3Sync, startLocalS3, type LocalS3 } from '../local-s3.js'
import { resolveEndpoint } from '../../src/config.js'
import { MiB, messageOf, say } from './util.js'

export interface TargetOptions {
  /** another S3 server instead of the local one */
  endpoint?: string
  bucket?: string
  region?: string
  /** memstore capacity of the local server */
  memoryBytes: number
}

export interface Target {
  /** "local Ceph radosgw 18.2.1 (memstore, loopback)" or the remote endpoint */
  kind: string
  endpoint: string
  region: string
  bucket: string
  /** '' (local: the whole fresh bucket) or 'oortfs-bench-.../' (remote) */
  prefix: string
  /** the mount command's BUCKET[:/PREFIX] */
  mountSpec: string
  /** the environment mounts run with: the keys */
  env: NodeJS.ProcessEnv
  client: S3Client
  local?: LocalS3
  remote: boolean
}

export function rawClient (endpoint: string, region: string, credentials?: { accessKeyId: string, secretAccessKey: string }): S3Client {
  const agent = { keepAlive: true, maxSockets: 64 }
  return new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    ...(credentials ? { credentials } : {}),
    // else streamed PutObject goes aws-chunked with a CRC trailer: radosgw answers 411
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: new HttpAgent(agent), httpsAgent: new HttpsAgent(agent) },
  })
}

function cephVersion (): string {
  try {
    const out = execFileSync('radosgw', ['--version'], { encoding: 'utf8', timeout: 10_000 })
    return /ceph version (\S+)/.exec(out)?.[1] ?? '?'
  } catch {
    return '?'
  }
}

export async function openTarget (opts: TargetOptions): Promise<Target> {
  if (opts.endpoint !== undefined || opts.bucket !== undefined) {
    if (!opts.endpoint || !opts.bucket) throw new Error('--endpoint and --bucket go together')
    const endpoint = resolveEndpoint(opts.endpoint)
    const region = opts.region ?? 'us-east-1'
    const client = rawClient(endpoint, region)
    const prefix = `oortfs-bench-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}/`
    // proves the keys and the bucket before anything is created
    await client.send(new ListObjectsV2Command({ Bucket: opts.bucket, Prefix: prefix, MaxKeys: 1 }))
    return {
      kind: `remote S3 ${endpoint}`, endpoint, region, bucket: opts.bucket, prefix,
      mountSpec: `${opts.bucket}:/${prefix.slice(0, -1)}`, env: { ...process.env }, client, remote: true,
    }
  }
  say('starting the local S3 server (Ceph radosgw)...')
  const local = await startLocalS3({ memoryBytes: opts.memoryBytes })
  const credentials = { accessKeyId: local.accessKeyId, secretAccessKey: local.secretAccessKey }
  const client = rawClient(local.endpoint, local.region, credentials)
  const bucket = 'oortfs-bench'
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
  } catch (err) {
    client.destroy()
    await local.stop().catch(() => {})
    throw err
  }
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: local.accessKeyId, AWS_SECRET_ACCESS_KEY: local.secretAccessKey }
  delete env.AWS_SESSION_TOKEN
  delete env.AWS_PROFILE
  return {
    kind: `local Ceph radosgw ${cephVersion()} (one node, memstore, loopback)`, endpoint: local.endpoint, region: local.region,
    bucket, prefix: '', mountSpec: bucket, env, client, local, remote: false,
  }
}

/** stops the local server, or removes the remote prefix */
export async function closeTarget (t: Target): Promise<void> {
  try {
    if (t.local) await t.local.stop()
    else await deletePrefix(t, t.prefix)
  } finally {
    t.client.destroy()
  }
}

/** for process 'exit': SIGKILLs the local server (a remote prefix needs async work: left to closeTarget) */
export function closeTargetSync (t: Target): void {
  if (!t.local) return
  killLocalS3Sync(t.local)
  rmSync(t.local.dir, { recursive: true, force: true })
}

/** a queue for seeding: unthrottled locally, under the 100 req/s of OORT remotely */
function seedQueue (t: Target): PQueue {
  return t.remote ? new PQueue({ concurrency: 16, intervalCap: 80, interval: 1000 }) : new PQueue({ concurrency: 32 })
}

export async function putMany (t: Target, objects: Array<{ key: string, body: Buffer }>): Promise<void> {
  const queue = seedQueue(t)
  await Promise.all(objects.map(async o => await queue.add(async () => {
    await t.client.send(new PutObjectCommand({ Bucket: t.bucket, Key: t.prefix + o.key, Body: o.body, ContentLength: o.body.length }))
  })))
}

export async function listKeys (t: Target, rel: string): Promise<string[]> {
  const keys: string[] = []
  let token: string | undefined
  do {
    const out = await t.client.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: t.prefix + rel, ContinuationToken: token }))
    for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key.slice(t.prefix.length))
    token = out.IsTruncated ? out.NextContinuationToken : undefined
  } while (token)
  return keys
}

/** removes every object under prefix (absolute in the bucket) and aborts unfinished uploads there */
export async function deletePrefix (t: Target, absPrefix: string): Promise<void> {
  if (t.remote && !absPrefix.startsWith(t.prefix)) throw new Error(`refusing to delete outside ${t.prefix}`)
  let token: string | undefined
  do {
    const out = await t.client.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: absPrefix, ContinuationToken: token }))
    const keys = (out.Contents ?? []).map(o => ({ Key: o.Key! }))
    if (keys.length) await t.client.send(new DeleteObjectsCommand({ Bucket: t.bucket, Delete: { Objects: keys, Quiet: true } }))
    token = out.IsTruncated ? out.NextContinuationToken : undefined
  } while (token)
  try {
    const ups = await t.client.send(new ListMultipartUploadsCommand({ Bucket: t.bucket, Prefix: absPrefix }))
    for (const u of ups.Uploads ?? []) {
      await t.client.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: u.Key!, UploadId: u.UploadId! }))
    }
  } catch (err) {
    say(`could not list unfinished uploads under ${absPrefix}: ${messageOf(err)}`)
  }
}

/** deletes what is under a workload's folder (relative to the target's prefix) */
export async function deleteRel (t: Target, rel: string): Promise<void> {
  await deletePrefix(t, t.prefix + rel)
}

/** `size` bytes made of `chunk` repeated, as a stream */
export function patternStream (size: number, chunk: Buffer): Readable {
  let left = size
  return new Readable({
    read () {
      if (left <= 0) return void this.push(null)
      const n = Math.min(left, chunk.length)
      left -= n
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n))
    },
  })
}

export const PART_SIZE = 8 * MiB

/**
 * The SDK's own multipart upload (lib-storage Upload) of `size` bytes, same part
 * size and parallelism as the mount's defaults. Resolves with the seconds it took.
 */
export async function sdkUpload (t: Target, rel: string, size: number, chunk: Buffer, queueSize = 4): Promise<number> {
  const start = performance.now()
  const up = new Upload({
    client: t.client,
    params: { Bucket: t.bucket, Key: t.prefix + rel, Body: patternStream(size, chunk) },
    partSize: PART_SIZE,
    queueSize,
    leavePartsOnError: false,
  })
  await up.done()
  return (performance.now() - start) / 1000
}

/**
 * Reads a whole object with parallel ranged GETs (`parallel` at a time, `range`
 * bytes each), every body read to its end. Resolves with the seconds it took.
 */
export async function sdkRangedRead (t: Target, rel: string, size: number, parallel = 8, range = 8 * MiB): Promise<number> {
  const start = performance.now()
  let next = 0
  let got = 0
  const worker = async (): Promise<void> => {
    while (next < size) {
      const from = next
      next += range
      const to = Math.min(size, from + range) - 1
      const out = await t.client.send(new GetObjectCommand({ Bucket: t.bucket, Key: t.prefix + rel, Range: `bytes=${from}-${to}` }))
      for await (const c of out.Body as Readable) got += (c as Buffer).length
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  if (got !== size) throw new Error(`ranged read of ${rel} got ${got} bytes of ${size}`)
  return (performance.now() - start) / 1000
}
