// bin/oortfs picks the node it runs on: the one of the npm prefix it was
// installed under (nvm) before any on PATH, and says in one line when the
// only node there is is older than 20. Stub nodes print who they are.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BIN } from '../helpers/oortfs-cli.js'

function tree (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'oortfs-bin-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** a fake node answering --version with `version` and printing `name` and its arguments otherwise */
function stubNode (dir: string, name: string, version: string): void {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'node'), `#!/bin/sh\ncase "$1" in --version) echo ${version};; *) echo "${name} $*";; esac\n`, { mode: 0o755 })
}

/** an npm-style global install: PREFIX/bin/oortfs -> ../lib/node_modules/oortfs/bin/oortfs */
function install (prefix: string): string {
  const pkgBin = join(prefix, 'lib', 'node_modules', 'oortfs', 'bin')
  mkdirSync(pkgBin, { recursive: true })
  copyFileSync(BIN, join(pkgBin, 'oortfs'))
  mkdirSync(join(prefix, 'bin'), { recursive: true })
  symlinkSync('../lib/node_modules/oortfs/bin/oortfs', join(prefix, 'bin', 'oortfs'))
  return join(prefix, 'bin', 'oortfs')
}

/** a PATH directory with the one tool bin/oortfs needs besides node */
const tools = mkdtempSync(join(tmpdir(), 'oortfs-bin-tools-'))
symlinkSync(spawnSync('sh', ['-c', 'command -v readlink'], { encoding: 'utf8' }).stdout.trim(), join(tools, 'readlink'))
t.teardown(() => rmSync(tools, { recursive: true, force: true }))

function run (cmd: string, path: string): { code: number | null, stdout: string, stderr: string } {
  const r = spawnSync(cmd, ['--version'], { env: { PATH: `${path}:${tools}` }, encoding: 'utf8' })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

t.test('installed under an nvm prefix, it runs on that prefix\'s node, not an older one on PATH', async t => {
  const dir = tree(t)
  const prefix = join(dir, 'nvm', 'versions', 'node', 'v20.1.0')
  const cmd = install(prefix)
  stubNode(join(prefix, 'bin'), 'prefix-node', 'v20.1.0')
  stubNode(join(dir, 'usr-bin'), 'debian-node', 'v18.19.0')
  const r = run(cmd, join(dir, 'usr-bin'))
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^prefix-node .*lib\/node_modules\/oortfs\/bin\/oortfs --version$/m)
})

t.test('a checkout linked into PATH runs on the node found on PATH', async t => {
  const dir = tree(t)
  const link = join(dir, 'local-bin', 'oortfs')
  mkdirSync(join(dir, 'local-bin'))
  symlinkSync(BIN, link)
  stubNode(join(dir, 'usr-bin'), 'path-node', 'v22.3.0')
  const r = run(link, join(dir, 'usr-bin'))
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `path-node ${BIN} --version\n`)
})

t.test('only a node older than 20: one line saying so, exit 1, nothing run', async t => {
  const dir = tree(t)
  const link = join(dir, 'oortfs')
  symlinkSync(BIN, link)
  for (const v of ['v18.19.0', 'v9.11.2', 'v19.9.0']) {
    stubNode(join(dir, v), 'old-node', v)
    const r = run(link, join(dir, v))
    t.equal(r.code, 1, v)
    t.equal(r.stdout, '', `${v}: the old node is never handed the script`)
    t.match(r.stderr, new RegExp(`^oortfs: needs Node.js 20 or later, but ${join(dir, v, 'node')} is ${v}; .*\\n$`))
  }
  stubNode(join(dir, 'v100'), 'new-node', 'v100.0.0')
  t.equal(run(link, join(dir, 'v100')).code, 0, 'v100 is newer than 20')
})

t.test('no node anywhere: one line saying so, exit 1', async t => {
  const dir = tree(t)
  const link = join(dir, 'oortfs')
  symlinkSync(BIN, link)
  const r = run(link, join(dir, 'empty'))
  t.equal(r.code, 1)
  t.match(r.stderr, /^oortfs: node not found in \S+; install Node\.js 20 or later/)
})
