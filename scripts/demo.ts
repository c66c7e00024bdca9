// The README's run command. With a bucket and keys in the environment it mounts
// that bucket; without, it starts the local S3 server (Ceph radosgw), fills a
// demo bucket with files and directories (some prefixes with no marker
// objects), and mounts it. Foreground: Ctrl-C unmounts and stops the server.
//   node dist/scripts/demo.js [--check] [--mountpoint DIR]
//   OORTFS_BUCKET=b AWS_ACCESS_KEY_ID=.. AWS_SECRET_ACCESS_KEY=.. node dist/scripts/demo.js
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { startLocalS3, stopLocalS3, type LocalS3 } from './local-s3.js'
import { oortfsCommand } from './demo-hint.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const BIN = join(ROOT, 'bin', 'oortfs')

const SAMPLE: Record<string, string | Buffer> = {
  'README.txt': 'This bucket was made by oortfs\'s demo. Try ls -l, cat, cp -r, find, grep -r, du.\n',
  'docs/': '',
  'docs/guide.md': '# Guide\n\nMounting a bucket with oortfs works with ordinary Unix tools.\n',
  'docs/notes/todo.txt': 'write more docs\n',
  'photos/2024/beach.jpg': randomBytes(300_000),
  'photos/2024/mountain.jpg': randomBytes(450_000),
  'logs/app/2024/11/25/app.log': Array.from({ length: 2000 }, (_, i) => `line ${i}: all good\n`).join(''),
  'name with spaces.txt': 'spaces work\n',
  'ünïcödé.txt': 'unicode works\n',
  'a+b%c#d.txt': 'odd characters work\n',
  'data/big.bin': randomBytes(64 * 1024 * 1024),
}

async function main (): Promise<number> {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, mountpoint: { type: 'string' } } })
  const mountpoint = resolve(values.mountpoint ?? process.env.OORTFS_MOUNTPOINT ?? join(ROOT, '.demo', 'mnt'))
  mkdirSync(mountpoint, { recursive: true })
  if (process.env.OORTFS_BUCKET) {
    // a real bucket: credentials and options come from the environment, as for oortfs itself
    const opts = process.env.OORTFS_OPTIONS ? ['-o', process.env.OORTFS_OPTIONS] : []
    return run([BIN, process.env.OORTFS_BUCKET, mountpoint, '-f', ...opts], process.env)
  }
  const dir = join(ROOT, '.demo', 's3')
  if (existsSync(join(dir, 'state.json'))) await stopLocalS3(dir).catch(() => {})
  console.log('oortfs demo: starting the local S3 server (Ceph radosgw)...')
  const s3 = await startLocalS3({ dir, memoryBytes: 2 * 2 ** 30 })
  try {
    await fillBucket(s3, 'demo')
    const env = { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey }
    const args = ['demo', mountpoint, '-o', `endpoint=${s3.endpoint}`]
    if (values.check) return await check(args, env, mountpoint)
    const oortfs = oortfsCommand(BIN)
    console.log(`oortfs demo: bucket "demo" mounted on ${mountpoint}\n` +
      `  try: ls -l ${mountpoint}; find ${mountpoint} | head; cat ${mountpoint}/README.txt; ${oortfs} stats ${mountpoint}\n` +
      '  Ctrl-C unmounts and stops the server.')
    return await run([BIN, ...args, '-f'], env)
  } finally {
    await stopLocalS3(s3.dir).catch(err => console.error(`oortfs demo: could not stop the server: ${(err as Error).message}`))
  }
}

async function fillBucket (s3: LocalS3, bucket: string): Promise<void> {
  const client = new S3Client({
    endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  })
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  await Promise.all(Object.entries(SAMPLE).map(([Key, body]) => {
    const Body = Buffer.from(body)
    return client.send(new PutObjectCommand({ Bucket: bucket, Key, Body, ContentLength: Body.length }))
  }))
  client.destroy()
}

/** mount in the background, look around like a user would, unmount: a smoke test of the whole path */
async function check (args: string[], env: NodeJS.ProcessEnv, mountpoint: string): Promise<number> {
  if (await run([BIN, ...args], env) !== 0) return 1
  try {
    const names = readdirSync(mountpoint).sort()
    const readme = readFileSync(join(mountpoint, 'README.txt'), 'utf8')
    const deep = readFileSync(join(mountpoint, 'logs/app/2024/11/25/app.log'), 'utf8')
    const ok = names.includes('logs') && names.includes('ünïcödé.txt') && readme.startsWith('This bucket') && deep.includes('line 1999')
    console.log(`oortfs demo check: ${ok ? 'ok' : 'FAILED'}: ${names.join(', ')}`)
    return ok ? 0 : 1
  } finally {
    await run([BIN, 'unmount', mountpoint], env)
  }
}

function run (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise(resolve => {
    const child = spawn(process.execPath, argv, { env, stdio: 'inherit' })
    // Ctrl-C reaches the mount too (same process group): it unmounts; we wait for it
    process.on('SIGINT', () => {})
    child.on('exit', code => resolve(code ?? 1))
  })
}

process.exitCode = await main()
