// `oortfs url PATH [--expires D] [--put]`: the printed URL works with plain
// HTTP clients (curl), in Signature V4 form and, on a `-o sigv2` mount, in V2
// form; the server checks it (a changed or expired one is refused); an upload
// through a PUT URL shows in the mount once its cached listing expires (attr_ttl).
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { cleanupMount, cliEnv, ensureBuilt, isMounted, runCli, spawnForeground, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { objectBytes, q, sh, shOk } from '../helpers/ops.js'

ensureBuilt()
const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))

async function mount (t: Test, options: string): Promise<{ work: string; mnt: string; bucket: string }> {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'urls')
  const fg = spawnForeground([bucket, mnt, '-o', `endpoint=${s3.endpoint},${options}`], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  if (!await waitFor(() => isMounted(mnt), 15_000)) throw new Error(`no mount: ${fg.stderr()}`)
  return { work, mnt, bucket }
}

async function url (t: Test, args: string[]): Promise<string> {
  const r = await runCli(['url', ...args], env)
  t.equal(r.code, 0, `oortfs url ${args.join(' ')}: ${r.stderr}`)
  return r.stdout.trim()
}

/** curl's status code; the body goes to `out` */
async function curl (args: string, out = '/dev/null'): Promise<number> {
  return Number(await shOk(`curl -s -o ${q(out)} -w '%{http_code}' ${args}`))
}

/** writes a 3 MiB binary file in the mount, returns its bytes */
async function binaryFile (work: string, path: string): Promise<Buffer> {
  const data = randomBytes(3 * 2 ** 20)
  const local = join(work, 'local.bin')
  writeFileSync(local, data)
  await shOk(`cp ${q(local)} ${q(path)}`)
  return data
}

const NAME = 'dir/a b+c%d#ü.bin'

for (const sig of ['v4', 'v2'] as const) {
  t.test(`${sig} URLs`, async t => {
    const { work, mnt, bucket } = await mount(t, `attr_ttl=1${sig === 'v2' ? ',sigv2' : ''}`)
    mkdirSync(join(mnt, 'dir'))
    const data = await binaryFile(work, join(mnt, NAME))

    const get = await url(t, [join(mnt, NAME)])
    const u = new URL(get)
    if (sig === 'v4') {
      t.equal(u.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256')
      t.equal(u.searchParams.get('X-Amz-Expires'), '3600', 'valid 1 h by default')
    } else {
      t.same([...u.searchParams.keys()].sort(), ['AWSAccessKeyId', 'Expires', 'Signature'], 'the V2 form')
      t.ok(Math.abs(Number(u.searchParams.get('Expires')) - (Date.now() / 1000 + 3600)) < 60, 'expires in 1 h')
    }
    t.match(u.pathname, `/${bucket}/dir/`)
    const out = join(work, 'out.bin')
    t.equal(await curl(q(get), out), 200, 'curl downloads it')
    t.ok(readFileSync(out).equals(data), 'the file\'s bytes')
    t.equal((await shOk(`curl -s ${q(get)} | md5sum`)).slice(0, 32), (await shOk(`md5sum ${q(join(mnt, NAME))}`)).slice(0, 32))

    // the server checks the signature, and the expiry
    const tampered = new URL(get)
    tampered.pathname = tampered.pathname.replace(/\.bin$/, '.bim')
    t.equal(await curl(q(tampered.href)), 403, 'a URL for another key is refused')
    const short = await url(t, [join(mnt, NAME), '--expires', '1s'])
    await new Promise(r => setTimeout(r, 2100))
    t.equal(await curl(q(short)), 403, 'an expired URL is refused')

    // PUT: the upload lands in the bucket, and in the mount once attr_ttl (1 s) passes
    t.same((await shOk(`ls ${q(join(mnt, 'dir'))}`)).split('\n').filter(Boolean), ['a b+c%d#ü.bin'], 'the listing is cached now')
    const put = await url(t, [join(mnt, 'dir', 'up load+ü.txt'), '--put', '--expires', '10m'])
    const body = join(work, 'body.txt')
    writeFileSync(body, `uploaded with a ${sig} URL\n`)
    t.equal(await curl(`-T ${q(body)} ${q(put)}`), 200, 'curl -T uploads')
    t.equal((await objectBytes(client, bucket, 'dir/up load+ü.txt')).toString(), `uploaded with a ${sig} URL\n`, 'the object is in the bucket')
    const seen = await waitFor(() => false, 1100).then(() => sh(`cat ${q(join(mnt, 'dir', 'up load+ü.txt'))}`))
    t.same([seen.code, seen.stdout], [0, `uploaded with a ${sig} URL\n`], 'the mount shows it after attr_ttl')
    t.match(await shOk(`ls ${q(join(mnt, 'dir'))}`), 'up load+ü.txt')

    // what has no URL
    const dir = await runCli(['url', join(mnt, 'dir')], env)
    t.equal(dir.code, 1)
    t.match(dir.stderr, /^oortfs: .*a directory has no URL/)
    const missing = await runCli(['url', join(mnt, 'nothing.txt')], env)
    t.equal(missing.code, 1)
    t.match(missing.stderr, /^oortfs: .*ENOENT/)
    const long = await runCli(['url', join(mnt, NAME), '--expires', '8d'], env)
    t.equal(long.code, 2)
    t.match(long.stderr, /at most 7d/)
  })
}
