// Directories another tool wrote its own way, on the real server: a second
// client (the SDK, as s3fs's old format, Hadoop S3N or a console would) puts
// `old_$folder$`, a slashless `legacy` (zero bytes, application/x-directory,
// an S_IFDIR mode) with a child, a childless `empty` (httpd/unix-directory),
// and a `marked/` marker with a header of its own. Through the mount, with
// the tools a user has: each is one directory; chmod rewrites each object in
// place keeping its foreign headers and Content-Type; rmdir and mv take the
// objects with them.
import t from 'tap'
import { HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3'
import { join } from 'node:path'
import { withS3 } from '../helpers/s3-server.js'
import { keysUnder, lines, mountBucket, q, sh, shOk } from '../helpers/mount.js'
import { s3fsMount } from '../helpers/s3fs-mount.js'

const s3 = await withS3(t)

async function putEmpty (client: S3Client, bucket: string, key: string, ContentType?: string, Metadata?: Record<string, string>): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(0), ContentType, Metadata }))
}

async function head (client: S3Client, bucket: string, key: string): Promise<HeadObjectCommandOutput | undefined> {
  try {
    return await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined
    throw err
  }
}

const S_IFDIR = 0o040000

const names = ['empty', 'legacy', 'marked', 'old']

/** what another tool leaves: the four directory objects, and a child of legacy */
async function seedForeign (client: S3Client, bucket: string): Promise<void> {
  await putEmpty(client, bucket, 'old_$folder$')
  await putEmpty(client, bucket, 'legacy', 'application/x-directory', { mode: String(S_IFDIR | 0o755) })
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'legacy/a.txt', Body: 'a' }))
  await putEmpty(client, bucket, 'empty', 'httpd/unix-directory')
  await putEmpty(client, bucket, 'marked/', undefined, { color: 'green' })
}

t.test('the default (meta=list): the objects beside their prefixes, folder objects and markers are directories; a zero-byte key alone is a file (no HEAD for it)', async t => {
  const m = await mountBucket(t, { s3 })
  await seedForeign(m.client, m.bucket)
  await m.mark()
  t.same(lines(await shOk(`ls -1A ${q(m.dir)} | LC_ALL=C sort`)), names, 'no .oortfs-file, no _$folder$')
  const types = lines(await shOk(`cd ${q(m.dir)} && stat -c '%n %F' ${names.join(' ')}`))
  t.same(types, ['empty regular empty file', 'legacy directory', 'marked directory', 'old directory'])
  t.same(lines(await shOk(`ls ${q(join(m.dir, 'legacy'))}`)), ['a.txt'], 'ls legacy: its child')
  const heads = (await m.requestsSince()).byType.HeadObject ?? 0
  t.ok(heads <= 2, `${heads} HEAD: only for the slashless object beside its prefix, and the mount root's own attributes (once)`)
})

t.test('directory objects another tool wrote, with meta=head (every object read): ls -l, stat, chmod keeping their headers, rmdir, mv', async t => {
  const m = await mountBucket(t, { s3, options: ['meta=head'] })
  const { client, bucket } = m
  await seedForeign(client, bucket)
  const markedType = (await head(client, bucket, 'marked/'))!.ContentType

  const long = lines(await shOk(`ls -lA ${q(m.dir)}`)).filter(l => !l.startsWith('total'))
  t.equal(long.length, 4, `four entries, no .oortfs-file, no _$folder$:\n${long.join('\n')}`)
  t.ok(long.every(l => l.startsWith('d')), 'ls -l: all four are directories')
  t.same(lines(await shOk(`ls -1A ${q(m.dir)} | LC_ALL=C sort`)), names)
  t.same(lines(await shOk(`cd ${q(m.dir)} && stat -c %F ${names.join(' ')}`)), names.map(() => 'directory'), 'stat -c %F')
  t.same(lines(await shOk(`ls ${q(join(m.dir, 'legacy'))}`)), ['a.txt'], 'ls legacy: its child')
  t.same(lines(await shOk(`ls -A ${q(join(m.dir, 'empty'))}`)), [], 'ls empty: nothing')

  await shOk(`cd ${q(m.dir)} && chmod 700 ${names.join(' ')}`)
  t.same(lines(await shOk(`cd ${q(m.dir)} && stat -c %a ${names.join(' ')}`)), names.map(() => '700'), 'stat shows 700')
  const mode = String(S_IFDIR | 0o700)
  const objects: [string, string | undefined, Record<string, string>][] = [
    ['old_$folder$', undefined, {}],
    ['legacy', 'application/x-directory', {}],
    ['empty', 'httpd/unix-directory', {}],
    ['marked/', markedType, { color: 'green' }],
  ]
  for (const [key, type, foreign] of objects) {
    const h = await head(client, bucket, key)
    t.ok(h, `${key} still there`)
    t.equal(h?.Metadata?.mode, mode, `${key}: the new mode stored on it`)
    for (const [k, v] of Object.entries(foreign)) t.equal(h?.Metadata?.[k], v, `${key}: x-amz-meta-${k} kept`)
    if (type) t.equal(h?.ContentType, type, `${key}: Content-Type ${type} kept`)
  }
  t.notOk(await head(client, bucket, 'legacy/'), 'no marker made beside the slashless object')
  t.notOk(await head(client, bucket, 'old/'), 'nor beside the folder object')

  const rmdir = await sh(`rmdir ${q(join(m.dir, 'empty'))} ${q(join(m.dir, 'old'))}`)
  t.equal(rmdir.code, 0, rmdir.stderr)
  t.notOk(await head(client, bucket, 'empty'), 'rmdir empty removed the object')
  t.notOk(await head(client, bucket, 'old_$folder$'), 'rmdir old removed the folder object')

  await shOk(`mv ${q(join(m.dir, 'legacy'))} ${q(join(m.dir, 'moved'))}`)
  const moved = await head(client, bucket, 'moved')
  t.equal(moved?.ContentType, 'application/x-directory', 'mv: the slashless object went to the new name, as it was')
  t.equal(moved?.Metadata?.mode, mode)
  t.same((await keysUnder(client, bucket, '')).filter(k => !k.includes('.oortfs-')).sort(), ['marked/', 'moved', 'moved/a.txt'],
    'nothing left under the old names')

  await m.remount()
  await shOk(`ls -l ${q(m.dir)} >/dev/null`)
  t.same(lines(await shOk(`cd ${q(m.dir)} && stat -c '%n %F %a' marked moved`)), ['marked directory 700', 'moved directory 700'], 'a fresh mount agrees')
  t.same(lines(await shOk(`ls ${q(join(m.dir, 'moved'))}`)), ['a.txt'])
})

t.test('s3fs sees them as directories too, with the mode oortfs stored on each', async t => {
  const m = await mountBucket(t, { s3, options: ['meta=head'] })
  await seedForeign(m.client, m.bucket)
  await shOk(`ls -l ${q(m.dir)} >/dev/null && cd ${q(m.dir)} && chmod 700 ${names.join(' ')}`)
  await m.unmount()
  const s = await s3fsMount(t, s3, m.bucket)
  t.same(lines(await shOk(`cd ${q(s.dir)} && stat -c '%n %F %a' ${names.join(' ')}`)), names.map(n => `${n} directory 700`))
  t.same(lines(await shOk(`ls ${q(join(s.dir, 'legacy'))}`)), ['a.txt'])
  await s.unmount()
})
