// Every ordinary tool that writes, through a real mount: cp, dd, tar x, rsync,
// mv, rm -r, mkdir -p, >>, truncate, touch, chmod, ln -s, sed -i, git,
// setfattr. Content is compared by sha256 with a local copy; what must survive
// is checked again after an unmount and a fresh mount. (Request counts of
// writes, a server gone during close and -o ro: write-requests.ts.)
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { keysUnder, lines, mountBucket, objectBytes, q, seed, sh, sha, sha256sum, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/** a local tree of `n` small files in a few directories, with varied mtimes and modes */
function makeTree (root: string, n: number, seed = 1): void {
  for (let i = 0; i < n; i++) {
    const dir = join(root, `d${i % 5}`, i % 3 === 0 ? 'sub' : '')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `f${i}${i % 11 === 0 ? ' with space' : ''}.txt`)
    writeFileSync(file, `${seed}:${i}:` + randomBytes(16 + (i * 37) % 3000).toString('hex') + '\n')
  }
}

/** path, size, whole-second mtime and mode of every file and directory under root */
async function treeStat (root: string, what = '%P|%s|%Y|%a'): Promise<string[]> {
  return lines(await shOk(`cd ${q(root)} && find . -mindepth 1 ! -type d -exec stat -c '%n|${what.replace('%P|', '')}' {} + | LC_ALL=C sort`))
}

const GIT = `git -c user.name=oortfs-test -c user.email=test@oortfs.invalid -c init.defaultBranch=main`

t.test('cp in and back out; dd of 300 MiB', async t => {
  const m = await mountBucket(t, { s3 })
  const work = tmpDir(t)
  const src = join(work, 'src.bin')
  const data = randomBytes(3 * 1024 * 1024 + 123)
  writeFileSync(src, data)
  await shOk(`cp ${q(src)} ${q(join(m.dir, 'copied.bin'))}`)
  await shOk(`cp ${q(join(m.dir, 'copied.bin'))} ${q(join(work, 'back.bin'))}`)
  t.equal(await sha256sum(join(work, 'back.bin')), sha(data), 'cp in and back out: same sha256')
  t.equal(sha((await objectBytes(m.client, m.bucket, 'copied.bin'))!), sha(data), 'the object in the bucket is the file')
  await shOk(`touch -d @1500000000 ${q(src)} && chmod 640 ${q(src)} && cp -p ${q(src)} ${q(join(m.dir, 'kept.bin'))}`)
  t.equal((await shOk(`stat -c '%Y %a' ${q(join(m.dir, 'kept.bin'))}`)).trim(), '1500000000 640', 'cp -p keeps mtime and mode')

  // 300 MiB, written with dd's 1 MiB blocks (multipart), read back
  const big = join(work, 'big.bin')
  await shOk(`head -c ${300 * 1024 * 1024} /dev/urandom > ${q(big)}`)
  const want = await sha256sum(big)
  const dd = await sh(`dd if=${q(big)} of=${q(join(m.dir, 'big.bin'))} bs=1M count=300 status=none`, { timeoutMs: 150_000 })
  t.same([dd.code, dd.stderr], [0, ''], 'dd bs=1M count=300 into the mount')
  t.equal((await shOk(`stat -c %s ${q(join(m.dir, 'big.bin'))}`)).trim(), String(300 * 1024 * 1024), 'size')
  t.equal(await sha256sum(join(m.dir, 'big.bin')), want, 'read back through the mount: same sha256')
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'big.bin' }))
  t.equal(head.ContentLength, 300 * 1024 * 1024, 'the object has every byte')
})

t.test('tar x of 500 files, rsync -a in and out', async t => {
  const m = await mountBucket(t, { s3 })
  const work = tmpDir(t)
  const tree = join(work, 'tree')
  makeTree(tree, 500)
  // spread the mtimes over the past year so a lost one shows
  await shOk(`cd ${q(tree)} && i=0; find . -type f | while read -r f; do i=$((i+1)); touch -d "@$((1700000000 + i * 86399))" "$f"; done`)
  const archive = join(work, 'tree.tar')
  await shOk(`tar cf ${q(archive)} -C ${q(tree)} .`)
  const local = join(work, 'extracted')
  mkdirSync(local)
  await shOk(`tar xf ${q(archive)} -C ${q(local)}`)

  const into = join(m.dir, 'untarred')
  mkdirSync(into)
  const x = await sh(`tar xf ${q(archive)} -C ${q(into)}`, { timeoutMs: 150_000 })
  t.same([x.code, x.stderr], [0, ''], 'tar x into the mount')
  const diff = await sh(`diff -r ${q(into)} ${q(local)}`)
  t.same([diff.code, diff.stdout, diff.stderr], [0, '', ''], 'diff -r against a local extraction')
  t.same(await treeStat(into, '%P|%s|%Y'), await treeStat(local, '%P|%s|%Y'), 'tar restored every mtime')
  t.equal(Number(await shOk(`find ${q(into)} -type f | wc -l`)), 500)

  // rsync -a in, and back out to a new local directory (rsync renames a temp file per file)
  const tree2 = join(work, 'tree2')
  makeTree(tree2, 150, 2)
  await shOk(`cd ${q(tree2)} && i=0; find . -type f | while read -r f; do i=$((i+1)); touch -d "@$((1600000000 + i * 7919))" "$f"; chmod $((i % 2 ? 644 : 755)) "$f"; done`)
  const rin = join(m.dir, 'rsynced')
  const r1 = await sh(`rsync -a ${q(tree2 + '/')} ${q(rin + '/')}`, { timeoutMs: 150_000 })
  t.same([r1.code, r1.stderr], [0, ''], 'rsync -a into the mount')
  const out = join(work, 'rsync-out')
  const r2 = await sh(`rsync -a ${q(rin + '/')} ${q(out + '/')}`)
  t.same([r2.code, r2.stderr], [0, ''], 'rsync -a back out')
  const rdiff = await sh(`diff -r ${q(out)} ${q(tree2)}`)
  t.same([rdiff.code, rdiff.stdout, rdiff.stderr], [0, '', ''], 'contents identical')
  t.same(await treeStat(out), await treeStat(tree2), 'sizes, mtimes and modes identical')
  t.same(await treeStat(rin), await treeStat(tree2), 'as the mount shows them too')
  const again = await sh(`rsync -ai --dry-run ${q(tree2 + '/')} ${q(rin + '/')}`)
  t.same([again.code, again.stdout], [0, ''], 'a second rsync -a finds nothing to do')
  await m.remount()
  t.same(await treeStat(rin), await treeStat(tree2), 'mtimes and modes survive a remount')
})

t.test('mv, rm -r, mkdir -p, append, truncate, touch, chmod, ln -s, sed -i', async t => {
  const m = await mountBucket(t, { s3 })
  const mnt = m.dir
  const p = (rel: string): string => q(join(mnt, rel))
  // 200 files in a directory and 1,000 to remove, seeded behind the mount's back
  await seed(m.client, m.bucket, [
    ...Array.from({ length: 200 }, (_, i) => [`dir200/f${i}.txt`, Buffer.from(`f${i}\n`)] as [string, Buffer]),
    ...Array.from({ length: 1000 }, (_, i) => [`gone/${i % 10}/f${i}`, Buffer.from(`${i}`)] as [string, Buffer]),
  ])

  // mv of a file and of a directory of 200 files
  await shOk(`echo moved > ${p('a.txt')} && mv ${p('a.txt')} ${p('b.txt')}`)
  t.equal(await shOk(`cat ${p('b.txt')}`), 'moved\n', 'mv a file: new name has the content')
  t.equal((await sh(`ls ${p('a.txt')}`)).code, 2, 'the old name is gone')
  await shOk(`mv ${p('dir200')} ${p('moved200')}`)
  t.equal(Number(await shOk(`ls ${p('moved200')} | wc -l`)), 200, 'mv of a directory of 200 files: all there')
  t.equal(await shOk(`cat ${p('moved200/f123.txt')}`), 'f123\n')
  t.equal((await sh(`ls ${p('dir200')}`)).code, 2, 'the old directory is gone')
  t.same(await keysUnder(m.client, m.bucket, 'dir200/'), [], 'no key left under the old prefix')
  t.equal((await keysUnder(m.client, m.bucket, 'moved200/')).length, 200, '200 keys under the new prefix')

  // rm -r of 1,000 files
  t.equal(Number(await shOk(`find ${p('gone')} -type f | wc -l`)), 1000)
  const rm = await sh(`rm -r ${p('gone')}`, { timeoutMs: 150_000 })
  t.same([rm.code, rm.stderr], [0, ''], 'rm -r of 1,000 files')
  t.equal((await sh(`ls ${p('gone')}`)).code, 2, 'the directory is gone')
  t.same(await keysUnder(m.client, m.bucket, 'gone'), [], 'every key deleted')

  // mkdir -p
  await shOk(`mkdir -p ${p('a/b/c')}`)
  t.equal((await shOk(`stat -c %F ${p('a/b/c')}`)).trim(), 'directory', 'mkdir -p a/b/c')
  await shOk(`mkdir -p ${p('a/b/c')}`) // again: nothing to do, no error
  t.equal((await sh(`mkdir ${p('a/b')}`)).code, 1, 'mkdir of an existing directory fails')

  // echo >> appends
  await shOk(`echo one > ${p('a/b/c/log.txt')} && echo two >> ${p('a/b/c/log.txt')} && echo three >> ${p('a/b/c/log.txt')}`)
  t.equal(await shOk(`cat ${p('a/b/c/log.txt')}`), 'one\ntwo\nthree\n', 'echo >> appends')

  // truncate to 0, shorter, longer (zeros)
  const body = randomBytes(10_000)
  const work = tmpDir(t)
  writeFileSync(join(work, 'body'), body)
  await shOk(`cp ${q(join(work, 'body'))} ${p('tr.bin')}`)
  await shOk(`truncate -s 4000 ${p('tr.bin')}`)
  t.equal(await sha256sum(join(mnt, 'tr.bin')), sha(body.subarray(0, 4000)), 'truncate -s shorter keeps the head')
  await shOk(`truncate -s 6000 ${p('tr.bin')}`)
  t.equal(await sha256sum(join(mnt, 'tr.bin')), sha(Buffer.concat([body.subarray(0, 4000), Buffer.alloc(2000)])), 'truncate -s longer adds zeros')
  await shOk(`truncate -s 0 ${p('tr.bin')}`)
  t.equal((await shOk(`stat -c %s ${p('tr.bin')}`)).trim(), '0', 'truncate -s 0')
  await shOk(`truncate -s 3000 ${p('new-sparse.bin')}`)
  t.equal(await sha256sum(join(mnt, 'new-sparse.bin')), sha(Buffer.alloc(3000)), 'truncate -s of a new file: zeros')

  // touch: new, existing, -d
  await shOk(`touch ${p('touched.txt')}`)
  t.equal((await shOk(`stat -c '%s %F' ${p('touched.txt')}`)).trim(), '0 regular empty file', 'touch makes an empty file')
  const before = Number(await shOk(`stat -c %Y ${p('b.txt')}`))
  await new Promise(r => setTimeout(r, 2100))
  await shOk(`touch ${p('b.txt')}`)
  const after = Number(await shOk(`stat -c %Y ${p('b.txt')}`))
  t.ok(after >= before + 2, `touch of an existing file moves its mtime (${before} -> ${after})`)
  t.ok(Math.abs(after - Date.now() / 1000) < 30, 'to about now')
  await shOk(`touch -d '2001-02-03 04:05:06 UTC' ${p('b.txt')}`)
  t.equal((await shOk(`stat -c %Y ${p('b.txt')}`)).trim(), '981173106', 'touch -d sets the mtime, seen by stat -c %Y')
  await shOk(`touch -m -d '@1111111111' ${p('a/b/c/log.txt')}`)
  t.equal((await shOk(`stat -c %Y ${p('a/b/c/log.txt')}`)).trim(), '1111111111', 'touch -m -d (atime left alone) sets the mtime')
  await shOk(`touch -d '@1234567890' ${p('a/b')}`)
  t.equal((await shOk(`stat -c %Y ${p('a/b')}`)).trim(), '1234567890', 'touch -d of a directory')

  // chmod
  await shOk(`chmod 755 ${p('b.txt')} && chmod 700 ${p('a/b/c')} && chmod 600 ${p('a/b/c/log.txt')}`)
  t.equal((await shOk(`stat -c %a ${p('b.txt')}`)).trim(), '755', 'chmod 755 seen by stat -c %a')

  // ln -s and readlink
  await shOk(`ln -s b.txt ${p('link')} && ln -s ../../../b.txt ${p('a/b/c/up')} && ln -s /nowhere/at/all ${p('dangling')}`)
  t.equal((await shOk(`readlink ${p('link')}`)).trim(), 'b.txt', 'readlink')
  t.equal(await shOk(`cat ${p('link')}`), 'moved\n', 'reading through the link')
  t.equal(await shOk(`cat ${p('a/b/c/up')}`), 'moved\n', 'a relative link up three levels')
  t.equal((await shOk(`stat -c %F ${p('link')}`)).trim(), 'symbolic link')
  t.equal((await shOk(`readlink ${p('dangling')}`)).trim(), '/nowhere/at/all', 'a dangling link')

  // sed -i: a temp file written, then renamed over the original (vim's way to save)
  await shOk(`printf 'alpha\\nbeta\\ngamma\\n' > ${p('edit.txt')} && sync ${p('edit.txt')}`)
  await shOk(`sed -i 's/beta/BETA/' ${p('edit.txt')}`)
  t.equal(await shOk(`cat ${p('edit.txt')}`), 'alpha\nBETA\ngamma\n', 'sed -i edits in place')
  await shOk(`cd ${q(mnt)} && printf 'saved\\n' > .edit.txt.swp && sync .edit.txt.swp && mv .edit.txt.swp edit.txt`)
  t.equal(await shOk(`cat ${p('edit.txt')}`), 'saved\n', 'write temp, fsync, mv over')
  t.same(lines(await shOk(`ls -A ${q(mnt)} | grep -i edit`)), ['edit.txt'], 'no temp file left')

  // everything above survives an unmount and a fresh mount
  const want = {
    b: 'moved\n', log: 'one\ntwo\nthree\n', edit: 'saved\n', modeB: '755', modeC: '700', modeLog: '600',
    mtimeB: '981173106', mtimeAB: '1234567890', mtimeLog: '1111111111', link: 'b.txt', up: '../../../b.txt',
  }
  await m.remount()
  t.same({
    b: await shOk(`cat ${p('b.txt')}`),
    log: await shOk(`cat ${p('a/b/c/log.txt')}`),
    edit: await shOk(`cat ${p('edit.txt')}`),
    modeB: (await shOk(`stat -c %a ${p('b.txt')}`)).trim(),
    modeC: (await shOk(`stat -c %a ${p('a/b/c')}`)).trim(),
    modeLog: (await shOk(`stat -c %a ${p('a/b/c/log.txt')}`)).trim(),
    mtimeB: (await shOk(`stat -c %Y ${p('b.txt')}`)).trim(),
    mtimeAB: (await shOk(`stat -c %Y ${p('a/b')}`)).trim(),
    mtimeLog: (await shOk(`stat -c %Y ${p('a/b/c/log.txt')}`)).trim(),
    link: (await shOk(`readlink ${p('link')}`)).trim(),
    up: (await shOk(`readlink ${p('a/b/c/up')}`)).trim(),
  }, want, 'after an unmount and a remount: contents, modes, mtimes, links')
  const ls = lines(await shOk(`ls -l --time-style=+%s ${q(mnt)}`))
  t.match(ls.find(l => / b\.txt$/.test(l)), /^-rwxr-xr-x .* 981173106 b\.txt$/, 'ls -l shows chmod and touch -d after the remount')
  t.match(ls.find(l => / link -> b\.txt$/.test(l)), /^l/, 'ls -l shows the symlink')
})

t.test('git init, add, commit, fsck, log inside the mount', async t => {
  const m = await mountBucket(t, { s3 })
  const work = tmpDir(t)
  const env = { HOME: work, GIT_CONFIG_NOSYSTEM: '1' }
  const repo = join(m.dir, 'repo')
  await shOk(`mkdir ${q(repo)} && cd ${q(repo)} && ${GIT} init -q . && printf 'hello\\n' > hello.txt && mkdir -p src/lib && printf 'x = 1\\n' > src/lib/x.py && chmod +x src/lib/x.py`, { env })
  const add = await sh(`cd ${q(repo)} && ${GIT} add -A && ${GIT} commit -qm 'first commit'`, { env })
  t.same([add.code, add.stderr], [0, ''], 'git add and commit')
  await shOk(`cd ${q(repo)} && printf 'world\\n' >> hello.txt && ${GIT} commit -qam 'second commit'`, { env })
  const fsck = await sh(`cd ${q(repo)} && ${GIT} fsck --full --strict`, { env })
  t.same([fsck.code, fsck.stderr.replace(/^Checking .*\n/gm, '')], [0, ''], 'git fsck is clean')
  t.same(lines(await shOk(`cd ${q(repo)} && ${GIT} log --format=%s`, { env })), ['second commit', 'first commit'], 'git log shows the commits')
  t.equal(await shOk(`cd ${q(repo)} && ${GIT} status --porcelain`, { env }), '', 'the work tree is clean')
  await m.remount()
  const again = await sh(`cd ${q(repo)} && ${GIT} fsck --full --strict && ${GIT} status --porcelain && ${GIT} log --format=%s`, { env })
  t.same([again.code, lines(again.stdout)], [0, ['second commit', 'first commit']], 'after a remount: fsck clean, work tree clean, log intact')
  t.equal((await shOk(`cd ${q(repo)} && ${GIT} ls-files -s src/lib/x.py`, { env })).slice(0, 6), '100755', 'the executable bit was committed')
  const clone = join(work, 'clone')
  await shOk(`${GIT} clone -q ${q(repo)} ${q(clone)}`, { env })
  t.equal(await shOk(`cat ${q(join(clone, 'hello.txt'))}`), 'hello\nworld\n', 'a clone out of the mount has the content')
})

t.test('setfattr and getfattr of a user.* attribute', async t => {
  const have = await sh('command -v setfattr && command -v getfattr')
  if (have.code !== 0) { t.plan(0, 'the attr package (setfattr, getfattr) is not installed'); return }
  const m = await mountBucket(t, { s3 })
  const f = q(join(m.dir, 'x.txt'))
  await shOk(`echo content > ${f}`)
  await shOk(`setfattr -n user.color -v blue ${f} && setfattr -n user.note -v 'two words' ${f}`)
  t.equal((await shOk(`getfattr --only-values -n user.color ${f}`)), 'blue', 'getfattr reads it back')
  t.match(await shOk(`getfattr -d ${f}`), /user\.color="blue"\nuser\.note="two words"/, 'getfattr -d lists both')
  await shOk(`setfattr -x user.note ${f}`)
  const gone = await sh(`getfattr -n user.note ${f}`)
  t.match(gone.stderr, /No such attribute/, 'setfattr -x removes it')
  await m.remount()
  t.equal((await shOk(`getfattr --only-values -n user.color ${f}`)), 'blue', 'it survives a remount')
  t.equal(await shOk(`cat ${f}`), 'content\n', 'and the content is untouched')
  const head = await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'x.txt' }))
  t.ok(Object.keys(head.Metadata ?? {}).length > 0, 'stored with the object')
})
