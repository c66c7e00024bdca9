// `find`, `du` and `ls -R` read every directory of a tree, one listing each.
// Once a walk is noticed, one recursive listing of the subtree (no delimiter,
// 1,000 keys a page, in key order) answers them all: a directory is complete as
// soon as the listing has passed its last key, and since keys come sorted, the
// only incomplete ones are the ancestors of the last key seen.
import type { ListPage, ObjectStore, ObjectSummary } from '../s3/store.js'
import { Priority } from '../s3/store.js'
import { compareKeys } from './names.js'

interface Partial {
  objects: ObjectSummary[]
  prefixes: Set<string>
  /** when the first page showing a key of it was asked for: what it holds is as of then */
  at: number
}

export interface CompletedDir {
  dirPrefix: string
  page: ListPage
  /** as of when (monotonic): the first page that showed a key of it, which may be seconds ago */
  at: number
}

export class TreeWalk {
  private token?: string
  private lastKey?: string
  private started = false
  done = false
  readonly startedAt: number
  lastUsed: number
  private readonly partial = new Map<string, Partial>()

  constructor (
    private readonly store: ObjectStore,
    /** the walked directory's key prefix ('' or ending in '/') */
    readonly rootPrefix: string,
    now: number,
  ) {
    this.startedAt = now
    this.lastUsed = now
  }

  covers (dirPrefix: string): boolean {
    return dirPrefix.startsWith(this.rootPrefix)
  }

  /** every key under dirPrefix has been seen */
  complete (dirPrefix: string): boolean {
    if (this.done) return true
    return this.lastKey !== undefined && compareKeys(this.lastKey, dirPrefix) > 0 && !this.lastKey.startsWith(dirPrefix)
  }

  /**
   * Lists on until dirPrefix is complete, at most maxPages pages; returns the
   * directories completed on the way, each as a delimiter listing page would show it.
   */
  async advance (dirPrefix: string, maxPages: number, now: number): Promise<CompletedDir[]> {
    this.lastUsed = now
    const out: CompletedDir[] = []
    for (let pages = 0; pages < maxPages && !this.complete(dirPrefix); pages++) {
      if (this.started && !this.token) break
      this.started = true
      const page = await this.store.list({ prefix: this.rootPrefix, continuationToken: this.token }, { priority: Priority.Metadata })
      for (const o of page.objects) this.add(o, now)
      this.token = page.truncated ? page.nextToken : undefined
      if (page.objects.length) this.lastKey = page.objects[page.objects.length - 1]!.key
      if (!this.token) this.done = true
      out.push(...this.harvest())
    }
    return out
  }

  private dir (prefix: string, now: number): Partial {
    let p = this.partial.get(prefix)
    if (!p) { p = { objects: [], prefixes: new Set(), at: now }; this.partial.set(prefix, p) }
    return p
  }

  /** files the key in its directory, and registers each directory on its way down */
  private add (o: ObjectSummary, now: number): void {
    let dirPrefix = this.rootPrefix
    this.dir(dirPrefix, now)
    for (;;) {
      if (o.key === dirPrefix) { this.dir(dirPrefix, now).objects.push(o); return } // the directory's marker
      const slash = o.key.indexOf('/', dirPrefix.length)
      if (slash < 0) { this.dir(dirPrefix, now).objects.push(o); return }
      // an empty segment ('a//b'): shown as a delimiter listing shows it, so
      // parsePage leaves it out and the log names it, never silently
      if (slash === dirPrefix.length) { this.dir(dirPrefix, now).prefixes.add(o.key.slice(0, slash + 1)); return }
      const sub = o.key.slice(0, slash + 1)
      this.dir(dirPrefix, now).prefixes.add(sub)
      dirPrefix = sub
      this.dir(dirPrefix, now)
    }
  }

  /** directories the listing has moved past: the ancestors of the last key are still open */
  private harvest (): CompletedDir[] {
    const out: CompletedDir[] = []
    for (const [prefix, p] of this.partial) {
      if (!this.complete(prefix)) continue
      out.push({ dirPrefix: prefix, page: { objects: p.objects, prefixes: [...p.prefixes], truncated: false }, at: p.at })
      this.partial.delete(prefix)
    }
    return out
  }
}
