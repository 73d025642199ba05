/**
 * A Socket.IO adapter whose cluster messages travel over the gossip overlay instead of a broker.
 *
 * `ClusterAdapterWithHeartbeat` (socket.io-adapter) already implements every adapter feature on top
 * of two primitives, "publish to all other servers" and "respond to one server", plus heartbeats
 * for `serverCount()`. This class supplies the two primitives (a gossip topic per cluster key and
 * namespace; `sendDirect` to the requester's node) and adds what a gossip overlay needs on top:
 *
 * - per-sender order: Plumtree may deliver out of order, so messages carry the sender's sequence
 *   number and are reordered on receipt (see SenderOrder);
 * - prompt membership: a server announces itself as soon as it has neighbours, and a neighbour that
 *   leaves the topic is dropped without waiting for the heartbeat timeout;
 * - requests that do not hang: a broadcast with acks counts a server that went away as one that
 *   reached no client, so the ack callback fires as soon as the rest have answered;
 * - connection state recovery across servers, with no store outside them (see SessionRecovery);
 * - servers that cannot be impersonated: every server uid is bound to the gossip node that first
 *   announced it (see ServerBook), and envelopes about it (close, heartbeats, sequence numbers,
 *   requests, responses, broadcasts) are accepted from that node only; a malformed envelope is
 *   dropped before it touches anything; a server counts in `serverCount()` (and is waited for by
 *   `fetchSockets()`) only once its node has answered a ping, so a ghost never does;
 * - emitters (`createEmitter`): processes that send broadcasts, joins, leaves, disconnects and
 *   server-side emits but hold no sockets. Their messages say so; they are ordered and bound to
 *   their node like a server's, never pinged, never counted, never waited for.
 *
 * How far the binding can be trusted is how far the node id it rests on can: a direct message
 * (`sendDirect`: pings, pongs, responses) comes over the sender's own authenticated link, so its
 * origin is proven. An overlay message's origin is the one the GOSSIP frame claims: until the gossip
 * layer authenticates origins (signatures), a peer holding the cluster secret can still forge that
 * field, and with it speak for a server bound to another node. The binding uses the origin the node
 * reports, so it becomes airtight when origins are authenticated, with no change here.
 */
import { randomBytes } from 'node:crypto'
import { Adapter, ClusterAdapterWithHeartbeat, MessageType } from 'socket.io-adapter'
import type { BroadcastOptions, ClusterMessage, ClusterResponse, Offset, Room, ServerId, Session, SocketId } from 'socket.io-adapter'
import type { Namespace } from 'socket.io'
import type { GossipApi, GossipEvent, GossipHandle, GossipMessage, Lagged, NodeId, Subscription } from '../core/api.js'
import { ClosedError, GossipError, MessageTooLargeError } from '../core/errors.js'
import { HAND_OVER_SESSIONS, RESTORE_SESSION, RESTORE_SESSION_RESPONSE, ROOMS, ROOMS_ACK, ROOMS_RESYNC, decodeEnvelope, encodedSizeOrZero, isFromEmitter, encodeFiller, encodeMessage, encodeOptions, encodePing, encodePong, encodeResponse, encodeRoutedBody } from './envelope.js'
import type { EncodedOptions, HandOver, RestoreRequest, RestoreResponse, RoomsMessage, RoomsResponse } from './envelope.js'
import { DEFAULT_MAX_MESSAGE_SIZE } from '../core/gossip.js'
import { limitOf } from './node-lease.js'
import type { NodeLease } from './node-lease.js'
import type { ResolvedAdapterOptions } from './options.js'
import { Pacer } from './pacer.js'
import { roomsPageBytes } from './room-announcer.js'
import { RoomRouting } from './room-routing.js'
import type { Frames, RoutingStats } from './room-routing.js'
import { skippedUpTo } from './route-chain.js'
import { SenderOrder } from './sender-order.js'
import type { OrderStats } from './sender-order.js'
import { ServerBook } from './server-book.js'
import { SessionRecovery } from './session-recovery.js'
import type { RecoveryStats } from './session-recovery.js'

interface Connection {
  node: GossipApi
  handle: GossipHandle
  subscription: Subscription
  events: AsyncIterable<GossipEvent | Lagged> & { close(): void }
}

interface PendingAck {
  /** Servers that have not yet said how many clients the broadcast reached. */
  missing: Set<ServerId>
  timer: NodeJS.Timeout
}

/**
 * Private in the base classes, used here on purpose: `removeNode` is the one place every departure
 * goes through; `addOffsetIfNecessary` is where a received broadcast gets its offset (connection
 * state recovery), just before it is delivered.
 */
interface HeartbeatInternals {
  removeNode(uid: ServerId): void
  addOffsetIfNecessary(packet: unknown, opts: BroadcastOptions, offset: Offset | undefined): void
  /** The servers `serverCount()` counts and requests wait for, with when each was last heard from. */
  nodesMap: Map<ServerId, number>
  /** Requests waiting for other servers' answers (fetchSockets, serverSideEmit with an ack). */
  customRequests: Map<string, { timeout: NodeJS.Timeout, missingUids: Set<ServerId>, responses: unknown[] }>
}

/** What the adapter refused, since it started. */
export interface TrustStats {
  /** Envelopes dropped because they were not well formed (nothing else was done with them). */
  malformed: number
  /** Envelopes about a server (or emitter) that came from another node than the one it is bound to, or in the other role. */
  wrongNode: number
  /** Pings, pongs and responses that did not come over the sending node's own link. */
  notDirect: number
  /** Servers heard from whose node has not answered yet: not counted in `serverCount()`. */
  unanswered: number
}

/** Servers not counted (pending, departed, timed out) remembered at most, with their node. */
const BOOK_CAPACITY = 4_096
/**
 * Announcements, and answers to each node's announcements, that may go at once before
 * `announceInterval` spaces them: enough for servers started together to count each other at once
 * (see Pacer).
 */
const MEMBERSHIP_BURST = 4
/** Nodes of uncounted servers sent direct copies at most (see `directTargets`). */
const MAX_HEARD_PENDING = 64
/** Least time between two pings to one node, ms (capped by `announceInterval`). */
const PING_GAP = 200
/** Least time between two log lines about refused envelopes, ms. */
const REFUSAL_LOG_GAP = 1_000

/** A packet Socket.IO would log for recovery: an event, without ack, not volatile (as socket.io-adapter decides). */
function isRecoverable (packet: unknown, opts: BroadcastOptions): packet is { type: number, id?: number, data: unknown[] } {
  const p = packet as { type?: unknown, id?: unknown, data?: unknown }
  return p.type === 2 && p.id === undefined && opts.flags?.volatile === undefined && Array.isArray(p.data)
}

/** The message being delivered: who numbered it, and how many bytes it took on the wire. */
interface Delivering {
  uid: ServerId
  seq: number
  bytes: number
}

/**
 * The adapters of each node and topic in this process (two Socket.IO servers may share a node). A
 * node does not send itself direct messages, so messages and responses between such siblings are
 * handed over here, as the node hands its own overlay publishes to its other handles.
 */
const siblings = new Map<string, Set<GossipAdapter>>()

function siblingKey (nodeId: NodeId, topic: string): string {
  return `${nodeId} ${topic}`
}

const DEFAULT_ACK_TIMEOUT = 5_000

/** The gossip topic of one namespace of one cluster. */
export function adapterTopic (key: string, namespace: string): string {
  return `grapevine/socket.io/${key}#${namespace}`
}

export class GossipAdapter extends ClusterAdapterWithHeartbeat {
  /** Name of the gossip topic this namespace's messages travel on. */
  readonly topic: string
  private readonly options: ResolvedAdapterOptions
  private readonly lease: NodeLease
  private readonly ready: Promise<Connection>
  private readonly order: SenderOrder<{ message: ClusterMessage | RestoreRequest | HandOver | RoomsMessage, seq: number, bytes: number, routed: boolean }>
  private readonly book: ServerBook
  private readonly pings = new Map<NodeId, { last: number, timer: NodeJS.Timeout | undefined }>()
  private readonly refused = { malformed: 0, wrongNode: 0, notDirect: 0 }
  private lastRefusalLog = -Infinity
  private connection: Connection | undefined
  private readonly pendingAcks = new Map<string, PendingAck>()
  private readonly leaveTimers = new Set<NodeJS.Timeout>()
  private seq = 0
  /** The last message doPublish numbered: its offset, number and encoded size. */
  private stamped: { offset: Offset, seq: number, bytes: number } | undefined
  /** Numbers the packets only this server sends (local emits, a socket's own emits), for their offsets. */
  private localOffsets = 0
  private delivering: Delivering | undefined
  /** Set when Socket.IO's `connectionStateRecovery` is on. */
  private readonly recovery: SessionRecovery | undefined
  /** Set when `roomRouting` is on (and recovery off). */
  private readonly routing: RoomRouting | undefined
  private readonly broadcastsIn = { received: 0, receivedBytes: 0, unwanted: 0, unwantedBytes: 0 }
  private lastPublish: Promise<unknown> = Promise.resolve()
  private announceTimer: NodeJS.Timeout | undefined
  private readonly announcePacer: Pacer
  private answerTimer: { timer: NodeJS.Timeout, at: number } | undefined
  /** One pacer per announcing node: the answers one node can draw do not use up anyone else's. */
  private readonly answerPacers = new Map<NodeId, Pacer>()
  /** Nodes whose announcements the next answer answers. */
  private readonly answering = new Set<NodeId>()
  private closing: Promise<void> | undefined
  /**
   * How long `serverSideEmit` with an ack waits, ms: the option of that name, settable at run time
   * as on the Redis and cluster adapters (the base class waits 5 s, whatever is set).
   */
  requestsTimeout: number
  /** Nodes of servers not counted yet, with when each was last heard from (see `directTargets`). */
  private readonly heardPending = new Map<NodeId, number>()
  /** New connections waiting for this server to join (see `holdConnections`); undefined once released. */
  private joinWaiters: Array<(err?: Error) => void> | undefined
  private joinTimer: NodeJS.Timeout | undefined
  /** Nodes that pinged this server while connections wait (they count it once they have the answer). */
  private readonly pingedBy = new Set<NodeId>()
  /** Set once the adapter said goodbye (it still receives while it hands its sessions over). */
  private closed = false

  constructor (nsp: Namespace, lease: NodeLease, options: ResolvedAdapterOptions) {
    super(nsp, { heartbeatInterval: options.heartbeatInterval, heartbeatTimeout: options.heartbeatTimeout })
    this.options = options
    this.requestsTimeout = options.requestsTimeout
    this.lease = lease
    this.topic = adapterTopic(options.key, nsp.name)
    this.announcePacer = new Pacer(MEMBERSHIP_BURST, options.announceInterval, Date.now())
    const log = options.logger
    this.order = new SenderOrder({
      gapTimeout: options.reorderTimeout,
      maxHeld: options.maxHeldPerSender,
      // A live server publishes at least a heartbeat per interval, so a stray number becomes the
      // new start only if none of its numbers came within the window for longer than that; and
      // before the heartbeat timeout would drop it.
      resyncAfter: (options.heartbeatInterval + options.heartbeatTimeout) / 2,
      deliver: (_uid, { message, seq, bytes, routed }) => { this.deliver(message, seq, bytes, routed) },
      skipped: (uid, from, count) => {
        this.routing?.gap(uid)
        log.warn({ nsp: nsp.name, server: uid, from, count }, 'socket.io adapter: gave up waiting for missing messages from a server')
      },
      late: (uid, seq) => {
        log.warn({ nsp: nsp.name, server: uid, seq }, 'socket.io adapter: dropped a message older than what was delivered (a second copy, or later than 10 × reorderTimeout)')
      },
      outOfTurn: (uid, seq, item, why) => {
        // Rooms applied out of turn may be wrong: ask for them again.
        if (item?.message.type === ROOMS) this.routing?.gap(uid)
        log.debug({ nsp: nsp.name, server: uid, seq, why }, 'socket.io adapter: delivered a message out of turn')
      },
      resynced: (uid, from, previous) => {
        log.warn({ nsp: nsp.name, server: uid, from, previous }, 'socket.io adapter: a server\'s sequence numbers restarted after only out-of-window numbers came from it')
      }
    })
    this.book = new ServerBook(BOOK_CAPACITY, uid => { this.order.forget(uid) })
    const internals = this as unknown as HeartbeatInternals
    const removeNode = internals.removeNode
    internals.removeNode = (uid: ServerId) => {
      removeNode.call(this, uid)
      this.forgetServer(uid)
    }
    internals.addOffsetIfNecessary = (packet, opts, offset) => { this.received(packet, opts, offset) }
    const serverOptions = (nsp.server as unknown as { opts: { connectionStateRecovery?: { maxDisconnectionDuration?: number } } }).opts
    const recoveryOptions = serverOptions.connectionStateRecovery
    this.recovery = recoveryOptions === undefined ? undefined : this.startRecovery(recoveryOptions.maxDisconnectionDuration ?? 2 * 60_000)
    this.routing = options.roomRouting ? this.startRouting() : undefined
    this.ready = this.connect()
    if (options.joinTimeout > 0) this.holdConnections(options.joinTimeout)
    this.ready.catch((err: unknown) => {
      // A node that could not start was reported once already, not once per namespace.
      if (err !== lease.spawnFailure) log.error({ err, nsp: nsp.name }, 'socket.io adapter: could not join the gossip topic')
    })
  }

  /**
   * A server started a moment ago with seeds is not in the cluster yet: a client connected then
   * misses what the other servers send until it is, and its requests (fetchSockets, broadcasts
   * with acks) leave them out. Servers started together with one seed counted each other 50 to
   * 200 ms after their first clients had connected. So new connections wait, as Socket.IO
   * middleware, until this server has joined (see `releaseIfJoined`) or `joinTimeout` has passed.
   */
  private holdConnections (timeout: number): void {
    this.joinWaiters = []
    this.joinTimer = setTimeout(() => {
      this.options.logger.warn({ nsp: this.nsp.name, joinTimeout: timeout }, 'socket.io adapter: counted no other server within joinTimeout; accepting connections anyway')
      this.releaseConnections()
    }, timeout)
    this.nsp.use((_socket: unknown, next: (err?: Error) => void) => {
      if (this.joinWaiters === undefined) next()
      else this.joinWaiters.push(next)
    })
  }

  /**
   * Joined: it counts another server, every server heard from counts here, and each node it counts
   * pinged it (so counts it back, once the answer arrives). Counting one other server was not
   * enough: of three started together, the third's clients connected while the second did not
   * count it yet, and a broadcast with acks from the second left the third's client out.
   */
  private releaseIfJoined (): void {
    if (this.counted.size === 0 || this.book.count('pending') > 0) return
    for (const node of this.book.liveNodes()) if (!this.pingedBy.has(node)) return
    this.releaseConnections()
  }

  private releaseConnections (err?: Error): void {
    const waiters = this.joinWaiters
    if (waiters === undefined) return
    this.joinWaiters = undefined
    this.pingedBy.clear()
    clearTimeout(this.joinTimer)
    for (const next of waiters) next(err)
  }

  /** How per-sender ordering is doing: gaps given up, late messages dropped, messages held now. */
  get orderStats (): OrderStats {
    return this.order.stats
  }

  /** What was refused: malformed envelopes, envelopes from the wrong node, servers that never answered. */
  get trustStats (): TrustStats {
    return { ...this.refused, unanswered: this.book.count('pending') }
  }

  /**
   * Connection state recovery: sessions and packets kept here (counts, encoded bytes, evictions)
   * and restores done or failed. Undefined when Socket.IO's `connectionStateRecovery` is off.
   */
  get recoveryStats (): RecoveryStats | undefined {
    return this.recovery?.stats
  }

  /**
   * Room broadcasts sent and received: counted with `roomRouting` on or off, so that what servers
   * with no member receive can be compared.
   */
  routingStats (): RoutingStats {
    const routing = this.routing?.stats() ?? { routed: 0, toAll: 0, serversSkipped: 0, roomsAnnounced: 0, serversKnown: 0, roomsAsked: 0, joinsPending: 0 }
    return { enabled: this.routing !== undefined, ...this.broadcastsIn, ...routing }
  }

  private startRouting (): RoomRouting {
    const { options } = this
    return new RoomRouting({
      live: () => this.book.liveServers(),
      liveNodes: () => this.book.liveNodes(),
      // Rooms of sessions kept for recovery count: their packets must reach this server while their sockets are away.
      announceable: room => (this.rooms.has(room) && !this.sids.has(room)) || this.recovery?.keepsRoom(room) === true,
      publish: message => this.publishNow(message as unknown as Parameters<ClusterAdapterWithHeartbeat['publish']>[0])?.seq,
      respond: (to, response) => {
        this.doPublishResponse(to, { ...response, uid: this.uid, nsp: this.nsp.name } as RoomsResponse).catch(() => {})
      },
      position: uid => this.order.position(uid),
      maxRooms: options.maxRoomsPerServer,
      overflow: (uid, rooms, bytes) => {
        options.logger.warn({ server: uid, nsp: this.nsp.name, rooms, bytes, maxRoomsPerServer: options.maxRoomsPerServer }, 'socket.io adapter: room routing: a server lists more rooms than maxRoomsPerServer allows; it is sent every room broadcast until it lists its rooms again')
      },
      // Before the node is there nothing reaches another server; snapshots are cut with the node's limit.
      pageBytes: () => roomsPageBytes((this.connection === undefined ? undefined : limitOf(this.connection.node)) ?? DEFAULT_MAX_MESSAGE_SIZE)
    }, options.directFanout, options.heartbeatInterval, options.heartbeatTimeout)
  }

  private startRecovery (maxAge: number): SessionRecovery {
    const { options } = this
    return new SessionRecovery({
      uid: this.uid,
      nspName: this.nsp.name,
      logger: options.logger,
      frontier: () => this.order.positions().set(this.uid, this.seq),
      position: uid => uid === this.uid ? this.seq : this.order.position(uid),
      servers: () => [...this.counted.keys()],
      reachesLocalSocket: rooms => {
        if (rooms.size === 0) return this.sids.size > 0
        for (const room of rooms) if (this.rooms.has(room)) return true
        return false
      },
      hasSocket: sid => this.sids.has(sid),
      request: data => { this.publish({ type: RESTORE_SESSION, data } as unknown as Parameters<ClusterAdapterWithHeartbeat['publish']>[0]) },
      handOver: data => { this.publish({ type: HAND_OVER_SESSIONS, data } as unknown as Parameters<ClusterAdapterWithHeartbeat['publish']>[0]) },
      respond: async (to, data) => { await this.respondRestore(to, data) },
      holdAll: async () => await (this.routing?.announcer.holdAll() ?? Promise.resolve(() => {})),
      roomsKept: rooms => { this.routing?.announcer.touched(rooms, false) }
    }, {
      maxAge,
      maxSessions: options.recoveryMaxSessions,
      maxPackets: options.recoveryMaxPackets,
      maxBytes: options.recoveryMaxBytes,
      timeout: options.recoveryTimeout,
      // The keeper of a session waits this long at most for messages the asker already delivered.
      catchUp: Math.min(options.reorderTimeout * 2, options.recoveryTimeout / 2)
    })
  }

  /** The base class's servers that count (`nodesMap`), with when each was last heard from. */
  private get counted (): Map<ServerId, number> {
    return (this as unknown as HeartbeatInternals).nodesMap
  }

  private async connect (): Promise<Connection> {
    const node = await this.lease.acquire()
    // Listen before joining so the `joined` event of our own topic is not missed.
    const events = node.events()
    let handle: GossipHandle
    try {
      handle = await node.stream(this.topic)
    } catch (err) {
      events.close()
      throw err
    }
    const connection: Connection = { node, handle, subscription: handle.subscribe({ bufferSize: this.options.receiveBufferSize }), events }
    this.connection = connection
    const key = siblingKey(node.nodeId, this.topic)
    let set = siblings.get(key)
    if (set === undefined) siblings.set(key, set = new Set())
    set.add(this)
    this.consume(connection).catch((err: unknown) => { this.options.logger.error({ err }, 'socket.io adapter: receive loop failed') })
    this.watch(connection).catch((err: unknown) => { this.options.logger.error({ err }, 'socket.io adapter: event loop failed') })
    return connection
  }

  private async consume ({ subscription }: Connection): Promise<void> {
    for await (const item of subscription) {
      if (item.type === 'lagged') {
        this.options.logger.warn({ nsp: this.nsp.name, dropped: item.dropped }, 'socket.io adapter: fell behind, messages were dropped')
        // What was dropped is a gap like any other, however far it takes a server's numbers.
        this.order.missed(item.dropped)
        this.routing?.lagged()
        continue
      }
      this.receive(item)
    }
  }

  private receive (item: GossipMessage): void {
    let envelope
    try {
      envelope = decodeEnvelope(item.content)
    } catch (err) {
      this.refuse('malformed', { err, from: item.origin })
      return
    }
    // Over the sender's own link (a direct message, or a sibling on this node): the origin is the
    // authenticated peer. An overlay message is at least one hop from its origin.
    const direct = item.hops === 0 && item.from === item.origin
    switch (envelope.kind) {
      case 'ping':
        if (direct) this.pong(item.origin)
        else this.refuse('notDirect', { from: item.origin, kind: 'ping' })
        return
      case 'pong':
        if (direct) this.answered(envelope.uid, item.origin)
        else this.refuse('notDirect', { from: item.origin, kind: 'pong' })
        return
      case 'response':
        this.receiveResponse(envelope.response, item.origin, direct)
        return
    }
    if (envelope.kind === 'message' && envelope.message.nsp !== this.nsp.name) {
      this.refuse('malformed', { from: item.origin, nsp: envelope.message.nsp })
      return
    }
    const uid = envelope.kind === 'message' ? envelope.message.uid : envelope.uid
    if (uid === this.uid) {
      // Our own messages never come back; one claiming our uid is somebody else's.
      this.refuse('wrongNode', { from: item.origin, server: uid })
      return
    }
    const role = envelope.kind === 'message' && isFromEmitter(envelope.message) ? 'emitter' : 'server'
    if (!this.book.claim(uid, item.origin, role)) {
      this.refuse('wrongNode', { from: item.origin, server: uid, role, boundTo: this.book.nodeOf(uid) })
      return
    }
    const state = this.book.state(uid)
    if (state === 'departed') return
    if (state === 'pending') {
      if (this.heardPending.size < MAX_HEARD_PENDING || this.heardPending.has(item.origin)) this.heardPending.set(item.origin, Date.now())
      this.ping(item.origin)
    }
    // The second copy of a heartbeat (see `heartbeatDirect`), or a heartbeat late: it carries nothing.
    if (envelope.kind === 'message' && envelope.message.type === MessageType.HEARTBEAT && envelope.seq < (this.order.position(uid) ?? -Infinity)) return
    // A routed message says which earlier numbers this node was not sent: it stands for them.
    const skip = envelope.kind === 'message' ? envelope.skip : undefined
    const from = skip === undefined ? envelope.seq : skippedUpTo(skip, this.connection!.node.nodeId) + 1
    this.order.receive(uid, envelope.seq, envelope.kind === 'message' ? { message: envelope.message, seq: envelope.seq, bytes: item.content.length, routed: skip !== undefined } : undefined, from)
    // A filler moves a sender on without delivering anything: a keeper waiting to catch up may be done.
    if (envelope.kind === 'filler') this.recovery?.progressed()
  }

  /**
   * A response counts only from a server that counts (no request of ours waits for another), over
   * its node's own link (responses are always sent directly), from the node the server is bound to.
   */
  private receiveResponse (response: ClusterResponse | RestoreResponse | RoomsResponse, origin: NodeId, direct: boolean): void {
    if (!direct) return this.refuse('notDirect', { from: origin, kind: 'response' })
    if (response.nsp !== this.nsp.name) return this.refuse('malformed', { from: origin, nsp: response.nsp })
    if (this.book.nodeOf(response.uid) !== origin) return this.refuse('wrongNode', { from: origin, server: response.uid })
    if (response.type === ROOMS_ACK || response.type === ROOMS_RESYNC) {
      if (this.routing === undefined || this.book.state(response.uid) === 'departed') return
      if (response.type === ROOMS_ACK) this.routing.announcer.acked(response.uid, response.data.requestId, response.data.upTo)
      else this.routing.resync(origin)
      return
    }
    if (response.type === RESTORE_SESSION_RESPONSE) {
      // A session may come from a server whose node has not answered a ping yet: it was asked (it
      // heard the request), and the session exists nowhere else any more.
      if (this.book.state(response.uid) !== 'departed') this.guard(() => { this.recovery?.onResponse(response.uid, response.data) })
      return
    }
    if (this.book.state(response.uid) !== 'live') return
    this.guard(() => { this.onResponse(response as ClusterResponse) })
  }

  /** Counts a refused envelope; logs at most one line per REFUSAL_LOG_GAP, with the totals. */
  private refuse (why: keyof GossipAdapter['refused'], details: Record<string, unknown>): void {
    this.refused[why] = Math.min(Number.MAX_SAFE_INTEGER, this.refused[why] + 1)
    const now = Date.now()
    if (now - this.lastRefusalLog < REFUSAL_LOG_GAP) return
    this.lastRefusalLog = now
    this.options.logger.warn({ nsp: this.nsp.name, why, ...details, refused: { ...this.refused } }, 'socket.io adapter: refused an envelope')
  }

  /**
   * Asks `node` which servers it hosts, so the pending ones bound to it can count. At most one
   * ping per PING_GAP per node: a ghost's flood costs one small direct message now and then.
   */
  private ping (node: NodeId): void {
    const connection = this.connection
    if (connection === undefined || this.closing !== undefined) return
    if (node === connection.node.nodeId) {
      // Our own node: siblings answer in-process.
      for (const sibling of siblings.get(siblingKey(node, this.topic)) ?? []) this.answered(sibling.uid, node)
      return
    }
    const gap = Math.min(PING_GAP, this.options.announceInterval)
    const now = Date.now()
    const last = this.pings.get(node)
    if (last?.timer !== undefined) return
    const wait = last === undefined ? 0 : last.last + gap - now
    if (wait > 0) {
      last!.timer = setTimeout(() => {
        last!.timer = undefined
        if (this.book.uidsOf(node).some(uid => this.book.state(uid) === 'pending')) this.ping(node)
      }, wait)
      return
    }
    if (this.pings.size >= BOOK_CAPACITY) {
      for (const [n, p] of this.pings) if (p.timer === undefined && p.last + gap <= now) this.pings.delete(n)
    }
    this.pings.set(node, { last: now, timer: undefined })
    connection.node.sendDirect(node, this.topic, encodePing()).catch((err: unknown) => {
      this.options.logger.debug({ err, nsp: this.nsp.name, to: node }, 'socket.io adapter: could not ping a node')
    })
  }

  private pong (to: NodeId): void {
    const connection = this.connection
    if (connection === undefined || this.closing !== undefined || to === connection.node.nodeId) return
    connection.node.sendDirect(to, this.topic, encodePong(this.uid)).catch((err: unknown) => {
      this.options.logger.debug({ err, nsp: this.nsp.name, to }, 'socket.io adapter: could not answer a ping')
    })
    if (this.joinWaiters !== undefined) {
      this.pingedBy.add(to)
      this.releaseIfJoined()
    }
  }

  /** `node` answered for `uid`: if `uid` is bound to it and waiting, it counts from now on. */
  private answered (uid: ServerId, node: NodeId): void {
    if (this.book.nodeOf(uid) !== node || this.book.state(uid) !== 'pending') return
    this.book.set(uid, 'live')
    this.counted.set(uid, Date.now())
    this.routing?.serverLive(node)
    if (this.joinWaiters !== undefined) this.releaseIfJoined()
  }

  private deliver (message: ClusterMessage | RestoreRequest | HandOver | RoomsMessage, seq: number, bytes: number, routed: boolean): void {
    if (message.type === ROOMS) {
      if (this.book.state(message.uid) === 'live') this.counted.set(message.uid, Date.now())
      this.routing?.rooms(message.uid, message.data)
      // Acknowledged with routing off too: a join on the sender waits for every server. A server
      // asking to be sent everything is told from which number on it is (see RoomAnnouncer.holdAll).
      const node = this.book.nodeOf(message.uid)
      const upTo = message.data.any && message.data.ack && node !== undefined ? this.routing?.heartbeatTo(node) : undefined
      if (message.data.ack) this.doPublishResponse(message.uid, { type: ROOMS_ACK, uid: this.uid, nsp: this.nsp.name, data: { requestId: String(seq), ...(upTo === undefined ? {} : { upTo }) } }).catch(() => {})
      this.routing?.announcer.progressed(message.uid)
      return
    }
    if (message.type === MessageType.BROADCAST) this.countBroadcast(message.data.opts.rooms as Room[], bytes)
    this.deliverMessage(message, seq, bytes)
    if (this.routing !== undefined) {
      if (routed && message.type === MessageType.SOCKETS_JOIN) this.routing.joinApplied(message.uid, seq, message.data.rooms as Room[])
      this.routing.announcer.progressed(message.uid)
    }
  }

  private countBroadcast (rooms: Room[], bytes: number): void {
    const counts = this.broadcastsIn
    counts.received++
    counts.receivedBytes += bytes
    if (rooms.length === 0 || rooms.some(room => this.rooms.has(room))) return
    counts.unwanted++
    counts.unwantedBytes += bytes
  }

  private deliverMessage (message: ClusterMessage | RestoreRequest | HandOver, seq: number, bytes: number): void {
    if (message.type === RESTORE_SESSION || message.type === HAND_OVER_SESSIONS) {
      if (this.book.state(message.uid) === 'live') this.counted.set(message.uid, Date.now())
      if (message.type === RESTORE_SESSION) {
        // The keeper waits until it has got as far with each server as the asker had.
        this.routing?.catchUpAll()
        this.guard(() => { this.answerRestore(message) })
      } else {
        this.recovery?.serverLeaving(message.uid)
        if (message.data.to === this.uid) this.guard(() => { this.recovery?.onHandOver(message.uid, message.data.sessions) })
      }
      return
    }
    const recovery = this.recovery
    if (recovery === undefined) {
      this.guard(() => { this.onMessage(message, `${message.uid}-${seq}`) })
      return
    }
    const data = (message as { data?: { opts?: EncodedOptions } }).data
    if (data?.opts !== undefined) {
      // Restored sockets that had this message in their replay are left out of it.
      const sids = recovery.excluded(message.uid, seq)
      if (sids.length > 0) data.opts.except = [...(data.opts.except ?? []), ...sids]
    }
    // Read by `received` if the base class delivers a broadcast: who numbered it, its size.
    this.delivering = { uid: message.uid, seq, bytes }
    try {
      this.guard(() => { this.onMessage(message, `${message.uid}-${seq}`) })
    } finally {
      this.delivering = undefined
    }
    recovery.progressed()
  }

  private answerRestore (message: RestoreRequest): void {
    if (this.recovery !== undefined) {
      this.recovery.onRequest(message.uid, message.data)
      return
    }
    // Recovery is off here: nothing is kept, and saying so spares the asker its timeout.
    if (message.data.keeper !== undefined && message.data.keeper !== this.uid) return
    this.respondRestore(message.uid, { requestId: message.data.requestId, found: false }).catch(() => {})
  }

  private async respondRestore (to: ServerId, data: RestoreResponse['data']): Promise<void> {
    await this.doPublishResponse(to, { type: RESTORE_SESSION_RESPONSE, uid: this.uid, nsp: this.nsp.name, data })
  }

  /** Called by the base class just before it delivers a received broadcast: gives it its offset and logs it. */
  private received (packet: unknown, opts: BroadcastOptions, offset: Offset | undefined): void {
    const recovery = this.recovery
    if (recovery === undefined || offset === undefined || !isRecoverable(packet, opts)) return
    packet.data.push(offset)
    const delivering = this.delivering
    recovery.delivered(packet.data, opts.rooms, opts.except ?? new Set(), offset, delivering, delivering?.bytes ?? 0)
  }

  /** One bad message (or a throwing user handler) must not stop the receive loop. */
  private guard (fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.options.logger.error({ err, nsp: this.nsp.name }, 'socket.io adapter: handling a cluster message failed')
    }
  }

  private async watch ({ events, handle }: Connection): Promise<void> {
    for await (const event of events) {
      if (event.type === 'lagged' || event.topic !== handle.topic) continue
      if (event.type === 'joined' || event.type === 'neighbourUp') this.announce()
      else if (event.type === 'neighbourDown' && event.reason === 'leave') this.nodeLeft(event.peer)
    }
  }

  /**
   * Tell the cluster we are here as soon as the overlay changes around us, rather than at the next
   * heartbeat: an INITIAL_HEARTBEAT makes every server answer, so both sides count each other.
   * Past a burst of MEMBERSHIP_BURST, announcements are spaced by `announceInterval` so churn
   * cannot turn into a storm.
   */
  private announce (): void {
    if (this.announceTimer !== undefined || this.closing !== undefined) return
    // Never sent in the same turn: a neighbour coming up is reported as `neighbourUp` and `joined`
    // together, and several at once when servers start together; they share one announcement.
    const wait = this.announcePacer.wait(Date.now())
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined
      this.sendAnnouncement()
    }, wait)
  }

  private sendAnnouncement (): void {
    if (this.closing !== undefined) return
    this.announcePacer.take(Date.now())
    this.publish({ type: MessageType.INITIAL_HEARTBEAT })
  }

  /**
   * A neighbour left the topic: its adapter closed. Its ADAPTER_CLOSE normally says so first; this
   * covers the case where that message was lost. The grace lets messages it sent before leaving,
   * still queued or held back here, be delivered first.
   */
  private nodeLeft (peer: NodeId): void {
    const timer = setTimeout(() => {
      this.leaveTimers.delete(timer)
      for (const uid of this.book.uidsOf(peer)) {
        if (this.book.state(uid) === 'departed') continue
        this.order.flush(uid)
        // Flushing may have delivered its goodbye.
        if (this.book.state(uid) === 'departed') continue
        this.book.set(uid, 'departed')
        ;(this as unknown as HeartbeatInternals).removeNode(uid)
      }
    }, this.options.reorderTimeout)
    this.leaveTimers.add(timer)
  }

  /** Runs on every departure: closed, left, or silent past the heartbeat timeout. */
  private forgetServer (uid: ServerId): void {
    this.order.forget(uid)
    this.recovery?.serverGone(uid)
    this.routing?.serverGone(uid)
    // It stays bound to its node; if it speaks again it counts once its node answers again.
    if (this.book.state(uid) === 'live') this.book.set(uid, 'pending')
    for (const [requestId, pending] of this.pendingAcks) {
      if (!pending.missing.has(uid)) continue
      // Counting it as a server that reached no client lets the broadcast's ack complete.
      this.onResponse({ type: MessageType.BROADCAST_CLIENT_COUNT, uid, nsp: this.nsp.name, data: { requestId, clientCount: 0 } })
    }
  }

  /**
   * Only servers whose node answered count: the base class counts every sender it hears, so the
   * count is taken back for the others. An announcement is answered with a heartbeat (that is how
   * a new server learns of this one), past a burst at most one per `announceInterval` for each
   * announcing node, so a node inventing servers cannot make every server publish a heartbeat each.
   */
  override onMessage (message: ClusterMessage, offset?: string): void {
    const live = this.book.state(message.uid) === 'live'
    switch (message.type) {
      case MessageType.ADAPTER_CLOSE:
        this.book.set(message.uid, 'departed')
        break
      case MessageType.INITIAL_HEARTBEAT:
        if (live) this.counted.set(message.uid, Date.now())
        this.answerAnnouncement(this.book.nodeOf(message.uid))
        return
    }
    super.onMessage(message, offset)
    if (!live) this.counted.delete(message.uid)
  }

  /**
   * Pacing is per node: with one pacer for all, a server that heard a few announcements from each
   * of the servers started with it had spent its burst before the last one's, and that one was
   * counted an interval later (four servers: about one run in five on a loaded machine).
   */
  private answerAnnouncement (node: NodeId | undefined): void {
    if (node === undefined || this.closing !== undefined) return
    const now = Date.now()
    let pacer = this.answerPacers.get(node)
    if (pacer === undefined) {
      if (this.answerPacers.size >= BOOK_CAPACITY) this.answerPacers.delete(this.answerPacers.keys().next().value!)
      this.answerPacers.set(node, pacer = new Pacer(MEMBERSHIP_BURST, this.options.announceInterval, now))
    }
    this.answering.add(node)
    // As announcements: those that arrive together share one answer, which answers them all.
    const at = now + pacer.wait(now)
    if (this.answerTimer !== undefined) {
      if (this.answerTimer.at <= at) return
      clearTimeout(this.answerTimer.timer)
    }
    this.answerTimer = {
      at,
      timer: setTimeout(() => {
        this.answerTimer = undefined
        if (this.closing !== undefined) return
        const sent = Date.now()
        for (const answered of this.answering) this.answerPacers.get(answered)?.take(sent)
        this.answering.clear()
        this.publish({ type: MessageType.HEARTBEAT })
      }, at - now)
    }
  }

  /**
   * As the base class, but the wait is `requestsTimeout`, and the error says how many answered, in
   * the words of the Redis and cluster adapters.
   */
  override async serverSideEmit (packet: unknown[]): Promise<unknown> {
    if (typeof packet[packet.length - 1] !== 'function') return await super.serverSideEmit(packet)
    const ack = packet[packet.length - 1] as (err: Error | null, responses: unknown[]) => void
    const requests = (this as unknown as HeartbeatInternals).customRequests
    const before = new Set(requests.keys())
    // The base class files its request synchronously, before it publishes.
    const sent = super.serverSideEmit(packet)
    for (const [requestId, request] of requests) {
      if (before.has(requestId)) continue
      const expected = request.missingUids.size
      clearTimeout(request.timeout)
      request.timeout = setTimeout(() => {
        if (requests.get(requestId) !== request) return
        requests.delete(requestId)
        ack(new Error(`timeout reached: only ${request.responses.length} responses received out of ${expected}`), request.responses)
      }, this.requestsTimeout)
    }
    return await sent
  }

  override onResponse (response: ClusterResponse): void {
    if (response.type === MessageType.BROADCAST_CLIENT_COUNT) {
      const pending = this.pendingAcks.get(response.data.requestId)
      if (pending !== undefined) {
        pending.missing.delete(response.uid)
        if (pending.missing.size === 0) this.dropPendingAck(response.data.requestId)
      }
    }
    super.onResponse(response)
  }

  private trackAck (message: ClusterMessage): void {
    if (message.type !== MessageType.BROADCAST || message.data.requestId === undefined) return
    const requestId = message.data.requestId
    const timer = setTimeout(() => { this.pendingAcks.delete(requestId) }, message.data.opts.flags?.timeout ?? DEFAULT_ACK_TIMEOUT)
    timer.unref()
    this.pendingAcks.set(requestId, { missing: new Set(this.counted.keys()), timer })
  }

  private dropPendingAck (requestId: string): void {
    const pending = this.pendingAcks.get(requestId)
    if (pending === undefined) return
    clearTimeout(pending.timer)
    this.pendingAcks.delete(requestId)
  }

  protected override async doPublish (message: ClusterMessage): Promise<Offset> {
    if (this.routing !== undefined) return await this.doPublishRouted(this.routing, message)
    // The number is taken synchronously, in call order: that order is what receivers restore.
    const seq = this.seq
    const bytes = encodeMessage(seq, message)
    this.seq++
    const offset = `${this.uid}-${seq}`
    this.stamped = { offset, seq, bytes: bytes.length }
    this.trackAck(message)
    const direct = this.directTargets(message)
    const sent = this.send(seq, bytes, direct)
    if (direct === undefined) this.heartbeatDirect(message, seq, bytes)
    this.lastPublish = sent.catch(() => {})
    await sent
    return offset
  }

  /** doPublish with room routing: where the message goes, and what each receiver was not sent, are decided now. */
  private async doPublishRouted (routing: RoomRouting, message: ClusterMessage): Promise<Offset> {
    const seq = this.seq
    const body = encodeRoutedBody(message)
    this.seq++
    const offset = `${this.uid}-${seq}`
    this.stamped = { offset, seq, bytes: body.length }
    this.trackAck(message)
    const frames = routing.frames(seq, message, body)
    const sent = this.sendFrames(seq, frames)
    if (frames instanceof Uint8Array) this.heartbeatDirect(message, seq, frames)
    this.lastPublish = sent.catch(() => {})
    await sent
    return offset
  }

  /**
   * Publishes without waiting and returns the offset, known at once because doPublish numbers the
   * message synchronously. Undefined if the message could not even be encoded (that is logged).
   */
  private publishNow (message: Parameters<ClusterAdapterWithHeartbeat['publish']>[0]): { offset: Offset, seq: number, bytes: number } | undefined {
    this.stamped = undefined
    this.publish(message)
    return this.stamped
  }

  /*
   * The base class acts on the local sockets only after the publish has resolved, so
   * `io.emit('a'); socket.emit('b')` would reach that socket as b, a, and `io.socketsJoin('x');
   * io.to('x').emit()` would miss the local sockets. Acting locally at once, as the Redis adapter
   * does, keeps a server's own program order for its own clients. Remote servers are unaffected:
   * the message is numbered before anything local happens.
   */

  override broadcast (packet: unknown, opts: BroadcastOptions): Promise<void> {
    const recovery = this.recovery
    const stamp = opts.flags?.local === true || this.toOwnSocketOnly(opts)
      ? undefined
      : this.publishNow({ type: MessageType.BROADCAST, data: { packet, opts: encodeOptions(opts) } })
    if (recovery !== undefined && isRecoverable(packet, opts)) {
      // A packet only this server sends gets an offset of its own numbering (`~`: never a sender's).
      const offset = stamp?.offset ?? `${this.uid}~${this.localOffsets++}`
      const data = packet.data
      const bytes = stamp?.bytes ?? (() => encodedSizeOrZero(data))
      data.push(offset)
      recovery.delivered(data, opts.rooms, opts.except ?? new Set(), offset, stamp === undefined ? undefined : { uid: this.uid, seq: stamp.seq }, bytes)
    }
    Adapter.prototype.broadcast.call(this, packet, opts)
    return Promise.resolve()
  }

  /**
   * What the base class does, with one difference: the timer that forgets the request after the
   * ack timeout does not hold the process open. The base class's timer runs for the whole timeout
   * even once every ack is in, so a process ended by `io.close()` stayed up that long after an
   * `emitWithAck` (15 s in our tests, the timeout users give in theirs).
   */
  override broadcastWithAck (packet: unknown, opts: BroadcastOptions, clientCountCallback: (clientCount: number) => void, ack: (...args: unknown[]) => void): void {
    // The base class's map of requests is private: one of another socket.io-adapter release that
    // keeps it elsewhere gets the base class's own way, timer included, rather than a crash.
    const requests = (this as unknown as { ackRequests?: unknown }).ackRequests
    if (opts.flags?.local === true || !(requests instanceof Map)) {
      super.broadcastWithAck(packet, opts, clientCountCallback, ack)
      return
    }
    const requestId = randomBytes(8).toString('hex')
    requests.set(requestId, { clientCountCallback, ack })
    this.publish({ type: MessageType.BROADCAST, data: { packet, requestId, opts: encodeOptions(opts) } })
    setTimeout(() => { requests.delete(requestId) }, opts.flags?.timeout).unref()
    Adapter.prototype.broadcastWithAck.call(this, packet, opts, clientCountCallback, ack)
  }

  /**
   * With recovery on, Socket.IO sends even `socket.emit` through the adapter (so it is logged):
   * to a room that is the id of a socket connected here, nobody else has a member (socket ids are
   * unique), so it is not published: publishing every private emit to every server would cost the
   * cluster one message per emit per server.
   */
  private toOwnSocketOnly (opts: BroadcastOptions): boolean {
    if (this.recovery === undefined || opts.rooms.size !== 1 || (opts.except?.size ?? 0) > 0) return false
    const [room] = opts.rooms
    return this.nsp.sockets.has(room)
  }

  override persistSession (session: { sid: SocketId, pid: string, rooms: Room[], data: unknown }): void {
    this.recovery?.persist(session, encodedSizeOrZero(session))
  }

  override restoreSession (pid: string, offset: string): Promise<Session> {
    return (this.recovery?.restore(pid, offset) ?? Promise.resolve(null)) as Promise<Session>
  }

  /** With room routing, a join that announces a room resolves once every server knows it (see RoomAnnouncer). */
  override addAll (id: SocketId, rooms: Set<Room>): Promise<void> | void {
    super.addAll(id, rooms)
    this.recovery?.joined(id)
    return this.routing?.announcer.touched(rooms, true)
  }

  override del (id: SocketId, room: Room): void {
    super.del(id, room)
    this.routing?.announcer.touched([room], false)
  }

  override delAll (id: SocketId): void {
    const rooms = this.routing === undefined ? undefined : [...(this.sids.get(id) ?? [])]
    super.delAll(id)
    if (rooms !== undefined) this.routing?.announcer.touched(rooms, false)
  }

  override addSockets (opts: BroadcastOptions, rooms: Room[]): Promise<void> {
    if (opts.flags?.local !== true) {
      const stamp = this.publishNow({ type: MessageType.SOCKETS_JOIN, data: { opts: encodeOptions(opts), rooms } })
      Adapter.prototype.addSockets.call(this, opts, rooms)
      if (stamp !== undefined) this.routing?.joinApplied(this.uid, stamp.seq, rooms)
      return Promise.resolve()
    }
    Adapter.prototype.addSockets.call(this, opts, rooms)
    return Promise.resolve()
  }

  override delSockets (opts: BroadcastOptions, rooms: Room[]): Promise<void> {
    if (opts.flags?.local !== true) this.publishNow({ type: MessageType.SOCKETS_LEAVE, data: { opts: encodeOptions(opts), rooms } })
    Adapter.prototype.delSockets.call(this, opts, rooms)
    return Promise.resolve()
  }

  override disconnectSockets (opts: BroadcastOptions, close: boolean): Promise<void> {
    if (opts.flags?.local !== true) this.publishNow({ type: MessageType.DISCONNECT_SOCKETS, data: { opts: encodeOptions(opts), close } })
    Adapter.prototype.disconnectSockets.call(this, opts, close)
    return Promise.resolve()
  }

  /**
   * Where a message goes straight to each server (one hop) rather than through the overlay's
   * broadcast tree. Plumtree keeps one tree per topic for all publishers, so with several servers
   * publishing, a third of the messages take two hops through another server's busy event loop;
   * a small cluster is better served by direct links. Membership messages always go through the
   * overlay: they are how servers not yet known here learn of this one.
   *
   * A server heard from lately but not counted yet is sent them directly too: it already receives
   * this one's numbers from the overlay, and a number sent only to the counted ones was a gap it
   * waited `reorderTimeout` for, holding back all that came after (servers started together: a
   * third of the official cluster-adapter suite's tests failed on such a wait, for a socketsLeave
   * or a disconnectSockets sent in the first 100 ms). Sending everything through the overlay
   * meanwhile was worse: switching paths back and forth under 2 % loss reordered messages past
   * `reorderTimeout`, and thousands were dropped as late.
   */
  private directTargets (message: ClusterMessage): NodeId[] | undefined {
    if (message.type === MessageType.INITIAL_HEARTBEAT || message.type === MessageType.HEARTBEAT || message.type === MessageType.ADAPTER_CLOSE) return undefined
    const nodes = this.book.liveNodes()
    if (this.heardPending.size === 0) {
      if (nodes.size === 0 || nodes.size > this.options.directFanout) return undefined
      return [...nodes]
    }
    const targets = new Set(nodes)
    const since = Date.now() - this.options.reorderTimeout
    for (const [node, at] of this.heardPending) {
      if (at < since || nodes.has(node)) this.heardPending.delete(node)
      else targets.add(node)
    }
    if (targets.size === 0 || targets.size > this.options.directFanout) return undefined
    return [...targets]
  }

  /**
   * A heartbeat goes through the overlay (servers not known here learn of this one from it) and,
   * in a small cluster, straight to each live server as well. Heartbeats are numbered with the
   * data: a broadcast sent directly after a heartbeat waits for it at each receiver. When the
   * overlay's copy came the lazy way (an IHAVE, then a GRAFT after the 80 ms graft timeout, as
   * right after start-up in about one 3-server cluster in four), every direct message behind it
   * waited that long. The copy that comes second is dropped by the receiver (see `receive`).
   */
  private heartbeatDirect (message: ClusterMessage, seq: number, bytes: Uint8Array): void {
    if (message.type !== MessageType.HEARTBEAT) return
    const nodes = this.book.liveNodes()
    if (nodes.size === 0 || nodes.size > this.options.directFanout) return
    // A failure is logged by sendFrames, as for a direct broadcast; the overlay copy went anyway.
    this.sendFrames(seq, [...nodes].map(node => [node, bytes])).catch(() => {})
  }

  /** Hands `bytes` to the other adapters of this topic on this node (or to the one whose uid is `to`). */
  private toSiblings (nodeId: NodeId, bytes: Uint8Array, to?: ServerId): void {
    for (const sibling of siblings.get(siblingKey(nodeId, this.topic)) ?? []) {
      if (sibling === this || (to !== undefined && sibling.uid !== to)) continue
      const item: GossipMessage = { type: 'message', id: `${nodeId}:sibling`, topic: sibling.connection!.handle.topic, content: bytes, origin: nodeId, from: nodeId, hops: 0 }
      setImmediate(() => { if (!sibling.closed) sibling.receive(item) })
    }
  }

  private async send (seq: number, bytes: Uint8Array, direct: NodeId[] | undefined): Promise<void> {
    await this.sendFrames(seq, direct === undefined ? bytes : direct.map(peer => [peer, bytes]))
  }

  /** One frame through the overlay, or a frame per node sent directly. */
  private async sendFrames (seq: number, frames: Frames): Promise<void> {
    const { node, handle } = await this.ready
    try {
      if (frames instanceof Uint8Array) {
        await handle.publish(frames)
      } else {
        // No closure or promise per frame beyond sendDirect's own: this runs for every broadcast.
        const sends: Array<Promise<void>> = []
        for (const [peer, bytes] of frames) {
          if (peer === node.nodeId) this.toSiblings(peer, bytes)
          else sends.push(node.sendDirect(peer, this.topic, bytes))
        }
        if (sends.length === 1) await sends[0]
        else if (sends.length > 1) await Promise.all(sends)
      }
    } catch (err) {
      if (err instanceof MessageTooLargeError) {
        // Fill the number so receivers do not hold this server's later messages back for it.
        handle.publish(encodeFiller(seq, this.uid)).catch(() => {})
        this.options.logger.warn({ err, nsp: this.nsp.name }, 'socket.io adapter: message too large for the gossip overlay, not sent')
      } else if (!(err instanceof ClosedError)) {
        this.options.logger.warn({ err, nsp: this.nsp.name }, 'socket.io adapter: publish failed')
      }
      throw err
    }
  }

  protected override async doPublishResponse (requesterUid: ServerId, response: ClusterResponse | RestoreResponse | RoomsResponse): Promise<void> {
    const nodeId = this.book.nodeOf(requesterUid)
    if (nodeId === undefined || this.book.state(requesterUid) === 'departed') {
      throw new GossipError('ERR_GOSSIP_CLOSED', `socket.io adapter: server ${requesterUid} is gone, its response is dropped`)
    }
    const bytes = encodeResponse(response)
    const { node } = await this.ready
    try {
      if (nodeId === node.nodeId) this.toSiblings(nodeId, bytes, requesterUid)
      else await node.sendDirect(nodeId, this.topic, bytes)
    } catch (err) {
      this.options.logger.warn({ err, nsp: this.nsp.name, to: nodeId }, 'socket.io adapter: could not send a response')
      throw err
    }
  }

  /**
   * Says goodbye (ADAPTER_CLOSE, so others drop this server at once), leaves the topic, and closes
   * the node if the adapter spawned it and this was its last namespace. A node given by the
   * application stays open.
   */
  override close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.releaseConnections(new Error('the server is closing'))
    clearTimeout(this.announceTimer)
    clearTimeout(this.answerTimer?.timer)
    for (const { timer } of this.pings.values()) clearTimeout(timer)
    this.pings.clear()
    for (const timer of this.leaveTimers) clearTimeout(timer)
    this.leaveTimers.clear()
    // Before saying goodbye: the servers that take the sessions over still count this one and ask it.
    await this.recovery?.handOver()
    this.closed = true
    super.close()
    // The base class's requests still waiting for other servers (fetchSockets, serverSideEmit with
    // an ack) end as before, with its timeout error, but their timers no longer hold the process
    // open after io.close(): `io.timeout(ms).fetchSockets()` kept it up for the whole `ms`.
    const waiting = (this as unknown as { customRequests?: unknown }).customRequests
    if (waiting instanceof Map) for (const request of waiting.values()) (request as { timeout?: { unref?: () => void } }).timeout?.unref?.()
    this.recovery?.close()
    this.routing?.close()
    await this.lastPublish
    this.order.close()
    for (const requestId of [...this.pendingAcks.keys()]) this.dropPendingAck(requestId)
    const connection = await this.ready.catch(() => undefined)
    if (connection !== undefined) {
      const key = siblingKey(connection.node.nodeId, this.topic)
      siblings.get(key)?.delete(this)
      if (siblings.get(key)?.size === 0) siblings.delete(key)
      connection.subscription.close()
      connection.events.close()
      await connection.handle.close().catch(() => {})
    }
    await this.lease.release()
  }
}
