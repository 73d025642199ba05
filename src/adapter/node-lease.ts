/**
 * One gossip node serves every namespace of a Socket.IO server. The node is either given by the
 * application (then it is theirs: the adapter never closes it, the Fastify plugin may share it) or
 * spawned on first use (then the adapter owns it and closes it when the last namespace's adapter
 * closes, which is what `io.close()` does).
 */
import type { GossipApi, GossipOptions, Logger } from '../core/api.js'
import { GossipError } from '../core/errors.js'
import { Gossip, validateOptions } from '../core/gossip.js'

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

/**
 * A node the adapter (or emitter) cannot start is reported loudly: at `error` through its logger,
 * or, when none was given, once on the console (a silent default would leave a server that never
 * shares a broadcast, and nothing saying why).
 */
function spawnFailureReporter (logger: Logger | undefined): (err: unknown) => void {
  let told = false
  return err => {
    const message = `grapevine-gossip/socket.io: the gossip node could not start: ${err instanceof Error ? err.message : String(err)}`
    if (logger !== undefined) {
      logger.error({ err }, message)
      return
    }
    if (told) return
    told = true
    console.error(message)
  }
}

/**
 * The lease for `options` as `createAdapter` and `createEmitter` take them: the node given as
 * `gossip` (checked to be one), or one to spawn from the node options, that is every option but
 * `ownOptions` (checked now, synchronously, so a bad one is reported where it was passed).
 */
export function leaseFor (options: ({ gossip: GossipApi } | GossipOptions) & { logger?: Logger }, ownOptions: readonly string[]): NodeLease {
  if ('gossip' in options) {
    const node = options.gossip as Partial<GossipApi> | null
    if (typeof node !== 'object' || node === null || typeof node.stream !== 'function' || typeof node.nodeId !== 'string') {
      throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "gossip" must be a Gossip node (an object with nodeId, stream() and close())')
    }
    return new NodeLease({ given: options.gossip })
  }
  const copy: Record<string, unknown> = { ...options }
  for (const key of ownOptions) delete copy[key]
  const spawnOptions = copy as unknown as GossipOptions
  validateOptions(spawnOptions)
  return new NodeLease({ spawn: async () => await Gossip.spawn(spawnOptions) }, spawnFailureReporter(options.logger))
}

/** The largest payload `node` publishes, when it says (a `Gossip` node does). */
export function limitOf (node: GossipApi): number | undefined {
  const limit = (node as { maxMessageSize?: unknown }).maxMessageSize
  return typeof limit === 'number' ? limit : undefined
}
