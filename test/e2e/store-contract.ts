// The store contract on the real gateway against a local Ceph RGW: what makes
// the in-memory fake trustworthy. Each subtest gets a fresh bucket.
import t from 'tap'
import { createS3Client } from '../../src/s3/client.js'
import { S3Gateway } from '../../src/s3/gateway.js'
import { RequestQueue } from '../../src/s3/request-queue.js'
import { newBucket, withS3 } from '../helpers/s3-server.js'
import { contract } from '../helpers/store-contract.js'

// the root t: a cluster started for this file lives until the file ends
const info = await withS3(t)

contract(t, async t => {
  const bucket = await newBucket(info, t)
  const client = createS3Client({
    endpoint: info.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    signature: 'v4',
    pathStyle: true,
    maxSockets: 16,
    requestTimeoutMs: 30_000,
  })
  t.teardown(() => client.destroy())
  return new S3Gateway({
    bucket,
    client,
    queue: new RequestQueue({ rps: 1000, concurrency: 16, maxAttempts: 3, backoffMs: 50 }),
  })
})
