/**
 * `grapevine-gossip/socket.io`: a Socket.IO adapter over the gossip overlay.
 *
 *   io.adapter(createAdapter({ gossip: node }))              // share an existing node
 *   io.adapter(createAdapter({ secret, port, seeds }))       // or let the adapter spawn one
 */
import type { Namespace } from 'socket.io'
import type { Adapter } from 'socket.io-adapter'
import type { GossipApi, GossipOptions, Logger } from '../core/api.js'
import { GossipError } from '../core/errors.js'
import { GossipAdapter } from './gossip-adapter.js'
import { NodeLease } from './node-lease.js'
import { resolveAdapterOptions } from './options.js'
import type { AdapterOptions, CreateAdapterOptions } from './options.js'
import { Gossip, validateOptions } from '../core/gossip.js'

export { GossipAdapter, adapterTopic } from './gossip-adapter.js'
export type { TrustStats } from './gossip-adapter.js'
export type { RecoveryStats } from './session-recovery.js'
export type { AdapterOptions, CreateAdapterOptions } from './options.js'
export type { OrderStats } from './sender-order.js'

/**
 * What `createAdapter` returns: the class Socket.IO instantiates once per namespace (it is a
 * `typeof Adapter` so `io.adapter()` and `new Server(http, { adapter })` accept it).
 */
export type GossipAdapterConstructor = typeof Adapter & {
  new (nsp: Namespace): GossipAdapter
  /**
   * The gossip node these adapters use; spawned on first call when the adapter owns it. Rejects
   * with the node's error when it cannot start (port taken, wrong secret, ...).
   */
  node(): Promise<GossipApi>
}

const ADAPTER_ONLY_OPTIONS: ReadonlyArray<keyof AdapterOptions> = [
  'key', 'heartbeatInterval', 'heartbeatTimeout', 'reorderTimeout', 'maxHeldPerSender', 'announceInterval', 'directFanout', 'receiveBufferSize',
  'recoveryMaxSessions', 'recoveryMaxPackets', 'recoveryMaxBytes', 'recoveryTimeout'
]

function nodeOptions (options: CreateAdapterOptions): GossipOptions {
  const copy: Record<string, unknown> = { ...options }
  for (const key of ADAPTER_ONLY_OPTIONS) delete copy[key]
  return copy as unknown as GossipOptions
}

/**
 * A node the adapter cannot start is reported loudly: at `error` through the adapter's logger, or,
 * when none was given, once on the console (a silent default would leave a server that never
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
 * Options are checked now, synchronously, with errors (ERR_GOSSIP_INVALID_OPTION) naming the
 * option; the node itself is spawned on first use.
 */
export function createAdapter (options: CreateAdapterOptions): GossipAdapterConstructor {
  const resolved = resolveAdapterOptions(options)
  let lease: NodeLease
  if ('gossip' in options) {
    const node = options.gossip as Partial<GossipApi> | null
    if (typeof node !== 'object' || node === null || typeof node.stream !== 'function' || typeof node.nodeId !== 'string') {
      throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "gossip" must be a Gossip node (an object with nodeId, stream() and close())')
    }
    lease = new NodeLease({ given: options.gossip })
  } else {
    const spawnOptions = nodeOptions(options)
    validateOptions(spawnOptions)
    lease = new NodeLease({ spawn: async () => await Gossip.spawn(spawnOptions) }, spawnFailureReporter(options.logger))
  }
  return class extends GossipAdapter {
    constructor (nsp: Namespace) {
      super(nsp, lease, resolved)
    }

    static node (): Promise<GossipApi> {
      return lease.current()
    }
  }
}
