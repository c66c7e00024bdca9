// The patched FUSE binding's shortcuts (scripts/fuse-shortcuts.c) as the
// core's ReadShortcut and WriteShortcut: reads of bound handles whose blocks
// are mirrored there are answered on the FUSE threads, and told to the core
// afterwards in batches (one wake of the JS thread for many reads); writes of
// armed handles are made into the staging file there, then handed to the core.
import type { ReadShortcut } from '../fs/read/read-bindings.js'
import type { WriteShortcut } from '../fs/write/write-arming.js'
import { log } from '../util/log.js'
import { fuseBinding } from './fuse-addon.js'

/** reads the binding keeps to tell at once (its OORTFS_SC_EVENTS): fh, offset, length each */
const EVENTS = 1024

interface ShortcutBinding {
  oortfs_sc_init (thread: Buffer, blockSize: number, blocksHint: number, events: Float64Array, told: () => void): void
  oortfs_sc_take (thread: Buffer): number
  oortfs_sc_publish (thread: Buffer, object: number, index: number, block: Buffer): void
  oortfs_sc_unpublish (thread: Buffer, object: number, index: number): void
  oortfs_sc_bind (thread: Buffer, fh: number, object: number): void
  oortfs_sc_unbind (thread: Buffer, fh: number): void
  oortfs_sc_arm (thread: Buffer, fh: number, fd: number, seen: number): boolean
  oortfs_sc_disarm (thread: Buffer, fh: number): number
}

export interface ShortcutOptions {
  /** the mounted Fuse's thread state (fuse-native's _thread) */
  thread: Buffer
  blockSize: number
  /** about how many blocks the cache holds at most: the binding sizes its table by it */
  blocks: number
  /** a read of fh was answered from cached blocks */
  served: (fh: number, position: number, length: number) => void
}

/** the shortcuts on the mounted binding; undefined if the addon has none */
export function nativeShortcuts (opts: ShortcutOptions): { read: ReadShortcut, write: WriteShortcut } | undefined {
  const b = fuseBinding() as Partial<ShortcutBinding>
  if (typeof b.oortfs_sc_init !== 'function' || typeof b.oortfs_sc_disarm !== 'function') return undefined
  const sc = b as ShortcutBinding
  const t = opts.thread
  const events = new Float64Array(EVENTS * 3)
  const drain = (): void => {
    const count = sc.oortfs_sc_take(t)
    for (let i = 0; i < count; i++) {
      try {
        opts.served(events[3 * i]!, events[3 * i + 1]!, events[3 * i + 2]!)
      } catch (err) {
        // only the read-ahead is behind: the next read the shortcut misses goes to the core
        log.warn(`read shortcut: ${(err as Error).message}`)
      }
    }
  }
  sc.oortfs_sc_init(t, opts.blockSize, opts.blocks, events, drain)
  return {
    read: {
      drain,
      publish: (object, index, block) => sc.oortfs_sc_publish(t, object, index, block),
      unpublish: (object, index) => sc.oortfs_sc_unpublish(t, object, index),
      bind: (fh, object) => sc.oortfs_sc_bind(t, fh, object),
      unbind: fh => sc.oortfs_sc_unbind(t, fh),
    },
    write: {
      arm: (fh, fd, seen) => sc.oortfs_sc_arm(t, fh, fd, seen),
      disarm: fh => sc.oortfs_sc_disarm(t, fh),
    },
  }
}
