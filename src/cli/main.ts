// The command line. s3fs's shape, so fstab and mount.fuse work:
//   oortfs BUCKET[:/PREFIX] MOUNTPOINT [-f] [-d] [-o OPT[,OPT=VAL]...]
// plus `unmount DIR`, `stats DIR [--json]`, `url PATH [--expires 1h] [--put]`,
// `fsck BUCKET [-o OPT...]`, `explain-credentials BUCKET [-o OPT...]` (or
// --explain-credentials added to any mount command line).
// Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. Every
// error is one line on stderr starting `oortfs: `.
import yargs from 'yargs'
import { ConfigError, buildConfig } from '../config.js'
import { OPTIONS } from '../options.js'
import { explainCredentials, logCredentials } from '../credentials.js'
import { flushLog, log, setLogLevel } from '../util/log.js'
import { packageInfo } from '../package-root.js'
// the mount machinery (fuse-native, the AWS SDK) loads only when needed: --help stays fast
const daemon = (): Promise<typeof import('../daemon.js')> => import('../daemon.js')
const client = (): Promise<typeof import('../control/client.js')> => import('../control/client.js')

class UsageError extends Error {}

/** the version in package.json */
function version (): string {
  try { return packageInfo().version } catch { return 'unknown' }
}

const VALUE_NAMES: Record<string, string> = { string: 'TEXT', int: 'N', number: 'N', size: 'SIZE', octal: 'MODE', flag: '', enum: '' }

export function optionHelp (): string {
  const left = (o: (typeof OPTIONS)[number]): string => o.type === 'flag' ? o.name : `${o.name}=${o.values?.join('|') ?? VALUE_NAMES[o.type]}`
  const w = Math.max(...OPTIONS.map(o => left(o).length))
  const lines = OPTIONS.map(o => {
    const def = o.default === undefined || o.type === 'flag' && o.default === false ? ''
      : ` (default: ${o.type === 'octal' ? '0' + Number(o.default).toString(8) : o.type === 'size' ? sizeText(Number(o.default)) : String(o.default)})`
    return wrap(`  ${left(o).padEnd(w + 2)}`, `${o.help.replace(/`/g, '')}${def}`)
  })
  return ['Mount options (-o NAME[=VALUE],...; flags also as noNAME):', ...lines,
    '', 'noexec, nosuid, nodev, noatime, sync, dirsync go to the kernel; mount(8) options such as _netdev, nofail, noauto, user, rw are accepted and ignored.'].join('\n')
}

/** `head` then `text` wrapped at 100 columns, continuation lines under the text */
function wrap (head: string, text: string, width = 100): string {
  const lines: string[] = []
  let cur = head
  for (const word of text.split(' ')) {
    if (cur.length > head.length && cur.length + 1 + word.length > width) {
      lines.push(cur)
      cur = ' '.repeat(head.length) + word
    } else cur += (cur.length > head.length ? ' ' : '') + word
  }
  return [...lines, cur].join('\n')
}

function sizeText (n: number): string {
  for (const [u, f] of [['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]] as const) if (n % f === 0 && n >= f) return `${n / f}${u}`
  return String(n)
}

function oneLine (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}

type Action = () => Promise<number>

/** `-oro,rps=5` (libfuse and s3fs accept it) -> `-o ro,rps=5`: yargs would read -o -r -o */
export function splitAttachedO (argv: readonly string[]): string[] {
  return argv.flatMap(a => /^-o[^=]/.test(a) ? ['-o', a.slice(2)] : [a])
}

/**
 * `--explain-credentials` anywhere (added to a mount command or an fstab
 * line's options, say) -> the explain-credentials command with the same target and -o
 */
export function explainFlagToCommand (argv: readonly string[]): string[] {
  const i = argv.indexOf('--explain-credentials')
  return i < 0 ? [...argv] : ['explain-credentials', ...argv.slice(0, i), ...argv.slice(i + 1)]
}

/** parses argv into the action to run; usage errors throw UsageError */
async function parse (rawArgv: string[]): Promise<Action | undefined> {
  let action: Action | undefined
  const argv = explainFlagToCommand(splitAttachedO(rawArgv))
  const asList = (v: unknown): string[] => v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String)
  await yargs(argv)
    .scriptName('oortfs')
    .usage('$0 BUCKET[:/PREFIX] MOUNTPOINT [-f] [-d] [-o OPT[,OPT=VAL]...]')
    .command('$0 <target> <mountpoint>', 'mount a bucket (or a prefix of it) on an empty directory', y => y
      .positional('target', { type: 'string', describe: 'BUCKET or BUCKET:/PREFIX' })
      .positional('mountpoint', { type: 'string', describe: 'an existing empty directory' })
      .option('o', { type: 'string', requiresArg: true, describe: 'mount options, comma-separated; may repeat' })
      .option('f', { type: 'boolean', describe: 'stay in the foreground' })
      .option('d', { type: 'boolean', describe: 'debug logging on stderr (implies -f)' })
      .epilog(optionHelp()), args => {
      action = async () => {
        const debug = !!args.d
        const input = { target: String(args.target), mountpoint: String(args.mountpoint), options: asList(args.o), foreground: !!args.f || debug, debug }
        const config = await buildConfig(input)
        setLogLevel(config.logLevel)
        logCredentials(config.bucket, config.credentialsTried)
        const { DAEMON_ENV, daemonLogFile, mountForeground, runDaemonChild, startDaemon } = await daemon()
        const child = !!process.env[DAEMON_ENV]
        delete process.env[DAEMON_ENV]
        if (!config.foreground && !child) return await startDaemon(argv, await daemonLogFile(config))
        const { buildApp } = await import('../app.js')
        return child ? await runDaemonChild(config, buildApp) : await mountForeground(config, buildApp)
      }
    })
    .command('fsck <target>', 'without mounting: finish what a crash left half done in a bucket (interrupted directory renames) and say what it did', y => y
      .positional('target', { type: 'string', describe: 'BUCKET' })
      .option('o', { type: 'string', requiresArg: true, describe: 'the mount options that reach the bucket: endpoint=, passwd_file=, sigv2, ...' })
      .option('d', { type: 'boolean', describe: 'debug logging on stderr' }), args => {
      action = async () => {
        const config = await buildConfig({ target: String(args.target), options: asList(args.o), foreground: true, debug: !!args.d })
        // the report says it all; retry warnings would only repeat its failure
        setLogLevel(args.d ? 'debug' : 'error')
        logCredentials(config.bucket, config.credentialsTried)
        const { fsck } = await import('../fsck.js')
        const report = await fsck(config)
        process.stdout.write(report.lines.join('\n') + '\n')
        // something found could not be finished: a script checking the bucket must know
        return report.complete ? 0 : 1
      }
    })
    .command('explain-credentials <target> [mountpoint]', 'say which credential sources are tried, in order, and which one gives the keys (also --explain-credentials added to a mount command); never prints a secret', y => y
      .positional('target', { type: 'string', describe: 'BUCKET or BUCKET:/PREFIX' })
      .positional('mountpoint', { type: 'string', describe: 'ignored: so a mount command line works as it is' })
      .option('o', { type: 'string', requiresArg: true, describe: 'the mount options: passwd_file=, profile=, ...' })
      .option('f', { type: 'boolean', hidden: true })
      .option('d', { type: 'boolean', hidden: true }), args => {
      action = async () => {
        const config = await buildConfig({ target: String(args.target), options: asList(args.o), foreground: true, debug: false })
        process.stdout.write(explainCredentials(config.bucket, config.credentialsTried).join('\n') + '\n')
        return 0
      }
    })
    .command('unmount <dir>', 'save everything and unmount (falls back to fusermount -u)', y => y
      .positional('dir', { type: 'string' }), args => {
      action = async () => { await (await client()).unmountCommand(String(args.dir)); return 0 }
    })
    .command('stats <dir>', 'request counts, rate, retries, bytes and cache use of a mount', y => y
      .positional('dir', { type: 'string' })
      .option('json', { type: 'boolean', describe: 'print JSON' }), args => {
      action = async () => { process.stdout.write(await (await client()).statsCommand(String(args.dir), !!args.json) + '\n'); return 0 }
    })
    .command('url <path>', 'print a presigned URL for a file in a mount', y => y
      .positional('path', { type: 'string' })
      .option('expires', { type: 'string', default: '1h', describe: 'lifetime: 90s, 15m, 1h, 7d' })
      .option('put', { type: 'boolean', describe: 'a URL to upload (PUT) instead of download' }), args => {
      action = async () => {
        const { parseDuration, urlCommand } = await client()
        const secs = parseDuration(String(args.expires))
        process.stdout.write(await urlCommand(String(args.path), secs, args.put ? 'PUT' : 'GET') + '\n')
        return 0
      }
    })
    .strict()
    .help('help').alias('help', 'h')
    .version('version', 'print the version', version())
    .wrap(null) // the option table wraps itself
    .exitProcess(false)
    .fail((msg, err) => { throw err ?? new UsageError(msg) })
    .parseAsync()
  return action
}

/** runs the CLI; resolves with the exit code */
export async function main (argv = process.argv.slice(2)): Promise<number> {
  // the SDK's multi-line "upgrade Node" notice would break the one-line-error promise
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  // SIGUSR1 would open Node's inspector on 127.0.0.1:9229, unauthenticated, in a
  // process holding the keys (root's fstab mount): a listener of our own keeps it shut
  process.on('SIGUSR1', () => log.warn('SIGUSR1 ignored: oortfs does not open a debugger'))
  try {
    const action = await parse(argv)
    return action ? await action() : 0 // --help and --version end here
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ConfigError || (err as Error)?.name === 'YError'
    const hint = err instanceof UsageError || (err as Error)?.name === 'YError' ? '; run oortfs --help for usage' : ''
    process.stderr.write(`oortfs: ${oneLine((err as Error)?.message ?? String(err))}${hint}\n`)
    return usage ? 2 : 1
  } finally {
    // the last lines on their way to syslog must get there before process.exit
    await flushLog()
  }
}
