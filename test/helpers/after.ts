// tap `after` script (.taprc): stops the cluster that before.ts started for this run.

import { rmSync } from 'node:fs'
import { inChildWithoutCoverage, readState, sharedStateFile } from './s3-state.js'

if (await inChildWithoutCoverage(import.meta.url) && process.env.OORTFS_TEST_S3_STATE === undefined) {
  const { stopLocalS3 } = await import('../../scripts/local-s3.js')
  const file = sharedStateFile()
  const state = readState(file)
  if (state) await stopLocalS3(state.dir)
  rmSync(file, { force: true })
}
