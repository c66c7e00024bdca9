#!/usr/bin/env node
// npm pack's prepack: puts oortfs's patched FUSE addon into the package, so an
// installed oortfs needs no compiler and runs no install script
// (src/fuse/fuse-addon.ts loads it). npm pack then runs prepare (the patch
// again, a no-op by then, and tsc, which writes dist/) and packs package.json's
// `files`.
// 1. dist/ is removed: tsc writes it again, and no file compiled from a
//    deleted source gets into the package;
// 2. scripts/patch-fuse-native.mjs patches and builds node_modules/fuse-native's
//    addon (nothing to do when `npm ci` built the current one already);
// 3. that build, without its debug symbols, is copied to
//    prebuilds/PLATFORM-ARCH/node.napi.LIBC.node, the name node-gyp-build looks for;
// 4. the copy is checked: it keeps the build mark and loads with the patched
//    binding's export. Fails loudly, so no package is made without it.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function fail (why) {
  console.error(`oortfs pack: ${why}`)
  process.exit(1)
}

rmSync(join(root, 'dist'), { recursive: true, force: true })
execFileSync(process.execPath, [join(root, 'scripts', 'patch-fuse-native.mjs')], { stdio: 'inherit' })

const built = join(dirname(require.resolve('fuse-native/package.json')), 'build', 'Release', 'fuse.node')
const mark = /oortfs-v\d+/.exec(readFileSync(built, 'latin1'))?.[0]
if (!mark) fail(`${built} has no oortfs build mark`)

// node-gyp-build tells glibc from musl builds by this tag; Node itself says which libc it runs on
const libc = process.platform !== 'linux' ? '' : process.report.getReport().header.glibcVersionRuntime ? '.glibc' : '.musl'
const prebuilds = join(root, 'prebuilds')
const dir = join(prebuilds, `${process.platform}-${process.arch}`)
const out = join(dir, `node.napi${libc}.node`)
rmSync(prebuilds, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
copyFileSync(built, out)
chmodSync(out, 0o755)
// debug symbols are two thirds of the file; what the loader needs (.dynsym) stays
execFileSync('strip', ['--strip-all', out])

if (!readFileSync(out, 'latin1').includes(mark)) fail(`strip removed the build mark ${mark} from ${out}`)
// in a child: a broken addon must not take this process down with it
const probe = `process.stdout.write(typeof require(${JSON.stringify(out)}).fuse_native_request)`
const kind = execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' })
if (kind !== 'function') fail(`${out} loads but has no fuse_native_request (${kind})`)
console.error(`oortfs pack: ${out.slice(root.length + 1)} (${mark})`)
