// Every way a mount can be refused ends in one line on stderr starting
// `oortfs: `, saying what is wrong and what to do, with the right exit code
// (2: usage or configuration, 1: the server or the network said no), within
// 10 s, without showing a secret and without leaving anything mounted.
import t, { type Test } from 'tap'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newBucket, withS3 } from '../helpers/s3-server.js'
import { cliEnv, ensureBuilt, isMounted, runCli, tmpDir, type CliResult } from '../helpers/oortfs-cli.js'

ensureBuilt()
const s3 = await withS3(t)
const home = tmpDir(t, 'oortfs-home-')

function oneLine (t: Test, r: CliResult, code: number, pattern: RegExp, secrets: string[] = [s3.secretAccessKey]): void {
  t.equal(r.code, code, `exit code ${code}`)
  const lines = r.stderr.split('\n').filter(Boolean)
  t.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(r.stderr)}`)
  t.match(lines[0], /^oortfs: /)
  t.match(lines[0], pattern)
  t.equal(r.stdout, '', 'nothing on stdout')
  t.ok(r.ms < 10_000, `answered in ${r.ms} ms`)
  for (const s of secrets) t.notOk(r.stderr.includes(s), 'no secret in the message')
}


function emptyDir (t: Test): string {
  const dir = join(tmpDir(t), 'mnt')
  mkdirSync(dir)
  return dir
}

const env = cliEnv(s3, home)
const ep = `endpoint=${s3.endpoint}`

t.test('usage errors', async t => {
  oneLine(t, await runCli([], env), 2, /Not enough non-option arguments.*oortfs --help/)
  oneLine(t, await runCli(['b', '/x', '--bogus'], env), 2, /Unknown argument: bogus/)
  oneLine(t, await runCli(['url', '/tmp/x', '--expires', 'soon'], env), 2, /--expires soon: give a duration like/)
})

t.test('bad mount points', async t => {
  const dir = tmpDir(t)
  oneLine(t, await runCli(['my-bucket', join(dir, 'missing'), '-o', ep], env), 2, /does not exist; create it with mkdir -p/)
  writeFileSync(join(dir, 'file'), 'x')
  oneLine(t, await runCli(['my-bucket', join(dir, 'file'), '-o', ep], env), 2, /is not a directory/)
  oneLine(t, await runCli(['my-bucket', dir, '-o', ep], env), 2, /is not empty; mount on an empty directory/)
  oneLine(t, await runCli(['my-bucket', '/proc', '-o', ep], env), 2, /already a mount point/)
})

t.test('bad options and names', async t => {
  const mnt = emptyDir(t)
  oneLine(t, await runCli(['my-bucket', mnt, '-o', `${ep},cache_sise=1M`], env), 2, /unknown option "cache_sise"; did you mean cache_size\?/)
  oneLine(t, await runCli(['my-bucket', mnt, `-o${ep}`, '-o', 'rps=lots'], env), 2, /bad value for option rps=lots: expected a number/)
  oneLine(t, await runCli(['my-bucket', mnt, '-o', 'endpoint=http://s3.example.com'], env), 2, /plain http.*https:\/\//)
  oneLine(t, await runCli(['Bad_Bucket', mnt, '-o', ep], env), 2, /bucket name "Bad_Bucket"/)
  const keys = join(home, 'keys')
  writeFileSync(keys, `${s3.accessKeyId}:${s3.secretAccessKey}\n`)
  chmodSync(keys, 0o644)
  oneLine(t, await runCli(['my-bucket', mnt, '-o', `${ep},passwd_file=${keys}`], env), 2, new RegExp(`chmod 600 ${keys}`))
  t.notOk(isMounted(mnt))
})

for (const mode of ['background', 'foreground'] as const) {
  const f = mode === 'foreground' ? ['-f'] : []
  t.test(`the server says no (${mode})`, async t => {
    const mnt = emptyDir(t)
    const bucket = await newBucket(s3, t, 'cli-errors')
    oneLine(t, await runCli(['no-such-bucket-here', mnt, '-o', ep, ...f], env), 1, /bucket no-such-bucket-here does not exist at .*check the bucket name/)
    oneLine(t, await runCli([bucket, mnt, '-o', ep, ...f], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret-123' }), 1,
      /secret key does not match the access key; check the keys from environment/, [s3.secretAccessKey, 'wrong-secret-123'])
    oneLine(t, await runCli([bucket, mnt, '-o', ep, ...f], { ...env, AWS_ACCESS_KEY_ID: 'nobody' }), 1, /does not know the access key/)
    oneLine(t, await runCli([bucket, mnt, '-o', 'endpoint=http://127.0.0.1:1,retries=1', ...f], env), 1, /cannot reach http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/)
    t.notOk(isMounted(mnt), 'nothing left mounted')
  })
}
