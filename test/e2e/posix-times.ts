// POSIX times kept apart, through a real mount and the tools a user runs
// (issue 15): `touch -a` sets atime alone, `chmod` moves ctime alone, `mv`
// moves the file's ctime and both directories' mtime and ctime, a new file
// moves its directory's mtime; all of it is stored (a new mount shows the
// same), an object another client wrote with x-amz-meta-mtime shows that
// mtime, and the mount point keeps its mode and times. The kernel caches
// attributes for up to a second: each stat waits that out.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { mountBucket, q, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

/** atime, mtime, ctime in whole seconds, after the kernel's attribute cache has expired */
async function times (path: string): Promise<{ a: number, m: number, c: number }> {
  await sleep(1100)
  const [a, m, c] = (await shOk(`stat -c '%X %Y %Z' ${q(path)}`)).trim().split(' ').map(Number)
  return { a: a!, m: m!, c: c! }
}

const nowSec = (): number => Math.floor(Date.now() / 1000)

t.test('touch -a, chmod, mv, a new file: each time moves as POSIX says, and a new mount shows the same', async t => {
  const m = await mountBucket(t, { s3 })
  const d1 = join(m.dir, 'd1')
  const d2 = join(m.dir, 'd2')
  const f = join(d1, 'f')
  await shOk(`mkdir ${q(d1)} ${q(d2)} && echo hi > ${q(f)} && touch -d @1500000000 ${q(f)}`)

  await shOk(`touch -a -d @1550000000 ${q(f)}`)
  const afterTouchA = await times(f)
  t.equal(afterTouchA.a, 1550000000, 'touch -a sets atime')
  t.equal(afterTouchA.m, 1500000000, 'and leaves mtime')

  await sleep(1000)
  const beforeChmod = nowSec()
  await shOk(`chmod 600 ${q(f)}`)
  const afterChmod = await times(f)
  t.same([afterChmod.a, afterChmod.m], [1550000000, 1500000000], 'chmod leaves atime and mtime')
  t.ok(afterChmod.c >= beforeChmod && afterChmod.c > afterTouchA.c, `chmod moves ctime (${afterTouchA.c} -> ${afterChmod.c})`)

  const dirsBefore = [await times(d1), await times(d2)]
  await sleep(1000)
  const beforeMv = nowSec()
  await shOk(`mv ${q(f)} ${q(join(d2, 'g'))}`)
  const g = await times(join(d2, 'g'))
  t.same([g.a, g.m], [1550000000, 1500000000], 'mv leaves the file\'s atime and mtime')
  t.ok(g.c >= beforeMv, 'mv moves the file\'s ctime')
  for (const [i, d] of [d1, d2].entries()) {
    const now = await times(d)
    t.ok(now.m >= beforeMv && now.m > dirsBefore[i]!.m, `mv moves ${d}'s mtime`)
    t.ok(now.c >= beforeMv, `and its ctime`)
  }

  const d1BeforeTouch = await times(d1)
  await sleep(1000)
  await shOk(`touch ${q(join(d1, 'new'))}`)
  const d1After = await times(d1)
  t.ok(d1After.m > d1BeforeTouch.m, `touch newfile moves its directory's mtime (${d1BeforeTouch.m} -> ${d1After.m})`)

  const want = {
    g: await times(join(d2, 'g')), d1: await times(d1), d2: await times(d2), new: await times(join(d1, 'new')),
    mode: (await shOk(`stat -c %a ${q(join(d2, 'g'))}`)).trim(),
  }
  await m.remount()
  await shOk(`ls -l ${q(m.dir)} ${q(d1)} ${q(d2)} > /dev/null`)
  t.same({
    g: await times(join(d2, 'g')), d1: await times(d1), d2: await times(d2), new: await times(join(d1, 'new')),
    mode: (await shOk(`stat -c %a ${q(join(d2, 'g'))}`)).trim(),
  }, want, 'a new mount shows the same times: they were stored')

  // another client's object with s3fs's times, in a directory the mount keeps an index for
  // (newer than the index: HEADed), seen by a mount that has not cached the directory
  await sleep(1500)
  await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'd2/sdk', Body: 'x', Metadata: { mtime: '1600000000.5' } }))
  await m.remount()
  await shOk(`ls -l ${q(d2)} > /dev/null`)
  t.equal((await times(join(d2, 'sdk'))).m, 1600000000, 'its stored mtime wins over LastModified')
  t.match(await shOk(`stat -c %y ${q(join(d2, 'sdk'))}`), /:40\.5/, 'to the fraction')
})

t.test('the mount point keeps the mode and times chmod and touch give it, across a remount', async t => {
  const m = await mountBucket(t, { s3 })
  await shOk(`chmod 700 ${q(m.dir)} && touch -d @1700000000 ${q(m.dir)}`)
  await sleep(1100)
  t.equal((await shOk(`stat -c '%a %Y' ${q(m.dir)}`)).trim(), '700 1700000000', 'at once')
  await m.remount()
  t.equal((await shOk(`stat -c '%a %Y' ${q(m.dir)}`)).trim(), '700 1700000000', 'after a remount')
  const before = (await times(m.dir)).m
  await shOk(`touch ${q(join(m.dir, 'x'))}`)
  t.ok((await times(m.dir)).m > before, 'a new entry moves its mtime')
  t.notOk((await shOk(`ls -A ${q(m.dir)}`)).includes('oortfs'), 'the object keeping them is hidden')
})
