// The part of fuse-native 2.2.6 (CommonJS, untyped) that oortfs uses.
declare module 'fuse-native' {
  type Signal = (code: number, ...rest: unknown[]) => void

  interface FuseOptions {
    /** ms per op, or per op name ({ default, read, ... }); false: none */
    timeout?: number | false | Record<string, number | false>
    force?: boolean
    mkdir?: boolean
    [key: string]: unknown
  }

  class Fuse {
    constructor (mnt: string, ops: Record<string, (...args: any[]) => void>, opts?: FuseOptions)
    readonly mnt: string
    readonly opts: FuseOptions
    ops: Record<string, (...args: any[]) => void>
    mount (cb: (err: Error | null) => void): void
    unmount (cb: (err: Error | null) => void): void
    /** the `-o...` string handed to libfuse (at most 1023 bytes) */
    _fuseOptions (): string
    _op_getattr (signal: Signal, path: string): void
    _op_fgetattr (signal: Signal, path: string, fd: number): void
    _op_utimens (signal: Signal, path: string, aLow: number, aHigh: number, mLow: number, mHigh: number): void
    _op_getxattr (signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void
    _op_listxattr (signal: Signal, path: string, listBuf: Buffer): void
    static unmount (mnt: string, cb: (err: Error | null) => void): void
    static readonly [errno: string]: unknown
  }

  export = Fuse
}
