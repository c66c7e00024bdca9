// Which FUSE addon oortfs runs on: the build mark the runtime checks is the one
// the patch script writes; the choice between fuse-native's own addon and the
// one packed into the package; and, in this checkout (after npm ci), the
// patched one is what loaded.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ADDON_MARK, addonIsPatched, addonPath, addonProblem, chooseAddon } from '../../src/fuse/fuse-addon.js'

t.test('the mark checked at mount is the one scripts/patch-fuse-native.mjs builds in', async t => {
  const script = readFileSync(new URL('../../scripts/patch-fuse-native.mjs', import.meta.url), 'utf8')
  t.match(script, `const BUILD_MARK = '${ADDON_MARK}'`)
})

t.test('fuse-native\'s own addon when it is current, else the packed one when it is, else fuse-native\'s own (refused)', async t => {
  const own = '/fuse-native/build/Release/fuse.node'
  const packed = { file: '/oortfs/prebuilds/linux-x64/node.napi.glibc.node', override: '/oortfs' }
  const current = (...files: string[]) => (f: string) => files.includes(f)
  t.same(chooseAddon(own, packed, current(own, packed.file)), { file: own }, 'a checkout: its own build')
  t.same(chooseAddon(own, packed, current(packed.file)), packed, 'an installed package: the stock prebuild is not current')
  t.same(chooseAddon(own, undefined, current()), { file: own }, 'no packed addon: fuse-native\'s, for mount.ts to refuse')
  t.same(chooseAddon(own, packed, current()), { file: own }, 'neither current: fuse-native\'s')
  t.same(chooseAddon(undefined, packed, current(packed.file)), packed, 'no addon of fuse-native\'s own fits the platform')
  t.equal(chooseAddon(undefined, undefined, current()), undefined)
})

t.test('in this checkout the loaded addon is the patched build', async t => {
  t.ok(addonIsPatched(), addonPath())
  t.equal(addonProblem(), undefined)
})
