// meta=head: after a listing, one HEAD per file whose stored attributes we do
// not already know, for buckets written by s3fs where modes and owners matter
// more than requests. The queue paces them like any other request.
import type { ObjectStore } from '../s3/store.js'
import { Priority } from '../s3/store.js'
import type { ParsedPage } from './entry.js'
import { decodeMeta } from './metadata.js'
import type { MetaSource } from './namespace.js'

export class HeadMetaSource implements MetaSource {
  constructor (private readonly store: ObjectStore) {}

  async enrich (_dir: string, _prefix: string, listing: ParsedPage): Promise<void> {
    const jobs: Promise<void>[] = []
    for (const [name, e] of listing.entries) {
      if (e.kind !== 'file' || e.metaKnown) continue
      jobs.push(this.store.head(e.key, { priority: Priority.Metadata }).then(h => {
        if (h) listing.entries.set(name, { ...e, meta: decodeMeta(h.metadata), metaKnown: true })
      }))
    }
    await Promise.all(jobs)
  }
}
