// Every -o option, once: its type, default and meaning. The parser, --help and
// the README's option table (checked by a test) all read this table.

export type OptionType = 'string' | 'int' | 'number' | 'size' | 'octal' | 'flag' | 'enum'

export interface OptionSpec {
  name: string
  type: OptionType
  default?: string | number | boolean
  values?: readonly string[]
  /** one line for --help and the README */
  help: string
}

const MiB = 1024 * 1024

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'endpoint', type: 'string', default: 'standard', help: '`standard`, `archive` (the two OORT endpoints) or a URL; plain http only for a loopback host' },
  { name: 'region', type: 'string', default: 'us-east-1', help: 'signing region' },
  { name: 'profile', type: 'string', help: 'AWS shared-credentials profile to take the keys from' },
  { name: 'passwd_file', type: 'string', help: 's3fs-format key file (`ACCESS:SECRET` or `BUCKET:ACCESS:SECRET` lines); refused if group or others can read it' },
  { name: 'sigv2', type: 'flag', default: false, help: 'sign with AWS Signature Version 2 instead of 4' },
  { name: 'ro', type: 'flag', default: false, help: 'read-only mount: every write answers EROFS' },
  { name: 'uid', type: 'int', help: 'owner of files without stored metadata (default: the mounting user)' },
  { name: 'gid', type: 'int', help: 'group of files without stored metadata (default: the mounting group)' },
  { name: 'umask', type: 'octal', default: 0o022, help: 'permission bits to clear from the default modes (files 0666, directories 0777)' },
  { name: 'nonempty', type: 'flag', default: false, help: 'mount over a directory that is not empty, hiding its files while mounted (as s3fs allows)' },
  { name: 'allow_other', type: 'flag', default: false, help: 'let other users see the mount (needs user_allow_other in /etc/fuse.conf for non-root)' },
  { name: 'rps', type: 'number', default: 100, help: "the account's request rate limit, requests per second: this user's oortfs processes of one account on this machine share it (see Semantics)" },
  { name: 'concurrency', type: 'int', default: 32, help: 'requests in flight at once' },
  { name: 'retries', type: 'int', help: 'most attempts per request, whatever the time (default: no limit; `retry_time` and `op_timeout` decide)' },
  { name: 'retry_time', type: 'number', default: 60, help: 'seconds a read (GET, HEAD, listing) is retried through throttling, 5xx answers and network errors without progress before EIO; requests that change the server are retried for `op_timeout` (see Retries)' },
  { name: 'attr_ttl', type: 'number', default: 1, help: "the freshness bound: seconds a listing, attribute or missing name is trusted without asking the server again, so what other clients did longer ago than this is what the mount shows. Longer saves listings on buckets nobody else writes (see Semantics, What other clients see)" },
  { name: 'list_cache', type: 'int', default: 250_000, help: 'listing entries kept in memory, across all directories (about 1 KiB each): `find` over a bucket of millions of keys keeps the most recent ones' },
  { name: 'meta', type: 'enum', default: 'list', values: ['list', 'head'], help: '`list`: `ls -l` from listings alone; `head`: a HEAD per file and directory for exact s3fs metadata (buckets s3fs writes)' },
  { name: 'block_size', type: 'size', default: MiB / 4, help: 'read block size: the least a read fetches (a random 4 KiB read costs one GET of this)' },
  { name: 'cache_size', type: 'size', default: 256 * MiB, help: 'memory for read data: the block cache and the read-ahead on its way' },
  { name: 'readahead', type: 'size', default: 64 * MiB, help: 'largest read-ahead window of a sequential reader' },
  { name: 'read_shortcut', type: 'flag', default: true, help: 'answer reads of cached blocks in the FUSE threads, without a hand-off to JS per 128 KiB (`noread_shortcut`: every read through the core, as a check)' },
  { name: 'write_shortcut', type: 'flag', default: true, help: 'make writes into the staging file in the FUSE threads, then record them, without a hand-off to JS and its I/O pool per 128 KiB (`nowrite_shortcut`: every write through the core, as a check)' },
  { name: 'part_size', type: 'size', default: 8 * MiB, help: 'first multipart part size (grows for very large files)' },
  { name: 'upload_concurrency', type: 'int', default: 6, help: 'parts of one file uploading at once (each holds a part in memory)' },
  { name: 'staging_dir', type: 'string', help: 'directory in which each mount makes its private staging folder (default: this user\'s private folder in the system temp dir, or ~/.cache/oortfs if that one is not safely ours); never chmod-ed' },
  { name: 'path_style', type: 'flag', default: true, help: 'path-style addressing (`nopath_style` for virtual-hosted buckets)' },
  { name: 'op_timeout', type: 'number', default: 300, help: 'seconds a call may wait on the server before ETIMEDOUT; long calls (close, fsync, rename, unlink, write) wait as long as requests make progress, and fail after this long without any' },
  { name: 'log_level', type: 'enum', default: 'warn', values: ['error', 'warn', 'info', 'debug'], help: 'log detail; `-d` means debug' },
  { name: 'log_file', type: 'string', help: 'where a background mount logs, in a file made 0600 that SIGHUP reopens (default: syslog through logger(1), else oortfs.log in this user\'s runtime folder)' },
  { name: 'fsname', type: 'string', help: 'the name mount(8) and df show (default: BUCKET[:/PREFIX] as given, as fstab\'s first field)' },
]

/**
 * Mount flags the kernel enforces, handed to libfuse as they were given (the
 * last of a pair wins there too): noexec refuses to run programs, nosuid and
 * nodev drop setuid bits and devices, sync and dirsync are the kernel's.
 * relatime, strictatime and the diratime pair libfuse 2.9 does not know:
 * accepted, and nothing to do (oortfs never updates atime on reads).
 */
export const KERNEL_FLAGS = ['dev', 'nodev', 'suid', 'nosuid', 'exec', 'noexec', 'atime', 'noatime', 'sync', 'async', 'dirsync']

/** options only mount(8) and systemd understand: accepted and ignored */
export const MOUNT_ONLY_OPTIONS = [
  '_netdev', 'nofail', 'noauto', 'auto', 'user', 'users', 'nouser', 'owner', 'group', 'defaults', 'rw',
  'dev', 'nodev', 'suid', 'nosuid', 'exec', 'noexec', 'atime', 'noatime', 'relatime', 'norelatime',
  'strictatime', 'diratime', 'nodiratime', 'sync', 'async', 'dirsync', 'loud', 'silent', 'comment',
]

export function isMountOnlyOption (name: string): boolean {
  return MOUNT_ONLY_OPTIONS.includes(name) || name.startsWith('x-systemd.') || name.startsWith('x-') || name.startsWith('comment=')
}
