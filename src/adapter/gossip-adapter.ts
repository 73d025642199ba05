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
 *   reached no client, so the ack callback fires as soon as the rest have answered.
 */
import { Adapter, ClusterAdapterWithHeartbeat, MessageType } from 'socket.io-adapter'
import type { BroadcastOptions, ClusterMessage, ClusterResponse, Offset, Room, ServerId } from 'socket.io-adapter'
import type { Namespace } from 'socket.io'
import type { GossipApi, GossipEvent, GossipHandle, GossipMessage, Lagged, NodeId, Subscription } from '../core/api.js'
import { ClosedError, GossipError, MessageTooLargeError } from '../core/errors.js'
import { BoundedSet } from './bounded-set.js'
import { decodeEnvelope, encodeFiller, encodeMessage, encodeResponse } from './envelope.js'
import type { NodeLease } from './node-lease.js'
import type { ResolvedAdapterOptions } from './options.js'
import { SenderOrder } from './sender-order.js'
import type { OrderStats } from './sender-order.js'

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
 * goes through; `addOffsetIfNecessary` stamps packets for connection state recovery.
 */
interface HeartbeatInternals {
  removeNode(uid: ServerId): void
  addOffsetIfNecessary(packet: unknown, opts: BroadcastOptions, offset: Offset | undefined): void
}

interface EncodedOptions {
  rooms: Room[]
  except: Room[]
  flags: NonNullable<BroadcastOptions['flags']>
}

function encodeOptions (opts: BroadcastOptions): EncodedOptions {
  return { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} }
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
  private readonly order: SenderOrder<{ message: ClusterMessage, seq: number }>
  private readonly nodeOf = new Map<ServerId, NodeId>()
  private readonly departed = new BoundedSet<ServerId>(4_096)
  private readonly pendingAcks = new Map<string, PendingAck>()
  private readonly leaveTimers = new Set<NodeJS.Timeout>()
  private seq = 0
  private stamped: Offset | undefined
  private lastPublish: Promise<unknown> = Promise.resolve()
  private announceTimer: NodeJS.Timeout | undefined
  private lastAnnounce = -Infinity
  private closing: Promise<void> | undefined

  constructor (nsp: Namespace, lease: NodeLease, options: ResolvedAdapterOptions) {
    super(nsp, { heartbeatInterval: options.heartbeatInterval, heartbeatTimeout: options.heartbeatTimeout })
    this.options = options
    this.lease = lease
    this.topic = adapterTopic(options.key, nsp.name)
    const log = options.logger
    this.order = new SenderOrder({
      gapTimeout: options.reorderTimeout,
      maxHeld: options.maxHeldPerSender,
      deliver: (_uid, { message, seq }) => { this.deliver(message, seq) },
      skipped: (uid, from, count) => {
        log.warn({ nsp: nsp.name, server: uid, from, count }, 'socket.io adapter: gave up waiting for missing messages from a server')
      },
      late: (uid, seq) => {
        log.warn({ nsp: nsp.name, server: uid, seq }, 'socket.io adapter: dropped a message that arrived after its gap was given up')
      }
    })
    const internals = this as unknown as HeartbeatInternals
    const removeNode = internals.removeNode
    internals.removeNode = (uid: ServerId) => {
      removeNode.call(this, uid)
      this.forgetServer(uid)
    }
    this.ready = this.connect()
    this.ready.catch((err: unknown) => {
      log.error({ err, nsp: nsp.name }, 'socket.io adapter: could not join the gossip topic')
    })
  }

  /** How per-sender ordering is doing: gaps given up, late messages dropped, messages held now. */
  get orderStats (): OrderStats {
    return this.order.stats
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
    this.consume(connection).catch((err: unknown) => { this.options.logger.error({ err }, 'socket.io adapter: receive loop failed') })
    this.watch(connection).catch((err: unknown) => { this.options.logger.error({ err }, 'socket.io adapter: event loop failed') })
    return connection
  }

  private async consume ({ subscription }: Connection): Promise<void> {
    for await (const item of subscription) {
      if (item.type === 'lagged') {
        this.options.logger.warn({ nsp: this.nsp.name, dropped: item.dropped }, 'socket.io adapter: fell behind, messages were dropped')
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
      this.options.logger.warn({ err, from: item.origin }, 'socket.io adapter: ignored an undecodable message')
      return
    }
    if (envelope.kind === 'response') {
      if (envelope.response.nsp === this.nsp.name) this.guard(() => { this.onResponse(envelope.response) })
      return
    }
    const uid = envelope.kind === 'message' ? envelope.message.uid : envelope.uid
    if (uid === this.uid || this.departed.has(uid)) return
    if (envelope.kind === 'message' && envelope.message.nsp !== this.nsp.name) return
    // The origin is the authenticated publisher: the node a response to this server must go to.
    this.nodeOf.set(uid, item.origin)
    this.order.receive(uid, envelope.seq, envelope.kind === 'message' ? { message: envelope.message, seq: envelope.seq } : undefined)
  }

  private deliver (message: ClusterMessage, seq: number): void {
    this.guard(() => { this.onMessage(message, `${message.uid}-${seq}`) })
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
   * Announcements are spaced by `announceInterval` so churn cannot turn into a storm.
   */
  private announce (): void {
    if (this.announceTimer !== undefined || this.closing !== undefined) return
    const wait = this.lastAnnounce + this.options.announceInterval - Date.now()
    if (wait <= 0) {
      this.sendAnnouncement()
      return
    }
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined
      this.sendAnnouncement()
    }, wait)
  }

  private sendAnnouncement (): void {
    if (this.closing !== undefined) return
    this.lastAnnounce = Date.now()
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
      for (const [uid, nodeId] of [...this.nodeOf]) {
        if (nodeId !== peer) continue
        this.order.flush(uid)
        if (!this.nodeOf.has(uid)) continue
        this.departed.add(uid)
        ;(this as unknown as HeartbeatInternals).removeNode(uid)
      }
    }, this.options.reorderTimeout)
    this.leaveTimers.add(timer)
  }

  /** Runs on every departure: closed, left, or silent past the heartbeat timeout. */
  private forgetServer (uid: ServerId): void {
    this.order.forget(uid)
    this.nodeOf.delete(uid)
    for (const [requestId, pending] of this.pendingAcks) {
      if (!pending.missing.has(uid)) continue
      // Counting it as a server that reached no client lets the broadcast's ack complete.
      this.onResponse({ type: MessageType.BROADCAST_CLIENT_COUNT, uid, nsp: this.nsp.name, data: { requestId, clientCount: 0 } })
    }
  }

  override onMessage (message: ClusterMessage, offset?: string): void {
    if (message.type === MessageType.ADAPTER_CLOSE) this.departed.add(message.uid)
    super.onMessage(message, offset)
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
    this.pendingAcks.set(requestId, { missing: new Set(this.nodeOf.keys()), timer })
  }

  private dropPendingAck (requestId: string): void {
    const pending = this.pendingAcks.get(requestId)
    if (pending === undefined) return
    clearTimeout(pending.timer)
    this.pendingAcks.delete(requestId)
  }

  protected override async doPublish (message: ClusterMessage): Promise<Offset> {
    // The number is taken synchronously, in call order: that order is what receivers restore.
    const seq = this.seq
    const bytes = encodeMessage(seq, message)
    this.seq++
    const offset = `${this.uid}-${seq}`
    this.stamped = offset
    this.trackAck(message)
    const sent = this.send(seq, bytes, this.directTargets(message))
    this.lastPublish = sent.catch(() => {})
    await sent
    return offset
  }

  /**
   * Publishes without waiting and returns the offset, known at once because doPublish numbers the
   * message synchronously. Undefined if the message could not even be encoded (that is logged).
   */
  private publishNow (message: Parameters<ClusterAdapterWithHeartbeat['publish']>[0]): Offset | undefined {
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
    if (opts.flags?.local !== true) {
      const offset = this.publishNow({ type: MessageType.BROADCAST, data: { packet, opts: encodeOptions(opts) } })
      ;(this as unknown as HeartbeatInternals).addOffsetIfNecessary(packet, opts, offset)
    }
    Adapter.prototype.broadcast.call(this, packet, opts)
    return Promise.resolve()
  }

  override addSockets (opts: BroadcastOptions, rooms: Room[]): Promise<void> {
    if (opts.flags?.local !== true) this.publishNow({ type: MessageType.SOCKETS_JOIN, data: { opts: encodeOptions(opts), rooms } })
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
   */
  private directTargets (message: ClusterMessage): NodeId[] | undefined {
    if (message.type === MessageType.INITIAL_HEARTBEAT || message.type === MessageType.HEARTBEAT || message.type === MessageType.ADAPTER_CLOSE) return undefined
    const nodes = new Set(this.nodeOf.values())
    if (nodes.size === 0 || nodes.size > this.options.directFanout) return undefined
    return [...nodes]
  }

  private async send (seq: number, bytes: Uint8Array, direct: NodeId[] | undefined): Promise<void> {
    const { node, handle } = await this.ready
    try {
      if (direct === undefined) await handle.publish(bytes)
      else await Promise.all(direct.map(async peer => { await node.sendDirect(peer, this.topic, bytes) }))
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

  protected override async doPublishResponse (requesterUid: ServerId, response: ClusterResponse): Promise<void> {
    const nodeId = this.nodeOf.get(requesterUid)
    if (nodeId === undefined) {
      throw new GossipError('ERR_GOSSIP_CLOSED', `socket.io adapter: server ${requesterUid} is gone, its response is dropped`)
    }
    const bytes = encodeResponse(response)
    const { node } = await this.ready
    try {
      await node.sendDirect(nodeId, this.topic, bytes)
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
    clearTimeout(this.announceTimer)
    for (const timer of this.leaveTimers) clearTimeout(timer)
    this.leaveTimers.clear()
    super.close()
    await this.lastPublish
    this.order.close()
    for (const requestId of [...this.pendingAcks.keys()]) this.dropPendingAck(requestId)
    const connection = await this.ready.catch(() => undefined)
    if (connection !== undefined) {
      connection.subscription.close()
      connection.events.close()
      await connection.handle.close().catch(() => {})
    }
    await this.lease.release()
  }
}
