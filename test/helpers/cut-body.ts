// A response body that sends some bytes and then breaks, as a connection
// reset mid-body does: for tests of what the gateway makes of a cut answer.
import { Readable } from 'node:stream'

export function cutBody (bytes: Buffer): Readable {
  let sent = false
  return new Readable({
    read () {
      if (sent) return
      sent = true
      this.push(bytes)
      setImmediate(() => this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })))
    },
  })
}
