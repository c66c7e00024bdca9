/** the most times (ms, any order) in any window (t - windowMs, t]: the rate a server counting per second would see */
export function maxInWindow (times: readonly number[], windowMs = 1000): number {
  const s = [...times].sort((a, b) => a - b)
  let max = 0
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[j]! <= s[i]! - windowMs) j++
    max = Math.max(max, i - j + 1)
  }
  return max
}
