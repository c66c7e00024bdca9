// A TCP proxy in front of the shared S3 server that a test can cut: the mount
// talks to it, so the server itself is never disturbed for other tests.
//   const proxy = await tcpProxy(s3.endpoint, t)
//   mount with endpoint=proxy.url
//   proxy.cut()      // every connection reset, new ones reset at once
//   proxy.restore()  // pass through again
import { createServer, connect, type Socket } from 'node:net'
import type { Teardown } from './s3-server.js'

export interface TcpProxy {
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  /** connections accepted so far */
  connections: number
  cut(): void
  restore(): void
  close(): Promise<void>
}

export async function tcpProxy (endpoint: string, t: Teardown): Promise<TcpProxy> {
  const target = new URL(endpoint)
  const open = new Set<Socket>()
  let mode: 'pass' | 'cut' = 'pass'
  const kill = (s: Socket): void => { if (!s.destroyed) s.resetAndDestroy() }
  const server = createServer(client => {
    proxy.connections++
    if (mode === 'cut') return kill(client)
    const upstream = connect(Number(target.port), target.hostname)
    open.add(client)
    open.add(upstream)
    const drop = (): void => { open.delete(client); open.delete(upstream); client.destroy(); upstream.destroy() }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const proxy: TcpProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: 0,
    cut: () => { mode = 'cut'; for (const s of open) kill(s); open.clear() },
    restore: () => { mode = 'pass' },
    close: () => new Promise(resolve => {
      for (const s of open) s.destroy()
      server.close(() => resolve())
    }),
  }
  t.teardown(() => proxy.close())
  return proxy
}
