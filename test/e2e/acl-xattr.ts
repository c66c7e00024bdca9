// Extended attributes of any name and POSIX ACLs through a real mount, with
// the tools a user runs: setfattr/getfattr, setfacl/getfacl, ls -l (its `+`),
// chmod (the mask follows), a directory's default ACL and what new files
// inherit from it, cp -a and rsync -aAX
// of a tree into the mount and back out, each compared with the same
// commands on a local directory, and again after a remount. And what they
// cost: ls -l, find, cp and rsync of a directory with ACLs and attributes
// make no HEAD (getxattr answers from the listing and the attribute index).
// (s3fs reading them back: s3fs-interop.ts.)
import t, { type Test } from 'tap'
import { chmodSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { describeRequests, mountBucket, q, sh, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/** a local directory where ACLs and user. attributes work (the comparisons need one) */
async function localDir (t: Test): Promise<string> {
  const dir = tmpDir(t)
  const probe = await sh(`cd ${q(dir)} && touch probe && setfacl -m u:nobody:r probe && setfattr -n user.p -v 1 probe && getfacl -c probe | grep -q user:nobody && rm probe`)
  if (probe.code !== 0) throw new Error(`${dir} supports no ACLs or user. attributes (mount a tmpfs or ext4 there): ${probe.stderr}`)
  return dir
}

/** the same shell commands in each directory, each one's output (stdout, stderr, exit) */
async function inEach (dirs: string[], cmd: string): Promise<string[]> {
  return Promise.all(dirs.map(async d => {
    const r = await sh(`cd ${q(d)} && ${cmd}`)
    return `${r.stdout}${r.stderr.replaceAll(d, 'DIR')}[exit ${r.code}]`
  }))
}

/** ACLs, user. attributes and modes of everything under the current directory, in name order, as the tools print them */
const EACH = "find . -mindepth 1 | LC_ALL=C sort | xargs -d '\\n'"
const TREE = `${EACH} getfacl -p 2>&1; ${EACH} getfattr -h -d -m '^user[.]' 2>&1; ${EACH} stat -c '%n %A'`

t.test('setfattr -n key1, setfacl, getfacl, ls -l +, chmod, setfacl -d: as on a local directory, and after a remount', async t => {
  const m = await mountBucket(t, { s3 })
  const local = await localDir(t)

  // any name: ext4 refuses key1 (no namespace), s3fs and oortfs keep it
  await shOk(`cd ${q(m.dir)} && echo hi > f && setfattr -n key1 -v v1 f && setfattr -n user.color -v blue f`)
  t.equal(await shOk(`cd ${q(m.dir)} && getfattr -d -m - f`), '# file: f\nkey1="v1"\nuser.color="blue"\n\n', 'getfattr -d -m - lists both')
  const sys = await sh(`setfattr -n system.foo -v 1 ${q(join(m.dir, 'f'))}`)
  t.match(sys.stderr, /Operation not supported/, 'system.* names other than the ACLs: ENOTSUP')

  // the same commands in a directory of each
  const dirs = [join(local, 'w'), join(m.dir, 'w')]
  for (const d of dirs) mkdirSync(d)
  const steps = [
    'echo hi > g && mkdir d && chmod 640 g',
    'setfacl -m u:nobody:rwx g && getfacl g',
    "ls -l g | cut -d' ' -f1",
    'chmod 604 g && getfacl g && stat -c %A g',
    'setfacl -m g:nogroup:r-x,m::rwx g && getfacl g',
    'setfacl -d -m u:nobody:rx d && getfacl d',
    "ls -ld d | cut -d' ' -f1",
    // inherited, as posix_acl_create says (umask 000: see below)
    "umask 000 && touch d/new && mkdir d/newdir && mkfifo d/fifo && ln -s new d/link && getfacl -p d/new d/newdir d/fifo && getfattr -h -d -m - d/link && stat -c '%n %A' d/new d/newdir d/fifo",
    'setfattr -n system.posix_acl_default -v 0sAgAAAAEABgD/////BAAEAP////8gAAQA/////w== g', // a default ACL on a file
    'setfattr -n system.posix_acl_access -v 0sAgAAAAEABgD/////BAAE g', // malformed
    'echo x > plain && setfacl -m u::rwx plain && getfacl plain && getfattr -m - -d plain', // an ACL the mode says: no attribute
    'setfacl -b g && getfacl g && ls -l g | cut -d" " -f1',
    'setfacl -m u:nobody:r g && setfacl -k d',
  ]
  for (const step of steps) {
    const [want, got] = await inEach(dirs, step)
    t.equal(got, want, `${step}\n${want}`)
  }
  t.match((await inEach([dirs[1]!], 'getfacl g'))[0], /user:nobody:r--/)

  const before = await inEach(dirs, TREE)
  t.equal(before[1], before[0], 'the whole tree as on the local directory')
  await m.remount()
  t.equal((await inEach([dirs[1]!], TREE))[0], before[0], 'after a remount: the same ACLs, attributes and modes')
  t.equal(await shOk(`cd ${q(m.dir)} && getfattr -n key1 --only-values f`), 'v1', 'and key1')

  // the one difference: the kernel applies the umask before oortfs sees a new file's mode, where
  // ext4 leaves it out under a default ACL
  const [ext4, ours] = await inEach(dirs, 'mkdir u && setfacl -d -m u:nobody:rwx,g::rwx,o::rwx u && umask 022 && touch u/f && ls -l u/f | cut -d" " -f1')
  t.equal(ext4, '-rw-rw-rw-+\n[exit 0]', 'ext4: the default ACL, not the umask, masks a new file')
  t.equal(ours, '-rw-r--r--+\n[exit 0]', 'oortfs: the umask still applies')
})

t.test('cp -a and rsync -aAX of a tree with ACLs and attributes, into the mount and back out, as between local directories', async t => {
  const m = await mountBucket(t, { s3 })
  const work = await localDir(t)
  const src = join(work, 'src')
  mkdirSync(src)
  await shOk([
    `cd ${q(src)}`,
    'echo a > a && setfacl -m u:nobody:rwx,g:nogroup:r a',
    'echo b > b && chmod 640 b && setfattr -n user.tag -v "two words" b && setfattr -n user.bin -v 0s+/8= b',
    'mkdir sub && setfacl -m u:nobody:rx sub && setfacl -d -m u:nobody:rwx,o::- sub',
    'echo c > sub/c && setfacl -m m::r sub/c', 'ln -s a link', "touch -d '2001-02-03 04:05:06' a b sub/c",
  ].join(' && '))
  const want = (await inEach([src], TREE))[0]
  t.match(want, /# file: \.\/sub\n(.*\n)*default:user:nobody:rwx/, 'the source has a default ACL')

  for (const [tool, into, out] of [
    ['cp -a', (s: string, d: string) => `cp -a ${q(s)} ${q(d)}`, (s: string, d: string) => `cp -a ${q(s)} ${q(d)}`],
    ['rsync -aAX', (s: string, d: string) => `rsync -aAX ${q(s + '/')} ${q(d + '/')}`, (s: string, d: string) => `rsync -aAX ${q(s + '/')} ${q(d + '/')}`],
  ] as const) {
    const name = tool.replace(/\W/g, '')
    const viaLocal = join(work, `${name}-local`)
    const inMount = join(m.dir, name)
    const back = join(work, `${name}-back`)
    await shOk(into(src, viaLocal))
    const r = await sh(into(src, inMount))
    t.same([r.code, r.stderr], [0, ''], `${tool} into the mount`)
    const local = (await inEach([viaLocal], TREE))[0]
    t.equal(local, want, `${tool} between local directories keeps everything`)
    t.equal((await inEach([inMount], TREE))[0], local, `${tool} into the mount: the same ACLs, attributes and modes`)
    await shOk(out(inMount, back))
    t.equal((await inEach([back], TREE))[0], local, `${tool} back out: the same`)
    if (tool === 'rsync -aAX') {
      const again = await sh(`rsync -aAXi --dry-run ${q(src + '/')} ${q(inMount + '/')}`)
      t.same([again.code, again.stdout], [0, ''], 'a second rsync -aAX finds nothing to do')
    }
  }
  await m.remount()
  t.equal((await inEach([join(m.dir, 'rsyncaAX')], TREE))[0], want, 'after a remount: the same')
})

t.test('with allow_other the kernel checks the mode bits oortfs shows: the mask applies to the file\'s group, named entries are not enforced', async t => {
  const m = await mountBucket(t, { s3, options: ['allow_other'] })
  const local = await localDir(t)
  // other users must reach both (mkdtemp makes its folders 0700)
  for (const d of [dirname(m.dir), local]) chmodSync(d, 0o755)
  const make = 'echo secret > f && chmod 600 f && setfacl -m u:nobody:r,g::- f && stat -c %A f'
  const [wantMode, gotMode] = await inEach([local, m.dir], make)
  t.equal(gotMode, wantMode, `the same mode (the mask as group bits): ${wantMode}`)
  const as = (who: string, dir: string): Promise<string> =>
    sh(`cd ${q(dir)} && setpriv ${who} --clear-groups cat f`).then(r => r.stdout + r.stderr.replace(/^.*: /, ''))
  const nobody = '--reuid=65534 --regid=65534'
  const inGroup = '--reuid=12345 --regid=0' // not named, in the file's group (root)
  t.equal(await as(nobody, local), 'secret\n', 'ext4: the named entry u:nobody:r lets nobody read')
  t.equal(await as(nobody, m.dir), 'Permission denied\n', 'oortfs: named entries are not enforced (other bits ---)')
  t.equal(await as(inGroup, local), 'Permission denied\n', 'ext4: group::--- keeps the file\'s group out')
  t.equal(await as(inGroup, m.dir), 'secret\n', 'oortfs: the group bits, which show the mask r--, let the group read')
})

t.test('request counts: ls -l, find, cp, cp -a and rsync -aAX out of a directory whose files have ACLs and attributes make no HEAD', async t => {
  const m = await mountBucket(t, { s3 })
  const d = join(m.dir, 'd')
  await shOk(`mkdir ${q(d)} && cd ${q(d)} && for i in $(seq -w 1 300); do echo $i > f$i; done && setfacl -m u:nobody:rwx f001 f150 && setfattr -n user.k -v 1 f002 && mkdir sub && setfacl -d -m u:nobody:rx sub`)
  await m.remount()
  const out = tmpDir(t)
  const counts: string[] = []
  for (const cmd of [
    `ls -l ${q(d)}`, `find ${q(d)} -type f`, `cp -r ${q(d)} ${q(join(out, 'cp'))}`,
    `cp -a ${q(d)} ${q(join(out, 'cpa'))}`, `rsync -aAX ${q(d + '/')} ${q(join(out, 'rsync') + '/')}`,
  ]) {
    const { out: r, requests } = await m.measure(cmd)
    t.equal(r.code, 0, r.stderr)
    t.equal(requests.byType.HeadObject ?? 0, 0, `${cmd.replaceAll(m.dir, 'MNT').replaceAll(out, 'OUT')}: ${describeRequests(requests)}`)
    t.ok(Object.keys(requests.byType).every(k => k === 'ListObjectsV2' || k === 'GetObject'), 'listings, the index and file bytes only')
    counts.push(`${cmd.split(' ')[0]}: ${describeRequests(requests)}`)
    if (cmd.startsWith('ls')) {
      t.match(r.stdout, /^-rw-rwxr--\+ .* f001$/m, 'ls -l shows +')
      t.match(r.stdout, /^-rw-r--r-- .* f002$/m, 'and no + where there is no ACL')
      t.match(r.stdout, /^drwxr-xr-x\+ .* sub$/m, 'a directory with a default ACL: +')
    }
  }
  t.comment(counts.join('\n'))
  t.equal(await shOk(`getfacl -cp ${q(join(out, 'cpa', 'f150'))} | grep nobody`), 'user:nobody:rwx\n', 'cp -a copied the ACL')
  t.equal(await shOk(`getfattr -n user.k --only-values ${q(join(out, 'rsync', 'f002'))}`), '1', 'rsync -X copied the attribute')
})
