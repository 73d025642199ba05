/**
 * One gossip node serves every namespace of a Socket.IO server. The node is either given by the
 * application (then it is theirs: the adapter never closes it, the Fastify plugin may share it) or
 * spawned on first use (then the adapter owns it and closes it when the last namespace's adapter
 * closes, which is what `io.close()` does).
 */
import type { GossipApi } from '../core/api.js'

export class NodeLease {
  private node: Promise<GossipApi> | undefined
  private users = 0
  /** Why the last spawn failed (already reported by `onSpawnError`). */
  spawnFailure: unknown

  constructor (
    private readonly source: { given: GossipApi } | { spawn: () => Promise<GossipApi> },
    private readonly onSpawnError?: (err: unknown) => void
  ) {}

  get owned (): boolean {
    return !('given' in this.source)
  }

  /** The node, spawning it if needed, without taking a share of it. */
  current (): Promise<GossipApi> {
    if (this.node === undefined) {
      this.node = 'given' in this.source
        ? Promise.resolve(this.source.given)
        : this.source.spawn().catch((err: unknown) => {
          this.spawnFailure = err
          this.onSpawnError?.(err)
          throw err
        })
      // An unused failed spawn must not surface as an unhandled rejection; users see it on acquire.
      this.node.catch(() => {})
    }
    return this.node
  }

  acquire (): Promise<GossipApi> {
    this.users++
    return this.current()
  }

  async release (): Promise<void> {
    this.users--
    if (this.users > 0 || !this.owned || this.node === undefined) return
    const node = this.node
    this.node = undefined
    try {
      await (await node).close()
    } catch {
      // a node that never spawned has nothing to close
    }
  }
}
