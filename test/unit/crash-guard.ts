// An uncaught exception or unhandled rejection in a mounting process: logged
// where the mount logs, with its stack; one save through the mount's shutdown
// path, bounded in time; the mount detached; exit 1. The listeners are called
// directly: tap's own must not see these errors.
import t, { type Test } from 'tap'
import { crashed, guardCrashes, resetCrashState, setFinalSave } from '../../src/crash-guard.js'
import { testCrashHook } from '../../src/daemon.js'
import { captureLog } from '../helpers/log-capture.js'

type Listener = (err: unknown) => void

/** installs the guard; returns its two listeners and a promise of the exit code */
function guard (t: Test, timeoutMs = 1000): { exception: Listener, rejection: Listener, exited: Promise<number>, logs: string[] } {
  resetCrashState()
  const logs = captureLog(t, 'warn')
  const ue = process.listeners('uncaughtException')
  const ur = process.listeners('unhandledRejection')
  let exit!: (code: number) => void
  const exited = new Promise<number>(resolve => { exit = resolve })
  const remove = guardCrashes({ timeoutMs, exit })
  t.teardown(() => { remove(); resetCrashState() })
  const exception = process.listeners('uncaughtException').find(fn => !ue.includes(fn)) as Listener
  const rejection = process.listeners('unhandledRejection').find(fn => !ur.includes(fn)) as Listener
  return { exception, rejection, exited, logs }
}

t.test('the guard listens for both, and is removed again', async t => {
  const before = [process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')]
  const remove = guardCrashes({ exit: () => {} })
  t.same([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')], [before[0]! + 1, before[1]! + 1])
  remove()
  t.same([process.listenerCount('uncaughtException'), process.listenerCount('unhandledRejection')], before)
})

t.test('an uncaught exception: logged with its stack, saved, detached, exit 1, in that order', async t => {
  const { exception, exited, logs } = guard(t)
  const steps: string[] = []
  setFinalSave({
    save: async () => { steps.push('save'); return undefined },
    detach: async () => { steps.push('detach') },
  })
  exception(new TypeError('boom in a callback'))
  t.equal(await exited, 1)
  t.same(steps, ['save', 'detach'])
  t.match(logs[0], /^oortfs: error: uncaught exception: TypeError: boom in a callback\n\s+at /)
  t.match(logs.join('\n'), /after the uncaught exception: everything was saved/)
  t.equal(crashed(), true, 'the mount\'s exit status is then non-zero whatever the save did')
})

t.test('an unhandled rejection takes the same path, and says what could not be saved', async t => {
  const { rejection, exited, logs } = guard(t)
  setFinalSave({ save: async () => 'a.txt: EIO', detach: async () => {} })
  rejection('not even an Error')
  t.equal(await exited, 1)
  t.match(logs.join('\n'), /unhandled promise rejection: not even an Error[^]*not everything was saved: a\.txt: EIO/)
})

t.test('a save that hangs is given up after the time bound; the mount is still detached', async t => {
  const { exception, exited, logs } = guard(t, 50)
  let detached = false
  setFinalSave({ save: () => new Promise(() => {}), detach: async () => { detached = true } })
  const started = Date.now()
  exception(new Error('stuck'))
  t.equal(await exited, 1)
  t.ok(Date.now() - started < 2000, 'bounded')
  t.equal(detached, true)
  t.match(logs.join('\n'), /did not finish within 0 s|did not finish within/)
})

t.test('a second error during the save is logged; the save runs once', async t => {
  const { exception, exited, logs } = guard(t)
  let saves = 0
  let release!: () => void
  setFinalSave({ save: () => { saves++; return new Promise(resolve => { release = () => resolve(undefined) }) }, detach: async () => {} })
  exception(new Error('first'))
  exception(new Error('second'))
  release()
  t.equal(await exited, 1)
  t.equal(saves, 1)
  t.match(logs.join('\n'), /uncaught exception: Error: first[^]*uncaught exception: Error: second/)
})

t.test('before the mount serves (nothing to save): logged, exit 1', async t => {
  const { exception, exited, logs } = guard(t)
  exception(new Error('early'))
  t.equal(await exited, 1)
  t.match(logs[0], /uncaught exception: Error: early/)
})

t.test('a crash line is redacted like every other line', async t => {
  const { exception, exited, logs } = guard(t)
  exception(new Error('GET https://h/b/k?X-Amz-Signature=0123abcd&X-Amz-Credential=AKID%2F2024'))
  await exited
  t.notMatch(logs.join('\n'), /0123abcd|AKID%2F2024/)
})

t.test('the test hook exists only with OORTFS_TEST_CRASH set', async t => {
  const before = process.listenerCount('SIGUSR2')
  testCrashHook({})
  testCrashHook({ OORTFS_TEST_CRASH: 'yes please' })
  t.equal(process.listenerCount('SIGUSR2'), before)
  testCrashHook({ OORTFS_TEST_CRASH: 'throw' })
  t.equal(process.listenerCount('SIGUSR2'), before + 1)
  process.removeListener('SIGUSR2', process.listeners('SIGUSR2').at(-1)!)
})
