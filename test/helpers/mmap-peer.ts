// Mapped I/O for tests: drives test/helpers/mmap-peer.py, a python3 process
// that maps files MAP_SHARED read-write and reads, writes, msyncs and unmaps
// them, one request at a time (and reads with O_DIRECT, past the page cache). A process of its own: a page fault on the mount
// blocks it, never the test (nor the mount, which is a third process).
//
//   const peer = mmapPeer(t)
//   const id = await peer.map(path, 0, 8192, { close: true })
//   await peer.write(id, 100, data); await peer.sync(id); await peer.unmap(id)
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Teardown } from './s3-server.js'

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'mmap-peer.py')
export const PAGE = 4096

export interface MmapPeer {
  /** open(O_RDWR) + mmap(len bytes at file offset off, a page multiple); close: close the fd at once */
  map(path: string, off: number, len: number, opts?: { close?: boolean }): Promise<number>
  /** stores data at file offset `at` through the mapping */
  write(id: number, at: number, data: Buffer): Promise<void>
  /** len bytes at file offset `at`, loaded through the mapping */
  read(id: number, at: number, len: number): Promise<Buffer>
  /** msync(MS_SYNC), or MS_ASYNC */
  sync(id: number, async?: boolean): Promise<void>
  /** munmap, and close the fd if map() kept it */
  unmap(id: number): Promise<void>
  /** open(O_RDONLY, O_DIRECT if direct), pread, close: a read past the page cache */
  pread(path: string, at: number, len: number, direct: boolean): Promise<Buffer>
  /** stdin closed, the process gone */
  close(): Promise<void>
}

export function mmapPeer (t: Teardown, timeoutMs = 120_000): MmapPeer {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const p = spawn('python3', ['-u', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env })
  let stderr = ''
  p.stderr!.on('data', d => { stderr += d })
  const exited = new Promise<string>(resolve => p.on('exit', (code, signal) => resolve(`mmap peer exited (${signal ?? `exit ${code}`}) ${stderr.trim()}`)))
  let dead: string | undefined
  void exited.then(why => { dead = why })
  const waiting: ((line: string) => void)[] = []
  createInterface({ input: p.stdout! }).on('line', line => waiting.shift()?.(line))
  let chain: Promise<unknown> = Promise.resolve()
  t.teardown(async () => { await close() })

  const ask = (req: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const run = async (): Promise<Record<string, unknown>> => {
      if (dead) throw new Error(dead)
      let timer: NodeJS.Timeout | undefined
      const answer = new Promise<string>(resolve => { waiting.push(resolve) })
      p.stdin!.write(JSON.stringify(req) + '\n')
      try {
        const line = await Promise.race([
          answer,
          exited.then(why => { throw new Error(why) }),
          new Promise<never>((_resolve, reject) => {
            timer = setTimeout(() => reject(new Error(`mmap peer: no answer to ${String(req.cmd)} in ${timeoutMs} ms`)), timeoutMs)
          }),
        ])
        const out = JSON.parse(line) as Record<string, unknown>
        if (typeof out.error === 'string') throw new Error(`mmap ${String(req.cmd)}: ${out.error}`)
        return out
      } finally { clearTimeout(timer) }
    }
    const r = chain.then(run, run)
    chain = r.catch(() => {})
    return r
  }

  const close = async (): Promise<void> => {
    if (dead) return
    p.stdin!.end()
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  return {
    map: async (path, off, len, opts = {}) => (await ask({ cmd: 'map', path, off, len, close: !!opts.close })).id as number,
    write: async (id, at, data) => { await ask({ cmd: 'write', id, at, data: data.toString('base64') }) },
    read: async (id, at, len) => Buffer.from((await ask({ cmd: 'read', id, at, len })).data as string, 'base64'),
    sync: async (id, async = false) => { await ask({ cmd: 'sync', id, async }) },
    unmap: async id => { await ask({ cmd: 'unmap', id }) },
    pread: async (path, at, len, direct) => Buffer.from((await ask({ cmd: 'pread', path, at, len, direct })).data as string, 'base64'),
    close,
  }
}
