// Runtime and staging folders: a folder someone else made first, a symlink
// planted in its place, or one others can write to is refused and the next
// candidate used; one of ours is made 0700. Run as root, "someone else" is a
// folder chowned to another uid.
import t, { type Test } from 'tap'
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../src/config.js'
import { pickPrivateDir, privateDirProblem, runtimeCandidates, runtimeDirsToSearch, stagingCandidates } from '../../src/runtime-dir.js'

const me = process.getuid!()
const OTHER = me === 0 ? 4321 : undefined

function base (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-rundir-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('candidates: $XDG_RUNTIME_DIR/oortfs, /run/user/UID/oortfs, then the temp dir; /run/oortfs for root', async t => {
  t.same(runtimeCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), ['/run/user/1000/oortfs', join(tmpdir(), 'oortfs-1000')])
  t.same(runtimeCandidates({ XDG_RUNTIME_DIR: '/somewhere' }, 1000), ['/somewhere/oortfs', '/run/user/1000/oortfs', join(tmpdir(), 'oortfs-1000')])
  t.same(runtimeCandidates({ XDG_RUNTIME_DIR: 'relative' }, 1000), ['/run/user/1000/oortfs', join(tmpdir(), 'oortfs-1000')], 'a relative XDG_RUNTIME_DIR is ignored')
  t.same(runtimeCandidates({ XDG_RUNTIME_DIR: '/run/user/1000' }, 0), ['/run/oortfs', join(tmpdir(), 'oortfs-0')], 'root: /run/oortfs, whatever su left in the environment')
  t.same(stagingCandidates({ HOME: '/home/u' }).slice(1), ['/home/u/.cache/oortfs'], 'staging falls back to the user\'s cache, on disk')
})

t.test('a folder is made 0700; one of ours that others may read is taken back to 0700', async t => {
  const b = base(t)
  const dir = await pickPrivateDir([join(b, 'a')], 'test')
  t.equal(dir, join(b, 'a'))
  t.equal(lstatSync(dir).mode & 0o777, 0o700)
  chmodSync(dir, 0o755)
  t.equal(await pickPrivateDir([dir], 'test'), dir)
  t.equal(lstatSync(dir).mode & 0o777, 0o700)
})

t.test('a folder another user made first is refused, and the next candidate used', { skip: OTHER === undefined && 'needs root to make a folder of another user' }, async t => {
  const b = base(t)
  const squatted = join(b, 'oortfs-1000')
  mkdirSync(squatted, { mode: 0o700 })
  chownSync(squatted, OTHER!, OTHER!)
  t.match(await privateDirProblem(squatted), /belongs to another user \(uid 4321\)/)
  t.equal(await pickPrivateDir([squatted, join(b, 'next')], 'test'), join(b, 'next'))
  t.equal(lstatSync(squatted).uid, OTHER, 'left alone')
})

t.test('a symlink in a candidate\'s place is refused, even to a folder of ours', async t => {
  const b = base(t)
  mkdirSync(join(b, 'real'), { mode: 0o700 })
  symlinkSync(join(b, 'real'), join(b, 'link'))
  t.equal(await privateDirProblem(join(b, 'link')), 'is a symbolic link')
  t.equal(await pickPrivateDir([join(b, 'link'), join(b, 'next')], 'test'), join(b, 'next'))
})

t.test('a folder of ours that others can write to is refused, not chmod-ed', async t => {
  const b = base(t)
  mkdirSync(join(b, 'open'))
  chmodSync(join(b, 'open'), 0o777)
  t.match(await privateDirProblem(join(b, 'open')), /can be written by group or others \(mode 0777\)/)
  t.equal(await pickPrivateDir([join(b, 'open'), join(b, 'next')], 'test'), join(b, 'next'))
  t.equal(lstatSync(join(b, 'open')).mode & 0o777, 0o777)
})

t.test('a folder inside a parent others can write to without the sticky bit is refused', async t => {
  const b = base(t)
  mkdirSync(join(b, 'shared'))
  chmodSync(join(b, 'shared'), 0o777)
  t.equal(await pickPrivateDir([join(b, 'shared', 'oortfs'), join(b, 'next')], 'test'), join(b, 'next'))
  chmodSync(join(b, 'shared'), 0o1777)
  t.equal(await pickPrivateDir([join(b, 'shared', 'oortfs')], 'test'), join(b, 'shared', 'oortfs'), 'sticky, as /tmp is: others cannot replace it')
})

t.test('no usable candidate: one error naming each and why', async t => {
  const b = base(t)
  symlinkSync('/', join(b, 'link'))
  const err = await pickPrivateDir([join(b, 'link'), join(b, 'missing', 'x')], 'the control socket').then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof ConfigError)
  t.match((err as Error).message, new RegExp(`no private folder for the control socket: ${join(b, 'link')} is a symbolic link; ${join(b, 'missing', 'x')} is in .* which does not exist`))
})

t.test('a client looks only in folders that exist and are private', async t => {
  const b = base(t)
  mkdirSync(join(b, 'ours'), { mode: 0o700 })
  mkdirSync(join(b, 'open'))
  chmodSync(join(b, 'open'), 0o777)
  symlinkSync(join(b, 'ours'), join(b, 'link'))
  t.same(await runtimeDirsToSearch([join(b, 'missing'), join(b, 'open'), join(b, 'link'), join(b, 'ours')]), [join(b, 'ours')])
})
