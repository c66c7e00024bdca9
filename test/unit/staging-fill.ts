// A save fetches the bytes of an open file that only the server has (to PUT a
// small file whole, or to send a part that is partly written) and fills them
// into the staging file. The kernel sends FLUSH and RELEASE without the inode
// lock, and a mapping's writeback at any time: writes and truncates through
// another descriptor can land while that GET is on its way. Each test holds
// the GET (the fake store's gates) until they have. Found by the fsx run with
// mapped I/O and a close racing a write (test/e2e/fsx.ts).
import t from 'tap'
import { makeFs, writeFile, readFile, pattern, KiB } from '../helpers/make-fs.js'
import { OpenFlags } from '../../src/fs/api.js'

const { O_RDWR } = OpenFlags

/** a 40 KiB file (one part) open twice; one byte written through the first handle, then its flush, its GET held */
async function flushHeld (name: string) {
  const { fs, store } = makeFs()
  const data = pattern(40 * KiB)
  await writeFile(fs, `/${name}`, data)
  const fh = await fs.open(`/${name}`, O_RDWR)
  const other = await fs.open(`/${name}`, O_RDWR)
  await fs.write(fh, Buffer.from('A'), 1, 0)
  const get = store.hold('GetObject', name)
  const saving = fs.flush(fh)
  await get.arrived
  return { fs, store, data, fh, other, get, saving }
}

t.test('a write through another descriptor while the save fetches the bytes around it is kept', async t => {
  const { fs, store, data, fh, other, get, saving } = await flushHeld('w')
  const patch = Buffer.alloc(4 * KiB, 0x5a)
  await fs.write(other, patch, patch.length, 8 * KiB)
  get.release()
  await saving
  await fs.release(fh)
  await fs.release(other)
  const want = Buffer.from(data)
  want[0] = 'A'.charCodeAt(0)
  patch.copy(want, 8 * KiB)
  t.ok(store.object('w')!.body.equals(want), 'the object has the write')
  t.ok((await readFile(fs, '/w')).equals(want), 'and reads back')
})

t.test('a truncate and a write past it while the save fetches: the range the truncate cut off is zeros', async t => {
  const { fs, store, data, fh, other, get, saving } = await flushHeld('c')
  await fs.ftruncate(other, 1000)
  const tail = Buffer.alloc(KiB, 0x5a)
  await fs.write(other, tail, tail.length, 50 * KiB)
  get.release()
  await saving
  await fs.release(fh)
  await fs.release(other)
  const want = Buffer.alloc(51 * KiB)
  data.copy(want, 0, 0, 1000)
  want[0] = 'A'.charCodeAt(0)
  tail.copy(want, 50 * KiB)
  const got = store.object('c')!.body
  const wrong = got.findIndex((b, i) => b !== want[i])
  t.ok(got.equals(want), `the object: old bytes to 1000, zeros to 50 KiB, then the write (first wrong byte: ${wrong})`)
  t.ok((await readFile(fs, '/c')).equals(want), 'and reads back')
})
