#!/usr/bin/env node
// fuse-native 2.2.6 sends a utimens call's atime in place of its mtime, and
// turns UTIME_NOW / UTIME_OMIT into a time of 1073 ms, so `touch -m`, `tar x`
// and `rsync -a` would store wrong mtimes. This rebuilds its addon from its own
// C source with both fixed (the headers ship in fuse-shared-library-linux).
// Runs at install (npm's postinstall); idempotent; fails loudly.
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const dir = dirname(require.resolve('fuse-native/package.json'))
const src = join(dir, 'fuse-native.c')
const MARK = '/* oortfs: utimens fixed */'

let c = readFileSync(src, 'utf8')
if (!c.includes(MARK)) {
  const before = c
  c = c.replace('FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)')
  c = c.replace(
    /static uint64_t timespec_to_uint64 \(const struct timespec\* ts\) \{\n/,
    `static uint64_t timespec_to_uint64 (const struct timespec* ts) {\n  ${MARK}\n` +
    '  if (ts->tv_nsec == UTIME_NOW) return 0xFFFFFFFFFFFFFFFFULL;\n' +
    '  if (ts->tv_nsec == UTIME_OMIT) return 0xFFFFFFFFFFFFFFFEULL;\n')
  if (c === before || !c.includes('l->mtime, 5') || !c.includes(MARK)) {
    console.error('oortfs: fuse-native.c is not the version this patch knows; utimens stays broken')
    process.exit(1)
  }
  writeFileSync(src, c)
}

const built = join(dir, 'build', 'Release', 'fuse.node')
if (!existsSync(built) || !readFileSync(built).includes(Buffer.from('oortfs-utimens-v1'))) {
  // the marker string lets a later install see that the build is ours
  c = readFileSync(src, 'utf8')
  if (!c.includes('oortfs-utimens-v1')) {
    writeFileSync(src, c.replace(MARK, `${MARK}\n  static const char *oortfs_build_mark __attribute__((used)) = "oortfs-utimens-v1"; (void) oortfs_build_mark;`))
  }
  const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js', { paths: [dirname(process.execPath) + '/../lib/node_modules/npm'] })
  // build against the installed Node headers: nothing is downloaded
  const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  const args = [gyp, 'rebuild', '--loglevel=error', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] })
  if (!readFileSync(built).includes(Buffer.from('oortfs-utimens-v1'))) {
    console.error('oortfs: rebuilt fuse-native addon lacks the fix marker')
    process.exit(1)
  }
}
