import t from 'tap'
import { readFileSync } from 'node:fs'
import { optionsMarkdown } from '../../src/options-doc.js'
import { OPTIONS } from '../../src/options.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('the README lists every option exactly as src/options.ts defines it', async t => {
  const m = /<!-- options[^>]*-->\n([\s\S]*?)\n<!-- \/options -->/.exec(readme)
  t.ok(m, 'the README has the options block')
  t.equal(m![1], optionsMarkdown(), 'regenerate with: node scripts/update-readme.mjs')
  for (const o of OPTIONS) t.match(m![1], `\`${o.name}`, o.name)
})

t.test('the README gives the two set-up commands', async t => {
  t.match(readme, 'bash scripts/setup.sh && npm ci && npm start')
  t.match(readme, 'bash scripts/setup.sh && npm ci && npm test')
})
