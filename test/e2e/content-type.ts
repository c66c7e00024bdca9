// Content-Type through a real mount, as s3fs sets it: files cp'd in get their
// extension's type (a large one's multipart upload too), mkdir's marker
// application/x-directory, a symlink application/octet-stream; mv and chmod
// keep the type the file has; and a presigned URL serves the file with it,
// which a browser needs to show the file rather than download it.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { withS3 } from '../helpers/s3-server.js'
import { cliEnv, runCli, tmpDir } from '../helpers/oortfs-cli.js'
import { mountBucket, q, shOk } from '../helpers/mount.js'

const s3 = await withS3(t)

t.test('cp, mkdir, ln -s, mv, chmod, then HEAD and a presigned GET', async t => {
  const m = await mountBucket(t, { s3 })
  const work = tmpDir(t)
  const src = join(work, 'src')
  mkdirSync(src)
  const files: [string, string][] = [
    ['notes.txt', 'text/plain'],
    ['photo.jpg', 'image/jpeg'],
    ['a.tar.gz', 'application/gzip'],
    ['page.html', 'text/html'],
    ['Makefile', 'application/octet-stream'],
    ['clip.mp4', 'video/mp4'],
  ]
  for (const [name] of files) writeFileSync(join(src, name), randomBytes(2048))
  // over the 8 MiB part size: a multipart upload
  writeFileSync(join(src, 'big.png'), randomBytes(9 * 1024 * 1024))
  files.push(['big.png', 'image/png'])
  await shOk(`cp ${files.map(([name]) => q(join(src, name))).join(' ')} ${q(m.dir)}`)
  await shOk(`mkdir ${q(join(m.dir, 'album.jpg'))} && ln -s notes.txt ${q(join(m.dir, 'link.txt'))}`)
  await shOk(`mv ${q(join(m.dir, 'photo.jpg'))} ${q(join(m.dir, 'photo.renamed'))}`)
  await shOk(`mv ${q(join(m.dir, 'big.png'))} ${q(join(m.dir, 'album.jpg', 'big.bin'))}`)
  await shOk(`chmod 600 ${q(join(m.dir, 'notes.txt'))} ${q(join(m.dir, 'a.tar.gz'))}`)
  // chmod's copy is sent a moment later (bursts merge): it has landed once the mount is quiet
  await m.settle()

  const type = async (key: string): Promise<string | undefined> =>
    (await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: key }))).ContentType
  const where: Record<string, string> = { 'photo.jpg': 'photo.renamed', 'big.png': 'album.jpg/big.bin' }
  for (const [name, want] of files) t.equal(await type(where[name] ?? name), want, `${name}${where[name] ? ` (mv'd to ${where[name]})` : ''}`)
  t.equal(await type('album.jpg/'), 'application/x-directory', 'mkdir: the marker, as s3fs makes it')
  t.equal(await type('link.txt'), 'application/octet-stream', 'ln -s: as s3fs stores a symlink')
  t.equal((await m.client.send(new HeadObjectCommand({ Bucket: m.bucket, Key: 'notes.txt' }))).Metadata?.mode, String(0o100600), 'the chmod landed')
  t.equal((await shOk(`readlink ${q(join(m.dir, 'link.txt'))}`)).trim(), 'notes.txt')
  t.equal((await shOk(`stat -c %F ${q(join(m.dir, 'album.jpg'))}`)).trim(), 'directory')

  // what a browser opening the file's URL is told
  const env = cliEnv(s3, tmpDir(t, 'oortfs-home-'))
  for (const [path, want] of [['notes.txt', 'text/plain'], ['photo.renamed', 'image/jpeg'], ['clip.mp4', 'video/mp4']]) {
    const r = await runCli(['url', join(m.dir, path!)], env)
    t.equal(r.code, 0, `oortfs url ${path}: ${r.stderr}`)
    const headers = await shOk(`curl -s -o /dev/null -D - ${q(r.stdout.trim())}`)
    t.match(headers, /^HTTP\/[\d.]+ 200/, `GET ${path}`)
    t.equal(/^content-type:\s*(.*?)\s*$/im.exec(headers)?.[1], want, `${path} is served as ${want}`)
  }
})
