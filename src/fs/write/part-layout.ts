// Where each multipart part starts and ends. Parts are `partSize` for the first
// thousand, then double every thousand (never past S3's 5 GiB part), so that a
// stream of unknown length can upload each part as soon as it is written and
// still fit S3's 10,000 parts (part 10,000 ends past 8 PiB at 8 MiB).
import { S3Limits } from '../../s3/limits.js'

const TIER = 1000

export function partSizeAt (index: number, partSize: number): number {
  return Math.min(S3Limits.maxPart, partSize * 2 ** Math.floor(index / TIER))
}

/** where tier t's first part starts */
function tierStart (tier: number, partSize: number): number {
  let at = 0
  for (let k = 0; k < tier; k++) at += TIER * partSizeAt(k * TIER, partSize)
  return at
}

export function partStart (index: number, partSize: number): number {
  const tier = Math.floor(index / TIER)
  return tierStart(tier, partSize) + (index - tier * TIER) * partSizeAt(index, partSize)
}

export function partIndexOf (offset: number, partSize: number): number {
  let tier = 0
  let start = 0
  for (;;) {
    const size = partSizeAt(tier * TIER, partSize)
    if (offset < start + TIER * size) return tier * TIER + Math.floor((offset - start) / size)
    start += TIER * size
    tier++
  }
}

/** [start, end) of each part of a file of `size` bytes; one empty part for an empty file */
export function partsOf (size: number, partSize: number): [number, number][] {
  const out: [number, number][] = []
  for (let i = 0, at = 0; at < size || i === 0; i++) {
    const end = Math.min(size, at + partSizeAt(i, partSize))
    out.push([at, end])
    at = end
    if (size === 0) break
  }
  return out
}
