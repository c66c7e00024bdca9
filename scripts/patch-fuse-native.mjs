#!/usr/bin/env node
// fuse-native 2.2.6 sends a utimens call's atime in place of its mtime, and
// turns UTIME_NOW / UTIME_OMIT into a time of 1073 ms, so `touch -m`, `tar x`
// and `rsync -a` would store wrong mtimes. And it does not set libfuse's
// flag_utime_omit_ok, so libfuse 2.9 silently drops (answering success) every
// setattr that changes only one of the two times: `tar x` and `touch -m -d`
// set the mtime with the atime UTIME_OMIT, and their mtimes were lost. This
// rebuilds its addon from its own C source with all three fixed (the headers
// ship in fuse-shared-library-linux).
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
if (!c.includes('flag_utime_omit_ok')) {
  const before = c
  c = c.replace('  struct fuse_operations ops = { };\n',
    '  struct fuse_operations ops = { };\n' +
    '  /* oortfs: utimens with UTIME_OMIT, else libfuse 2.9 drops a change of the mtime alone */\n' +
    '  ops.flag_utime_omit_ok = 1;\n')
  if (c === before) {
    console.error('oortfs: fuse-native.c is not the version this patch knows; utimens stays broken')
    process.exit(1)
  }
  writeFileSync(src, c)
}

// the marker string lets a later install see that the build is ours and current
const BUILD_MARK = 'oortfs-utimens-v2'
const built = join(dir, 'build', 'Release', 'fuse.node')
if (!existsSync(built) || !readFileSync(built).includes(Buffer.from(BUILD_MARK))) {
  c = readFileSync(src, 'utf8')
  if (!c.includes(BUILD_MARK)) {
    const line = `  static const char *oortfs_build_mark __attribute__((used)) = "${BUILD_MARK}"; (void) oortfs_build_mark;`
    // an older build's marker line is replaced, not joined by a second one
    c = /^ {2}static const char \*oortfs_build_mark .*$/m.test(c)
      ? c.replace(/^ {2}static const char \*oortfs_build_mark .*$/m, line)
      : c.replace(MARK, `${MARK}\n${line}`)
    writeFileSync(src, c)
  }
  const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js', { paths: [dirname(process.execPath) + '/../lib/node_modules/npm'] })
  // build against the installed Node headers: nothing is downloaded
  const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  const args = [gyp, 'rebuild', '--loglevel=error', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] })
  if (!readFileSync(built).includes(Buffer.from(BUILD_MARK))) {
    console.error('oortfs: rebuilt fuse-native addon lacks the fix marker')
    process.exit(1)
  }
}
