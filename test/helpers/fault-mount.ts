// A real mount that talks to the local S3 server through the fault proxy
// (scripts/fault-proxy.ts): SlowDown above a rate, 500s, connections reset
// mid-body, a server that goes away. The proxy closes after the mount is gone.
//
//   const { m, proxy } = await faultMount(t, { s3, faults: FAULTS_ON, options: ['part_size=5M'] })
import { setPriority } from 'node:os'
import { rssOf } from '../../scripts/proc-rss.js'
import { describeFaults, FAULTS_ON, startFaultProxy, type FaultProxy, type FaultSettings } from '../../scripts/fault-proxy.js'
import { mountBucket, type Mount, type MountOptions } from './mount.js'
import { sharedS3, type LocalS3Info, type Teardown } from './s3-server.js'

export { describeFaults, FAULTS_ON }

export interface FaultMount {
  m: Mount
  proxy: FaultProxy
}

export async function startProxy (t: Teardown, s3: LocalS3Info, faults: Partial<FaultSettings> = {}, seed = 1): Promise<FaultProxy> {
  const proxy = await startFaultProxy({ target: s3.endpoint, seed, ...faults })
  t.teardown(() => proxy.close())
  return proxy
}

/**
 * Starts a proxy (faults off until the mount is up, unless `faultsFromStart`),
 * then mounts through it. The proxy's teardown is registered first, so it
 * runs after the unmount.
 */
export async function faultMount (t: Teardown, opts: MountOptions & { faults?: Partial<FaultSettings>, seed?: number, faultsFromStart?: boolean } = {}): Promise<FaultMount> {
  const s3 = opts.s3 ?? await sharedS3()
  const proxy = await startProxy(t, s3, opts.faultsFromStart ? opts.faults : {}, opts.seed)
  const m = await mountBucket(t, { ...opts, s3, options: [`endpoint=${proxy.url}`, ...(opts.options ?? [])] })
  if (!opts.faultsFromStart && opts.faults) proxy.set(opts.faults)
  return { m, proxy }
}

/** a fresh mount straight to the server, or through the fault proxy adding latencyMs to every request (a remote gateway; loopback hides every race) */
export async function mountWithLatency (t: Teardown, s3: LocalS3Info, latencyMs: number, options: string[] = []): Promise<Mount> {
  if (latencyMs <= 0) return await mountBucket(t, { s3, options })
  return (await faultMount(t, { s3, faults: { latencyMs }, options })).m
}

/**
 * The proxy stands in for a server with CPUs of its own, and stamps each
 * request as it handles it: starved of CPU by the load a test makes (64 dd, a
 * Ceph cluster, 2 cores), it would stamp late and see bursts the mount never
 * sent (measured: sent-to-handled p99 231 ms, max 446 ms). Tests that count
 * requests per second raise this process's priority once the mount runs (so
 * the mount keeps the default one) and start their tools with UNBOOSTED.
 */
export function boostProxy (t: Teardown): void {
  try { setPriority(-10) } catch { return } // not root: measure as we are
  t.teardown(() => { try { setPriority(0) } catch { /* as it was */ } })
}

/** prefix for a shell command started while boosted: it and its children run at the default priority */
export const UNBOOSTED = 'renice -n 0 -p $$ >/dev/null 2>&1; '


/** samples a process's VmRSS every `everyMs` until stopped; returns the peak */
export function sampleRss (pid: number, everyMs = 100): { peak(): number, stop(): number } {
  let peak = rssOf(pid) ?? 0
  const timer = setInterval(() => { peak = Math.max(peak, rssOf(pid) ?? 0) }, everyMs)
  return {
    peak: () => peak,
    stop: () => { clearInterval(timer); peak = Math.max(peak, rssOf(pid) ?? 0); return peak },
  }
}
