// POSIX ACLs kept as ext4 keeps them (src/fs/posix-acl.ts): the kernel's
// posix_acl_xattr bytes read and written as it writes them, malformed ones
// refused with EINVAL, the mode following an access ACL and an ACL following
// chmod, an ACL the mode says as well stored as the mode alone, a default ACL
// on directories only, and what a new file inherits (posix_acl_create).
import t from 'tap'
import { makeFs, writeFile, errnoOf } from '../helpers/make-fs.js'
import {
  ACL_ACCESS, ACL_DEFAULT, aclOfNew, chmodAcl, encodeAcl, parseAcl, setAccessAcl,
  USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER, type AclEntry,
} from '../../src/fs/posix-acl.js'

const U = 0xffffffff
/** what Linux's getxattr answered on ext4 for `setfacl -m u:nobody:rwx` of a 0644 file (strace) */
const KERNEL_BYTES = Buffer.from('AgAAAAEABgD/////AgAHAP7/AAAEAAQA/////xAABwD/////IAAEAP////8=', 'base64')
const NOBODY_RWX: AclEntry[] = [
  { tag: USER_OBJ, perm: 6, id: U }, { tag: USER, perm: 7, id: 65534 }, { tag: GROUP_OBJ, perm: 4, id: U },
  { tag: MASK, perm: 7, id: U }, { tag: OTHER, perm: 4, id: U },
]
const acl = (...entries: [number, number, number?][]): Buffer => encodeAcl(entries.map(([tag, perm, id]) => ({ tag, perm, id: id ?? U })))
const BASE = (u: number, g: number, o: number): Buffer => acl([USER_OBJ, u], [GROUP_OBJ, g], [OTHER, o])

t.test('the kernel\'s bytes: u32 version 2, then {u16 tag, u16 perm, u32 id} little endian; read and written back the same', async t => {
  t.same(parseAcl(KERNEL_BYTES), NOBODY_RWX)
  t.same(encodeAcl(NOBODY_RWX), KERNEL_BYTES, 'byte for byte')
  t.equal(KERNEL_BYTES.readUInt32LE(0), 2)
  t.same(parseAcl(Buffer.from([2, 0, 0, 0])), [], 'the bare header: an empty ACL')
  // ids of the base entries are the kernel's 0xffffffff whatever was given
  t.same(encodeAcl([{ tag: USER_OBJ, perm: 7, id: 5 }]).subarray(8), Buffer.from([0xff, 0xff, 0xff, 0xff]))
})

t.test('a malformed ACL is EINVAL, as posix_acl_valid says', async t => {
  const cases: [string, Buffer][] = [
    ['too short', Buffer.from([2, 0])],
    ['not whole entries', Buffer.concat([BASE(6, 4, 4), Buffer.from([1])])],
    ['version 1', Buffer.concat([Buffer.from([1, 0, 0, 0]), BASE(6, 4, 4).subarray(4)])],
    ['an unknown tag', acl([USER_OBJ, 6], [0x40, 4], [GROUP_OBJ, 4], [OTHER, 4])],
    ['perms beyond rwx', acl([USER_OBJ, 8], [GROUP_OBJ, 4], [OTHER, 4])],
    ['out of order', acl([GROUP_OBJ, 4], [USER_OBJ, 6], [OTHER, 4])],
    ['no owner entry', acl([GROUP_OBJ, 4], [OTHER, 4])],
    ['no other entry', acl([USER_OBJ, 6], [GROUP_OBJ, 4])],
    ['the owner twice', acl([USER_OBJ, 6], [USER_OBJ, 6], [GROUP_OBJ, 4], [OTHER, 4])],
    ['a named user without a mask', acl([USER_OBJ, 6], [USER, 7, 1000], [GROUP_OBJ, 4], [OTHER, 4])],
    ['a named group without an id', acl([USER_OBJ, 6], [GROUP_OBJ, 4], [GROUP, 4, U], [MASK, 4], [OTHER, 4])],
  ]
  for (const [what, bytes] of cases) {
    let errno: string | undefined
    try { parseAcl(bytes, '/f') } catch (err) { errno = (err as { errno?: string }).errno }
    t.equal(errno, 'EINVAL', what)
  }
  t.doesNotThrow(() => parseAcl(acl([USER_OBJ, 6], [USER, 7, 1000], [USER, 5, 1001], [GROUP_OBJ, 4], [GROUP, 4, 50], [MASK, 7], [OTHER, 0])), 'every kind, in order')
})

t.test('setting an access ACL: the mode\'s group bits come from the mask; an ACL the mode says as well is the mode alone', async t => {
  t.same(setAccessAcl(KERNEL_BYTES, 0o100644), { mode: 0o100674, stored: KERNEL_BYTES }, 'owner rw-, mask rwx, other r--')
  t.same(setAccessAcl(BASE(7, 5, 0), 0o104644), { mode: 0o104750, stored: undefined }, 'three entries: mode 0750, nothing stored, type and setuid kept')
  const maskOnly = acl([USER_OBJ, 6], [GROUP_OBJ, 6], [MASK, 4], [OTHER, 0])
  t.same(setAccessAcl(maskOnly, 0o100666), { mode: 0o100640, stored: maskOnly }, 'a mask is not equivalent to the mode: kept, group bits from it')
  t.same(setAccessAcl(Buffer.from([2, 0, 0, 0]), 0o100600), { mode: 0o100600 }, 'an empty ACL removes, the mode stays')
})

t.test('chmod rewrites owner, mask (or group without one) and other; named entries stay', async t => {
  t.same(parseAcl(chmodAcl(KERNEL_BYTES, 0o640)), [
    { tag: USER_OBJ, perm: 6, id: U }, { tag: USER, perm: 7, id: 65534 }, { tag: GROUP_OBJ, perm: 4, id: U },
    { tag: MASK, perm: 4, id: U }, { tag: OTHER, perm: 0, id: U },
  ], 'chmod 640: mask r--, other ---; nobody keeps rwx (effective r--)')
  t.same(chmodAcl(BASE(6, 4, 4), 0o751), BASE(7, 5, 1), 'no mask: the group entry takes the group bits')
  const junk = Buffer.from('not an acl')
  t.equal(chmodAcl(junk, 0o600), junk, 'bytes we cannot read are left as they are')
})

t.test('aclOfNew follows posix_acl_create', async t => {
  t.same(aclOfNew(undefined, 0o100644, false), { mode: 0o100644 }, 'no default ACL: the mode as given')
  t.same(aclOfNew(BASE(7, 5, 0), 0o100666, false), { mode: 0o100640 }, 'a default the mode can say: the mode masked, no ACL')
  const def = acl([USER_OBJ, 7], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 7], [OTHER, 5])
  t.same(aclOfNew(def, 0o100666, false), {
    mode: 0o100664,
    access: acl([USER_OBJ, 6], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 6], [OTHER, 4]),
  }, 'a file: owner, mask and other masked by the mode and the mode by them; the named entry as it was')
  t.same(aclOfNew(def, 0o040755, true), {
    mode: 0o040755,
    access: acl([USER_OBJ, 7], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 5], [OTHER, 5]),
    default: def,
  }, 'a directory also inherits the default ACL as its own')
  t.same(aclOfNew(BASE(7, 5, 5), 0o040700, true), { mode: 0o040700, default: BASE(7, 5, 5) }, 'a directory whose access ACL the mode says: the default alone')
  t.same(aclOfNew(def, 0o106777, false).mode, 0o106775, 'setuid and setgid stay')
  t.same(aclOfNew(def, 0o120777, false), { mode: 0o120777 }, 'a symlink gets none')
  t.same(aclOfNew(Buffer.from('junk'), 0o100644, false), { mode: 0o100644 }, 'a default ACL we cannot read is none')
  t.same(aclOfNew(Buffer.from([2, 0, 0, 0]), 0o100644, false), { mode: 0o100644 }, 'nor an empty one')
})

t.test('on a file: setfacl sets the mode, getfacl reads the ACL back, chmod moves the mask; an equivalent ACL stores no attribute', async t => {
  const { fs, store } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  await fs.setxattr('/f', ACL_ACCESS, KERNEL_BYTES, 0)
  t.equal((await fs.getattr('/f')).mode, 0o100674, 'ls -l shows the mask as the group bits')
  t.same(await fs.getxattr('/f', ACL_ACCESS), KERNEL_BYTES, 'getfacl reads it')
  t.same(await fs.listxattr('/f'), [ACL_ACCESS])
  await fs.chmod('/f', 0o640)
  t.same(parseAcl((await fs.getxattr('/f', ACL_ACCESS))!).find(e => e.tag === MASK)?.perm, 4, 'chmod 640: the mask follows')
  await fs.flushAll()
  t.equal(store.object('f')?.metadata.mode, String(0o100640))
  t.match(store.object('f')?.metadata.xattr, /^%7B%22system\.posix_acl_access%22%3A%22/, 'stored in x-amz-meta-xattr')

  await fs.setxattr('/f', ACL_ACCESS, BASE(7, 0, 0), 0) // setfacl -b, or cp -a of a file without an ACL
  t.equal((await fs.getattr('/f')).mode, 0o100700, 'the mode from the three entries')
  t.equal(await fs.getxattr('/f', ACL_ACCESS), undefined, 'and no ACL to read: getfacl shows the mode')
  await fs.flushAll()
  t.equal(store.object('f')?.metadata.xattr, undefined, 'no x-amz-meta-xattr at all')
  t.equal(store.object('f')?.metadata.mode, String(0o100700))
})

t.test('cp -a of a file without an ACL into the mount: the equivalent ACL is the chmod, carried by the upload', async t => {
  const { fs, store } = makeFs()
  const fh = await fs.create('/new', 0o600)
  await fs.write(fh, Buffer.from('data'), 4, 0)
  await fs.setxattr('/new', ACL_ACCESS, BASE(7, 5, 4), 0)
  const onNew: string[] = []
  store.onRequest = (op, key) => { if (key === 'new') onNew.push(op) }
  await fs.release(fh)
  await fs.flushAll()
  t.same(onNew, ['PutObject'], 'one PUT of it, mode inline (no copy after)')
  t.equal(store.object('new')?.metadata.mode, String(0o100754))
})

t.test('a default ACL: on a directory, stored on its marker; on a file EACCES; malformed EINVAL; removing one there is none of succeeds', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/d', 0o755)
  await writeFile(fs, '/d/f', Buffer.from('x'))
  const def = acl([USER_OBJ, 7], [USER, 5, 65534], [GROUP_OBJ, 5], [MASK, 5], [OTHER, 5])
  await fs.setxattr('/d', ACL_DEFAULT, def, 0)
  t.same(await fs.getxattr('/d', ACL_DEFAULT), def)
  t.equal((await fs.getattr('/d')).mode, 0o040755, 'a default ACL leaves the mode')
  t.match(store.object('d/')?.metadata.xattr, /posix_acl_default/, 'on the d/ marker')
  t.equal(await errnoOf(fs.setxattr('/d/f', ACL_DEFAULT, def, 0)), 'EACCES', 'only directories have one')
  t.equal(await errnoOf(fs.setxattr('/d/f', ACL_ACCESS, Buffer.from([2, 0, 0, 0, 1, 0]), 0)), 'EINVAL', 'a malformed access ACL')
  t.equal(await errnoOf(fs.setxattr('/d', ACL_DEFAULT, Buffer.from([3, 0, 0, 0]), 0)), 'EINVAL', 'a malformed default ACL')
  t.equal(await errnoOf(fs.removexattr('/d/f', ACL_ACCESS)), undefined, 'removing an ACL there is none of: success, as ext4 answers')
  t.equal(await errnoOf(fs.removexattr('/d/f', 'user.none')), 'ENODATA', 'any other name: ENODATA')
  await fs.setxattr('/d', ACL_DEFAULT, Buffer.from([2, 0, 0, 0]), 0)
  t.equal(await fs.getxattr('/d', ACL_DEFAULT), undefined, 'an empty default ACL removes it (setfacl -k)')
})

t.test('an ACL over S3\'s 2 KB of metadata is ENOSPC, and the file keeps its mode', async t => {
  const { fs } = makeFs()
  await writeFile(fs, '/f', Buffer.from('x'))
  const users: [number, number, number][] = Array.from({ length: 250 }, (_, i) => [USER, 4, 2000 + i])
  const big = acl([USER_OBJ, 6], ...users, [GROUP_OBJ, 4], [MASK, 4], [OTHER, 0])
  t.equal(await errnoOf(fs.setxattr('/f', ACL_ACCESS, big, 0)), 'ENOSPC')
  t.equal((await fs.getattr('/f')).mode, 0o100644)
})

t.test('what is made under a directory with a default ACL inherits it (create, mkdir, mknod; not a symlink), stored with its first PUT', async t => {
  const { fs, store } = makeFs()
  await fs.mkdir('/d', 0o755)
  const def = acl([USER_OBJ, 7], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 7], [OTHER, 5])
  await fs.setxattr('/d', ACL_DEFAULT, def, 0)
  const onF: string[] = []
  store.onRequest = (op, key) => { if (key === 'd/f') onF.push(op) }
  // modes as the kernel passes them, the umask applied
  const fh = await fs.create('/d/f', 0o644)
  await fs.release(fh)
  await fs.mkdir('/d/sub', 0o755)
  await fs.mknod('/d/fifo', 0o010644, 0)
  await fs.symlink('f', '/d/link')
  await fs.flushAll()
  t.same(onF, ['PutObject'], 'the file is one PUT, its ACL inline')
  const fileAcl = acl([USER_OBJ, 6], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 4], [OTHER, 4])
  t.same(await fs.getxattr('/d/f', ACL_ACCESS), fileAcl, 'the file: the default ACL masked by its mode')
  t.equal((await fs.getattr('/d/f')).mode, 0o100644)
  t.equal(await fs.getxattr('/d/f', ACL_DEFAULT), undefined, 'a file has no default ACL')
  t.same(await fs.getxattr('/d/sub', ACL_DEFAULT), def, 'a directory inherits the default ACL as its own')
  t.same(await fs.getxattr('/d/sub', ACL_ACCESS), acl([USER_OBJ, 7], [USER, 7, 65534], [GROUP_OBJ, 5], [MASK, 5], [OTHER, 5]))
  t.same(await fs.getxattr('/d/fifo', ACL_ACCESS), fileAcl, 'a FIFO too')
  t.same(await fs.listxattr('/d/link'), [], 'a symlink gets none')
  const again = makeFs(store).fs
  await again.readdir('/d')
  t.same(await again.getxattr('/d/f', ACL_ACCESS), fileAcl, 'after a remount')
  t.same(await again.getxattr('/d/sub', ACL_DEFAULT), def)
  t.same(await again.getxattr('/d/sub/none', ACL_ACCESS).catch(e => e.errno), 'ENOENT')
})
