// The filesystem as the FUSE adapter (and the tests) see it: path-based, async,
// and every failure an FsError carrying an errno name. Nothing here knows FUSE.

export interface Attr {
  /** full st_mode, file-type bits included */
  mode: number
  uid: number
  gid: number
  size: number
  mtime: Date
  atime: Date
  ctime: Date
  nlink: number
  blocks: number
  blksize: number
  /** st_rdev: a character or block device's number (Linux's encoding, as stat(2) shows it); absent: 0 */
  rdev?: number
  /** the exact times in nanoseconds since the epoch, where they are finer than the Dates or beyond their range */
  atimeNs?: bigint
  mtimeNs?: bigint
  ctimeNs?: bigint
}

/** who asks: the calling process's ids and umask, from the FUSE request (a new object is theirs) */
export interface Caller {
  uid: number
  gid: number
  pid: number
  umask: number
}

/** a utimens call's exact times in nanoseconds since the epoch (any 64-bit second value); undefined: UTIME_NOW or UTIME_OMIT */
export interface ExactTimes {
  atimeNs?: bigint
  mtimeNs?: bigint
}

export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  fsid: number
  flag: number
  namemax: number
}

/** open(2) flags the core cares about (Linux values) */
export const OpenFlags = {
  O_ACCMODE: 0o3,
  O_RDONLY: 0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
} as const

export interface FileSystem {
  getattr(path: string): Promise<Attr>
  /** attributes through an open handle (the file may be unlinked or not yet uploaded) */
  fgetattr(path: string, fh: number): Promise<Attr>
  /** names only; '.' and '..' are the adapter's business */
  readdir(path: string): Promise<string[]>
  open(path: string, flags: number): Promise<number>
  /** `caller`: whose the new file is (absent: the mount's uid and gid) */
  create(path: string, mode: number, caller?: Caller): Promise<number>
  read(fh: number, buf: Buffer, length: number, position: number): Promise<number>
  write(fh: number, buf: Buffer, length: number, position: number): Promise<number>
  /**
   * The FUSE binding wrote fh's bytes into the staging file itself (the write
   * shortcut): `result` bytes went, or it failed with errno -result. The core
   * records it; answered as write() is.
   */
  written?(fh: number, result: number, length: number, position: number): Promise<number>
  /** no more writes made by the binding, and those it made are in (before the last save) */
  quietWrites?(): Promise<void>
  flush(fh: number): Promise<void>
  fsync(fh: number, datasync: boolean): Promise<void>
  release(fh: number): Promise<void>
  truncate(path: string, size: number): Promise<void>
  ftruncate(fh: number, size: number): Promise<void>
  unlink(path: string): Promise<void>
  mkdir(path: string, mode: number, caller?: Caller): Promise<void>
  rmdir(path: string): Promise<void>
  rename(from: string, to: string): Promise<void>
  chmod(path: string, mode: number): Promise<void>
  chown(path: string, uid: number, gid: number): Promise<void>
  /** times in milliseconds since the epoch; NaN leaves that time unchanged (UTIME_OMIT), Infinity is now (UTIME_NOW) */
  utimens(path: string, atimeMs: number, mtimeMs: number, exact?: ExactTimes): Promise<void>
  symlink(target: string, path: string, caller?: Caller): Promise<void>
  /** a FIFO, character or block device or socket (mode carries the file type); rdev is a device's number */
  mknod(path: string, mode: number, rdev: number, caller?: Caller): Promise<void>
  readlink(path: string): Promise<string>
  setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void>
  /** undefined: no such attribute (ENODATA) */
  getxattr(path: string, name: string): Promise<Buffer | undefined>
  listxattr(path: string): Promise<string[]>
  removexattr(path: string, name: string): Promise<void>
  statfs(path: string): Promise<StatFs>
  /** uploads everything pending; called before unmount */
  flushAll(): Promise<void>
}
