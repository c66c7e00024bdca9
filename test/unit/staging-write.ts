// Staging writes: made on the JS thread (no hop to libuv's pool), until one
// takes longer than SLOW_MS; then through the pool for ASYNC_FOR_MS, so a disk
// that throttles cannot stall every other call. The bytes land either way.
import t from 'tap'
import { open, readFile } from 'node:fs/promises'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ASYNC_FOR_MS, SLOW_MS, StagingWriter } from '../../src/fs/write/staging-write.js'

t.test('synchronous while writes are fast; through the pool for a while after a slow one; the bytes land in both', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-staging-write-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const f = await open(join(dir, 'f'), 'w+')
  t.teardown(() => f.close())
  let pooled = 0
  const write = f.write.bind(f)
  // FileHandle.write is what goes through libuv's pool: count its calls
  f.write = ((...args: Parameters<typeof f.write>) => { pooled++; return write(...args) }) as typeof f.write
  let clock = 1000
  let slow = false
  // each reading of the clock moves it: by more than SLOW_MS inside a write made slow
  const w = new StagingWriter(() => { clock += slow ? SLOW_MS + 1 : 0.01; return clock })

  await w.write(f, Buffer.from('aaaa'), 0)
  t.equal(pooled, 0, 'a fast write is made on the JS thread')
  slow = true
  await w.write(f, Buffer.from('bbbb'), 4)
  slow = false
  t.equal(pooled, 0, 'the slow one too (it is only seen slow once made)')
  t.notOk(w.synchronous, 'after it, writes go through the pool')
  await w.write(f, Buffer.from('cccc'), 8)
  t.equal(pooled, 1, 'the next write went through the pool')
  clock += ASYNC_FOR_MS
  t.ok(w.synchronous, `${ASYNC_FOR_MS} ms later, on the JS thread again`)
  await w.write(f, Buffer.from('dddd'), 12)
  t.equal(pooled, 1)
  t.equal(await readFile(join(dir, 'f'), 'utf8'), 'aaaabbbbccccdddd', 'every byte where it was written')
})
