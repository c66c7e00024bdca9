// The package as a user gets it: `npm pack` of a copy of this checkout (so the
// tests running beside it never see its dist/ rewritten), and npm run the way
// a user runs it, with none of the npm_* variables of the `npm test` around us.
import { cpSync, readFileSync, realpathSync, symlinkSync } from 'node:fs'
import { join, relative } from 'node:path'
import { ROOT } from './oortfs-cli.js'
import { plainEnv, q, sh } from './ops.js'

/** what a build or a run leaves in a checkout: never part of a fresh clone */
const NOT_SOURCE = new Set(['node_modules', 'dist', 'prebuilds', '.tap', '.demo', '.git', 'tmp'])

/** the environment of a user's shell: no npm_* config of the npm running the tests, no tap loader */
export function userEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = plainEnv()
  for (const k of Object.keys(env)) if (/^npm_/i.test(k) || k.startsWith('TAP')) delete env[k]
  return { ...env, ...extra }
}

/**
 * Copies the checkout's sources (tests, CI and bench files included: the
 * package must leave them out) to `dir`, with node_modules linked, and packs
 * it there: prepack and prepare build it. Returns the tarball's path.
 */
export async function packCopy (dir: string, timeoutMs = 180_000): Promise<{ tarball: string; log: string; ms: number }> {
  const src = join(dir, 'src')
  cpSync(ROOT, src, {
    recursive: true,
    filter: from => {
      const rel = relative(ROOT, from)
      return !NOT_SOURCE.has(rel.split('/')[0]!) && !/\.tgz$/.test(rel)
    },
  })
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(src, 'node_modules'))
  const start = Date.now()
  const r = await sh(`npm pack --pack-destination ${q(dir)}`, { cwd: src, env: userEnv(), timeoutMs })
  if (r.code !== 0) throw new Error(`npm pack: exit ${r.code}: ${r.stderr.slice(-3000)}`)
  const name = r.stdout.trim().split('\n').pop()!
  return { tarball: join(dir, name), log: r.stderr, ms: Date.now() - start }
}

/** the package's own version, from the checkout */
export function packageVersion (): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
}
