#!/usr/bin/env node
// Regenerates the README's generated blocks: the option table (from the built
// src/options-doc.js) and, when bench-results.md exists, the benchmark table.
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
const root = new URL('..', import.meta.url)
const { optionsMarkdown } = await import(new URL('dist/src/options-doc.js', root))
let readme = readFileSync(new URL('README.md', root), 'utf8')
readme = readme.replace(/(<!-- options[^>]*-->\n)[\s\S]*?(\n<!-- \/options -->)/, (_, a, b) => a + optionsMarkdown() + b)
const bench = new URL('bench-results.md', root)
if (existsSync(bench)) {
  readme = readme.replace(/(<!-- bench[^>]*-->\n)[\s\S]*?(<!-- \/bench -->\n?|(?=\n## ))/, (_, a) => a + readFileSync(bench, 'utf8').trim() + '\n<!-- /bench -->\n')
}
writeFileSync(new URL('README.md', root), readme)
