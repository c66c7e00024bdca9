// Summarizes a V8 .cpuprofile (node --cpu-prof, or the bench's --cpu-prof):
// self time by function and by file, the biggest first.
//   node dist/scripts/cpu-profile.js FILE [--top N]
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } })
const file = positionals[0]
if (!file) { process.stderr.write('usage: cpu-profile FILE [--top N]\n'); process.exit(2) }
const top = Number(values.top ?? 30)
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(p.nodes.map(n => [n.id, n]))
// time per sample: its following delta (V8's deltas precede each sample)
const self = new Map<number, number>()
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i + 1] ?? 0
  self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt)
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const fn = new Map<string, number>()
const files = new Map<string, number>()
for (const [id, us] of self) {
  const n = byId.get(id)!
  const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'nm:').replace(/.*\/dist\//, 'dist:')
  const name = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`
  fn.set(name, (fn.get(name) ?? 0) + us)
  const f = url || n.callFrame.functionName
  files.set(f, (files.get(f) ?? 0) + us)
}
const show = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`${title} (total ${(total / 1e6).toFixed(2)} s sampled)\n`)
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${(us / 1e6).toFixed(3).padStart(8)} s ${(100 * us / total).toFixed(1).padStart(5)}%  ${k}\n`)
  }
}
show('self time by function', fn)
process.stdout.write('\n')
show('self time by file', files)
