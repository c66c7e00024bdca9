// Ownership and POSIX permission rules on a shared mount (allow_other), as
// root and as unprivileged users (setpriv to made-up uids: the kernel needs no
// passwd entry). New files, directories, symlinks and FIFOs belong to the
// process that made them; the kernel checks every call against the modes and
// owners oortfs reports (default_permissions): 0600 files, chmod/chown/touch
// rules, the sticky bit, setuid/setgid clearing; setgid directories pass on
// their group; the mount root's mode and owner are kept across a remount.
import t from 'tap'
import { chmodSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { withS3, type Teardown } from '../helpers/s3-server.js'
import { lines, mountBucket, q, sh, shOk, type ShResult } from '../helpers/mount.js'

const s3 = await withS3(t)

const ALICE = 1001
const BOB = 1002
const TEAM = 4242

/** a shell command run as uid:gid with exactly these supplementary groups */
function as (uid: number, cmd: string, groups: number[] = []): Promise<ShResult> {
  const g = groups.length > 0 ? `--groups=${groups.join(',')}` : '--clear-groups'
  return sh(`setpriv --reuid=${uid} --regid=${uid} ${g} -- sh -c ${q(cmd)}`)
}
async function asOk (uid: number, cmd: string, groups: number[] = []): Promise<string> {
  const r = await as(uid, cmd, groups)
  if (r.code !== 0) throw new Error(`as ${uid}: ${cmd}: exit ${r.code}: ${r.stderr}`)
  return r.stdout
}
/** `name uid gid mode(octal)` of each, without following symlinks */
async function owners (dir: string, names: string[]): Promise<string[]> {
  return lines(await shOk(`cd ${q(dir)} && stat -c '%n %u %g %a' ${names.map(q).join(' ')}`))
}

async function sharedMount (t: Teardown) {
  const m = await mountBucket(t, { s3, options: ['allow_other'] })
  // the test's temporary folder is 0700: other users must reach the mount point
  chmodSync(dirname(m.dir), 0o755)
  return m
}

t.test('with allow_other each user owns what they make, and the kernel enforces modes, owners and the sticky bit', async t => {
  const m = await sharedMount(t)
  const d = m.dir
  // a shared scratch space, as /tmp is: anyone may create, only owners may remove
  await shOk(`chmod 1777 ${q(d)}`)
  await asOk(ALICE, `cd ${q(d)} && echo secret > mine && chmod 600 mine && mkdir adir && ln -s mine alink && mkfifo apipe && cat mine >/dev/null`)
  t.same(await owners(d, ['mine', 'adir', 'alink', 'apipe']), [
    `mine ${ALICE} ${ALICE} 600`, `adir ${ALICE} ${ALICE} 755`, `alink ${ALICE} ${ALICE} 777`, `apipe ${ALICE} ${ALICE} 644`,
  ], "a file, a directory, a symlink and a FIFO are alice's; she reopens her own 0600 file")

  // a Unix socket bound by alice is hers too; her own user. attribute she may set, bob not on her 0644 file
  await asOk(ALICE, `cd ${q(d)} && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('asock')" && echo pub > public && setfattr -n user.tag -v hers public`)
  t.same(await owners(d, ['asock']), [`asock ${ALICE} ${ALICE} 755`], "a socket bound by alice is alice's")
  t.equal((await as(BOB, `getfattr --only-values -n user.tag ${q(join(d, 'public'))}`)).stdout, 'hers', 'bob reads her attribute (he may read the file)')
  t.match((await as(BOB, `setfattr -n user.tag -v his ${q(join(d, 'public'))}`)).stderr, /Permission denied/, 'but may not set one: he may not write the file')

  const before = await m.mark()
  const denied = await as(BOB, `cat ${q(join(d, 'mine'))}`)
  t.match(denied.stderr, /Permission denied/, "bob cannot read alice's 0600 file")
  const used = await m.requestsSince(before)
  t.equal(used.byType.GetObject ?? 0, 0, 'refused by the kernel: no byte was fetched')
  t.match((await as(BOB, `rm -f ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'the sticky bit: bob cannot remove it')
  t.match((await as(BOB, `mv ${q(join(d, 'mine'))} ${q(join(d, 'taken'))}`)).stderr, /Operation not permitted/, 'nor rename it')
  t.match((await as(BOB, `chmod 644 ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'nor chmod it')
  t.match((await as(BOB, `chown ${BOB} ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'nor take it')
  t.match((await as(ALICE, `chown ${BOB} ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'alice cannot give it away (only root may)')
  t.match((await as(ALICE, `chgrp ${TEAM} ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'nor give it a group she is not in')
  await asOk(ALICE, `chgrp ${TEAM} ${q(join(d, 'mine'))}`, [TEAM])
  t.same(await owners(d, ['mine']), [`mine ${ALICE} ${TEAM} 600`], 'but a group she is in, yes')

  // times: the owner may set any; someone with write permission only "now"
  await asOk(ALICE, `cd ${q(d)} && echo w > shared && chmod 666 shared`)
  t.match((await as(BOB, `touch -d '2001-02-03 04:05:06' ${q(join(d, 'shared'))}`)).stderr, /Operation not permitted|Permission denied/, "bob may not set alice's file to a time of his choosing")
  t.equal((await as(BOB, `touch ${q(join(d, 'shared'))}`)).code, 0, 'but he may touch it to now: he can write it')
  await asOk(ALICE, `touch -d '2001-02-03 04:05:06' ${q(join(d, 'shared'))}`)
  t.equal((await shOk(`stat -c %y ${q(join(d, 'shared'))}`)).slice(0, 19), '2001-02-03 04:05:06', 'the owner may')

  // setuid and setgid are cleared where POSIX says: a write by another user, a chown
  await asOk(ALICE, `cd ${q(d)} && echo x > suid && chmod 6777 suid && echo y > owned && chmod 4755 owned`)
  await asOk(BOB, `echo more >> ${q(join(d, 'suid'))}`)
  t.same(await owners(d, ['suid']), [`suid ${ALICE} ${ALICE} 777`], "bob's write cleared setuid and setgid")
  await shOk(`chown ${BOB} ${q(join(d, 'owned'))}`)
  t.same(await owners(d, ['owned']), [`owned ${BOB} ${ALICE} 755`], "root's chown gave it to bob and cleared setuid")
  t.equal((await shOk(`cat ${q(join(d, 'mine'))}`)).trim(), 'secret', 'root reads anything')

  await m.remount()
  t.same(await owners(d, ['.', 'mine', 'adir', 'alink', 'apipe', 'owned']), [
    `. 0 0 1777`, `mine ${ALICE} ${TEAM} 600`, `adir ${ALICE} ${ALICE} 755`, `alink ${ALICE} ${ALICE} 777`, `apipe ${ALICE} ${ALICE} 644`, `owned ${BOB} ${ALICE} 755`,
  ], "after a remount: the same owners and modes, the mount root's sticky mode too")
  t.match((await as(BOB, `rm -f ${q(join(d, 'mine'))}`)).stderr, /Operation not permitted/, 'and the same rules')
})

t.test('a setgid directory passes on its group (and setgid to new directories); the mount root can be given away and keeps it', async t => {
  const m = await sharedMount(t)
  const d = m.dir
  await shOk(`chmod 755 ${q(d)} && mkdir ${q(join(d, 'team'))} && chgrp ${TEAM} ${q(join(d, 'team'))} && chmod 2775 ${q(join(d, 'team'))}`)
  const team = join(d, 'team')
  t.match((await as(BOB, `touch ${q(join(team, 'x'))}`)).stderr, /Permission denied/, 'bob, not in the team, cannot create there')
  await asOk(ALICE, `cd ${q(team)} && echo a > notes && mkdir sub && mkdir sub/deeper && ln -s notes link`, [TEAM])
  t.same(await owners(team, ['notes', 'sub', 'sub/deeper', 'link']), [
    `notes ${ALICE} ${TEAM} 644`, `sub ${ALICE} ${TEAM} 2755`, `sub/deeper ${ALICE} ${TEAM} 2755`, `link ${ALICE} ${TEAM} 777`,
  ], "alice's new entries take the team's group; new directories stay setgid, one level down too")

  // the mount root belongs to whoever root gives it to: alice may then create there
  await shOk(`chown ${ALICE}:${ALICE} ${q(d)} && chmod 700 ${q(d)}`)
  await asOk(ALICE, `touch ${q(join(d, 'at-root'))}`)
  t.match((await as(BOB, `ls ${q(d)}`)).stderr, /Permission denied/, 'a 0700 mount root keeps bob out')
  await m.remount()
  t.same(await owners(d, ['.', 'at-root', 'team', 'team/sub']), [`. ${ALICE} ${ALICE} 700`, `at-root ${ALICE} ${ALICE} 644`, `team 0 ${TEAM} 2775`, `team/sub ${ALICE} ${TEAM} 2755`], 'kept across a remount')
  t.match((await as(BOB, `ls ${q(d)}`)).stderr, /Permission denied/, 'and enforced after it')
  // the root's owner can open it up again
  await asOk(ALICE, `chmod 755 ${q(d)}`)
  t.equal((await as(BOB, `ls ${q(d)}`)).code, 0, 'alice opened her mount root to everyone')
})
