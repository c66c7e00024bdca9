// `oortfs fsck BUCKET`: what a mount does first, without mounting. It finishes
// the directory renames a crash cut short (their journal under .oortfs-journal/)
// and says what it did: for a bucket that should be whole again before anyone
// mounts it, or a script that checks before it starts mounts. With -o ro it
// only says what it would finish.
import type { Config } from './config-types.js'
import { buildApp } from './app.js'
import { explainCheckFailure } from './daemon.js'
import { RenameJournal } from './fs/rename-journal.js'

/**
 * The report, a line each, and whether everything found could be finished;
 * throws an Error whose message is one line saying what failed.
 */
export async function fsck (config: Config): Promise<{ lines: string[], complete: boolean }> {
  const app = await buildApp(config)
  try {
    const report = await app.start().catch(err => { throw new Error(explainCheckFailure(err, config)) })
    const n = report.renames.length
    const running = report.running.length
    const pending = report.pending.length
    const failed = report.failed.length
    const summary = n
      ? `${n} interrupted directory rename${n === 1 ? '' : 's'} finished`
      : running || pending ? 'no interrupted directory rename finished' : 'no interrupted directory rename; nothing to do'
    const lines = [
      ...RenameJournal.describe(report),
      `bucket ${config.bucket}: ${summary}${running ? `; ${running} running elsewhere, left alone` : ''}` +
        `${pending ? `; ${pending} to finish without -o ro` : ''}${failed ? `; ${failed} could not be finished now (said above why)` : ''}`,
    ]
    return { lines, complete: failed === 0 && report.renames.every(r => r.refused.length === 0) }
  } finally {
    await app.close().catch(() => {})
  }
}
