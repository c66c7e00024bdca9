// The README's run command ends in `npm start` (scripts/demo.ts): its --check
// mode starts its own local server, fills the demo bucket, mounts it in the
// background, reads it like a user, unmounts and stops the server.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { stopLocalS3 } from '../../scripts/local-s3.js'
import { cliEnv, ensureBuilt, isMounted, ROOT, tmpDir } from '../helpers/oortfs-cli.js'

t.test('the demo mounts its bucket and shows its files', async t => {
  ensureBuilt()
  const mnt = join(tmpDir(t), 'mnt')
  t.teardown(async () => {
    if (isMounted(mnt)) { try { execFileSync('fusermount', ['-uz', mnt], { stdio: 'ignore' }) } catch { /* gone */ } }
    await stopLocalS3(join(ROOT, '.demo', 's3')).catch(() => {}) // left behind only if the demo was killed
  })
  // as a user runs it: without the loader tap puts in NODE_OPTIONS, and with no keys of ours
  const env = cliEnv(undefined, tmpDir(t))
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(ROOT, 'dist', 'scripts', 'demo.js'), '--check', '--mountpoint', mnt], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  t.equal(code, 0, `demo --check:\n${out}`)
  t.match(out, /oortfs demo check: ok: README\.txt, .*logs/)
  t.notOk(isMounted(mnt), 'unmounted after')
})
