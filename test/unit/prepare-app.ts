// Before mounting (src/daemon.ts prepareApp): the bucket must answer within the
// check timeout, but finishing a crash's interrupted renames after that answer
// may take as long as it takes, and the mount's log says what it finished.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { explainCheckFailure, prepareApp } from '../../src/daemon.js'
import { toS3Error } from '../../src/s3/errors.js'
import { serverError } from '../helpers/fake-errors.js'
import { MountError, type MountedApp } from '../../src/fuse/mount.js'
import type { Config } from '../../src/config-types.js'
import type { RecoveryReport } from '../../src/fs/rename-journal.js'
import { captureLog } from '../helpers/log-capture.js'

const config = { bucket: 'b', endpoint: 'http://127.0.0.1:9', logLevel: 'warn', credentialSource: 'the environment' } as unknown as Config

const finishedOne: RecoveryReport = {
  renames: [{ from: 'old/', to: 'new/', started: '2026-11-25T10:00:00.000Z', copied: 40, alreadyThere: 2, kept: ['old/clash'], refused: [] }],
  running: [{ from: 'big/', to: 'moved/', host: 'other', pid: 77, beatAgo: 12 }],
  pending: [],
  failed: [],
}

function fakeApp (start: MountedApp['start']): MountedApp & { closed: number } {
  const app = {
    closed: 0,
    start,
    close: async () => { app.closed++ },
  }
  return app as unknown as MountedApp & { closed: number }
}

t.test('a recovery longer than the check timeout is waited for once the bucket answered', async t => {
  const lines = captureLog(t)
  let progressed = 0
  const app = fakeApp(async progress => {
    progress?.()
    await sleep(300) // three check timeouts of copying
    progress?.()
    return finishedOne
  })
  const got = await prepareApp(config, async () => app, 100, () => progressed++)
  t.equal(got, app, 'the app, ready to mount')
  t.equal(progressed, 2, 'progress reached the caller (the background parent extends its wait)')
  t.same(lines, [
    'oortfs: warning: finished the interrupted rename of old/ to new/ (begun 2026-11-25T10:00:00.000Z): 40 key(s) copied now, 2 already there',
    'oortfs: warning:   kept under the old name, the new one holds other data: old/clash',
    'oortfs: warning: left alone: the rename of big/ to moved/ is running (process 77 on other, journal rewritten 12 s ago); if that process is gone, the next mount or oortfs fsck after 120 s finishes it',
  ], 'the log says what was finished, what was kept, and what runs elsewhere')
})

t.test('no answer within the check timeout: a MountError saying so, the app closed', async t => {
  const app = fakeApp(() => new Promise<RecoveryReport>(() => {}))
  await t.rejects(prepareApp(config, async () => app, 100), new MountError('no answer from http://127.0.0.1:9 in 0.1 s; check endpoint= and the network'))
  t.equal(app.closed, 1)
})

t.test('a refused check becomes one line that says what to fix', async t => {
  const app = fakeApp(async () => { throw Object.assign(new Error('The specified bucket does not exist'), { code: 'NoSuchBucket', status: 404 }) })
  await t.rejects(prepareApp(config, async () => app, 1000), { name: 'MountError', message: 'bucket b does not exist at http://127.0.0.1:9; check the bucket name and endpoint=' })
  t.equal(app.closed, 1)
})

t.test('nothing to recover: nothing logged', async t => {
  const lines = captureLog(t)
  await prepareApp(config, async () => fakeApp(async progress => { progress?.(); return { renames: [], running: [], pending: [], failed: [] } }), 1000)
  t.same(lines, [])
})

// what the mount says when its first request fails: the reason, named, not a guess
t.test('a certificate failure is named, not "cannot reach ... check the network"', async t => {
  const err = toS3Error(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), 'list ')
  const line = explainCheckFailure(err, config)
  t.match(line, /TLS certificate has expired \(CERT_HAS_EXPIRED\)/, line)
  t.notMatch(line, /cannot reach|the network/)
  const self = explainCheckFailure(toS3Error(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'list '), config)
  t.match(self, /self-signed .*NODE_EXTRA_CA_CERTS/, self)
})

t.test('a skewed clock is named as clock skew, not "check the keys"', async t => {
  const line = explainCheckFailure(serverError('RequestTimeTooSkewed', 403, 'list '), config)
  t.match(line, /clock.*RequestTimeTooSkewed/, line)
  t.notMatch(line, /check the keys|access .* denied/)
})

t.test('a refused connection still says to check the endpoint and the network', async t => {
  const line = explainCheckFailure(toS3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'list '), config)
  t.equal(line, 'cannot reach http://127.0.0.1:9 (ECONNREFUSED); check endpoint= and the network')
})
