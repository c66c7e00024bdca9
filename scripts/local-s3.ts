// A throwaway real S3 server for tests, demo and benchmark: a one-node Ceph
// cluster (mon + memstore OSD + radosgw) on loopback, everything in one temp dir.
// Module: startLocalS3() / stopLocalS3(dir). CLI: `start [--dir D] [--port P]`, `stop --dir D`.
// See /work/shared/S3-FACTS.md for why each ceph.conf setting is there.

import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

export interface LocalS3State {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region: string
  dir: string
  /** radosgw, osd, mon: the order stop kills them in */
  pids: number[]
}

export interface LocalS3 extends LocalS3State {
  stop(): Promise<void>
}

export interface StartOptions {
  /** created if missing; must not hold a running cluster. Default: a fresh mkdtemp dir. */
  dir?: string
  /** S3 (radosgw) TCP port; default: a free one */
  port?: number
  /** memstore capacity; data lives in RAM and grows lazily up to this */
  memoryBytes?: number
}

export const ACCESS_KEY = 'oortfs-test'
export const SECRET_KEY = 'oortfs-test-secret-key'
const REGION = 'us-east-1'
const BINARIES = ['monmaptool', 'osdmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin']
const INSTALL_HINT = 'apt-get install -y ceph-mon ceph-osd radosgw ceph-common (or scripts/setup.sh)'

export async function startLocalS3 (opts: StartOptions = {}): Promise<LocalS3> {
  checkBinaries()
  if (opts.port !== undefined && !await portFree(opts.port)) throw new Error(`port ${opts.port} is in use`)
  const dir = opts.dir !== undefined ? path.resolve(opts.dir) : await mkdtemp(path.join(os.tmpdir(), 'oortfs-s3-'))
  mkdirSync(dir, { recursive: true })
  if (existsSync(path.join(dir, 'state.json'))) throw new Error(`${dir} already holds a cluster (state.json); stop it first`)
  if (opts.dir !== undefined && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`)
  for (const sub of ['mon', 'osd', 'rgw', 'run', 'log', 'crash']) await mkdir(path.join(dir, sub), { recursive: true })
  const monPort = await freePort()
  const rgwPort = opts.port ?? await freePort()
  const conf = path.join(dir, 'ceph.conf')
  const fsid = randomUUID()
  await writeFile(conf, cephConf(dir, fsid, monPort, rgwPort, opts.memoryBytes ?? 8 * 2 ** 30))
  const pids: number[] = []
  const c = ['-c', conf]
  try {
    // Each daemon forks itself into the background (own session) and writes DIR/run/<name>.pid,
    // so the CLI can exit and leave them running.
    await run('monmaptool', [...c, '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')], dir, 'mon.a')
    // The mon starts with an osdmap that already holds osd.0: saves a `ceph osd create` (python, ~0.3 s).
    await run('osdmaptool', [...c, '--createsimple', '1', path.join(dir, 'osdmap')], dir, 'mon.a')
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap'), '--osdmap', path.join(dir, 'osdmap')], dir, 'mon.a')
    await run('ceph-mon', [...c, '-i', 'a'], dir, 'mon.a')
    pids.unshift(await readPid(dir, 'mon.a'))
    await run('ceph-osd', [...c, '-i', '0', '--mkfs'], dir, 'osd.0')
    await run('ceph-osd', [...c, '-i', '0'], dir, 'osd.0')
    pids.unshift(await readPid(dir, 'osd.0'))
    // No `ceph osd crush add`: the OSD puts itself under root=default at boot (osd crush update on start).
    await run('radosgw', [...c, '-n', 'client.rgw'], dir, 'client.rgw')
    pids.unshift(await readPid(dir, 'client.rgw'))
    const endpoint = `http://127.0.0.1:${rgwPort}`
    // Write the state now, so a failure below can still be cleaned up with stopLocalS3(dir).
    const state: LocalS3State = { endpoint, accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, region: REGION, dir, pids }
    await writeFile(path.join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n')
    // radosgw only opens its port once its pools exist: an HTTP answer means it is ready.
    await waitHttp(endpoint, 60_000, dir, pids[0])
    await run('radosgw-admin', [...c, '-n', 'client.admin', 'user', 'create', '--uid=oortfs', '--display-name=oortfs tests',
      `--access-key=${ACCESS_KEY}`, `--secret-key=${SECRET_KEY}`], dir, 'client.rgw')
    return { ...state, stop: async () => await stopLocalS3(dir) }
  } catch (err) {
    await killInOrder(pids, conf)
    if (process.env.OORTFS_KEEP_FAILED_S3) throw err
    rmSync(dir, { recursive: true, force: true })
    if (err instanceof Error) err.message = err.message.trimEnd() + '\n(OORTFS_KEEP_FAILED_S3=1 keeps the cluster dir and its logs)'
    throw err
  }
}

/** Stops the cluster whose state.json (or pid files) is in dir, then removes dir. */
export async function stopLocalS3 (dir: string): Promise<void> {
  dir = path.resolve(dir)
  if (!existsSync(path.join(dir, 'ceph.conf'))) {
    if (!existsSync(dir)) return
    throw new Error(`${dir} holds no local S3 cluster (no ceph.conf): not removing it`)
  }
  let pids: number[] = []
  try {
    pids = (JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as LocalS3State).pids
  } catch {
    // no state file (start failed half-way): fall back to the daemons' own pid files
    for (const name of ['client.rgw', 'osd.0', 'mon.a']) {
      const pid = Number(readFileOr(path.join(dir, 'run', `${name}.pid`)))
      if (pid > 0) pids.push(pid)
    }
  }
  await killInOrder(pids, path.join(dir, 'ceph.conf'))
  rmSync(dir, { recursive: true, force: true })
}

/**
 * SIGKILLs the cluster's daemons at once, synchronously: for process 'exit' handlers,
 * where nothing async runs. Leaves dir in place.
 */
export function killLocalS3Sync (state: Pick<LocalS3State, 'pids' | 'dir'>): void {
  for (const pid of state.pids) if (isOurs(pid, path.join(state.dir, 'ceph.conf'))) trySignal(pid, 'SIGKILL')
}

/** True while all the cluster's daemons run (not just pids that were reused). */
export function isRunning (state: Pick<LocalS3State, 'pids' | 'dir'>): boolean {
  const conf = path.join(state.dir, 'ceph.conf')
  return state.pids.length === 3 && state.pids.every(pid => isOurs(pid, conf) && alive(pid))
}

// radosgw, then OSD, then mon: any other order waits 5-120 s on timeouts inside Ceph.
async function killInOrder (pids: number[], conf: string): Promise<void> {
  for (const pid of pids) {
    if (!isOurs(pid, conf)) continue
    trySignal(pid, 'SIGTERM')
    const deadline = Date.now() + 3000
    while (alive(pid) && Date.now() < deadline) await sleep(20)
    if (alive(pid)) {
      trySignal(pid, 'SIGKILL')
      for (let i = 0; i < 500 && alive(pid); i++) await sleep(10)
    }
  }
}

function cephConf (dir: string, fsid: string, monPort: number, rgwPort: number, memoryBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${monPort}]
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
# auth none: no keyrings. radosgw defaults to "secure" messenger mode, which auth none
# cannot give: without crc it hangs 300 s at start.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms client mode = crc
keyring = ${dir}/keyring
# everything under dir, nothing in /etc, /var or the syslog
run dir = ${dir}/run
pid file = ${dir}/run/$name.pid
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
mon cluster log file = ${dir}/log/cluster.log
crash dir = ${dir}/crash
log to stderr = false
err to stderr = false
mon data = ${dir}/mon
osd data = ${dir}/osd
rgw data = ${dir}/rgw
# one memstore OSD holds every pool radosgw creates
osd objectstore = memstore
memstore device bytes = ${memoryBytes}
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
# radosgw creates its pools one by one: default interval costs ~1 s each
paxos propose interval = 0.01
mon data avail warn = 1
mon warn on insecure global id reclaim allowed = false
mon data avail crit = 0
# one log line a request costs radosgw CPU (tests seed 200,000 keys): errors only
debug rgw = 0/0
debug ms = 0/0
debug osd = 0/0
debug memstore = 0/0
debug objclass = 0/0
debug rados = 0/0
debug objecter = 0/0
debug civetweb = 0/0

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw enable apis = s3
# a bucket of 200,000 keys (a test seeds one) is never resharded while it fills
rgw dynamic resharding = false
rgw enable ops log = false
rgw enable usage log = false
# lifecycle workers sleep 5 s at a time and delay shutdown by that much; oortfs uses no lifecycle rules
rgw enable lc threads = false
# memstore keeps deleted tail objects in RAM until gc: collect them within seconds
# (not lower: a GET still streaming an object that is overwritten meanwhile loses its tail after this wait)
rgw gc obj min wait = 5
rgw gc processor period = 5
rgw gc processor max time = 5
`
}

function checkBinaries (): void {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean)
  const missing = BINARIES.filter(b => !dirs.some(d => existsSync(path.join(d, b))))
  if (missing.length) throw new Error(`Ceph binaries not found (${missing.join(', ')}): run ${INSTALL_HINT}`)
}

/** Runs a ceph tool; on failure the error carries its output and the tail of the daemon's log. */
async function run (cmd: string, args: string[], dir: string, logName: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, cwd: dir }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout)
      const how = err.killed ? 'timed out' : `exited with ${err.code ?? err.signal}`
      reject(new Error(`${cmd} ${args.slice(2).join(' ')} ${how}\n${stdout}${stderr}${logTail(dir, logName)}`))
    })
  })
}

function logTail (dir: string, name: string, lines = 20): string {
  // a crash dump (backtrace, recent events) says less than the lines before it
  const text = readFileOr(path.join(dir, 'log', `${name}.log`)).split(' *** Caught signal')[0]
  return text ? `--- tail of ${dir}/log/${name}.log ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}\n` : ''
}

async function readPid (dir: string, name: string): Promise<number> {
  // the daemon's parent returns once the child is initialised; the pid file follows shortly
  const file = path.join(dir, 'run', `${name}.pid`)
  for (let i = 0; i < 500; i++) {
    const pid = Number(readFileOr(file).trim())
    if (pid > 0) return pid
    await sleep(10)
  }
  throw new Error(`${name} wrote no pid file ${file}\n${logTail(dir, name)}`)
}

async function waitHttp (endpoint: string, timeoutMs: number, dir: string, rgwPid: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // radosgw's request ids start with "tx": not some other server on that port
    const ok = await new Promise<boolean>(resolve => {
      const req = http.get(endpoint + '/', res => {
        res.resume()
        resolve(String(res.headers['x-amz-request-id']).startsWith('tx'))
      })
      req.on('error', () => resolve(false))
      req.setTimeout(2000, () => { req.destroy(); resolve(false) })
    })
    if (ok) return
    const why = !alive(rgwPid) ? 'radosgw exited' : Date.now() > deadline ? `radosgw did not answer within ${timeoutMs} ms` : ''
    if (why) throw new Error(`${why} (${endpoint})\n${logTail(dir, 'client.rgw')}`)
    await sleep(50)
  }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

async function portFree (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const srv = net.createServer()
    srv.on('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** Guards against pid reuse: only signal a process started with this cluster's ceph.conf. */
function isOurs (pid: number, conf: string): boolean {
  return readFileOr(`/proc/${pid}/cmdline`).split('\0').includes(conf)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // a zombie (not yet reaped by its parent) is as good as dead
  return !/^\d+ \(.*\) Z/.test(readFileOr(`/proc/${pid}/stat`))
}

function trySignal (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch { /* already gone */ }
}

function readFileOr (file: string): string {
  try { return readFileSync(file, 'utf8') } catch { return '' }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function main (argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: 'string' }, port: { type: 'string' }, memory: { type: 'string' } },
  })
  const cmd = positionals[0]
  if (cmd === 'start') {
    const s3 = await startLocalS3({
      dir: values.dir,
      port: values.port !== undefined ? Number(values.port) : undefined,
      memoryBytes: values.memory !== undefined ? Number(values.memory) : undefined,
    })
    const { stop: _stop, ...state } = s3
    process.stdout.write(JSON.stringify(state, null, 2) + '\n')
  } else if (cmd === 'stop' && values.dir !== undefined) {
    await stopLocalS3(values.dir)
  } else {
    process.stderr.write('usage: local-s3 start [--dir D] [--port P] [--memory BYTES]\n       local-s3 stop --dir D\n')
    process.exitCode = 2
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch(err => {
    process.stderr.write(`local-s3: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
