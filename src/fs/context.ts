// What the parts of the filesystem share, as one narrow record: the store, the
// names, the namespace and the mount's settings. Each part takes this (and the
// owners it asks, by interface), never the OortFs that built it, so the import
// graph has no circles: filesystem -> tree-ops / attr-ops -> open-files ->
// namespace, meta-writer, delete-batcher.
import type { Config } from '../config-types.js'
import { FsError } from '../errors.js'
import type { ObjectStore } from '../s3/store.js'
import { S_IFDIR, S_IFREG } from './metadata.js'
import type { Names } from './names.js'
import type { Namespace } from './namespace.js'
import type { Entry } from './entry.js'

/** the mount's settings the core uses, as config-types.ts defines them */
export type CoreOptions = Pick<Config, 'prefix' | 'readOnly' | 'uid' | 'gid' | 'umask' | 'attrTtlMs' | 'metaMode' |
  'blockSize' | 'cacheSize' | 'readahead' | 'partSize' | 'uploadConcurrency'> & {
  /** this process's own staging folder (staging-dir.ts) */
  stagingDir: string
  /** the listing cache's bound (default: dir-cache.ts's MAX_CACHED_ENTRIES) */
  listCacheEntries?: number
}

/** told of every change of a directory's entries: its mtime and ctime move (write/dir-times.ts) */
export interface DirChanges {
  /** an entry of dir was created, removed or renamed */
  entryChanged(dir: string): void
  /** the mount root's entry, with its stored attributes (read once) */
  rootEntry(): Promise<Entry>
}

export interface FsContext {
  readonly store: ObjectStore
  readonly names: Names
  readonly ns: Namespace
  readonly opts: CoreOptions
  readonly now: () => number
  readonly dirs: DirChanges
}

/** throws EROFS on a read-only mount */
export function writable (ctx: FsContext, path: string): void {
  if (ctx.opts.readOnly) throw new FsError('EROFS', 'mounted read-only', path)
}

/** the mode of a file or directory without a stored one */
export function defaultMode (ctx: FsContext, kind: 'file' | 'dir'): number {
  return kind === 'dir' ? S_IFDIR | (0o777 & ~ctx.opts.umask) : S_IFREG | (0o666 & ~ctx.opts.umask)
}
