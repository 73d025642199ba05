import type { ClusterAdapterOptions } from 'socket.io-adapter'
import type { GossipApi, GossipOptions, Logger } from '../core/api.js'
import { GossipError } from '../core/errors.js'
import { silentLogger } from '../core/logger.js'
import { DEFAULT_MAX_ROOMS } from './room-directory.js'

export interface AdapterOptions extends ClusterAdapterOptions {
  /**
   * Name of the Socket.IO cluster. Servers with the same key (and the same cluster secret) share
   * broadcasts; one gossip topic is used per key and namespace. Default 'socket.io'.
   */
  key?: string
  /** Longest time a message is held back waiting for an earlier one from the same server, ms. Default 1 000. */
  reorderTimeout?: number
  /** Messages held back per sending server at most before the oldest gap is given up. Default 1 024. */
  maxHeldPerSender?: number
  /** Least time between two announcements triggered by overlay changes, ms. Default 1 000. */
  announceInterval?: number
  /**
   * How long `serverSideEmit` with an ack waits for every server's answer, ms (as the Redis and
   * cluster adapters' option, and `adapter.requestsTimeout` at run time). Default 5 000.
   */
  requestsTimeout?: number
  /**
   * How long new Socket.IO connections wait, right after the server starts, for it to join the
   * cluster, ms: to count another server and every server it heard from, and to have been pinged by
   * each (a client connected before misses what the others send, and its requests leave them
   * out). 0: they never wait. Default 5 000 when the adapter spawns its node
   * with seeds, 0 otherwise (the first server of a cluster has nobody to wait for).
   */
  joinTimeout?: number
  /**
   * While the cluster has at most this many other servers, messages go to each of them directly
   * (one hop); past it, through the gossip overlay's broadcast tree. 0: always the overlay.
   * Default 16.
   */
  directFanout?: number
  /**
   * Route room broadcasts: servers tell each other which rooms they have members in, and a
   * broadcast to rooms goes only to the servers with a member (see README). Every server of the
   * cluster should agree; off (the default), nothing changes on the wire. Works with Socket.IO's
   * `connectionStateRecovery`. Default false.
   */
  roomRouting?: boolean
  /**
   * With `roomRouting`: rooms of each other server this server keeps, at most (and their names
   * 64 bytes each on average, at most). A server listing more is sent every room broadcast
   * until it lists its rooms again; the bound keeps what servers say from taking all memory.
   * Default 100 000.
   */
  maxRoomsPerServer?: number
  /**
   * Messages the adapter's subscription may buffer while this server's event loop is busy, before
   * the node reports it `lagged` and drops the excess. Default 16 384.
   */
  receiveBufferSize?: number
  /**
   * With Socket.IO's `connectionStateRecovery` on: sessions of disconnected sockets each server
   * keeps per namespace at most (the oldest go first). Default 10 000.
   */
  recoveryMaxSessions?: number
  /** Recoverable broadcast packets each server logs per namespace at most (the oldest go first). Default 10 000. */
  recoveryMaxPackets?: number
  /**
   * Memory those sessions and packets may take together, per server and namespace, bytes
   * (estimated: encoded size plus a measured per-entry overhead). Default 32 MiB.
   */
  recoveryMaxBytes?: number
  /**
   * How long a server waits for the cluster to say where a returning client's session is before
   * giving it a new one, and how long a closing server waits for its sessions to be taken over,
   * ms. Default 5 000.
   */
  recoveryTimeout?: number
  /**
   * Where the adapter logs (a node that cannot start at `error`; skipped gaps, undecodable
   * messages, failed publishes at `warn`). Default: silent, except that a node that cannot start
   * is reported once with `console.error`.
   */
  logger?: Logger
}

/** Either an existing node (`gossip`), or the options to spawn one that the adapter then owns. */
export type CreateAdapterOptions = AdapterOptions & ({ gossip: GossipApi } | GossipOptions)

export interface ResolvedAdapterOptions {
  key: string
  heartbeatInterval: number
  heartbeatTimeout: number
  reorderTimeout: number
  maxHeldPerSender: number
  announceInterval: number
  requestsTimeout: number
  joinTimeout: number
  directFanout: number
  roomRouting: boolean
  maxRoomsPerServer: number
  receiveBufferSize: number
  recoveryMaxSessions: number
  recoveryMaxPackets: number
  recoveryMaxBytes: number
  recoveryTimeout: number
  logger: Logger
}

function positive (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${name}" must be a positive number, got ${String(value)}`)
  }
  return value
}

function nonNegativeInteger (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${name}" must be a non-negative integer, got ${String(value)}`)
  }
  return value
}

function boolean (name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${name}" must be a boolean, got ${String(value)}`)
  return value
}

function isLogger (value: unknown): value is Logger {
  const logger = value as Record<string, unknown> | null
  return typeof logger === 'object' && logger !== null && ['trace', 'debug', 'info', 'warn', 'error'].every(level => typeof logger[level] === 'function')
}

/** The options an adapter and an emitter read alike: the object itself, `key` and `logger`. */
function resolveShared (options: { key?: string, logger?: Logger }): { key: string, logger: Logger } {
  if (options === null || typeof options !== 'object') throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "options" must be an object')
  if (options.logger !== undefined && !isLogger(options.logger)) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "logger" must have trace, debug, info, warn and error methods')
  }
  const key = options.key ?? 'socket.io'
  if (typeof key !== 'string' || key.length === 0) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "key" must be a non-empty string')
  }
  return { key, logger: options.logger ?? silentLogger }
}

/** `spawnsWithSeeds`: the adapter spawns its node and gives it seeds (the default of `joinTimeout`). */
export function resolveAdapterOptions (options: AdapterOptions, spawnsWithSeeds = false): ResolvedAdapterOptions {
  const { key, logger } = resolveShared(options)
  const heartbeatInterval = positive('heartbeatInterval', options.heartbeatInterval, 5_000)
  const heartbeatTimeout = positive('heartbeatTimeout', options.heartbeatTimeout, 10_000)
  if (heartbeatTimeout <= heartbeatInterval) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'option "heartbeatTimeout" must be longer than heartbeatInterval')
  }
  return {
    key,
    heartbeatInterval,
    heartbeatTimeout,
    reorderTimeout: positive('reorderTimeout', options.reorderTimeout, 1_000),
    maxHeldPerSender: Math.floor(positive('maxHeldPerSender', options.maxHeldPerSender, 1_024)),
    announceInterval: positive('announceInterval', options.announceInterval, 1_000),
    requestsTimeout: positive('requestsTimeout', options.requestsTimeout, 5_000),
    joinTimeout: nonNegativeInteger('joinTimeout', options.joinTimeout, spawnsWithSeeds ? 5_000 : 0),
    directFanout: nonNegativeInteger('directFanout', options.directFanout, 16),
    roomRouting: boolean('roomRouting', options.roomRouting, false),
    maxRoomsPerServer: nonNegativeInteger('maxRoomsPerServer', options.maxRoomsPerServer, DEFAULT_MAX_ROOMS),
    receiveBufferSize: Math.floor(positive('receiveBufferSize', options.receiveBufferSize, 16_384)),
    recoveryMaxSessions: nonNegativeInteger('recoveryMaxSessions', options.recoveryMaxSessions, 10_000),
    recoveryMaxPackets: nonNegativeInteger('recoveryMaxPackets', options.recoveryMaxPackets, 10_000),
    recoveryMaxBytes: nonNegativeInteger('recoveryMaxBytes', options.recoveryMaxBytes, 32 * 1024 * 1024),
    recoveryTimeout: positive('recoveryTimeout', options.recoveryTimeout, 5_000),
    logger
  }
}

export interface EmitterOptions {
  /** Name of the Socket.IO cluster to emit to: the servers' adapter `key`. Default 'socket.io'. */
  key?: string
  /**
   * How long `close()` waits, at most, for the emitter's node to reach a server when what was
   * emitted is still waiting for one (a process that emits and closes at once), ms. Default 5 000.
   */
  closeTimeout?: number
  /** Where the emitter logs (a node that cannot start at `error`, a publish that failed at `warn`). Default: as the adapter's. */
  logger?: Logger
}

/** Either an existing node (`gossip`, left open by the emitter), or the options to spawn one that the emitter owns. */
export type CreateEmitterOptions = EmitterOptions & ({ gossip: GossipApi } | GossipOptions)

export interface ResolvedEmitterOptions {
  key: string
  closeTimeout: number
  logger: Logger
}

export function resolveEmitterOptions (options: EmitterOptions): ResolvedEmitterOptions {
  const { key, logger } = resolveShared(options)
  return { key, logger, closeTimeout: positive('closeTimeout', options.closeTimeout, 5_000) }
}
