// Signature Version 2 against AWS's documented examples ("Signing and
// Authenticating REST Requests", the johnsmith bucket), then the signer and the
// presigner as the mount uses them.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { canonicalResource, signV2, sigV2Signer, stringToSignV2, virtualHostBucket, type HttpRequestLike } from '../../src/s3/sigv2.js'
import { presignV2 } from '../../src/s3/presign-v2.js'

const creds = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }
const sign = (sts: string): string => signV2(creds.secretAccessKey, sts)

t.test('object GET (virtual-hosted: the bucket joins the resource)', async t => {
  const bucket = virtualHostBucket('johnsmith.s3.amazonaws.com', 's3.amazonaws.com')
  t.equal(bucket, 'johnsmith')
  const resource = canonicalResource('/photos/puppy.jpg', {}, bucket)
  const sts = stringToSignV2('GET', { Host: 'johnsmith.s3.amazonaws.com', Date: 'Tue, 27 Mar 2007 19:36:42 +0000' }, resource, 'Tue, 27 Mar 2007 19:36:42 +0000')
  t.equal(sts, 'GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg')
  t.equal(sign(sts), 'bWq2s1WEIj+Ydj0vQ697zp+IXMU=')
})

t.test('object PUT with a Content-Type', async t => {
  const sts = stringToSignV2('PUT', { 'Content-Type': 'image/jpeg', 'Content-Length': '94328' },
    canonicalResource('/photos/puppy.jpg', {}, 'johnsmith'), 'Tue, 27 Mar 2007 21:15:45 +0000')
  t.equal(sts, 'PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg')
  t.equal(sign(sts), 'MyyxeRY7whkBe+bq8fHCL/2kKUg=')
})

t.test('bucket listing: query parameters that are not sub-resources stay out', async t => {
  const resource = canonicalResource('/', { prefix: 'photos', 'max-keys': '50', marker: 'puppy' }, 'johnsmith')
  t.equal(resource, '/johnsmith/')
  t.equal(sign(stringToSignV2('GET', { 'User-Agent': 'Mozilla/5.0' }, resource, 'Tue, 27 Mar 2007 19:42:41 +0000')), 'htDYFYduRNen8P9ZfE/s9SuKy0U=')
})

t.test('a sub-resource without a value', async t => {
  const resource = canonicalResource('/', { acl: '' }, 'johnsmith')
  t.equal(resource, '/johnsmith/?acl')
  t.equal(sign(stringToSignV2('GET', {}, resource, 'Tue, 27 Mar 2007 19:44:46 +0000')), 'c2WLPFtWHVgbEmeEG93a4cG37dM=')
})

t.test('dated by x-amz-date: an empty Date line, x-amz-date signed', async t => {
  const sts = stringToSignV2('DELETE', { 'x-amz-date': 'Tue, 27 Mar 2007 21:20:26 +0000' }, '/johnsmith/photos/puppy.jpg', '')
  t.equal(sts, 'DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/johnsmith/photos/puppy.jpg')
  t.equal(sign(sts), 'R4dJ53KECjStyBO5iTBJZ4XVOaI=')
})

t.test('x-amz-* headers: lowercased, sorted, repeats joined, folded values unfolded', async t => {
  const headers = {
    'Content-Type': 'application/x-download',
    'Content-MD5': '4gJE4saaMU4BqNR0kLY+lw==',
    'X-Amz-Meta-ReviewedBy': 'joe@johnsmith.net,jane@johnsmith.net',
    'X-Amz-Meta-FileChecksum': '0x02661779',
    'X-Amz-Meta-ChecksumAlgorithm': 'crc32',
    'x-amz-acl': 'public-read',
    'Content-Disposition': 'attachment; filename=database.dat',
  }
  const sts = stringToSignV2('PUT', headers, '/static.johnsmith.net/db-backup.dat.gz', 'Tue, 27 Mar 2007 21:06:08 +0000')
  t.equal(sts, 'PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n' +
    'x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n' +
    'x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz')
  t.equal(sign(sts), 'ilyl83RwaSoYIEdixDQcA4OnAnc=')
  t.match(stringToSignV2('GET', { 'x-amz-meta-a': ' one\n  two ' }, '/b/k', 'd'), 'x-amz-meta-a:one two\n')
})

t.test('query-string authentication (presigned URL)', async t => {
  const url = presignV2(creds, 'https://s3.amazonaws.com', 'johnsmith', 'photos/puppy.jpg', { method: 'GET', expiresSeconds: 1 }, 1175139619_000)
  const u = new URL(url)
  t.equal(u.pathname, '/johnsmith/photos/puppy.jpg')
  t.equal(u.searchParams.get('AWSAccessKeyId'), creds.accessKeyId)
  t.equal(u.searchParams.get('Expires'), '1175139620')
  t.equal(u.searchParams.get('Signature'), 'NpgCjnDzrM+WFzoENXmpNDUsSn8=')
  t.match(url, 'Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D', '+ and = are escaped in the query')
})

t.test('presigned key names are encoded the way they are signed', async t => {
  const url = presignV2(creds, 'http://127.0.0.1:9000/', 'b', "dir/a b+c%d#e(f)'ü", { method: 'PUT', expiresSeconds: 60 }, 0)
  const u = new URL(url)
  t.equal(u.pathname, '/b/dir/a%20b%2Bc%25d%23e%28f%29%27%C3%BC')
  t.equal(u.searchParams.get('Signature'), sign(`PUT\n\n\n60\n${u.pathname}`))
  const prefixed = new URL(presignV2(creds, 'https://gw.example/s3/', 'b', 'k', { method: 'GET', expiresSeconds: 60 }, 0))
  t.equal(prefixed.pathname, '/s3/b/k', "an endpoint's path stays in the URL")
  t.equal(prefixed.searchParams.get('Signature'), sign('GET\n\n\n60\n/s3/b/k'), 'and is signed, as the request signer signs it')
  const token = presignV2({ ...creds, sessionToken: 'tok/en' }, 'http://h', 'b', 'k', { method: 'GET', expiresSeconds: 60 }, 0)
  const v = new URL(token)
  t.equal(v.searchParams.get('x-amz-security-token'), 'tok/en')
  t.equal(v.searchParams.get('Signature'), sign('GET\n\n\n60\nx-amz-security-token:tok/en\n/b/k'), 'the token is signed')
})

t.test('the signer: replaces V4 headers, dates, signs what goes on the wire', async t => {
  const now = new Date('2007-03-27T19:36:42Z')
  const signer = sigV2Signer(creds, { endpoint: 'https://s3.amazonaws.com', now: () => now })
  const req: HttpRequestLike = {
    method: 'PUT',
    hostname: 's3.amazonaws.com',
    path: '/johnsmith/dir/a%20b%2Bc',
    query: { partNumber: '2', uploadId: 'xyz', 'x-id': 'UploadPart' },
    headers: {
      'content-type': 'application/octet-stream',
      'x-amz-date': '20070327T193642Z',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      authorization: 'AWS4-HMAC-SHA256 Credential=...',
      'x-amz-meta-mode': '33188',
    },
  }
  await signer.sign(req)
  t.equal(req.headers.date, 'Tue, 27 Mar 2007 19:36:42 GMT')
  t.notOk('x-amz-date' in req.headers)
  t.notOk('x-amz-content-sha256' in req.headers)
  const sts = 'PUT\n\napplication/octet-stream\nTue, 27 Mar 2007 19:36:42 GMT\nx-amz-meta-mode:33188\n/johnsmith/dir/a%20b%2Bc?partNumber=2&uploadId=xyz'
  const expected = createHmac('sha1', creds.secretAccessKey).update(sts).digest('base64')
  t.equal(req.headers.authorization, `AWS ${creds.accessKeyId}:${expected}`)

  // virtual-hosted: the bucket comes from the host name
  const vh: HttpRequestLike = { method: 'GET', hostname: 'johnsmith.s3.amazonaws.com', path: '/photos/puppy.jpg', query: {}, headers: {} }
  await signer.sign(vh)
  const want = createHmac('sha1', creds.secretAccessKey).update('GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\n/johnsmith/photos/puppy.jpg').digest('base64')
  t.equal(vh.headers.authorization, `AWS ${creds.accessKeyId}:${want}`)

  // a session token travels, and is signed, as x-amz-security-token
  const withToken = sigV2Signer({ ...creds, sessionToken: 'TOKEN' }, { now: () => now })
  const r3: HttpRequestLike = { method: 'GET', path: '/b/k', headers: {} }
  await withToken.sign(r3)
  t.equal(r3.headers['x-amz-security-token'], 'TOKEN')
  const want3 = createHmac('sha1', creds.secretAccessKey).update('GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\nx-amz-security-token:TOKEN\n/b/k').digest('base64')
  t.equal(r3.headers.authorization, `AWS ${creds.accessKeyId}:${want3}`)
})
