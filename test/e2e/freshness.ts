// The freshness bound end to end: a second client (the SDK, called here
// directly) creates, replaces, deletes objects and rewrites their metadata
// while the mount works; `ls`, `stat`, `cat` and `cmp` through the mount show
// each change within the bound (attr_ttl, 1 s by default: plus the time the
// tool itself takes), never before it was made, and at about a listing per
// directory and second however often they ask. The same runs through the
// fault proxy with 60 ms added to every request, as a remote gateway adds.
import t, { type Test } from 'tap'
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { join } from 'node:path'
import { mountBucket, q, sh, shOk, type Mount } from '../helpers/mount.js'
import { faultMount } from '../helpers/fault-mount.js'
import { sharedS3 } from '../helpers/s3-server.js'

const s3 = await sharedS3()
t.setTimeout(300_000)

/** what the bound allows: 1 s, plus a listing's round trip and the tool's own start */
const BOUND_MS = 1000
const SLACK_MS = 600

/**
 * Runs `cmd` every 50 ms until its output is `want`; returns how long after
 * `since` that was. The output before must be `before` (the change is not
 * seen early, e.g. from a stale cache showing something else).
 */
async function seenAfter (t: Test, cmd: string, want: string, since: number, before?: string): Promise<number> {
  for (;;) {
    const r = await sh(cmd)
    const out = (r.stdout + (r.code === 0 ? '' : `exit ${r.code}`)).trim()
    if (out === want) return Date.now() - since
    if (before !== undefined && out !== before) t.fail(`${cmd}: ${JSON.stringify(out)}, neither the old ${JSON.stringify(before)} nor the new ${JSON.stringify(want)}`)
    if (Date.now() - since > 10_000) { t.fail(`${cmd}: still ${JSON.stringify(out)} after 10 s, want ${JSON.stringify(want)}`); return Infinity }
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

function within (t: Test, ms: number, what: string): void {
  t.ok(ms <= BOUND_MS + SLACK_MS, `${what}: seen after ${ms} ms (bound ${BOUND_MS} ms + ${SLACK_MS} ms for the tools)`)
}

async function scenario (t: Test, m: Mount): Promise<void> {
  const put = (key: string, body: string, extra: Record<string, unknown> = {}) =>
    m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: key, Body: body, ...extra }))
  const d = join(m.dir, 'd')
  await shOk(`mkdir ${q(d)} && printf mine > ${q(d + '/mine')}`)
  t.equal(await shOk(`ls ${q(d)}`), 'mine\n', 'our own file, at once')

  // created elsewhere in a directory the mount listed and created
  await put('d/theirs', 'four')
  let at = Date.now()
  within(t, await seenAfter(t, `ls ${q(d)} | tr '\\n' ' '`, 'mine theirs', at, 'mine'), 'a new object in ls')
  t.equal(await shOk(`stat -c %s ${q(d + '/theirs')}`), '4\n')
  t.equal(await shOk(`cat ${q(d + '/theirs')}`), 'four')

  // replaced elsewhere with a longer version: stat, cat and cmp see all of it
  await shOk(`cat ${q(d + '/theirs')} > /dev/null`) // cached blocks and pages of the old version
  await put('d/theirs', 'a longer second version')
  at = Date.now()
  within(t, await seenAfter(t, `cat ${q(d + '/theirs')}`, 'a longer second version', at, 'four'), 'an overwrite in cat')
  t.equal(await shOk(`stat -c %s ${q(d + '/theirs')}`), '23\n', 'the new size')
  await shOk(`printf 'a longer second version' > /tmp/freshness-expect && cmp /tmp/freshness-expect ${q(d + '/theirs')}`)

  // metadata another client rewrites in place (an s3fs chmod, touch -d)
  await new Promise(resolve => setTimeout(resolve, 1100)) // LastModified must move: it counts in seconds on some servers
  await m.client.send(new CopyObjectCommand({
    Bucket: m.bucket, Key: 'd/theirs', CopySource: `${m.bucket}/d/theirs`, MetadataDirective: 'REPLACE',
    Metadata: { mode: String(0o100600), mtime: '1600000000', uid: '1234' },
  }))
  at = Date.now()
  within(t, await seenAfter(t, `stat -c '%a %Y %u' ${q(d + '/theirs')}`, '600 1600000000 1234', at), 'a metadata change in stat')

  // an implied directory (keys under a prefix, no marker)
  await put('d/sub/deep/x', 'x')
  at = Date.now()
  within(t, await seenAfter(t, `ls ${q(d)} | tr '\\n' ' '`, 'mine sub theirs', at, 'mine theirs'), 'an implied directory in ls')
  t.equal(await shOk(`ls ${q(d + '/sub/deep')}`), 'x\n')

  // deleted elsewhere
  await m.client.send(new DeleteObjectCommand({ Bucket: m.bucket, Key: 'd/theirs' }))
  at = Date.now()
  within(t, await seenAfter(t, `ls ${q(d)} | tr '\\n' ' '`, 'mine sub', at, 'mine sub theirs'), 'a delete in ls')
  const gone = await sh(`stat ${q(d + '/theirs')}`)
  t.match(gone.stderr, /No such file/, 'stat: gone')

  // a name missed once (ENOENT), then created elsewhere: the miss is not kept past the bound
  t.not((await sh(`cat ${q(d + '/later')}`)).code, 0)
  await put('d/later', 'here now')
  at = Date.now()
  within(t, await seenAfter(t, `cat ${q(d + '/later')} 2>/dev/null`, 'here now', at), 'a name that was missing')

  // what freshness costs: stat and ls every 100 ms for 3 s cost about a listing a second
  await m.settle(500)
  const started = Date.now()
  const { requests } = await m.measure(`for i in $(seq 30); do stat ${q(d + '/mine')} >/dev/null; ls ${q(d)} >/dev/null; sleep 0.1; done`, { settleMs: 100 })
  const seconds = (Date.now() - started) / 1000
  t.ok(requests.total <= Math.ceil(seconds) + 1, `30 stat and 30 ls over ${seconds.toFixed(1)} s cost ${requests.total} requests (${JSON.stringify(requests.byType)}): a listing per second`)
  t.notOk(requests.byType.HeadObject, 'no HEAD')
}

t.test('on the local server', async t => {
  const m = await mountBucket(t, { s3 })
  await scenario(t, m)
})

t.test('through the fault proxy, 60 ms added to every request', async t => {
  const { m } = await faultMount(t, { s3, faults: { latencyMs: 60 } })
  await scenario(t, m)
})

t.test('attr_ttl=30: a longer bound, fewer listings, and changes seen later', async t => {
  const m = await mountBucket(t, { s3, options: ['attr_ttl=30'] })
  await shOk(`mkdir ${q(m.dir + '/d')} && printf a > ${q(m.dir + '/d/a')} && ls ${q(m.dir + '/d')}`)
  await m.client.send(new PutObjectCommand({ Bucket: m.bucket, Key: 'd/b', Body: 'b' }))
  await new Promise(resolve => setTimeout(resolve, 2000))
  t.equal(await shOk(`ls ${q(m.dir + '/d')}`), 'a\n', 'not yet seen after 2 s: the listing is trusted for 30 s')
  const { requests } = await m.measure(`for i in $(seq 20); do ls ${q(m.dir + '/d')} >/dev/null; sleep 0.1; done`)
  t.equal(requests.total, 0, 'and costs nothing')
})
