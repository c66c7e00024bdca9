// The one validated configuration of a mount. Built by config.ts from argv,
// the environment and key files; nothing else reads argv or the environment.
import type { Credentials } from './s3/client.js'
import type { LogLevel } from './util/log.js'
import type { CredentialAttempt } from './credentials.js'

export interface Config {
  bucket: string
  /** '' or a key prefix ending in '/', e.g. 'photos/2024/' */
  prefix: string
  /** absolute path; '' for commands that do not mount (fsck) */
  mountpoint: string
  foreground: boolean

  endpoint: string
  region: string
  /** undefined: the AWS default chain (with `profile` when given) */
  credentials?: Credentials
  profile?: string
  /** a human-readable note of where the keys came from, never the keys */
  credentialSource: string
  /** every credential source in order and what came of it (for -d and --explain-credentials), never a secret */
  credentialsTried: CredentialAttempt[]
  signature: 'v4' | 'v2'
  pathStyle: boolean

  readOnly: boolean
  uid: number
  gid: number
  umask: number
  allowOther: boolean
  /** mount over a non-empty directory */
  nonEmpty: boolean

  rps: number
  concurrency: number
  /** most attempts per request (retries=); undefined: time alone decides */
  retries?: number
  /** how long a read is retried without progress (retry_time=) */
  retryTimeMs: number
  attrTtlMs: number
  /** listing entries the directory cache holds at most */
  listCacheEntries: number
  metaMode: 'list' | 'head'

  blockSize: number
  cacheSize: number
  readahead: number
  /** reads of cached blocks answered in the FUSE threads (native-shortcuts.ts) */
  readShortcut: boolean
  /** writes made into the staging file in the FUSE threads (native-shortcuts.ts) */
  writeShortcut: boolean
  partSize: number
  uploadConcurrency: number
  /** where the mounting process makes its own staging folder (staging-dir.ts) */
  stagingParent: string
  /** noexec, nosuid, nodev, sync... as given: handed to the kernel */
  kernelFlags: string[]

  opTimeoutMs: number
  logLevel: LogLevel
  logFile?: string
  fsname: string
}
