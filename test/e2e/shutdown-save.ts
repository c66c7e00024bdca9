// SIGTERM while a program is writing a large file: every byte a write() was
// acknowledged for is on the server afterwards (checked with a plain S3
// client, by size and MD5), and the process exits 0; if the server cannot be
// reached, the exit status is 1 and one line names what was not saved.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { newBucket, rawClient, withS3 } from '../helpers/s3-server.js'
import { cleanupMount, cliEnv, ensureBuilt, isMounted, spawnForeground, stagingDirsOf, tmpDir, waitFor } from '../helpers/oortfs-cli.js'
import { cuttableProxy, objectMd5 } from '../helpers/ops.js'

ensureBuilt()
const s3 = await withS3(t)
const client = rawClient(s3)
t.teardown(() => client.destroy())
const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))

// The writer: writes pseudo-random MiB chunks to a file it keeps open, and
// reports how many bytes its write() calls were acknowledged for, with their MD5.
//   hold MiB:       writes MiB, reports, then waits (file open) until stdin ends
//   run MiB MAX:    writes MiB, reports, then 1 MiB every 10 ms until a write
//                   fails or MAX MiB are written, and reports again
const WRITER = `
import { openSync, writeSync, closeSync } from 'node:fs'
import { createHash } from 'node:crypto'
const [path, mode, first, max] = process.argv.slice(2)
const fd = openSync(path, 'w')
const md5 = createHash('md5')
let written = 0
let seed = 0x9e3779b9
function chunk () {
  const words = new Uint32Array(262144)
  for (let i = 0; i < words.length; i++) { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; words[i] = seed >>> 0 }
  return Buffer.from(words.buffer)
}
function write () {
  const buf = chunk()
  let off = 0
  try {
    while (off < buf.length) {
      const n = writeSync(fd, buf, off, buf.length - off)
      md5.update(buf.subarray(off, off + n))
      off += n
      written += n
    }
  } catch (err) { return err.code ?? String(err) }
}
const report = (extra) => console.log(JSON.stringify({ written, md5: md5.copy().digest('hex'), ...extra }))
for (let i = 0; i < Number(first); i++) { const e = write(); if (e) { report({ error: e }); process.exit(1) } }
report({ ready: true })
if (mode === 'run') {
  let error
  for (let i = Number(first); i < Number(max) && !error; i++) {
    await new Promise(r => setTimeout(r, 10))
    error = write()
  }
  report({ error })
}
process.stdin.resume()
process.stdin.on('end', () => { try { closeSync(fd) } catch {} ; process.exit(0) })
`

interface Report { written: number; md5: string; ready?: boolean; error?: string }

function startWriter (t: Test, dir: string, args: string[]): { child: ChildProcess; reports: Report[]; next: () => Promise<Report> } {
  const script = join(dir, 'writer.mjs')
  writeFileSync(script, WRITER)
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill('SIGKILL') })
  const reports: Report[] = []
  const waiting: ((r: Report) => void)[] = []
  let buf = ''
  child.stdout!.on('data', d => {
    buf += d
    for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
      const r = JSON.parse(buf.slice(0, nl)) as Report
      reports.push(r)
      waiting.shift()?.(r)
    }
  })
  let taken = 0
  const next = (): Promise<Report> => taken < reports.length
    ? Promise.resolve(reports[taken++]!)
    : new Promise(resolve => waiting.push(r => { taken++; resolve(r) }))
  return { child, reports, next }
}

async function prepare (t: Test, options: string): Promise<{ work: string; mnt: string; bucket: string; fg: ReturnType<typeof spawnForeground> }> {
  const work = tmpDir(t)
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  const bucket = await newBucket(s3, t, 'shutdown')
  const fg = spawnForeground([bucket, mnt, '-o', options], env)
  cleanupMount(t, mnt, () => fg.child.pid)
  if (!await waitFor(() => isMounted(mnt), 15_000)) throw new Error(`no mount: ${fg.stderr()}`)
  return { work, mnt, bucket, fg }
}

async function onServer (bucket: string, key: string): Promise<{ size: number; md5: string }> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
  return { size: head.ContentLength ?? -1, md5: await objectMd5(client, bucket, key) }
}

t.test('SIGTERM while the writer is still writing: what was acknowledged is saved, then writes answer EROFS', async t => {
  const { work, mnt, bucket, fg } = await prepare(t, `endpoint=${s3.endpoint}`)
  const w = startWriter(t, work, [join(mnt, 'stream.bin'), 'run', '24', '600'])
  const ready = await w.next()
  t.equal(ready.written, 24 * 2 ** 20, '24 MiB written before the signal')
  fg.child.kill('SIGTERM')
  const end = await w.next()
  t.equal(end.error, 'EROFS', 'the writer is told, at its next write, that no more changes are accepted')
  t.ok(end.written >= ready.written && end.written < 600 * 2 ** 20, `${end.written} bytes acknowledged in all`)
  t.equal(await fg.exited, 0, 'exit 0: everything saved')
  t.notOk(isMounted(mnt), 'unmounted')
  t.same(await onServer(bucket, 'stream.bin'), { size: end.written, md5: end.md5 }, 'the server has exactly the acknowledged bytes')
  w.child.stdin!.end()
})

t.test('SIGTERM with 100 MiB written and the file still open: all of it is saved, exit 0', async t => {
  const { work, mnt, bucket, fg } = await prepare(t, `endpoint=${s3.endpoint}`)
  const w = startWriter(t, work, [join(mnt, 'held.bin'), 'hold', '100'])
  const ready = await w.next()
  t.equal(ready.written, 100 * 2 ** 20)
  fg.child.kill('SIGTERM')
  t.equal(await fg.exited, 0, 'exit 0 while the writer still holds the file open')
  t.equal(fg.stderr(), '', 'nothing on stderr at the default log level')
  t.same(await onServer(bucket, 'held.bin'), { size: ready.written, md5: ready.md5 }, 'all 100 MiB on the server')
  w.child.stdin!.end()
  await new Promise(resolve => w.child.on('exit', resolve))
})

t.test('SIGTERM with the server unreachable: exit 1 and a line naming what was not saved', async t => {
  const proxy = await cuttableProxy(s3.endpoint, t)
  const { work, mnt, fg } = await prepare(t, `endpoint=${proxy.url},retries=2`)
  const w = startWriter(t, work, [join(mnt, 'unsaved.bin'), 'hold', '3'])
  await w.next()
  await proxy.cut()
  const start = Date.now()
  fg.child.kill('SIGTERM')
  const code = await fg.exited
  t.equal(code, 1, 'exit status 1')
  t.ok(Date.now() - start < 30_000, `gave up in ${Date.now() - start} ms`)
  const lines = fg.stderr().split('\n').filter(l => /error/.test(l))
  t.equal(lines.length, 1, `one error line: ${fg.stderr()}`)
  // (the mount root's new times, from the file made in it, could not be stored either: said in the same line)
  t.match(lines[0], /^oortfs: error: some changes could not be saved: could not save [12] item\(s\): \/unsaved\.bin: put unsaved\.bin failed with ECONNREFUSED/)
  const kept = /the bytes written stay in (\S+)\)/.exec(lines[0]!)?.[1]
  const folders = await stagingDirsOf(mnt)
  t.ok(folders.length === 1 && kept?.startsWith(folders[0] + '/'), `the line says where the bytes are: ${kept}`)
  t.equal(kept && existsSync(kept) ? statSync(kept).size : -1, 3 * 2 ** 20, 'and all 3 MiB the writer was acknowledged for are there')
  t.notOk(isMounted(mnt), 'unmounted all the same')
  w.child.stdin!.end()
})
