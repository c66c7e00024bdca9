// Is the mount at our mount point still ours? A lookup only our FUSE adapter
// hears says so. The unmount watcher and control requests ask at once: each
// waits for its own name, so one never takes the other's answer for silence.
import t from 'tap'
import { selfPing } from '../../src/fuse/self-ping.js'

const MP = '/mnt/x'

t.test('two pings at once: each hears its own answer', async t => {
  // our adapter hears each lookup, later than the next ping starts
  const ping = selfPing(MP, {
    mounted: () => true,
    stat: path => new Promise((_, reject) => setTimeout(() => { ping.heard(path.slice(MP.length)); reject(new Error('ENOENT')) }, 30)),
  })
  t.same(await Promise.all([ping.stillOurs(), ping.stillOurs(), ping.stillOurs()]), [true, true, true])
})

t.test('an answer nobody of ours heard: another process serves the mount point', async t => {
  const ping = selfPing(MP, { mounted: () => true, stat: async () => { throw new Error('ENOENT') } })
  t.equal(await ping.stillOurs(), false)
})

t.test('names we did not send are not kept; nothing mounted is not ours', async t => {
  const ping = selfPing(MP, { mounted: () => false, stat: async () => {} })
  ping.heard('/.oortfs-ping-someone-else')
  t.equal(await ping.stillOurs(), false)
})

t.test('a lookup that hangs: a busy mount of ours, not proof it is another\'s', async t => {
  const ping = selfPing(MP, { mounted: () => true, timeoutMs: 50, stat: () => new Promise(() => {}) })
  const alive = setInterval(() => {}, 1000) // the ping's own timer does not keep a process alive
  t.teardown(() => clearInterval(alive))
  t.equal(await ping.stillOurs(), true)
})

t.test('while a lookup of ours still hangs, no other is sent (each would hold one of libuv\'s threads)', async t => {
  let lookups = 0
  let finish!: () => void
  const ping = selfPing(MP, { mounted: () => true, timeoutMs: 30, stat: () => { lookups++; return new Promise<void>(resolve => { finish = resolve }) } })
  const alive = setInterval(() => {}, 1000) // the ping's own timer does not keep a process alive
  t.teardown(() => clearInterval(alive))
  t.equal(await ping.stillOurs(), true, 'a hung lookup: ours, busy')
  t.equal(await ping.stillOurs(), true)
  t.equal(await ping.stillOurs(), true)
  t.equal(lookups, 1, 'one lookup for the three asks')
  finish()
  await new Promise(resolve => setTimeout(resolve, 10))
  await ping.stillOurs()
  t.equal(lookups, 2, 'once it ended, the next ask looks again')
})
