// tap `before` script (.taprc): starts the one Ceph S3 cluster that this test run's
// files share, and stops clusters of earlier runs that were interrupted before `after`.
// With OORTFS_TEST_S3_STATE set, the cluster is managed outside tap: nothing to do.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { inChildWithoutCoverage, readState, sharedStateFile, staleStateFiles, STATE_DIR } from './s3-state.js'

if (await inChildWithoutCoverage(import.meta.url) && process.env.OORTFS_TEST_S3_STATE === undefined) {
  const { startLocalS3, stopLocalS3 } = await import('../../scripts/local-s3.js')
  for (const file of staleStateFiles()) {
    const stale = readState(file)
    if (stale) await stopLocalS3(stale.dir).catch(() => {})
    rmSync(file, { force: true })
  }
  const t0 = Date.now()
  const { stop: _stop, ...state } = await startLocalS3()
  mkdirSync(STATE_DIR, { recursive: true })
  writeFileSync(sharedStateFile(), JSON.stringify(state, null, 2) + '\n')
  process.stderr.write(`# local S3 (Ceph radosgw) at ${state.endpoint}, started in ${Date.now() - t0} ms, dir ${state.dir}\n`)
}
