// How the demo names the oortfs command in its hints, so that the line it
// prints works in any shell: after `npm ci` in a checkout nothing puts
// `oortfs` on PATH (`npm link` does), and a global oortfs of another version
// may be there instead.
import { existsSync, realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'

function real (p: string): string | undefined {
  try { return realpathSync(p) } catch { return undefined }
}

/** `oortfs` when the first one on `path` is `bin` itself (a linked checkout), else `bin`'s absolute path */
export function oortfsCommand (bin: string, path = process.env.PATH ?? ''): string {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir, 'oortfs')
    // the first oortfs on PATH is the one a shell runs
    if (dir && existsSync(candidate)) return real(candidate) === real(bin) ? 'oortfs' : bin
  }
  return bin
}
