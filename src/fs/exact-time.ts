// Exact times: a file's atime, mtime and ctime to the nanosecond, of any
// 64-bit second value, beside the milliseconds the rest of the code uses.
//
// Why companions and not bigint nanoseconds throughout: every comparison
// (the attribute index's "a second apart", a touch "about now"), the batching
// of directory times and `now` itself are plain ms arithmetic, written in many
// places, some by others at the same time. So Meta keeps `mtimeMs` (the
// truth every such place reads and writes) and carries `mtimeNs` beside it,
// which counts only while it still agrees with the ms value:
// `msOfNs(mtimeNs) === mtimeMs`. Code that moves a time for its own reasons
// (a write drops mtime, a chmod's ctime is now, a directory's times follow its
// entries) sets the ms field alone and never needs to know the exact one
// exists: the stale exact value then disagrees and is ignored everywhere
// (headers, the index, stat), never shown.
//
// That check cannot be fooled by coincidence: msOfNs answers a whole number
// only for a whole number of ms (a sub-ms remainder that rounding would lose
// nudges it to the next double), and every time code sets over one that may
// carry an exact value is a whole ms (`now()` is Date.now(), a LastModified a
// Date) or comes with its own exact value (utimens); headers and index records
// make whole new Metas. A time moved to another value can equal msOfNs of the
// old exact one only if it is that very time. (Past 2^53 ms, 285,000 years
// out, doubles are all whole numbers; no clock or LastModified reaches there.)
const NS_PER_MS = 1_000_000n
const NS_PER_S = 1_000_000_000n

/** the ms a time of `ns` keeps (a whole number only for a whole number of ms) */
export function msOfNs (ns: bigint): number {
  // BigInt division truncates toward zero and the remainder has ns's sign: the two parts add up
  const rem = ns % NS_PER_MS
  const ms = Number(ns / NS_PER_MS) + Number(rem) / 1e6
  // rounding swallowed the remainder: step to the next double on its side (past 2^53 every double is whole)
  if (rem === 0n || !Number.isSafeInteger(ms)) return ms
  return nextDouble(ms, rem > 0n ? 1 : -1)
}

/** the exact time, if one rides beside ms and still agrees with it */
export function exactNs (ms: number | undefined, ns: bigint | undefined): bigint | undefined {
  return ms !== undefined && ns !== undefined && msOfNs(ns) === ms ? ns : undefined
}

/** a time in ns: the exact one that agrees, or the ms value (to the ns it holds) */
export function timeNs (ms: number, ns: bigint | undefined): bigint {
  return exactNs(ms, ns) ?? nsOfMs(ms)
}

/** ms -> ns, rounded to the ns (a ms time holds no more); ms must be finite */
export function nsOfMs (ms: number): bigint {
  if (Number.isSafeInteger(ms)) return BigInt(ms) * NS_PER_MS
  // the sub-ms part rounded on the magnitude, so a time before the epoch rounds as its mirror after it
  const abs = Math.abs(ms)
  const whole = Math.trunc(abs)
  const ns = BigInt(whole) * NS_PER_MS + BigInt(Math.round((abs - whole) * 1e6))
  return ms < 0 ? -ns : ns
}

/** the exact value is more than its ms value tells (a sub-ms part, or a value too large for a whole ms double) */
export function finerThanMs (ms: number, ns: bigint): boolean {
  return !(Number.isSafeInteger(ms) && BigInt(ms) * NS_PER_MS === ns)
}

/**
 * `seconds` or `seconds.nnnnnnnnn`, as s3fs stores times (s3fs reads the
 * whole seconds). Before the epoch the fraction carries the seconds' sign:
 * `-1.5` is 1.5 s before it, as parseNs reads it.
 */
export function formatNs (ns: bigint): string {
  const sign = ns < 0n ? '-' : ''
  const abs = ns < 0n ? -ns : ns
  const sec = abs / NS_PER_S
  const nanos = abs % NS_PER_S
  return nanos === 0n ? sign + String(sec) : `${sign}${sec}.${String(nanos).padStart(9, '0')}`
}

/**
 * `1700000000`, `1700000000.5`, `-1.5`, `1700000000.123456789` -> ns; digits
 * past the ns are dropped. A time beyond 64-bit seconds (what stat carries)
 * is no time, as one that does not parse.
 */
export function parseNs (s: string | undefined): bigint | undefined {
  const m = s !== undefined ? /^\s*(-?)(\d+)(?:\.(\d+))?\s*$/.exec(s) : null
  if (!m) return undefined
  const abs = BigInt(m[2]!) * NS_PER_S + BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'))
  const ns = m[1] ? -abs : abs
  return ns >= MIN_NS && ns <= MAX_NS ? ns : undefined
}
const MIN_NS = -(2n ** 63n) * NS_PER_S
const MAX_NS = (2n ** 63n - 1n) * NS_PER_S + NS_PER_S - 1n

/** a Date for stat's Date fields: times beyond a Date's ±8.64e15 ms are clamped (the ns fields carry the truth) */
export function clampedDate (ms: number): Date {
  return new Date(Math.max(-MAX_DATE_MS, Math.min(MAX_DATE_MS, ms)))
}
const MAX_DATE_MS = 8.64e15

const f64 = new Float64Array(1)
const i64 = new BigInt64Array(f64.buffer)
/** the next double from x (finite, not 0) away from or toward zero, in direction dir */
function nextDouble (x: number, dir: 1 | -1): number {
  f64[0] = x
  // a double's bits, read as an integer, step through the doubles in order of magnitude
  i64[0]! += (x > 0) === (dir > 0) ? 1n : -1n
  return f64[0]
}
