// Reading an answer's body: into buffers the caller gave (a ranged GET), or
// whole (a small object). Both tell a body that ended from one that was cut:
// a chunked answer has no Content-Length to compare with, and a connection
// dropped mid-body must never read as a shorter object.
import { finished, type Readable } from 'node:stream'

/**
 * Buffers filled back to back as one range of `length` bytes. Every buffer
 * but the last is filled whole, so an offset finds its buffer by division.
 */
export class Segments {
  private readonly size: number
  constructor (private readonly parts: Buffer[], readonly length: number) {
    this.size = parts[0]?.length ?? 0
    const room = parts.reduce((n, b) => n + b.length, 0)
    if (room < length || parts.some((b, i) => i < parts.length - 1 && b.length !== this.size)) {
      throw new RangeError(`buffers for ${length} bytes: ${parts.length} of ${this.size} bytes`)
    }
  }

  /** where bytes at offset `at` go: a view of the one buffer holding it, at most `max` bytes long */
  view (at: number, max: number): Buffer {
    const part = this.parts[Math.floor(at / this.size)]!
    const offset = at % this.size
    return part.subarray(offset, offset + Math.min(max, part.length - offset, this.length - at))
  }

  /** copies chunk to offset `at`; returns how much fitted */
  write (chunk: Buffer, at: number): number {
    let from = 0
    while (from < chunk.length && at + from < this.length) {
      from += chunk.copy(this.view(at + from, chunk.length - from), 0, from)
    }
    return from
  }
}

/**
 * Reads a body into sink from offset; returns the byte count. Events rather
 * than an async iterator: a promise per 64 KiB chunk costs more than the copy.
 * A dropped connection mid-body ends it early: the caller sees a short read
 * and resumes. finished() also answers for a body that was cut (closed) before
 * we got to it, where waiting for its events would wait forever. Once the sink
 * is full the body is let go: a server that answered a range with the whole
 * object is not read to its end.
 */
export function readInto (body: Readable, sink: Segments, offset: number): Promise<number> {
  return new Promise(resolve => {
    let at = offset
    let done = false
    const end = (): void => {
      if (done) return
      done = true
      body.off('data', onData)
      resolve(at - offset)
    }
    const onData = (chunk: Buffer): void => {
      at += sink.write(chunk, at)
      if (at >= sink.length) {
        end()
        body.destroy()
      }
    }
    if (at >= sink.length) { end(); body.destroy(); return }
    body.on('data', onData)
    finished(body, end)
  })
}

/** a whole body of unknown length, or undefined if it was cut before its end */
export function readAll (body: Readable): Promise<Buffer | undefined> {
  return new Promise(resolve => {
    const chunks: Buffer[] = []
    const onData = (chunk: Buffer): void => { chunks.push(chunk) }
    body.on('data', onData)
    finished(body, err => {
      body.off('data', onData)
      resolve(err ? undefined : Buffer.concat(chunks))
    })
  })
}
