// Attribute copies (meta-writer.ts): one copy of a file at a time, the last
// change wins; an explicit flush raises the copies it waits for.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { makeFs, writeFile } from '../helpers/make-fs.js'
import { S_IFREG } from '../../src/fs/metadata.js'

t.test('chmod 600, and chmod 700 while the first copy is still queued or on the wire: the object ends 0700', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  const first = store.hold('CopyObject', 'f')
  await fs.chmod('/f', 0o600)
  const flushing = fs.flushAll() // (the 1 s timer does the same)
  await first.arrived
  await fs.chmod('/f', 0o700)
  await fs.meta.flush() // the next timer: the second copy goes while the first is still out
  first.release()
  await flushing
  await fs.flushAll()
  t.equal(Number(store.object('f')!.metadata.mode), S_IFREG | 0o700, 'the last chmod wins on the server')
  t.equal((await fs.getattr('/f')).mode, S_IFREG | 0o700, 'and on the mount')
})

t.test('an explicit flush (mv of a directory, unmount) raises the copies it waits for above Background', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/d/f', Buffer.from('x'))
  let prio: unknown
  const copy = store.hold('CopyObject', 'd/f')
  await fs.chmod('/d/f', 0o600)
  const mv = fs.rename('/d', '/e')
  await copy.arrived
  const o = copy.options() as any
  prio = o?.urgency?.priority ?? o?.priority
  copy.release()
  await mv
  t.not(prio, 0, `the copy a rename waits for is not Background (priority ${String(prio)})`)
})
