// When does a request leave? Not when the SDK hands it to its HTTP handler: a
// new connection first resolves the name, connects and, for https, shakes
// hands (200 ms and more to a remote gateway). A rate slot stamped before that
// makes a cold burst look spread out here while it arrives bunched there, over
// the server's 100/s. So the slot's time starts once the request has a
// connected socket (at once on a kept-alive one): from then its bytes go out.
//
// The sockets are the agent's, the slots the queue's; AsyncLocalStorage
// carries the "it leaves now" callback from the gateway's middleware through
// the SDK's handler to the agent, which sees each request as it is made.
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Agent as HttpAgent, ClientRequest } from 'node:http'
import type { Socket } from 'node:net'

const leaving = new AsyncLocalStorage<() => void>()

/** runs `send`; a request it makes through a stamping agent calls `sent` once it is on a connected socket */
export function whenOnTheWire<T> (sent: () => void, send: () => Promise<T>): Promise<T> {
  return leaving.run(sent, send)
}

/** sockets the agent made that are not connected yet (TCP, and TLS for https) */
const connecting = new WeakSet<Socket>()

interface AgentInternals {
  createConnection (...args: unknown[]): Socket
  addRequest (req: ClientRequest, options: unknown): void
}

/** makes `agent` call each request's `sent` (whenOnTheWire) once its socket is connected; returns it */
export function stampOnConnect<A extends HttpAgent> (agent: A, secure: boolean): A {
  const a = agent as unknown as AgentInternals
  const create = a.createConnection.bind(agent)
  const add = a.addRequest.bind(agent)
  const ready = secure ? 'secureConnect' : 'connect'
  a.createConnection = (...args: unknown[]) => {
    const socket = create(...args)
    connecting.add(socket)
    socket.once(ready, () => connecting.delete(socket))
    return socket
  }
  a.addRequest = (req, options) => {
    const sent = leaving.getStore()
    // a connection that never comes leaves the slot to the attempt's end (release)
    if (sent) req.once('socket', (socket: Socket) => connecting.has(socket) ? socket.once(ready, sent) : sent())
    add(req, options)
  }
  return agent
}
