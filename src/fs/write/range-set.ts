// A set of byte ranges [start, end), kept sorted and merged: which parts of a
// staging file hold the file's real bytes.

export type Range = [start: number, end: number]

export class RangeSet {
  private ranges: Range[] = []

  add (start: number, end: number): void {
    if (end <= start) return
    const out: Range[] = []
    let s = start
    let e = end
    let placed = false
    for (const [a, b] of this.ranges) {
      if (b < s) out.push([a, b])
      else if (a > e) {
        if (!placed) { out.push([s, e]); placed = true }
        out.push([a, b])
      } else {
        s = Math.min(s, a)
        e = Math.max(e, b)
      }
    }
    if (!placed) out.push([s, e])
    this.ranges = out
  }

  /** drops everything at or past `end` */
  truncate (end: number): void {
    this.ranges = this.ranges
      .filter(([a]) => a < end)
      .map(([a, b]) => [a, Math.min(b, end)] as Range)
  }

  get empty (): boolean {
    return this.ranges.length === 0
  }

  covers (start: number, end: number): boolean {
    if (end <= start) return true
    return this.ranges.some(([a, b]) => a <= start && b >= end)
  }

  /** the sub-ranges of [start, end) not in the set */
  gaps (start: number, end: number): Range[] {
    const out: Range[] = []
    let at = start
    for (const [a, b] of this.ranges) {
      if (b <= at) continue
      if (a >= end) break
      if (a > at) out.push([at, Math.min(a, end)])
      at = Math.max(at, b)
      if (at >= end) break
    }
    if (at < end) out.push([at, end])
    return out
  }

  /** the sub-ranges of [start, end) in the set */
  within (start: number, end: number): Range[] {
    const out: Range[] = []
    for (const [a, b] of this.ranges) {
      const s = Math.max(a, start)
      const e = Math.min(b, end)
      if (s < e) out.push([s, e])
    }
    return out
  }

  get isEmpty (): boolean {
    return this.ranges.length === 0
  }

  toArray (): Range[] {
    return this.ranges.map(r => [r[0], r[1]] as Range)
  }
}
