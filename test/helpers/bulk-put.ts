// Empty objects by the hundred thousand, for tests of huge buckets: the SDK
// spends ~0.7 ms of CPU a request, as much as radosgw, so 200,000 keys would
// take minutes on 2 CPUs. This signs each PUT (SigV4, path style, empty body)
// with a signing key derived once, over kept-alive connections.
import { createHash, createHmac } from 'node:crypto'
import http from 'node:http'
import type { LocalS3Info } from './s3-server.js'

const EMPTY_SHA = createHash('sha256').update('').digest('hex')
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()

/** S3's URI encoding of a key: every byte but unreserved ones and '/' */
function encodeKey (key: string): string {
  return key.split('/').map(s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())).join('/')
}

/** PUTs an empty object at each key, `parallel` at a time; rejects on the first answer that is not 200 */
export async function putEmptyObjects (s3: LocalS3Info, bucket: string, keys: readonly string[], parallel = 64): Promise<void> {
  const url = new URL(s3.endpoint)
  const host = url.host
  const agent = new http.Agent({ keepAlive: true, maxSockets: parallel })
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
  const day = stamp.slice(0, 8)
  const scope = `${day}/${s3.region}/s3/aws4_request`
  const signingKey = hmac(hmac(hmac(hmac('AWS4' + s3.secretAccessKey, day), s3.region), 's3'), 'aws4_request')
  const put = (key: string): Promise<void> => new Promise((resolve, reject) => {
    const path = `/${bucket}/${encodeKey(key)}`
    const canonical = ['PUT', path, '', `host:${host}`, `x-amz-content-sha256:${EMPTY_SHA}`, `x-amz-date:${stamp}`, '', 'host;x-amz-content-sha256;x-amz-date', EMPTY_SHA].join('\n')
    const toSign = ['AWS4-HMAC-SHA256', stamp, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
    const signature = createHmac('sha256', signingKey).update(toSign).digest('hex')
    const req = http.request({
      host: url.hostname, port: url.port, method: 'PUT', path, agent,
      headers: {
        'content-length': '0',
        'x-amz-content-sha256': EMPTY_SHA,
        'x-amz-date': stamp,
        authorization: `AWS4-HMAC-SHA256 Credential=${s3.accessKeyId}/${scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${signature}`,
      },
    }, res => {
      res.resume()
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${key}: HTTP ${res.statusCode}`)))
    })
    req.on('error', reject)
    req.end()
  })
  let next = 0
  try {
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next < keys.length) await put(keys[next++]!)
    }))
  } finally {
    agent.destroy()
  }
}
