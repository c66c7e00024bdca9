#!/usr/bin/env python3
# Mapped I/O for the fsx test (test/e2e/fsx.ts): a long-lived co-process that
# maps files MAP_SHARED, PROT_READ|PROT_WRITE and reads, writes, msyncs and
# unmaps them as told, one JSON request per stdin line, one JSON answer per
# stdout line. The calls are made with ctypes, one syscall each (python's own
# mmap module dups the descriptor and closes it before munmap, which would hide
# the order the test means: a close(2) while still mapped, then munmap).
#
#   {"cmd": "map", "path": P, "off": O, "len": N, "close": true} -> {"id": K}
#       open(P, O_RDWR); mmap(N bytes at file offset O, page aligned); with
#       close, the descriptor is closed at once (the mapping keeps the file open)
#   {"cmd": "write", "id": K, "at": A, "data": B64}   A: a file offset inside the mapping
#   {"cmd": "read", "id": K, "at": A, "len": N}       -> {"data": B64}
#   {"cmd": "sync", "id": K, "async": false}          msync(MS_SYNC or MS_ASYNC)
#   {"cmd": "unmap", "id": K}                         munmap, then close(fd) if still open
#   {"cmd": "pread", "path": P, "at": A, "len": N, "direct": true} -> {"data": B64}
#       open(P, O_RDONLY, with O_DIRECT if direct), pread, close: with O_DIRECT
#       the kernel writes dirty pages back, then asks the filesystem, not the page cache
# Errors answer {"error": "..."}; a SIGBUS (an access past the end) ends the process.
import base64
import ctypes
import ctypes.util
import json
import mmap
import os
import sys

libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MAP_FAILED = ctypes.c_void_p(-1).value
MS_ASYNC, MS_SYNC = 1, 4

maps = {}
serial = 0


def fail(what):
    e = ctypes.get_errno()
    raise OSError(e, f'{what}: {os.strerror(e)}')


def mapping(req):
    m = maps.get(req['id'])
    if m is None:
        raise ValueError(f"no mapping {req['id']}")
    return m


def span(m, at, n):
    if at < m['off'] or at + n > m['off'] + m['len']:
        raise ValueError(f"{at}+{n} is outside the mapping {m['off']}+{m['len']}")
    return m['addr'] + at - m['off']


def handle(req):
    global serial
    cmd = req['cmd']
    if cmd == 'map':
        off, n = req['off'], req['len']
        if off % mmap.PAGESIZE or n <= 0:
            raise ValueError(f'bad mapping {off}+{n}')
        fd = os.open(req['path'], os.O_RDWR)
        addr = libc.mmap(None, n, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, off)
        if addr == MAP_FAILED or addr is None:
            os.close(fd)
            fail('mmap')
        if req.get('close'):
            os.close(fd)
            fd = -1
        serial += 1
        maps[serial] = {'addr': addr, 'off': off, 'len': n, 'fd': fd}
        return {'id': serial}
    if cmd == 'write':
        m = mapping(req)
        data = base64.b64decode(req['data'])
        ctypes.memmove(span(m, req['at'], len(data)), data, len(data))
        return {}
    if cmd == 'read':
        m = mapping(req)
        data = ctypes.string_at(span(m, req['at'], req['len']), req['len'])
        return {'data': base64.b64encode(data).decode()}
    if cmd == 'sync':
        m = mapping(req)
        if libc.msync(m['addr'], m['len'], MS_ASYNC if req.get('async') else MS_SYNC) != 0:
            fail('msync')
        return {}
    if cmd == 'unmap':
        m = maps.pop(req['id'], None)
        if m is None:
            raise ValueError(f"no mapping {req['id']}")
        if libc.munmap(m['addr'], m['len']) != 0:
            fail('munmap')
        if m['fd'] >= 0:
            os.close(m['fd'])
        return {}
    if cmd == 'pread':
        fd = os.open(req['path'], os.O_RDONLY | (os.O_DIRECT if req.get('direct') else 0))
        try:
            data = os.pread(fd, req['len'], req['at'])
        finally:
            os.close(fd)
        return {'data': base64.b64encode(data).decode()}
    raise ValueError(f'unknown command {cmd}')


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = handle(json.loads(line))
        except Exception as err:  # the test reports it; the peer keeps serving
            out = {'error': f'{type(err).__name__}: {err}'}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
