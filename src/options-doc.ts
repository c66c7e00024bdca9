// The README's option table, made from the option table itself so the two
// cannot drift apart (test/unit/readme.ts compares them).
import { OPTIONS, type OptionSpec } from './options.js'

const MiB = 1024 * 1024

function shownDefault (o: OptionSpec): string {
  if (o.default === undefined) return '—'
  if (o.type === 'flag') return o.default ? 'on' : 'off'
  if (o.type === 'octal') return '0' + (o.default as number).toString(8)
  if (o.type === 'size') {
    const n = o.default as number
    return n % MiB === 0 ? `${n / MiB}M` : String(n)
  }
  return String(o.default)
}

function shownName (o: OptionSpec): string {
  if (o.type === 'flag') return `\`${o.name}\``
  if (o.type === 'enum') return `\`${o.name}=${o.values!.join('\\|')}\``
  const kind = { string: 'TEXT', int: 'N', number: 'N', size: 'SIZE', octal: 'MODE' }[o.type as 'string']
  return `\`${o.name}=${kind}\``
}

export function optionsMarkdown (): string {
  const rows = OPTIONS.map(o => `| ${shownName(o)} | ${shownDefault(o)} | ${o.help.replace(/\|/g, '\\|')} |`)
  return ['| option | default | meaning |', '|---|---|---|', ...rows].join('\n')
}
