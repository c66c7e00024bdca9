// The one place fuse-native is loaded, and which compiled FUSE addon it runs on.
//
// fuse-native loads its C addon with node-gyp-build(its own folder): its
// build/Release if there is one, else the stock prebuild it ships. The stock
// one lacks oortfs's fixes (utimens, the caller of each request, exact times:
// scripts/patch-fuse-native.mjs), so mount.ts refuses it. Two places hold the
// patched addon:
// - a checkout: fuse-native's own build/Release, built by the patch script at
//   `npm ci` (package.json's prepare);
// - an installed package: prebuilds/PLATFORM-ARCH/ in oortfs's own folder, put
//   there when the package was packed (scripts/pack-addon.mjs), so a user's
//   install needs no compiler and runs no install script.
// fuse-native's own choice wins when it is oortfs's current build; else the
// packed one is loaded, by pointing node-gyp-build at oortfs's folder with its
// documented override, FUSE_NATIVE_PREBUILD=DIR, while fuse-native loads.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type FuseNative from 'fuse-native'
import { packageInfo } from '../package-root.js'

/** what scripts/patch-fuse-native.mjs (BUILD_MARK) writes into the addon; bumped with each change of the patch */
export const ADDON_MARK = 'oortfs-v9'

/** the patched binding's own export (fuse-request.ts reads it) */
export interface Binding { fuse_native_request?: () => Buffer | undefined }

const require = createRequire(import.meta.url)
const FUSE_DIR = dirname(require.resolve('fuse-native/package.json'))
/** node-gyp-build as fuse-native requires it: the same copy finds the same file */
const gypBuild = createRequire(join(FUSE_DIR, 'index.js'))('node-gyp-build') as { path (dir: string): string }
/** node-gyp-build's override for the package named fuse-native: the folder to load its addon from */
const OVERRIDE = 'FUSE_NATIVE_PREBUILD'

/** runs fn with FUSE_NATIVE_PREBUILD=dir (as it is, for undefined), then puts the variable back */
function withOverride<T> (dir: string | undefined, fn: () => T): T {
  const saved = process.env[OVERRIDE]
  if (dir !== undefined) process.env[OVERRIDE] = dir
  try {
    return fn()
  } finally {
    if (saved === undefined) delete process.env[OVERRIDE]
    else process.env[OVERRIDE] = saved
  }
}

/** the addon file fuse-native would load with FUSE_NATIVE_PREBUILD=dir; undefined if none fits this platform */
function addonFile (dir: string | undefined): string | undefined {
  try {
    return withOverride(dir, () => gypBuild.path(FUSE_DIR))
  } catch {
    return undefined
  }
}

/** the file carries the build mark of the current patch */
export function carriesMark (file: string): boolean {
  try {
    return readFileSync(file).includes(ADDON_MARK)
  } catch {
    return false
  }
}

export interface AddonChoice {
  /** the addon file to load */
  file: string
  /** FUSE_NATIVE_PREBUILD while fuse-native loads; undefined: fuse-native's own choice */
  override?: string
}

/**
 * fuse-native's own addon if it is the current patched build (a checkout, or
 * one built by the fix command), else the packed one if it is, else fuse-native's
 * own, for mount.ts to refuse. The packed one, undefined when the package has none.
 */
export function chooseAddon (own: string | undefined, packed: AddonChoice | undefined, current: (file: string) => boolean): AddonChoice | undefined {
  if (own && current(own)) return { file: own }
  if (packed && current(packed.file)) return packed
  return own ? { file: own } : packed
}

interface Loaded {
  Fuse: typeof FuseNative
  file: string
  binding: Binding
  /** why the packed addon is not the one loaded, when it could not load */
  note?: string
}

function load (): Loaded {
  const root = packageInfo().root
  const packedFile = existsSync(join(root, 'prebuilds')) ? addonFile(root) : undefined
  const packed = packedFile ? { file: packedFile, override: root } : undefined
  const choice = chooseAddon(addonFile(undefined), packed, carriesMark)
  // none at all: fuse-native's own load says why
  if (!choice) return { Fuse: require('fuse-native') as typeof FuseNative, file: 'none', binding: {} }
  let note: string | undefined
  let file = choice.file
  let Fuse: typeof FuseNative
  try {
    Fuse = withOverride(choice.override, () => require('fuse-native') as typeof FuseNative)
  } catch (err) {
    if (!choice.override) throw err
    // the packed addon would not load here (a glibc older than the one it was
    // built against, say): fuse-native's own, for mount.ts to refuse with why
    note = `the packed ${choice.file} does not load: ${((err as Error).message ?? String(err)).split('\n')[0]}`
    file = addonFile(undefined) ?? 'none'
    Fuse = require('fuse-native') as typeof FuseNative
  }
  // fuse-native's require of the addon put it in the module cache: the same
  // object is its binding, and ours. Not there: fuse-native was loaded earlier,
  // by another path, and which addon it runs on is unknown.
  if (!require.cache[require.resolve(file)]) return { Fuse, file, binding: {}, note: note ?? 'fuse-native was loaded before oortfs chose its addon' }
  return { Fuse, file, binding: require(file) as Binding, note }
}

const loaded = load()

/** fuse-native's Fuse class, running on the addon chosen above */
export const Fuse: typeof FuseNative = loaded.Fuse

/** the loaded addon's own exports */
export function fuseBinding (): Binding {
  return loaded.binding
}

/** the addon file fuse-native runs on */
export function addonPath (): string {
  return loaded.file
}

/** the loaded addon is oortfs's current patched build */
export function addonIsPatched (): boolean {
  return carriesMark(loaded.file) && typeof loaded.binding.fuse_native_request === 'function'
}

/**
 * What is wrong with the loaded addon and the command that fixes it, in one
 * line; undefined when it is the patched one. The command builds the patched
 * addon in fuse-native's folder (checkout or installed package alike), which
 * fuse-native then loads first.
 */
export function addonProblem (): string | undefined {
  if (addonIsPatched()) return undefined
  let writable = true
  try { accessSync(FUSE_DIR, constants.W_OK) } catch { writable = false }
  const fix = `${writable ? '' : 'sudo '}${process.execPath} ${join(packageInfo().root, 'scripts', 'patch-fuse-native.mjs')}`
  return `the FUSE addon ${loaded.file} is not oortfs's patched build ${ADDON_MARK}${loaded.note ? ` (${loaded.note})` : ''}, ` +
    `so new files' owners and their times would be wrong; build it with: ${fix} (needs g++, make and python3)`
}
