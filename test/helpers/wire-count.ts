// Counts HTTP requests on the wire with tcpdump: the kernel stamps each
// request's first packet as it arrives, so the count per second is what a
// server would see, whatever the load on the process that answers. A proxy's
// own stamps come from its event loop, which a busy 2-core machine stalls for
// hundreds of ms and then serves in a burst: it sees rates nobody sent.
//
//   const wire = await wireCounter(t, proxy.port)
//   ... workload ...
//   const { requests, maxPerSecond } = await wire.stop()
import { spawn } from 'node:child_process'
import type { Teardown } from './s3-server.js'
import { maxInWindow } from './rate-window.js'

export interface WireCount {
  requests: number
  /** the most requests that arrived in any 1 s window */
  maxPerSecond: number
}

// (-s: headers are enough, the filter sees whole packets in the kernel; -B: room for bursts)
// first 4 bytes of the TCP payload: "GET ", "PUT ", "POST", "HEAD", "DELE"
const METHODS = [0x47455420, 0x50555420, 0x504f5354, 0x48454144, 0x44454c45]

export async function wireCounter (t: Teardown, port: number): Promise<{ stop(): Promise<WireCount> }> {
  const payload = 'tcp[((tcp[12:1] & 0xf0) >> 2):4]'
  const filter = `tcp dst port ${port} and (${METHODS.map(m => `${payload} = 0x${m.toString(16)}`).join(' or ')})`
  const dump = spawn('tcpdump', ['-i', 'lo', '-n', '-tt', '-l', '-q', '--immediate-mode', '-s', '128', '-B', '32768', filter], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (dump.exitCode === null) dump.kill('SIGKILL') })
  let out = ''
  let err = ''
  dump.stdout.on('data', (b: Buffer) => { out += b.toString() })
  const exited = new Promise<void>(resolve => dump.on('close', () => resolve()))
  // tcpdump says "listening on lo" once its filter is in place
  await new Promise<void>((resolve, reject) => {
    dump.stderr.on('data', (b: Buffer) => { err += b.toString(); if (err.includes('listening on')) resolve() })
    dump.on('error', reject)
    void exited.then(() => reject(new Error(`tcpdump exited: ${err.trim()} (install it with scripts/setup.sh)`)))
  })
  return {
    async stop () {
      dump.kill('SIGINT')
      await exited
      // tcpdump -tt stamps in seconds
      const times = out.split('\n').filter(Boolean).map(line => Number(line.split(' ')[0]) * 1000)
      if (/[1-9]\d* packets? dropped by kernel/.test(err)) throw new Error(`tcpdump dropped packets: ${err.trim()}`)
      return { requests: times.length, maxPerSecond: maxInWindow(times) }
    },
  }
}
