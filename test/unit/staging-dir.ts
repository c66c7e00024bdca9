// One staging folder per mounting process: an old process still exiting and a
// new one at the same mount point never share one, and what an earlier mount
// could not save is reported and kept.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describeLeftovers, makeStagingFolder, removeIfEmpty, stagingFoldersOf } from '../../src/staging-dir.js'
import { mountKey } from '../../src/config.js'

function parent (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-staging-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** a pid that is certainly gone: a child that has exited */
function deadPid (): number {
  return spawnSync('true').pid!
}

t.test('two mounts of one point get two private folders; removing one leaves the other', async t => {
  const p = parent(t)
  const a = await makeStagingFolder(p, '/mnt/b')
  const b = await makeStagingFolder(p, '/mnt/b')
  t.not(a.dir, b.dir)
  t.equal(statSync(a.dir).mode & 0o777, 0o700, 'private')
  t.match(a.dir, new RegExp(`staging-${mountKey('/mnt/b')}-${process.pid}-`), 'named for the mount point and the process')
  writeFileSync(join(b.dir, 'unsaved'), 'x')
  await removeIfEmpty(a.dir)
  await removeIfEmpty(b.dir)
  t.notOk(existsSync(a.dir), 'an empty folder goes')
  t.ok(existsSync(join(b.dir, 'unsaved')), 'one holding bytes stays')
  t.same((await stagingFoldersOf(p, '/mnt/b')).length, 1)
})

t.test('an earlier mount\'s unsaved files are reported and kept; its empty folder is tidied', async t => {
  const p = parent(t)
  const key = mountKey('/mnt/b')
  const dead = deadPid()
  const full = join(p, `staging-${key}-${dead}-abcdef`)
  const empty = join(p, `staging-${key}-${dead}-ghijkl`)
  const running = join(p, `staging-${key}-${process.ppid}-mnopqr`)
  const other = join(p, `staging-${mountKey('/mnt/other')}-${dead}-stuvwx`)
  for (const d of [full, empty, running, other]) mkdirSync(d)
  writeFileSync(join(full, '1'), 'bytes')
  writeFileSync(join(running, '1'), 'bytes')
  writeFileSync(join(other, '1'), 'bytes')
  const f = await makeStagingFolder(p, '/mnt/b')
  t.same(f.leftovers.map(l => [l.dir, l.files, l.running]).sort(), [[full, 1, false], [running, 1, true]].sort())
  const lines = describeLeftovers(f, '/mnt/b')
  t.match(lines.join('\n'), /earlier mount of \/mnt\/b .* left 1 unsaved file\(s\) in .*abcdef: kept/)
  t.match(lines.join('\n'), /another oortfs \(pid \d+\) still has 1 unsaved file\(s\)/)
  t.ok(existsSync(join(full, '1')) && existsSync(join(running, '1')) && existsSync(join(other, '1')), 'nothing of theirs removed')
  t.notOk(existsSync(empty), 'an empty folder of a gone process is removed')
  t.equal(readdirSync(p).length, 4)
})
