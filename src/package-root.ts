// The folder of oortfs's package.json: the checkout, or the installed package
// (npm's global node_modules/oortfs). Found by walking up from this file, which
// is src/ run from source (tests) or dist/src/ compiled.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface PackageInfo { root: string; version: string }

let found: PackageInfo | undefined

export function packageInfo (): PackageInfo {
  if (found) return found
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'oortfs') return (found = { root: dir, version: pkg.version ?? 'unknown' })
    } catch { /* keep walking */ }
  }
  throw new Error(`no package.json of oortfs above ${fileURLToPath(import.meta.url)}`)
}
