// What an uncaught exception or unhandled rejection does in a mounting
// process. Node's default (a trace on stderr, exit) leaves nothing in a
// background mount's log (its stderr goes nowhere) and a dead mount behind:
// every call on it fails with ENOTCONN until someone runs fusermount -uz.
// Instead: the error and its stack go where the mount logs, then one save
// attempt through the mount's own shutdown path (the same as SIGTERM's),
// bounded in time as the process may be in a bad state, then the mount is
// detached, and the process exits 1.
import { flushLog, log } from './util/log.js'

/** how the mount that is serving saves and lets go of its mount point */
export interface FinalSave {
  /** saves and unmounts; resolves with what could not be saved, if anything */
  save(): Promise<string | undefined>
  /** detaches the mount (lazily, as files may be open) if it is still this process's */
  detach(): Promise<void>
}

/** at most this long for the final save: uploads may be stuck on what broke */
export const CRASH_SAVE_MS = 60_000

let finalSave: FinalSave | undefined
let crashedAt: string | undefined

/** the mount registers how to save once serving; the function returned unregisters it */
export function setFinalSave (plan: FinalSave): () => void {
  finalSave = plan
  return () => { if (finalSave === plan) finalSave = undefined }
}

/** did an uncaught error happen? the exit status must then be non-zero whatever the save did */
export function crashed (): boolean {
  return crashedAt !== undefined
}

export interface CrashGuardOptions {
  timeoutMs?: number
  exit?: (code: number) => void
}

function describe (err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err)
}

/** installs the handlers; the function returned removes them */
export function guardCrashes (opts: CrashGuardOptions = {}): () => void {
  const { timeoutMs = CRASH_SAVE_MS, exit = (code: number) => process.exit(code) } = opts
  const handle = (kind: string) => (err: unknown): void => {
    log.error(`${kind}: ${describe(err)}`)
    // a second error while saving is logged, and the first one's shutdown goes on
    if (crashedAt !== undefined) return
    crashedAt = kind
    void (async () => {
      const plan = finalSave
      if (plan) {
        log.error(`saving what can be saved (for at most ${Math.round(timeoutMs / 1000)} s), then unmounting`)
        let timer: NodeJS.Timeout | undefined
        const outcome = await Promise.race([
          plan.save().then(failure => failure ? `not everything was saved: ${failure}` : 'everything was saved', (e: unknown) => `the save failed: ${describe(e)}`),
          new Promise<string>(resolve => { timer = setTimeout(() => resolve(`the save did not finish within ${Math.round(timeoutMs / 1000)} s; what was not uploaded stays in the staging folder`), timeoutMs) }),
        ])
        clearTimeout(timer)
        log.error(`after the ${kind}: ${outcome}`)
        await plan.detach().catch((e: unknown) => log.error(`could not unmount: ${describe(e)}`))
      }
      await flushLog()
      exit(1)
    })()
  }
  const onException = handle('uncaught exception')
  const onRejection = handle('unhandled promise rejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

/** forgets a crash: for tests */
export function resetCrashState (): void {
  crashedAt = undefined
  finalSave = undefined
}
