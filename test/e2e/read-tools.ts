// Mount a bucket written by something else (the plain S3 client) and read it
// with ordinary tools: ls, stat, cat, cmp, find, cp -r, diff -r, grep -r, du,
// tar, dd, df. What they see is compared with a local copy of the same tree.
// Also the request counts that make `ls -l` cheap.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { tmpDir } from '../helpers/oortfs-cli.js'
import { describeRequests, lines, mountBucket, q, seed, sh, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/** the local view of the same objects: keys as paths, markers as directories */
function writeLocal (root: string, objects: Map<string, Buffer>, rename: Record<string, string> = {}): void {
  mkdirSync(root, { recursive: true })
  for (const [key, body] of objects) {
    const path = join(root, rename[key] ?? key)
    if (key.endsWith('/')) { mkdirSync(path, { recursive: true }); continue }
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, body)
  }
}


/** `ls -ln` parsed: type char, size, name (names may hold spaces) */
function parseLs (out: string): Map<string, { type: string; mode: string; size: number }> {
  const m = new Map<string, { type: string; mode: string; size: number }>()
  for (const line of lines(out)) {
    const r = /^([-dlcbps])(\S{9})\S*\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\d+\s(.*)$/.exec(line)
    if (r) m.set(r[4]!, { type: r[1]!, mode: r[2]!, size: Number(r[3]) })
  }
  return m
}
const LS = 'ls -lnA --time-style=+%s --quoting-style=literal'

t.test('ordinary tools read a tree written by another S3 client', async t => {
  const bucket = await newBucket(s3, t, 'read-tree')
  const text = (s: string): Buffer => Buffer.from(s)
  const objects = new Map<string, Buffer>([
    ['hello.txt', text('hello world\n')],
    ['empty.txt', Buffer.alloc(0)],
    ['one.bin', randomBytes(1)],
    ['page.bin', randomBytes(4096)],
    ['odd.bin', randomBytes(4095)],
    ['mid.bin', randomBytes(1024 * 1024 + 1)],
    ['five.bin', randomBytes(5 * 1024 * 1024 + 7)],
    ['docs/readme.md', text('# readme\nneedle-alpha is here\n')],
    // docs/ and deep/... have no marker objects: directories only because deeper keys exist
    ['docs/guide/intro.txt', text('intro, no needle\n')],
    ['deep/a/b/c/d.txt', text('deep down: needle-alpha\n')],
    ['marked/', Buffer.alloc(0)],
    ['marked/inside.txt', text('inside a marked directory\n')],
    ['empty-marked/', Buffer.alloc(0)],
    ['with space/file name.txt', text('spaces\n')],
    ['with space/sub dir/x y z.txt', text('more spaces\n')],
    ['unicode/héllo wörld ✓.txt', text('accents\n')],
    ['unicode/日本語.txt', text('日本語のテキスト needle-alpha\n')],
    ['unicode/emoji 😀.bin', randomBytes(777)],
    ['special/a+b.txt', text('plus\n')],
    ['special/100%.txt', text('percent\n')],
    ['special/#hash#.txt', text('hash\n')],
    ['special/50% + #1 & co.txt', text('all of them\n')],
    ['special/it\'s "quoted".txt', text('quotes\n')],
    ['special/%20 not a space', text('literal percent-two-zero\n')],
    // a key and a prefix of the same name: directory `clash` plus file `clash.oortfs-file`
    ['clash', text('I am the file\n')],
    ['clash/inner.txt', text('I am inside the directory\n')],
  ])
  await seed(rawClientOf(t), bucket, objects)
  const work = tmpDir(t)
  const local = join(work, 'local')
  writeLocal(local, objects, { clash: 'clash.oortfs-file' })
  const files = [...objects.keys()].filter(k => !k.endsWith('/'))

  const m = await mountBucket(t, { s3, bucket })
  const mnt = m.dir

  // ls -l: names, types and sizes
  const root = parseLs(await shOk(`${LS} ${q(mnt)}`))
  t.same([...root.keys()].sort(), ['clash', 'clash.oortfs-file', 'deep', 'docs', 'empty-marked', 'empty.txt', 'five.bin', 'hello.txt',
    'marked', 'mid.bin', 'odd.bin', 'one.bin', 'page.bin', 'special', 'unicode', 'with space'], 'ls -l of the root: every name once')
  for (const [name, want] of [['hello.txt', 12], ['empty.txt', 0], ['one.bin', 1], ['page.bin', 4096], ['odd.bin', 4095],
    ['mid.bin', 1024 * 1024 + 1], ['five.bin', 5 * 1024 * 1024 + 7], ['clash.oortfs-file', 14]] as const) {
    t.same(root.get(name), { type: '-', mode: 'rw-r--r--', size: want }, `ls -l ${name}`)
  }
  for (const d of ['clash', 'deep', 'docs', 'empty-marked', 'marked', 'special', 'unicode', 'with space']) {
    t.equal(root.get(d)?.type, 'd', `${d} is a directory`)
  }
  const special = parseLs(await shOk(`${LS} ${q(join(mnt, 'special'))}`))
  t.same(new Map([...special].map(([n, e]) => [n, e.size])), new Map([
    ['#hash#.txt', 5], ['%20 not a space', 25], ['100%.txt', 8], ['50% + #1 & co.txt', 12], ['a+b.txt', 5], ['it\'s "quoted".txt', 7],
  ]), 'ls -l of names with + % # & quotes')
  const uni = parseLs(await shOk(`${LS} ${q(join(mnt, 'unicode'))}`))
  t.same([...uni.keys()].sort(), ['emoji 😀.bin', 'héllo wörld ✓.txt', '日本語.txt'], 'unicode names')
  t.same([...parseLs(await shOk(`${LS} ${q(join(mnt, 'empty-marked'))}`)).keys()], [], 'a marker-only directory is empty')
  t.same([...parseLs(await shOk(`${LS} ${q(join(mnt, 'marked'))}`)).keys()], ['inside.txt'], 'a marker is not listed as a name')
  t.same([...parseLs(await shOk(`${LS} ${q(join(mnt, 'deep/a/b/c'))}`)).keys()], ['d.txt'], 'prefixes without markers are directories')

  // stat: size, type, mtime (LastModified, whole seconds)
  const head = await m.client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'five.bin' }))
  const st = (await shOk(`stat -c '%s|%F|%a|%Y' ${q(join(mnt, 'five.bin'))}`)).trim().split('|')
  t.same(st.slice(0, 3), [String(5 * 1024 * 1024 + 7), 'regular file', '644'], 'stat of a file')
  t.ok(Math.abs(Number(st[3]) - head.LastModified!.getTime() / 1000) <= 1, `stat mtime ${st[3]} is the object's LastModified ${head.LastModified!.toISOString()}`)
  t.equal((await shOk(`stat -c '%s|%F' ${q(join(mnt, 'empty.txt'))}`)).trim(), '0|regular empty file')
  t.equal((await shOk(`stat -c '%F|%a' ${q(join(mnt, 'deep/a'))}`)).trim(), 'directory|755', 'stat of a directory without a marker')
  t.equal((await shOk(`stat -c '%F' ${q(join(mnt, 'with space/sub dir/x y z.txt'))}`)).trim(), 'regular file')
  const missing = await sh(`stat ${q(join(mnt, 'docs/nope'))}`)
  t.not(missing.code, 0, 'stat of a missing name fails')
  t.match(missing.stderr, /No such file or directory/)

  // cat and cmp against the source bytes
  t.equal(await shOk(`cat ${q(join(mnt, 'hello.txt'))}`), 'hello world\n', 'cat')
  t.equal(await shOk(`cat ${q(join(mnt, 'special/50% + #1 & co.txt'))}`), 'all of them\n', 'cat of a name with % + # &')
  t.equal(await shOk(`cat ${q(join(mnt, 'clash.oortfs-file'))}`), 'I am the file\n', 'the shadowed file reads as itself')
  for (const key of files) {
    const name = key === 'clash' ? 'clash.oortfs-file' : key
    const r = await sh(`cmp ${q(join(mnt, name))} ${q(join(local, name))}`)
    t.equal(r.code, 0, `cmp ${name} ${r.stdout}${r.stderr}`)
  }

  // find: every key is a file, every prefix a directory
  t.equal(Number(await shOk(`find ${q(mnt)} -type f | wc -l`)), files.length, 'find -type f | wc -l is the number of keys')
  t.equal(Number(await shOk(`find ${q(mnt)} | wc -l`)), Number(await shOk(`find ${q(local)} | wc -l`)), 'find | wc -l: files and directories')
  t.same(lines(await shOk(`cd ${q(mnt)} && find . | LC_ALL=C sort`)), lines(await shOk(`cd ${q(local)} && find . | LC_ALL=C sort`)), 'find lists the same paths')

  // cp -r out, diff -r against the local copy
  const copy = join(work, 'copy')
  await shOk(`cp -r ${q(mnt)} ${q(copy)}`)
  const diff = await sh(`diff -r ${q(copy)} ${q(local)}`)
  t.same([diff.code, diff.stdout, diff.stderr], [0, '', ''], 'cp -r out of the mount, diff -r against the source: identical')
  const direct = await sh(`diff -r ${q(mnt)} ${q(local)}`)
  t.same([direct.code, direct.stdout, direct.stderr], [0, '', ''], 'diff -r of the mount itself')

  // grep -r finds the right files
  t.same(lines(await shOk(`cd ${q(mnt)} && grep -rl needle-alpha . | LC_ALL=C sort`)),
    ['./deep/a/b/c/d.txt', './docs/readme.md', './unicode/日本語.txt'], 'grep -rl')
  t.equal((await sh(`grep -r needle-omega ${q(mnt)}`)).code, 1, 'grep -r for text that is nowhere: exit 1, no error')

  // du -s
  const total = files.reduce((n, k) => n + objects.get(k)!.length, 0)
  const du = await sh(`du -s ${q(mnt)}`)
  t.equal(du.code, 0, `du -s works ${du.stderr}`)
  t.ok(Number(du.stdout.split('\t')[0]) >= Math.ceil(total / 1024), `du -s ${du.stdout.trim()} KiB covers the ${total} bytes`)
  const apparent = Number((await shOk(`du -sb ${q(mnt)}`)).split('\t')[0])
  t.ok(apparent >= total, `du -sb ${apparent} >= ${total}`)

  // tar of the mount: the archive lists every path, and extracts to the same tree
  const tarFile = join(work, 'mnt.tar')
  await shOk(`tar cf ${q(tarFile)} -C ${q(mnt)} .`)
  t.same(lines(await shOk(`tar tf ${q(tarFile)} | sed 's:/$::' | LC_ALL=C sort`)),
    lines(await shOk(`cd ${q(local)} && find . | LC_ALL=C sort`)), 'tar c of the mount lists every path')
  const untar = join(work, 'untar')
  mkdirSync(untar)
  await shOk(`tar xf ${q(tarFile)} -C ${q(untar)}`)
  const tdiff = await sh(`diff -r ${q(untar)} ${q(local)}`)
  t.same([tdiff.code, tdiff.stdout, tdiff.stderr], [0, '', ''], 'the archive extracts to the source tree')

  // df
  const df = await sh(`df ${q(mnt)}`)
  t.equal(df.code, 0, `df works ${df.stderr}`)
  t.match(df.stdout, new RegExp(`^${bucket} `, 'm'), 'df names the bucket')
  t.equal((await sh(`df -h ${q(mnt)} && df -i ${q(mnt)}`)).code, 0, 'df -h and df -i work')
  const stf = (await shOk(`stat -f -c '%T' ${q(mnt)}`)).trim()
  t.match(stf, /fuse/, 'stat -f sees a FUSE filesystem')
})

t.test('ranged reads at random offsets of a 64 MiB object', async t => {
  const bucket = await newBucket(s3, t, 'read-ranges')
  const size = 64 * 1024 * 1024
  const data = randomBytes(size)
  const work = tmpDir(t)
  const local = join(work, 'big.bin')
  writeFileSync(local, data)
  await rawClientOf(t).send(new PutObjectCommand({ Bucket: bucket, Key: 'big/blob.bin', Body: data }))

  const m = await mountBucket(t, { s3, bucket })
  const remote = join(m.dir, 'big/blob.bin')
  const blocks = size / 4096
  const offsets = [0, blocks - 1, ...Array.from({ length: 48 }, () => Math.floor(Math.random() * blocks))]
  // one dd per offset, each a fresh open: the mount sees 50 unrelated 4 KiB reads
  const script = offsets.map(n =>
    `if ! cmp -s <(dd if=${q(remote)} bs=4096 skip=${n} count=1 status=none) <(dd if=${q(local)} bs=4096 skip=${n} count=1 status=none); then echo "block ${n} differs"; fi`,
  ).join('\n')
  const r = await sh(script)
  t.same([r.code, r.stdout, r.stderr], [0, '', ''], `dd bs=4096 count=1 at ${offsets.length} random offsets: every block identical`)

  // unaligned offsets and lengths, some crossing 1 MiB block boundaries, in one open file
  const py = `
import random, sys
random.seed(${Math.floor(Math.random() * 1e9)})
size = ${size}
with open(sys.argv[1], 'rb') as a, open(sys.argv[2], 'rb') as b:
    bad = 0
    for i in range(50):
        n = random.choice([1, 17, 4096, 65537, 1048577, 3000000])
        off = random.randrange(0, size)
        if i % 5 == 0: off = max(0, (random.randrange(1, 64) << 20) - n // 2)
        a.seek(off); b.seek(off)
        x = a.read(n); y = b.read(n)
        if x != y:
            bad += 1
            print('differs at', off, n, len(x), len(y))
    a.seek(size - 10); b.seek(size - 10)
    if a.read(100) != b.read(100): print('tail differs')
    a.seek(size + 5)
    if a.read(10) != b'': print('read past the end returned data')
print('done')
`
  const pr = await sh(`python3 - ${q(remote)} ${q(local)}`, { input: py })
  t.same([pr.code, pr.stdout, pr.stderr], [0, 'done\n', ''], 'python: 50 unaligned reads, the tail, past the end')

  const sum = await shOk(`sha256sum < ${q(remote)}; sha256sum < ${q(local)}`)
  const [a, b] = lines(sum)
  t.equal(a, b, 'the whole object, read sequentially, hashes the same')
})

t.test('a directory of 1,500 files is listed completely', async t => {
  const bucket = await newBucket(s3, t, 'read-1500')
  const names = Array.from({ length: 1500 }, (_, i) => `file-${String(i).padStart(4, '0')}-${i % 7 === 0 ? 'x y' : 'z'}.txt`)
  await seed(rawClientOf(t), bucket, new Map(names.map(n => [`many/${n}`, Buffer.from(n)])))
  const m = await mountBucket(t, { s3, bucket })
  const dir = join(m.dir, 'many')
  t.equal(Number(await shOk(`ls ${q(dir)} | wc -l`)), 1500, 'ls | wc -l')
  t.same(lines(await shOk(`ls -1 ${q(dir)} | LC_ALL=C sort`)), [...names].sort(), 'every name, once')
  const long = parseLs(await shOk(`${LS} ${q(dir)}`))
  t.equal(long.size, 1500, 'ls -l shows all 1,500')
  t.ok(names.every(n => long.get(n)?.size === Buffer.byteLength(n)), 'with their sizes')
  t.equal(Number(await shOk(`find ${q(dir)} -type f | wc -l`)), 1500, 'find agrees')
})

t.test('request counts: ls -l of 1,000 files, warm ls -l, stat of a missing name', async t => {
  const bucket = await newBucket(s3, t, 'read-counts')
  const objects = new Map<string, Buffer>()
  for (let i = 0; i < 1000; i++) objects.set(`d/f${String(i).padStart(4, '0')}`, Buffer.from(`file ${i}\n`))
  for (const n of ['a.txt', 'z.txt', 'e/x']) objects.set(n, Buffer.from(n))
  await seed(rawClientOf(t), bucket, objects)

  const m = await mountBucket(t, { s3, bucket })
  const dir = join(m.dir, 'd')
  const cold = await sh(`s=$(date +%s%N); ${LS} ${q(dir)}; e=$(date +%s%N); echo $(( (e - s) / 1000000 )) >&2`)
  t.equal(cold.code, 0, cold.stderr)
  const coldMs = Number(lines(cold.stderr).at(-1))
  const listed = parseLs(cold.stdout)
  t.equal(listed.size, 1000, 'ls -l shows 1,000 files')
  t.ok([...listed.values()].every(e => e.type === '-' && e.mode === 'rw-r--r--' && e.size >= 7), 'all regular files with sizes')
  const s = await m.settle()
  const total = s.requests.total
  // and one HEAD of the mount root's own attributes (its mode and times), once per mount. The
  // kernel checks the directory's mode before each name's lookup (default_permissions): an ls -l
  // longer than the freshness bound (1 s) proves the directory again, one listing (up to two
  // pages) a second: on a loaded machine the 1,000 lookups may take seconds (the shell times them)
  const coldAllowed = 3 + 2 * (1 + Math.floor(coldMs / 1000))
  t.ok(total <= coldAllowed && total - (s.requests.byType.ListObjectsV2 ?? 0) <= 2,
    `a fresh mount's ls -l of 1,000 files, bucket check included: ${describeRequests({ total, byType: s.requests.byType })} in ${coldMs} ms (at most ${coldAllowed}, listings but the root's HEAD and one GET)`)
  t.ok((s.requests.byType.HeadObject ?? 0) <= 1, 'no HeadObject but the mount root\'s, once')

  // each measurement starts once the mount is quiet, later than the freshness bound (1 s) after
  // the last listing: its first call lists the directory again, once; the rest is answered from it
  // (the shell tells how long the two took: stderr's last line, in ms)
  const warm = await m.measure(`s=$(date +%s%N); ${LS} ${q(dir)} > /dev/null && ${LS} ${q(dir)}; e=$(date +%s%N); echo $(( (e - s) / 1000000 )) >&2`)
  t.equal(warm.out.code, 0)
  t.equal(parseLs(warm.out.stdout).size, 1000)
  // one listing of the directory: its 1,000 keys take a page, and a second says there is no more.
  // The freshness bound allows one listing of the directory a second: two ls -l of 1,000 names
  // (the kernel checks the directory before each one, default_permissions) may outlast it
  const tookMs = Number(lines(warm.out.stderr).at(-1))
  const pages = warm.requests.byType.ListObjectsV2 ?? 0
  // (each listing of 1,000 keys is up to two pages)
  const allowed = 2 * (1 + Math.floor(tookMs / 1000))
  t.ok(pages >= 1 && pages <= allowed && warm.requests.total === pages,
    `ls -l twice, warm, past the bound: listings only, one a second at most (${describeRequests(warm.requests)} in ${tookMs} ms; at most ${allowed})`)

  const miss = await m.measure(`ls ${q(dir)} > /dev/null; stat ${q(join(dir, 'f0500-not-here'))}; stat ${q(join(dir, 'zzz'))}; stat ${q(join(dir, '0'))}`)
  t.match(miss.out.stderr, /No such file or directory/)
  t.not(miss.out.code, 0)
  // (an ls of 1,000 names that takes longer than the bound lists again for its last lookups: at most two listings)
  t.ok(miss.requests.total === (miss.requests.byType.ListObjectsV2 ?? 0) && miss.requests.total <= 2, `stat of missing names in a directory just listed: nothing more (${describeRequests(miss.requests)})`)

  const hit = await m.measure(`ls ${q(dir)} > /dev/null && stat -c %s ${q(join(dir, 'f0999'))} && cat ${q(join(dir, 'f0042'))}`)
  t.equal(hit.out.stdout, '9\nfile 42\n')
  t.ok(hit.requests.byType.GetObject === 1 && hit.requests.total - 1 === (hit.requests.byType.ListObjectsV2 ?? 0) && hit.requests.total <= 3, `stat and cat of files just listed: only the read's GET (${describeRequests(hit.requests)})`)
})

function rawClientOf (t: Test): S3Client {
  // one per test: the mount helper has its own, destroyed with the mount
  const c = rawClient(s3)
  t.teardown(() => c.destroy())
  return c
}
