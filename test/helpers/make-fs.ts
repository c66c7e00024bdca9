// An OortFs over a FakeStore, with small sizes so tests exercise multipart paths.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OortFs, type FsOptions } from '../../src/fs/filesystem.js'
import { FakeStore } from './fake-store.js'

export const KiB = 1024
export const MiB = 1024 * 1024

let staging: string | undefined
/** one staging folder per test process, removed when it exits (else one per makeFs piles up in /tmp) */
function stagingDir (): string {
  if (!staging) {
    const dir = staging = mkdtempSync(join(tmpdir(), 'oortfs-test-'))
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  return staging
}

export function makeFs (store = new FakeStore({ minPartSize: 64 * KiB }), opts: Partial<FsOptions> = {}): { fs: OortFs, store: FakeStore } {
  const fs = new OortFs(store, {
    prefix: '',
    readOnly: false,
    uid: 1000,
    gid: 1000,
    umask: 0o022,
    attrTtlMs: 60_000,
    metaMode: 'list',
    blockSize: 64 * KiB,
    cacheSize: 8 * MiB,
    readahead: 1 * MiB,
    partSize: 64 * KiB,
    uploadConcurrency: 4,
    stagingDir: stagingDir(),
    ...opts,
  })
  return { fs, store }
}

/**
 * An OortFs whose clocks (its monotonic one, its wall one and the store's) move
 * only when the test steps them: TTLs expire, and LastModified tells versions
 * apart, exactly when the test says so.
 */
export function steppedFs (ttlMs: number, opts: Partial<FsOptions> = {}): { fs: OortFs, store: FakeStore, step: (ms: number) => void } {
  let mono = 1_000_000
  let wall = 1_750_000_000_000
  const store = new FakeStore({ minPartSize: 64 * KiB, now: () => wall })
  const { fs } = makeFs(store, { attrTtlMs: ttlMs, monotonic: () => mono, now: () => wall, ...opts })
  return { fs, store, step: ms => { mono += ms; wall += ms } }
}

/** writes a whole file through the filesystem the way cp would */
export async function writeFile (fs: OortFs, path: string, data: Buffer, chunk = 4096): Promise<void> {
  const fh = await fs.create(path, 0o644)
  for (let at = 0; at < data.length; at += chunk) {
    const piece = data.subarray(at, Math.min(data.length, at + chunk))
    await fs.write(fh, piece, piece.length, at)
  }
  await fs.flush(fh)
  await fs.release(fh)
}

/** reads a whole file through the filesystem in `chunk`-sized reads */
export async function readFile (fs: OortFs, path: string, chunk = 128 * 1024): Promise<Buffer> {
  const fh = await fs.open(path, 0)
  const parts: Buffer[] = []
  for (let at = 0; ; ) {
    const buf = Buffer.alloc(chunk)
    const n = await fs.read(fh, buf, chunk, at)
    if (n === 0) break
    parts.push(buf.subarray(0, n))
    at += n
  }
  await fs.release(fh)
  return Buffer.concat(parts)
}

export function pattern (size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size)
  let x = seed
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) & 0x7fffffff; b[i] = x >>> 16 }
  return b
}

/** the errno a call fails with, or undefined if it succeeds */
export async function errnoOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return (err as { errno?: string }).errno }
}
