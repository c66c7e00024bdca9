// The demo's hint names an oortfs command that runs this checkout's bin/oortfs
// from any shell: `oortfs` only when that is what PATH finds.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { oortfsCommand } from '../../scripts/demo-hint.js'
import { BIN } from '../helpers/oortfs-cli.js'

const dir = mkdtempSync(join(tmpdir(), 'oortfs-hint-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const linked = join(dir, 'linked')
const other = join(dir, 'other')
const empty = join(dir, 'empty')
for (const d of [linked, other, empty]) mkdirSync(d)
// npm link's shape: a symlink to the checkout's bin/oortfs
symlinkSync(BIN, join(linked, 'oortfs'))
writeFileSync(join(other, 'oortfs'), '#!/bin/sh\n', { mode: 0o755 })

t.test('no oortfs on PATH (a checkout after npm ci): the absolute path of bin/oortfs', async t => {
  t.equal(oortfsCommand(BIN, `${empty}:/nonexistent`), BIN)
})

t.test('PATH finds this checkout\'s bin/oortfs (npm link): the bare name', async t => {
  t.equal(oortfsCommand(BIN, `${empty}:${linked}:${other}`), 'oortfs')
})

t.test('PATH finds another oortfs first: the absolute path, not the name', async t => {
  t.equal(oortfsCommand(BIN, `${other}:${linked}`), BIN)
})
