// Two kinds of time, never mixed. An interval (a TTL, a backoff, a rate window,
// "no progress for 5 min") is measured on the monotonic clock: it never steps
// when timesyncd corrects the wall clock at boot, a VM resumes or someone runs
// `date -s`, so a step back by an hour cannot make a window stay full or a
// cache entry stay fresh for an hour. Wall time (Date.now()) is kept for what
// is a date: a file's mtime, a log line, a signature the server checks against
// its own clock (and those are signed with the server's time: clock-skew.ts).

/** milliseconds on a clock that only moves forward (origin: process start) */
export const monotonic = (): number => performance.now()
