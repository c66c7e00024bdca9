// The control socket is bound to one mount: a client asking for mount point X
// gets an answer only from a process that says it serves X and whose FUSE
// mount is still the one at X. An old process still holding the socket while
// a new mount takes the point (a restart) refuses, and the client waits for the new one.
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NotServingError, ask, request } from '../../src/control/client.js'
import { socketPath, startControlServer, type ControlHandlers, type ControlServer } from '../../src/control/server.js'

function runDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-ctl-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function handlers (serving: () => boolean, name: string): ControlHandlers {
  return {
    serving: async () => serving(),
    stats: () => ({ who: name }),
    presign: async () => `https://${name}/url`,
    unmount: async () => {},
  }
}

async function serve (t: Test, path: string, mountpoint: string, serving: () => boolean, name: string, pid = 1000): Promise<ControlServer> {
  const s = await startControlServer(path, { mountpoint, bucket: `bucket-${name}`, prefix: '', pid }, handlers(serving, name))
  t.teardown(() => s.close())
  return s
}

t.test('the process serving the mount answers, and says who it is', async t => {
  const dir = runDir(t)
  const path = socketPath(dir, '/mnt/a')
  await serve(t, path, '/mnt/a', () => true, 'a')
  t.same(await request(path, { cmd: 'stats', mount: '/mnt/a' }), { who: 'a' })
  t.same(await ask('/mnt/a', { cmd: 'stats' }, 5000, undefined, [dir]), { who: 'a' })
})

t.test('a process whose mount is no longer the one at its mount point refuses to answer for it', async t => {
  const dir = runDir(t)
  const path = socketPath(dir, '/mnt/a')
  await serve(t, path, '/mnt/a', () => false, 'old', 1111)
  const err = await request(path, { cmd: 'presign', mount: '/mnt/a', path: '/f', expires: 60 }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof NotServingError, String(err))
  t.match((err as Error).message, /pid 1111\) no longer serves \/mnt\/a/)
  t.match((err as NotServingError).server, { pid: 1111, mountpoint: '/mnt/a', bucket: 'bucket-old' })
})

t.test('a request for another mount point than the process serves is refused', async t => {
  const dir = runDir(t)
  // as if /mnt/b's socket path led to /mnt/a's process (a moved socket, a stale file)
  const path = socketPath(dir, '/mnt/b')
  await serve(t, path, '/mnt/a', () => true, 'a')
  const err = await request(path, { cmd: 'unmount', mount: '/mnt/b' }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof NotServingError)
  t.match((err as Error).message, /serves \/mnt\/a, not \/mnt\/b/)
})

t.test('a server that does not say which mount it serves (an older oortfs) is not believed', async t => {
  const dir = runDir(t)
  const path = socketPath(dir, '/mnt/a')
  const old = createServer(s => s.on('data', () => s.end(JSON.stringify({ ok: true, result: { who: 'old' } }) + '\n')))
  await new Promise<void>(resolve => old.listen(path, resolve))
  t.teardown(() => { old.close() })
  const err = await request(path, { cmd: 'stats', mount: '/mnt/a' }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof NotServingError)
  t.match((err as Error).message, /does not serve \/mnt\/a/)
})

t.test('a request that names no mount is refused by the server', async t => {
  const dir = runDir(t)
  const path = socketPath(dir, '/mnt/a')
  await serve(t, path, '/mnt/a', () => true, 'a')
  const err = await request(path, { cmd: 'stats' } as never).then(() => undefined, (e: unknown) => e)
  t.match((err as Error)?.message, /does not serve|names the mount point/)
})

t.test('restart: the old process holds the socket, then lets go; the client gets the new process\'s answer', async t => {
  const dir = runDir(t)
  const path = socketPath(dir, '/mnt/a')
  const old = await serve(t, path, '/mnt/a', () => false, 'old', 1111)
  setTimeout(() => {
    void old.close().then(() => serve(t, path, '/mnt/a', () => true, 'new', 2222))
  }, 600)
  const started = Date.now()
  t.same(await ask('/mnt/a', { cmd: 'stats' }, 5000, undefined, [dir]), { who: 'new' }, 'never the old process\'s answer')
  t.ok(Date.now() - started >= 500, 'waited for the new process')
})

t.test('only the old process, for longer than the client waits: an error saying so', async t => {
  const dir = runDir(t)
  await serve(t, socketPath(dir, '/mnt/a'), '/mnt/a', () => false, 'old', 1111)
  const err = await ask('/mnt/a', { cmd: 'stats' }, 5000, undefined, [dir]).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof NotServingError)
  t.match((err as Error).message, /no longer serves/)
})
