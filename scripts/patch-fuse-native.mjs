#!/usr/bin/env node
// fuse-native 2.2.6 sends a utimens call's atime in place of its mtime, and
// turns UTIME_NOW / UTIME_OMIT into a time of 1073 ms, so `touch -m`, `tar x`
// and `rsync -a` would store wrong mtimes. And it does not set libfuse's
// flag_utime_omit_ok, so libfuse 2.9 silently drops (answering success) every
// setattr that changes only one of the two times: `tar x` and `touch -m -d`
// set the mtime with the atime UTIME_OMIT, and their mtimes were lost. This
// rebuilds its addon from its own C source with all three fixed (the headers
// ship in fuse-shared-library-linux).
// Runs in a checkout at `npm ci` (package.json's prepare), at `npm pack` before
// scripts/pack-addon.mjs packs its build, and by hand in an installed package
// where no packed addon fits (the command a refused mount names); idempotent;
// fails loudly.
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const dir = dirname(require.resolve('fuse-native/package.json'))
const src = join(dir, 'fuse-native.c')
const MARK = '/* oortfs: utimens fixed */'

let c = readFileSync(src, 'utf8')
if (!c.includes(MARK)) {
  const before = c
  c = c.replace('FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)', 'FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)')
  c = c.replace(
    /static uint64_t timespec_to_uint64 \(const struct timespec\* ts\) \{\n/,
    `static uint64_t timespec_to_uint64 (const struct timespec* ts) {\n  ${MARK}\n` +
    '  if (ts->tv_nsec == UTIME_NOW) return 0xFFFFFFFFFFFFFFFFULL;\n' +
    '  if (ts->tv_nsec == UTIME_OMIT) return 0xFFFFFFFFFFFFFFFEULL;\n')
  if (c === before || !c.includes('l->mtime, 5') || !c.includes(MARK)) {
    console.error('oortfs: fuse-native.c is not the version this patch knows; utimens stays broken')
    process.exit(1)
  }
  writeFileSync(src, c)
}
if (!c.includes('flag_utime_omit_ok')) {
  const before = c
  c = c.replace('  struct fuse_operations ops = { };\n',
    '  struct fuse_operations ops = { };\n' +
    '  /* oortfs: utimens with UTIME_OMIT, else libfuse 2.9 drops a change of the mtime alone */\n' +
    '  ops.flag_utime_omit_ok = 1;\n')
  if (c === before) {
    console.error('oortfs: fuse-native.c is not the version this patch knows; utimens stays broken')
    process.exit(1)
  }
  writeFileSync(src, c)
}

// The request's caller and exact times. libfuse knows who asks (uid, gid, pid,
// umask: fuse_get_context() on the FUSE thread), but fuse-native passes none of
// it on, so every new file belonged to the mounting user. A utimens call's
// times reached JS as milliseconds, and stat times went back as milliseconds,
// so `touch -d` with nanoseconds, `rsync -a` and `cp -a` lost their sub-ms
// part, and seconds beyond 2^53 ms were wrong. This keeps the caller and the
// exact timespecs of each request in its thread's locals, shows the one being
// dispatched to JS through fuse_native_request(), and lets a stat answer carry
// 64-bit seconds and nanoseconds (a 21-word layout; the old 18-word one still
// reads as milliseconds).
const CALLER_MARK = '/* oortfs: caller and exact times */'
if (!c.includes(CALLER_MARK)) {
  const edits = [
    ['  // Extended attributes\n',
      `  ${CALLER_MARK}\n  uint32_t caller[4];\n  int64_t times[4];\n\n  // Extended attributes\n`],
    ['static fuse_thread_locals_t* get_thread_locals();\n',
      'static fuse_thread_locals_t* get_thread_locals();\n' +
      '\n' +
      '/* oortfs: the request now being dispatched to JS, read by fuse_native_request() */\n' +
      'static fuse_thread_locals_t *oortfs_dispatching = NULL;\n' +
      '\n' +
      'static void oortfs_take_caller (fuse_thread_locals_t *l) {\n' +
      '  struct fuse_context *fc = fuse_get_context();\n' +
      '  l->caller[0] = fc->uid;\n' +
      '  l->caller[1] = fc->gid;\n' +
      '  l->caller[2] = fc->pid;\n' +
      '  l->caller[3] = fc->umask;\n' +
      '}\n'],
    ['  l->op_fn = fuse_native_dispatch_##name;\\\n',
      '  l->op_fn = fuse_native_dispatch_##name;\\\n  oortfs_take_caller(l);\\\n'],
    ['  l->mtime = timespec_to_uint64(&tv[1]);\n',
      '  l->mtime = timespec_to_uint64(&tv[1]);\n' +
      '  l->times[0] = tv[0].tv_sec; l->times[1] = tv[0].tv_nsec;\n' +
      '  l->times[2] = tv[1].tv_sec; l->times[3] = tv[1].tv_nsec;\n'],
    ['  fn(handle, l, ft);\n}\n',
      '  oortfs_dispatching = l;\n  fn(handle, l, ft);\n  oortfs_dispatching = NULL;\n}\n' +
      '\n' +
      '/* oortfs: [uid, gid, pid, umask, atime s, atime ns, mtime s, mtime ns] as int64 LE, while a call is dispatched */\n' +
      'NAPI_METHOD(fuse_native_request) {\n' +
      '  napi_value out;\n' +
      '  if (oortfs_dispatching == NULL) {\n' +
      '    napi_get_undefined(env, &out);\n' +
      '    return out;\n' +
      '  }\n' +
      '  int64_t words[8];\n' +
      '  for (int i = 0; i < 4; i++) words[i] = oortfs_dispatching->caller[i];\n' +
      '  for (int i = 0; i < 4; i++) words[4 + i] = oortfs_dispatching->times[i];\n' +
      '  napi_create_buffer_copy(env, sizeof(words), words, NULL, &out);\n' +
      '  return out;\n' +
      '}\n'],
    ['static void populate_statvfs (uint32_t *ints, struct statvfs* statvfs) {\n',
      '/* oortfs: a 21-word stat carries each time as int64 seconds (two words) and nanoseconds */\n' +
      'static void oortfs_populate_stat (uint32_t *ints, size_t len, struct stat* stat) {\n' +
      '  populate_stat(ints, stat);\n' +
      '  if (len < 21 * sizeof(uint32_t)) return;\n' +
      '  struct timespec *ts[3] = { &stat->st_atim, &stat->st_mtim, &stat->st_ctim };\n' +
      '  for (int i = 0; i < 3; i++) {\n' +
      '    uint64_t raw = ((uint64_t) ints[13 + 3 * i] << 32) | ints[12 + 3 * i];\n' +
      '    ts[i]->tv_sec = (time_t) (int64_t) raw;\n' +
      '    ts[i]->tv_nsec = ints[14 + 3 * i];\n' +
      '  }\n' +
      '}\n' +
      '\n' +
      'static void populate_statvfs (uint32_t *ints, struct statvfs* statvfs) {\n'],
    ['  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n',
      '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)\n  NAPI_EXPORT_FUNCTION(fuse_native_request)\n'],
  ]
  for (const [from, to] of edits) {
    if (!c.includes(from)) {
      console.error('oortfs: fuse-native.c is not the version this patch knows; the caller and exact times stay unknown')
      process.exit(1)
    }
    c = c.replace(from, to)
  }
  c = c.replaceAll('  populate_stat(ints, l->stat);\n', '  oortfs_populate_stat(ints, ints_len, l->stat);\n')
  writeFileSync(src, c)
}

// Each read and write handed JS the kernel's bytes as a new external Buffer.
// V8 counts every one as 128 KiB of external memory, so a GiB moved was a GiB
// "allocated", and that alone started a full mark-compact about every 64 MB:
// a tenth of a streaming read's CPU. Reads and writes now borrow a Buffer from
// a small pool kept on the mount (the kernel's bytes are copied in, or the
// answer copied out: 128 KiB of memcpy, a few microseconds), and give it back
// when they answer. The pool is the mount's, not each FUSE thread's: libfuse
// ends and starts threads as load comes and goes, and their locals are never
// freed. A call that ends in an error (a timeout among them) does not give its
// buffer back, so JS code still running for it can never touch another call's
// bytes. If a buffer cannot be made, the call gets the kernel's own buffer as
// before.
const IO_MARK = '/* oortfs: pooled I/O buffers */'
if (!c.includes(IO_MARK)) {
  const fail = () => {
    console.error('oortfs: fuse-native.c is not the version this patch knows; the addon is not rebuilt (mounts refuse the old one)')
    process.exit(1)
  }
  const detach = '  if (IS_ARRAY_BUFFER_DETACH_SUPPORTED == 1) assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);\n'
  const external = '  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));\n'
  const readAt = c.indexOf('FUSE_METHOD(read, 6, 2,')
  const writeAt = c.indexOf('FUSE_METHOD(write, 6, 2,')
  const readdirAt = c.indexOf('FUSE_METHOD(readdir,')
  const once = (text, what) => text.split(what).length === 2
  if (!(readAt > 0 && writeAt > readAt && readdirAt > writeAt &&
    once(c.slice(readAt, writeAt), external) && once(c.slice(readAt, writeAt), detach) &&
    once(c.slice(writeAt, readdirAt), external) && once(c.slice(writeAt, readdirAt), detach))) fail()
  const read = c.slice(readAt, writeAt)
    .replace(external, '  argv[4] = oortfs_io_lend(env, l, l->len, 0);\n')
    .replace(detach, '  res = oortfs_io_done(env, l, res, 1);\n')
  const write = c.slice(writeAt, readdirAt)
    .replace(external, '  argv[4] = oortfs_io_lend(env, l, l->len, 1);\n')
    .replace(detach, '  res = oortfs_io_done(env, l, res, 0);\n')
  c = c.slice(0, readAt) + read + write + c.slice(readdirAt)
  const edits = [
    ['#include <pthread.h>\n', '#include <pthread.h>\n#include <errno.h>\n'],
    ['  uv_async_t async;\n  uv_mutex_t mut;\n  uv_sem_t sem;\n} fuse_thread_t;\n',
      '  uv_async_t async;\n  uv_mutex_t mut;\n  uv_sem_t sem;\n\n' +
      `  ${IO_MARK}\n  napi_ref iopool[16];\n  char *iopooldata[16];\n  size_t iopoolcap[16];\n  int iopooln;\n} fuse_thread_t;\n`],
    ['  // Extended attributes\n',
      '  /* oortfs: the I/O buffer lent to the call in progress (NULL: the kernel\'s own) */\n' +
      '  napi_ref iobuf;\n  char *iodata;\n  size_t iocap;\n\n  // Extended attributes\n'],
    ['static fuse_thread_locals_t* get_thread_locals();\n',
      'static fuse_thread_locals_t* get_thread_locals();\n' +
      '\n' +
      '/* oortfs: a Buffer of at least len bytes for this call (JS uses the first len); main thread only */\n' +
      'static napi_value oortfs_io_lend (napi_env env, fuse_thread_locals_t *l, size_t len, int writing) {\n' +
      '  fuse_thread_t *ft = l->fuse;\n' +
      '  napi_value buf;\n' +
      '  l->iobuf = NULL;\n' +
      '  while (ft->iopooln > 0) {\n' +
      '    int i = --ft->iopooln;\n' +
      '    if (ft->iopoolcap[i] >= len) {\n' +
      '      l->iobuf = ft->iopool[i];\n' +
      '      l->iodata = ft->iopooldata[i];\n' +
      '      l->iocap = ft->iopoolcap[i];\n' +
      '      break;\n' +
      '    }\n' +
      '    napi_delete_reference(env, ft->iopool[i]);\n' +
      '  }\n' +
      '  if (l->iobuf == NULL) {\n' +
      '    size_t cap = len < 131072 ? 131072 : len;\n' +
      '    void *data = NULL;\n' +
      '    if (napi_create_buffer(env, cap, &data, &buf) != napi_ok || data == NULL ||\n' +
      '        napi_create_reference(env, buf, 1, &(l->iobuf)) != napi_ok) {\n' +
      '      /* no buffer to lend: the kernel\'s own, as stock fuse-native does */\n' +
      '      l->iobuf = NULL;\n' +
      '      l->iodata = NULL;\n' +
      '      l->iocap = 0;\n' +
      '      napi_create_external_buffer(env, len, (char *) l->buf, NULL, NULL, &buf);\n' +
      '      return buf;\n' +
      '    }\n' +
      '    l->iodata = (char *) data;\n' +
      '    l->iocap = cap;\n' +
      '  } else {\n' +
      '    napi_get_reference_value(env, l->iobuf, &buf);\n' +
      '  }\n' +
      '  if (writing) memcpy(l->iodata, l->buf, len);\n' +
      '  return buf;\n' +
      '}\n' +
      '\n' +
      '/* oortfs: a read\'s answer goes to the kernel\'s buffer; the buffer goes back to the pool unless the call failed */\n' +
      'static int32_t oortfs_io_done (napi_env env, fuse_thread_locals_t *l, int32_t res, int reading) {\n' +
      '  if (l->iobuf == NULL) return res;\n' +
      '  if (reading && res > 0) {\n' +
      '    if ((size_t) res <= l->len) memcpy((void *) l->buf, l->iodata, res);\n' +
      '    else res = -EIO;\n' +
      '  }\n' +
      '  fuse_thread_t *ft = l->fuse;\n' +
      '  if (res >= 0 && ft->iopooln < 16) {\n' +
      '    int i = ft->iopooln++;\n' +
      '    ft->iopool[i] = l->iobuf;\n' +
      '    ft->iopooldata[i] = l->iodata;\n' +
      '    ft->iopoolcap[i] = l->iocap;\n' +
      '  } else {\n' +
      '    /* a failed call\'s JS may still run and use it: it stays that call\'s alone */\n' +
      '    napi_delete_reference(env, l->iobuf);\n' +
      '  }\n' +
      '  l->iobuf = NULL;\n' +
      '  l->iodata = NULL;\n' +
      '  l->iocap = 0;\n' +
      '  return res;\n' +
      '}\n'],
  ]
  for (const [from, to] of edits) {
    if (!c.includes(from)) fail()
    c = c.replace(from, to)
  }
  writeFileSync(src, c)
}

// A streaming read's 128 KiB calls each went to the JS thread and back, though
// most only copied bytes out of a block JS already held: two thread hand-offs
// and a JS call per call, half of a cached read's CPU. And each write went to
// JS, which handed its pwrite to libuv's pool and back. The shortcuts
// (scripts/fuse-shortcuts.c, which says how they stay right) answer such
// reads on the FUSE thread from blocks the cache mirrors there, for handles
// the open-file layer binds to one cached object version, and make the
// pwrite of an armed handle's write there before JS records it
// (src/fuse/native-shortcuts.ts).
const SHORTCUT_MARK = '/* oortfs: shortcuts */'
const SHORTCUT_END = '/* oortfs: shortcuts end */'
{
  const fail = () => {
    console.error('oortfs: fuse-native.c is not the version this patch knows; the addon is not rebuilt (mounts refuse the old one)')
    process.exit(1)
  }
  const code = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fuse-shortcuts.c'), 'utf8').trimEnd() + '\n' + SHORTCUT_END + '\n'
  if (!code.startsWith(SHORTCUT_MARK)) fail()
  const exports = ['init', 'publish', 'unpublish', 'bind', 'unbind', 'take', 'arm', 'disarm', 'wrote'].map(f => `  NAPI_EXPORT_FUNCTION(oortfs_sc_${f})\n`).join('')
  const at = c.indexOf(SHORTCUT_MARK)
  if (at >= 0) {
    // patched by an earlier version of this script: its code and exports are replaced by the current ones
    const end = c.indexOf(SHORTCUT_END)
    const was = c
    if (end > at) c = c.slice(0, at) + code + c.slice(end + SHORTCUT_END.length + 1)
    c = c.replace(/( {2}NAPI_EXPORT_FUNCTION\(oortfs_sc_\w+\)\n)+/, () => exports)
    if (end < at || !c.includes(exports)) fail()
    if (c !== was) writeFileSync(src, c)
  } else {
    const readHead = 'FUSE_METHOD(read, 6, 2, (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info), {\n'
    const writeHead = 'FUSE_METHOD(write, 6, 2, (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info), {\n'
    const edits = [
      ['  int iopooln;\n} fuse_thread_t;\n', '  int iopooln;\n  /* oortfs: the shortcuts, once JS turns them on (fuse-shortcuts.c) */\n  void *oortfs_sc;\n} fuse_thread_t;\n'],
      ['  napi_ref iobuf;\n  char *iodata;\n  size_t iocap;\n',
        '  napi_ref iobuf;\n  char *iodata;\n  size_t iocap;\n  /* oortfs: this write was made on the FUSE thread (fuse-shortcuts.c), and what it did */\n  int oortfs_taken;\n  int64_t oortfs_wrote;\n'],
      [readHead, code + '\n' + readHead +
        '  { int oortfs_sc_n = oortfs_sc_read(l->fuse, info, buf, len, offset); if (oortfs_sc_n >= 0) return oortfs_sc_n; }\n'],
      [writeHead, writeHead + '  l->oortfs_taken = oortfs_sc_write(l->fuse, info, buf, len, offset, &(l->oortfs_wrote));\n'],
      ['  argv[4] = oortfs_io_lend(env, l, l->len, 1);\n', '  /* written already: JS reads none of the bytes */\n  argv[4] = oortfs_io_lend(env, l, l->len, !l->oortfs_taken);\n'],
      ['  NAPI_EXPORT_FUNCTION(fuse_native_request)\n', '  NAPI_EXPORT_FUNCTION(fuse_native_request)\n' + exports],
    ]
    for (const [from, to] of edits) {
      if (c.split(from).length !== 2) fail()
      c = c.replace(from, () => to)
    }
    writeFileSync(src, c)
  }
}

// the marker string lets a later install see that the build is ours and current
const BUILD_MARK = 'oortfs-v9'
const built = join(dir, 'build', 'Release', 'fuse.node')
if (!existsSync(built) || !readFileSync(built).includes(Buffer.from(BUILD_MARK))) {
  c = readFileSync(src, 'utf8')
  if (!c.includes(BUILD_MARK)) {
    const line = `  static const char *oortfs_build_mark __attribute__((used)) = "${BUILD_MARK}"; (void) oortfs_build_mark;`
    // an older build's marker line is replaced, not joined by a second one
    c = /^ {2}static const char \*oortfs_build_mark .*$/m.test(c)
      ? c.replace(/^ {2}static const char \*oortfs_build_mark .*$/m, line)
      : c.replace(MARK, `${MARK}\n${line}`)
    writeFileSync(src, c)
  }
  const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js', { paths: [dirname(process.execPath) + '/../lib/node_modules/npm'] })
  // build against the installed Node headers: nothing is downloaded
  const nodedir = process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  const args = [gyp, 'rebuild', '--loglevel=error', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]
  execFileSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] })
  if (!readFileSync(built).includes(Buffer.from(BUILD_MARK))) {
    console.error('oortfs: rebuilt fuse-native addon lacks the fix marker')
    process.exit(1)
  }
}
