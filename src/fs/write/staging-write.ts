// Writes into a staging file. Through fs/promises each 128 KiB FUSE write hops
// from the JS thread to libuv's pool and back: two more thread wake-ups per
// call on top of FUSE's own, a tenth of a bulk write's CPU. A write into the
// page cache takes microseconds, so it is made synchronously on the JS thread.
// But a disk that throttles (dirty pages past the kernel's limit) can hold a
// write for up to a few hundred ms, and a synchronous one would stall every
// other call and every S3 answer meanwhile: once one takes longer than
// SLOW_MS, writes go through the pool again for ASYNC_FOR_MS.
// Either way the bytes are in the staging file (the kernel's page cache)
// before the write is answered: a crash of the process loses none of them.
import { writeSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { FsError } from '../../errors.js'

export const SLOW_MS = 10
export const ASYNC_FOR_MS = 30_000

export class StagingWriter {
  /** until when (on `now`'s clock) writes go through libuv's pool */
  private asyncUntil = -Infinity

  constructor (private readonly now: () => number = () => performance.now()) {}

  /** whether the next write is made on the JS thread */
  get synchronous (): boolean {
    return this.now() >= this.asyncUntil
  }

  async write (f: FileHandle, buf: Buffer, position: number): Promise<void> {
    if (!this.synchronous) return await writeAllAsync(f, buf, position)
    const start = this.now()
    let done = 0
    while (done < buf.length) {
      const n = writeSync(f.fd, buf, done, buf.length - done, position + done)
      if (n <= 0) throw new FsError('ENOSPC', 'staging file write failed')
      done += n
    }
    const end = this.now()
    if (end - start > SLOW_MS) this.asyncUntil = end + ASYNC_FOR_MS
  }
}

export async function writeAllAsync (f: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < buf.length) {
    const { bytesWritten } = await f.write(buf, done, buf.length - done, position + done)
    if (bytesWritten <= 0) throw new FsError('ENOSPC', 'staging file write failed')
    done += bytesWritten
  }
}
