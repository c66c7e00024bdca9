// meta=head: one HEAD per file and directory marker whose stored attributes we
// do not already know, after a listing or a lookup, for buckets written by s3fs
// where modes, owners and symlinks matter more than requests. The queue paces
// them like any other request.
import type { ObjectStore } from '../s3/store.js'
import { Priority } from '../s3/store.js'
import type { Entry, ParsedPage } from './entry.js'
import { decodeMeta } from './metadata.js'
import type { MetaSource } from './namespace.js'

export class HeadMetaSource implements MetaSource {
  constructor (private readonly store: ObjectStore) {}

  async enrich (_dir: string, _prefix: string, listing: ParsedPage): Promise<void> {
    await Promise.all([...listing.entries].map(async ([name, e]) => {
      listing.entries.set(name, await this.headOf(e))
    }))
  }

  enrichOne (_dir: string, _prefix: string, _name: string, e: Entry): Promise<Entry> {
    return this.headOf(e)
  }

  /** a directory's attributes live on its `dir/` marker; one with none keeps the defaults */
  private async headOf (e: Entry): Promise<Entry> {
    if (e.metaKnown) return e
    // a directory another tool wrote keeps its attributes on its own object (dir-objects.ts)
    const h = await this.store.head(e.object ?? e.key, { priority: Priority.Metadata })
    if (!h) return e.kind === 'dir' ? { ...e, meta: {}, metaKnown: true } : e
    return { ...e, meta: decodeMeta(h.metadata), metaKnown: true, headers: h.metadata, contentType: h.contentType, replaced: undefined }
  }
}
