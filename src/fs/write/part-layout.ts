// Where each multipart part starts and ends. Parts are `partSize` for the first
// thousand, then double every thousand, so that the 10,000-part limit never
// bites (part 10,000 ends past 8 PiB at 8 MiB) while a stream of unknown length
// can upload each part as soon as it is written.

const TIER = 1000

export function partSizeAt (index: number, partSize: number): number {
  return partSize * 2 ** Math.floor(index / TIER)
}

export function partStart (index: number, partSize: number): number {
  const tier = Math.floor(index / TIER)
  return partSize * TIER * (2 ** tier - 1) + (index - tier * TIER) * partSize * 2 ** tier
}

export function partIndexOf (offset: number, partSize: number): number {
  let tier = 0
  while (offset >= partSize * TIER * (2 ** (tier + 1) - 1)) tier++
  const tierStart = partSize * TIER * (2 ** tier - 1)
  return tier * TIER + Math.floor((offset - tierStart) / (partSize * 2 ** tier))
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
