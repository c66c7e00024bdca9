// Wires one mount together from its Config: the S3 client, the request queue
// every request goes through, the gateway, and the filesystem core.
import type { Config } from './config-types.js'
import { describeLeftovers, makeStagingFolder, removeIfEmpty } from './staging-dir.js'
import { log } from './util/log.js'
import { createS3Client } from './s3/client.js'
import { ServerClock } from './s3/clock-skew.js'
import { budgetKey, HostBudget } from './s3/host-budget.js'
import { pickPrivateDir, runtimeDir } from './runtime-dir.js'
import { join } from 'node:path'
import { RawGetter } from './s3/raw-get.js'
import { S3Gateway } from './s3/gateway.js'
import { RequestQueue } from './s3/request-queue.js'
import { OortFs } from './fs/filesystem.js'
import type { FileSystem } from './fs/api.js'
import { FsError } from './errors.js'
import type { RecoveryReport } from './fs/rename-journal.js'
import { monotonic } from './util/clock.js'

export interface App {
  fs: FileSystem
  core: OortFs
  /** the core again, as the shortcuts' other side (fuse/mount.ts) */
  shortcuts: OortFs
  gateway: S3Gateway
  queue: RequestQueue
  stats(): Record<string, unknown>
  presign(relPath: string, expiresSeconds: number, method: 'GET' | 'PUT'): Promise<string>
  /** the first request (bucket and keys check) and recovery of interrupted renames */
  start(progress?: () => void): Promise<RecoveryReport>
  close(): Promise<void>
}

/** silence from the server (no byte of an answer) that fails one attempt, on the SDK's path and the direct GETs' alike */
const REQUEST_TIMEOUT_MS = 60_000

export async function buildApp (config: Config): Promise<App> {
  const queue = new RequestQueue({
    rps: config.rps,
    concurrency: config.concurrency,
    // reads as long as retry_time, writes as long as the calls waiting on them
    // (close, fsync, rename: op_timeout without progress, src/fuse/patience.ts)
    readMs: config.retryTimeMs,
    writeMs: config.opTimeoutMs,
    maxAttempts: config.retries,
    server: serverName(config.endpoint),
  })
  const serverClock = new ServerClock()
  const client = createS3Client({
    endpoint: config.endpoint,
    region: config.region,
    credentials: config.credentials,
    profile: config.profile,
    signature: config.signature,
    pathStyle: config.pathStyle,
    maxSockets: config.concurrency + 8,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    serverClock,
  })
  const budget = await shareBudget(config, queue)
  const gateway = new S3Gateway({
    bucket: config.bucket, client, queue,
    sigv2Credentials: config.signature === 'v2' ? config.credentials : undefined,
    serverClock,
    // V2 URLs are signed path-style (presign-v2.ts): a virtual-hosted V2 mount keeps the SDK's way
    raw: config.signature === 'v4' || config.pathStyle ? new RawGetter({ requestTimeoutMs: REQUEST_TIMEOUT_MS }) : undefined,
  })
  // no mount point (fsck): nothing is staged
  let stagingDir = ''
  if (config.mountpoint) {
    const staging = await makeStagingFolder(config.stagingParent, config.mountpoint)
    for (const line of describeLeftovers(staging, config.mountpoint)) log.warn(line)
    stagingDir = staging.dir
  }
  const core = new OortFs(gateway, { ...config, stagingDir })
  const started = monotonic()
  return {
    fs: core,
    core,
    shortcuts: core,
    gateway,
    queue,
    stats: () => ({
      bucket: config.bucket,
      prefix: config.prefix,
      endpoint: config.endpoint,
      uptimeSeconds: Math.round((monotonic() - started) / 1000),
      requests: queue.stats(),
      rpsLimit: config.rps,
      // this process's part of rps while other oortfs processes use the same account here
      rpsShare: budget?.share ?? config.rps,
      cache: { hits: core.cache.hits, misses: core.cache.misses, bytes: core.cache.bytes, shortcutReads: core.shortcutReads },
      shortcutWrites: core.shortcutWrites,
      dirtyBytes: core.dirtyBytes(),
      // background work that failed: retried, and reported at unmount if never done
      background: {
        deleteFailures: core.deletes.failures, deletesNotDone: core.deletes.unsent,
        attributeFailures: core.meta.failures, attributesNotDone: core.meta.unsent,
      },
      openFiles: core.files.count,
    }),
    presign: async (relPath, expiresSeconds, method) => {
      const path = relPath.startsWith('/') ? relPath : '/' + relPath
      if (method === 'GET') {
        const e = await core.entry(path)
        if (e.kind === 'dir') throw new FsError('EISDIR', 'a directory has no URL', path)
      }
      return gateway.presign(core.names.keyOf(path), { expiresSeconds, method })
    },
    start: progress => core.start(progress),
    close: async () => {
      await core.flushAll()
      // everything saved: an empty staging folder need not outlive the mount
      if (stagingDir) await removeIfEmpty(stagingDir)
      await budget?.close()
    },
  }
}

/** the endpoint as the log names it: scheme, host and port (a URL's user part, if any, left out) */
function serverName (endpoint: string): string {
  try {
    const u = new URL(endpoint)
    return `${u.protocol}//${u.host}`
  } catch {
    return 'the S3 server'
  }
}

/**
 * Joins the account's budget on this machine (host-budget.ts). Without it (a
 * runtime folder we cannot use) the process keeps its whole rps, and says so.
 */
async function shareBudget (config: Config, queue: RequestQueue): Promise<HostBudget | undefined> {
  // the account: its access key, or, for keys the AWS chain finds later, the profile that names them
  const account = config.credentials?.accessKeyId ?? `profile:${config.profile ?? ''}`
  try {
    // inside the private runtime folder, made and checked as private as it is
    const dir = await pickPrivateDir([join(await runtimeDir(), 'budget', budgetKey(config.endpoint, account))], 'the request budget', true)
    return await HostBudget.join(dir, config.rps, (share, members) => {
      queue.limiter.setMax(share)
      log.debug(members > 1
        ? `${members} oortfs processes of this user use this account on this machine: this one sends up to ${share} requests/s of rps=${config.rps}`
        : `no other oortfs process uses this account on this machine: up to ${share} requests/s`)
    })
  } catch (err) {
    log.warn(`cannot share the request budget with other oortfs processes (${(err as Error).message}): this one assumes the whole rps=${config.rps}`)
    return undefined
  }
}
