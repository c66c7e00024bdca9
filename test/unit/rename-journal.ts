// Whose rename is it? A journal is finished only when nobody else will finish
// it: its writer failed in this process, died on this host, or stopped
// rewriting it (another host's mount in the middle of a large rename keeps it
// fresh, and is left alone). A running rename rewrites its journal, and stops
// when it ends or gives up.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { RenameJournal, STALE_MS } from '../../src/fs/rename-journal.js'
import { JOURNAL_DIR } from '../../src/fs/names.js'
import { FakeStore } from '../helpers/fake-store.js'
import { serverError } from '../helpers/fake-errors.js'
import { makeFs } from '../helpers/make-fs.js'

/** a store whose clock the test moves, holding a half-done rename of old/ to new/ by `writer` */
function halfDone (writer: { host?: string, pid?: number }): { store: FakeStore, clock: { ms: number } } {
  const clock = { ms: Date.parse('2026-11-25T10:00:00Z') }
  const store = new FakeStore({ now: () => clock.ms })
  for (let i = 0; i < 4; i++) store.putText(`old/f${i}`, `file ${i}`)
  store.putText('new/f0', 'file 0')
  store.putText(`${JOURNAL_DIR}/1-x.json`, JSON.stringify({ v: 1, op: 'rename-dir', from: 'old/', to: 'new/', started: '2026-11-25T09:59:00Z', ...writer }))
  return { store, clock }
}

const journals = (store: FakeStore): string[] => store.keys().filter(k => k.startsWith(JOURNAL_DIR + '/'))
const deadPid = (): number => spawnSync('true').pid!

t.test('another host\'s fresh journal is a rename running there: left alone until it goes stale', async t => {
  const { store, clock } = halfDone({ host: 'elsewhere', pid: 4242 })
  clock.ms += 20_000
  const first = await new RenameJournal(store).recover()
  t.same([first.renames.length, first.running], [0, [{ from: 'old/', to: 'new/', host: 'elsewhere', pid: 4242, beatAgo: 20 }]], 'reported as running')
  t.equal(store.keys().filter(k => k.startsWith('old/')).length, 4, 'its keys untouched')
  t.match(RenameJournal.describe(first), [/^left alone: the rename of old\/ to new\/ is running \(process 4242 on elsewhere, journal rewritten 20 s ago\)/])

  clock.ms += STALE_MS
  const later = await new RenameJournal(store).recover()
  t.same([later.renames.length, later.running.length], [1, 0], `not rewritten for ${STALE_MS / 1000} s: finished`)
  t.match(later.renames, [{ copied: 3, alreadyThere: 1, kept: [] }])
  t.same(store.keys().filter(k => k.startsWith('old/')), [])
  t.same(journals(store), [], 'and its journal removed')
})

t.test('this host, a process that is gone: finished at once, however fresh', async t => {
  const { store } = halfDone({ host: hostname(), pid: deadPid() })
  const r = await new RenameJournal(store).recover()
  t.same([r.renames.length, r.running.length], [1, 0])
  t.same(store.keys().filter(k => k.startsWith('new/')).length, 4)
})

t.test('this host, a process that runs: left alone while fresh', async t => {
  const { store } = halfDone({ host: hostname(), pid: process.ppid })
  const r = await new RenameJournal(store).recover()
  t.same([r.renames.length, r.running.length], [0, 1])
})

t.test('this process\'s own journal (its rename failed) and an older oortfs\'s journal once stale', async t => {
  const own = halfDone({ host: hostname(), pid: process.pid })
  t.equal((await new RenameJournal(own.store).recover()).renames.length, 1, 'its own: finished')
  const old = halfDone({})
  t.equal((await new RenameJournal(old.store).recover()).running.length, 1, 'no writer named, fresh: left alone')
  old.clock.ms += STALE_MS + 1000
  t.equal((await new RenameJournal(old.store).recover()).renames.length, 1, 'stale: finished')
})

t.test('a running rename rewrites its journal, and stops when it ends', async t => {
  const store = new FakeStore()
  const puts: string[] = []
  store.onRequest = (op, key) => { if (op === 'PutObject') puts.push(key) }
  const journal = new RenameJournal(store, 40)
  const entry = await journal.begin('a/', 'b/')
  const record = JSON.parse(store.object(entry.key)!.body.toString()) as { host: string, pid: number }
  t.same([record.host, record.pid], [hostname(), process.pid], 'the journal names its writer')
  await sleep(200)
  t.ok(puts.length >= 4, `written, then rewritten while it runs (${puts.length} puts)`)
  await journal.end(entry)
  const n = puts.length
  await sleep(150)
  t.equal(puts.length, n, 'no rewrite after the end')
  t.same(journals(store), [], 'and no journal')
})

t.test('a rename that fails half way leaves its journal, no longer rewritten', async t => {
  const { makeFs } = await import('../helpers/make-fs.js')
  const { fs, store } = makeFs(undefined, { journalBeatMs: 20 })
  for (let i = 0; i < 10; i++) store.putText(`d/f${i}`, `content ${i}`)
  await fs.readdir('/')
  let copies = 0
  store.onRequest = op => { if (op === 'CopyObject' && ++copies > 4) throw new Error('crash') }
  await t.rejects(fs.rename('/d', '/e'))
  store.onRequest = undefined
  const [key] = journals(store)
  t.ok(key, 'the journal stays')
  const at = store.object(key!)!.lastModified.getTime()
  const puts: string[] = []
  store.onRequest = (op, k) => { if (op === 'PutObject') puts.push(k) }
  await sleep(120)
  t.same(puts, [], 'and is not rewritten (it would be every 20 ms)')
  t.equal(store.object(key!)!.lastModified.getTime(), at)
})

t.test('a read-only mount finishes nothing: it reports the rename and writes no key', async t => {
  const { store } = halfDone({ host: hostname(), pid: deadPid() })
  const writes: string[] = []
  store.onRequest = (op, key) => { if (!/^(ListObjectsV2|GetObject|HeadObject)$/.test(op)) writes.push(`${op} ${key}`) }
  const r = await new RenameJournal(store).recover({ readOnly: true })
  t.same([r.renames.length, r.pending], [0, [{ from: 'old/', to: 'new/', started: '2026-11-25T09:59:00Z' }]])
  t.same(writes, [], 'not one write request')
  t.equal(journals(store).length, 1, 'the journal stays for a read-write mount')
  t.match(RenameJournal.describe(r), [/^not finished, this mount is read-only: the interrupted rename of old\/ to new\/ \(begun 2026-11-25T09:59:00Z\); until a read-write mount or oortfs fsck finishes it/])
})

t.test('finishing keeps every version it is not sure of: a same-size rewrite at the new name keeps the old one', async t => {
  const { store } = halfDone({ host: hostname(), pid: deadPid() })
  store.putText('new/f0', 'FILE 0') // after the crash, an application rewrote it: same length, other bytes
  const r = await new RenameJournal(store).recover()
  t.same(r.renames[0]?.kept, ['old/f0'], 'kept under the old name')
  t.equal(store.object('old/f0')?.body.toString(), 'file 0', 'both versions survive')
  t.equal(store.object('new/f0')?.body.toString(), 'FILE 0')
  t.match(RenameJournal.describe(r).join('\n'), /kept under the old name, the new one holds other data: old\/f0/)
})

t.test('a key the server refuses to copy is kept and reported; the rename is finished for the rest', async t => {
  const store = new FakeStore()
  const long = 'o/' + 'x'.repeat(1020) // 1,022 bytes; under longer/ it would be 1,027: refused
  store.putText(long, 'long')
  store.putText('o/short', 'short')
  store.putText(`${JOURNAL_DIR}/1-x.json`, JSON.stringify({ v: 1, op: 'rename-dir', from: 'o/', to: 'longer/', started: '2026-11-25T09:59:00Z', host: hostname(), pid: deadPid() }))
  const r = await new RenameJournal(store).recover()
  t.equal(r.renames.length, 1, 'finished')
  t.same(r.renames[0]?.refused.map(k => k.key), [long])
  t.match(RenameJournal.describe(r).join('\n'), /server refused to copy it \(.*KeyTooLong/)
  t.equal(store.object(long)?.body.toString(), 'long', 'the refused key stays where it is')
  t.same(store.keys().filter(k => k.startsWith('longer/')), ['longer/short'], 'the other moved')
  t.same(journals(store), [], 'nothing left to retry: the journal goes')
})

t.test('one rename that cannot be finished now is reported and kept; the others are finished and the mount goes on', async t => {
  const { store } = halfDone({ host: hostname(), pid: deadPid() })
  for (let i = 0; i < 2; i++) store.putText(`a/f${i}`, `a${i}`)
  store.putText(`${JOURNAL_DIR}/2-y.json`, JSON.stringify({ v: 1, op: 'rename-dir', from: 'a/', to: 'b/', started: '2026-11-25T09:59:30Z', host: hostname(), pid: deadPid() }))
  store.failNext('CopyObject', serverError('InternalError', 500, 'copy'))
  const r = await new RenameJournal(store).recover()
  t.equal(r.failed.length, 1, 'one failed')
  t.equal(r.renames.length, 1, 'the other finished')
  t.match(RenameJournal.describe(r).join('\n'), /could not finish the interrupted rename of old\/ to new\/ .*InternalError.*next mount or oortfs fsck tries again/)
  t.equal(journals(store).length, 1, 'its journal stays')
  const again = await new RenameJournal(store).recover()
  t.same([again.renames.length, again.failed.length], [1, 0], 'and the next mount finishes it')
  t.same(journals(store), [])
})

t.test('a prefix mount keeps its rename journal under its prefix', async t => {
  const store = new FakeStore()
  store.putText('p/d/f', 'x')
  const { fs } = makeFs(store, { prefix: 'p/' })
  const copy = store.hold('CopyObject')
  const renaming = fs.rename('/d', '/e')
  await copy.arrived
  t.same(store.keys().filter(k => k.includes(JOURNAL_DIR)).map(k => k.slice(0, 2 + JOURNAL_DIR.length + 1)), [`p/${JOURNAL_DIR}/`], 'the journal is under p/')
  copy.release()
  await renaming
  t.same(store.keys(), ['p/e/f'])
  t.notOk((await fs.readdir('/')).includes(JOURNAL_DIR), 'hidden at the mount\'s root')
})
