/**
 * `grapevine-gossip/socket.io`: a Socket.IO adapter over the gossip overlay, and an emitter for
 * processes that are not servers.
 *
 *   io.adapter(createAdapter({ gossip: node }))              // share an existing node
 *   io.adapter(createAdapter({ secret, port, seeds }))       // or let the adapter spawn one
 *   createEmitter({ secret, seeds }).to('room').emit('ev')   // from a worker, a cron job
 */
import type { Namespace } from 'socket.io'
import type { Adapter } from 'socket.io-adapter'
import type { GossipApi } from '../core/api.js'
import { GossipAdapter } from './gossip-adapter.js'
import { leaseFor } from './node-lease.js'
import { resolveAdapterOptions } from './options.js'
import type { AdapterOptions, CreateAdapterOptions } from './options.js'

export { GossipAdapter, adapterTopic } from './gossip-adapter.js'
export type { TrustStats } from './gossip-adapter.js'
export type { RoutingStats } from './room-routing.js'
export type { RecoveryStats } from './session-recovery.js'
export type { AdapterOptions, CreateAdapterOptions } from './options.js'
export type { OrderStats } from './sender-order.js'
export { createEmitter, Emitter, EmitterBroadcastOperator } from './emitter.js'
export type { BroadcastFlags, EventNames, EventParams, EventsMap } from './emitter.js'
export type { CreateEmitterOptions, EmitterOptions } from './options.js'

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
  'key', 'heartbeatInterval', 'heartbeatTimeout', 'reorderTimeout', 'maxHeldPerSender', 'announceInterval', 'requestsTimeout', 'joinTimeout', 'directFanout', 'roomRouting', 'receiveBufferSize',
  'recoveryMaxSessions', 'recoveryMaxPackets', 'recoveryMaxBytes', 'recoveryTimeout', 'maxRoomsPerServer'
]

/**
 * Options are checked now, synchronously, with errors (ERR_GOSSIP_INVALID_OPTION) naming the
 * option; the node itself is spawned on first use.
 */
export function createAdapter (options: CreateAdapterOptions): GossipAdapterConstructor {
  const spawnsWithSeeds = !('gossip' in options) && ((options as { seeds?: unknown[] }).seeds?.length ?? 0) > 0
  const resolved = resolveAdapterOptions(options, spawnsWithSeeds)
  const lease = leaseFor(options, ADAPTER_ONLY_OPTIONS)
  return class extends GossipAdapter {
    constructor (nsp: Namespace) {
      super(nsp, lease, resolved)
    }

    static node (): Promise<GossipApi> {
      return lease.current()
    }
  }
}
