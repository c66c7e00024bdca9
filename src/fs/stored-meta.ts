// The attributes an object really has on the server. A listing only guesses
// them (it carries no user metadata); what we wrote or HEADed is known. A
// rewrite must start from the real ones, or it would drop what others stored.
import { FsError } from '../errors.js'
import { Priority } from '../s3/store.js'
import type { FsContext } from './context.js'
import type { Entry } from './entry.js'
import { decodeMeta, type Meta } from './metadata.js'

export interface StoredMeta {
  meta: Meta
  /** every x-amz-meta header, ours and others' */
  headers: Record<string, string>
  contentType?: string
  /** the entry as the server has it now (a HEAD may show a newer version than the listing did) */
  entry: Entry
  /** a directory's: the object that holds its attributes, if there is one (else a new `dir/` marker will) */
  dirObject?: { key: string, size: number }
}

/** the stored attributes and headers of an entry, asking the server (one HEAD) if we only guessed them */
export async function storedMeta (ctx: FsContext, path: string, e: Entry): Promise<StoredMeta> {
  if (e.kind === 'dir') return storedDirMeta(ctx, e)
  if (e.metaKnown && e.headers) return { meta: e.meta ?? {}, headers: e.headers, contentType: e.contentType, entry: e }
  const h = await ctx.store.head(e.key, { priority: Priority.Metadata })
  if (!h) throw new FsError('ENOENT', 'removed meanwhile', path)
  const meta = decodeMeta(h.metadata)
  const entry: Entry = { ...e, size: h.size, etag: h.etag, meta, metaKnown: true, headers: h.metadata, contentType: h.contentType }
  ctx.ns.changed(path, entry)
  return { meta, headers: h.metadata, contentType: h.contentType, entry }
}

/**
 * A directory's attributes live on its own object: another tool's old form
 * (`dir_$folder$`, a slashless `dir`: dir-objects.ts) or its `dir/` marker,
 * whose headers (s3fs's, a console's) and Content-Type must survive a chmod.
 * Headers known (our own marker, a HEAD) cost nothing; else one HEAD.
 */
async function storedDirMeta (ctx: FsContext, e: Entry): Promise<StoredMeta> {
  const key = e.object ?? e.key
  if (e.metaKnown && e.headers) {
    return { meta: e.meta ?? {}, headers: e.headers, contentType: e.contentType, entry: e, dirObject: { key, size: 0 } }
  }
  const h = await ctx.store.head(key, { priority: Priority.Metadata })
  // no object at all (a directory only implied by deeper keys): what the index said, on a new marker
  if (!h) return { meta: e.meta ?? {}, headers: {}, entry: { ...e, object: undefined }, dirObject: undefined }
  const meta = decodeMeta(h.metadata)
  const entry: Entry = { ...e, meta, metaKnown: true, headers: h.metadata, contentType: h.contentType }
  return { meta, headers: h.metadata, contentType: h.contentType, entry, dirObject: { key, size: h.size } }
}
