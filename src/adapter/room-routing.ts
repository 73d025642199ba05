/**
 * Room routing (adapter option `roomRouting`): a room broadcast goes only to the servers with a
 * member in one of its rooms, instead of to every server. `except` is still applied by the
 * receivers. Broadcasts to everyone, with acks, or to a room no server lists (a socket id, say) go
 * to every server as without routing; so do joins, leaves, fetches and server-side emits.
 *
 * The pieces: RoomAnnouncer (this server's rooms, to the others; why joins racing broadcasts are
 * safe is argued there), RoomDirectory (the others' rooms, as announced), RouteChain (which
 * numbers of this server's sequence each node was not sent, so nobody waits for them). This class
 * decides where each message goes and keeps the counters.
 *
 * Where: while the servers to reach are at most `directFanout` nodes, directly to them (one hop);
 * past it, through the overlay to every node, as without routing. Each node that has not been sent
 * anything for a heartbeat interval gets a heartbeat of its own, so a busy server that has nothing
 * for it is not taken for dead.
 */
import type { ClusterMessage, Room, ServerId } from 'socket.io-adapter'
import { MessageType } from 'socket.io-adapter'
import type { NodeId } from '../core/api.js'
import { ROOMS, ROOMS_ACK, ROOMS_RESYNC, encodeRouted } from './envelope.js'
import type { RoomsMessage } from './envelope.js'
import { RoomAnnouncer, joinKey } from './room-announcer.js'
import { RoomDirectory } from './room-directory.js'
import { RouteChain } from './route-chain.js'

/** Room broadcasts sent and received, for `adapter.routingStats()`. Counted with routing on or off. */
export interface RoutingStats {
  /** Whether this server routes room broadcasts (`roomRouting`). */
  enabled: boolean
  /** Broadcasts received from other servers, and their bytes on the wire. */
  received: number
  receivedBytes: number
  /** Of those, broadcasts to rooms none of which has a member here (wasted), and their bytes. */
  unwanted: number
  unwantedBytes: number
  /** Room broadcasts this server published: sent to only some servers, and to every server. */
  routed: number
  toAll: number
  /** Servers a routed broadcast did not go to, summed over routed broadcasts. */
  serversSkipped: number
  /** Rooms this server has announced; servers whose rooms are known here. */
  roomsAnnounced: number
  serversKnown: number
  /** Times a live server was asked for its rooms again because they were still unknown two heartbeat intervals on. */
  roomsAsked: number
  /** `socketsJoin` calls known here that not every server has confirmed yet: their rooms go to every server. */
  joinsPending: number
}

export interface RoutingHost {
  /** The live servers and their nodes. */
  live: () => ReadonlyMap<ServerId, NodeId>
  /** The nodes of `live` (read on every publish). */
  liveNodes: () => ReadonlySet<NodeId>
  /** Whether `room` has a member here and is not a socket's own room. */
  announceable: (room: Room) => boolean
  /** Publishes a numbered message (through `frames`); returns its number. */
  publish: (message: { type: number, data?: unknown }) => number | undefined
  /** Bytes of room names one ROOMS message may carry. */
  pageBytes: () => number
  /** Sends a response directly to server `to`. */
  respond: (to: ServerId, response: { type: number, data: unknown }) => void
  position: (uid: ServerId) => number | undefined
  /** Rooms of one other server kept at most (see RoomDirectory). */
  maxRooms: number
  /** `uid` listed more rooms than that: it is sent every broadcast until its next snapshot. */
  overflow: (uid: ServerId, rooms: number, bytes: number) => void
}

export type Frames = Uint8Array | Array<[NodeId, Uint8Array]>

export class RoomRouting {
  readonly directory: RoomDirectory
  readonly announcer: RoomAnnouncer
  private readonly chain = new RouteChain()
  private readonly counts = { routed: 0, toAll: 0, serversSkipped: 0, roomsAsked: 0 }
  /** Live servers not known here, since when (see `askUnknown`). */
  private readonly unknownSince = new Map<ServerId, number>()
  private only: NodeId[] | undefined
  private readonly keepalive: NodeJS.Timeout

  constructor (private readonly host: RoutingHost, private readonly fanout: number, private readonly heartbeatInterval: number, ackTimeout: number) {
    this.directory = new RoomDirectory(host.maxRooms, host.overflow)
    this.announcer = new RoomAnnouncer({
      announceable: host.announceable,
      publish: data => host.publish({ type: ROOMS, data }),
      servers: () => [...host.live().keys()],
      routes: uid => this.directory.knows(uid),
      position: host.position,
      pageBytes: host.pageBytes
    }, ackTimeout)
    this.keepalive = setInterval(() => { this.sendKeepalives() }, heartbeatInterval / 2)
    this.keepalive.unref()
  }

  /** Counters; `received*` and `unwanted*` come from the adapter. */
  stats (): Omit<RoutingStats, 'enabled' | 'received' | 'receivedBytes' | 'unwanted' | 'unwantedBytes'> {
    return { ...this.counts, roomsAnnounced: this.announcer.announcedCount, serversKnown: this.directory.knownCount, joinsPending: this.announcer.wildCount }
  }

  /**
   * The frames of message `seq` (its body encoded once): one overlay frame, or one per node to send
   * it to directly. Decided and numbered now, in publish order.
   */
  frames (seq: number, message: ClusterMessage, body: Uint8Array): Frames {
    const now = Date.now()
    const nodes = this.targets(message)
    if (nodes === undefined) return encodeRouted(seq, this.chain.overlay(seq, now), body)
    return nodes.map(node => [node, encodeRouted(seq, this.chain.direct(seq, node, now), body)])
  }

  private targets (message: ClusterMessage): NodeId[] | undefined {
    const only = this.only
    this.only = undefined
    if (only !== undefined) return only
    if (message.type === MessageType.INITIAL_HEARTBEAT || message.type === MessageType.HEARTBEAT || message.type === MessageType.ADAPTER_CLOSE) return undefined
    const live = this.host.live()
    if (live.size === 0) return undefined
    const rooms = routableRooms(message)
    const all = this.host.liveNodes()
    if (rooms === undefined || this.directory.everywhere(rooms) || rooms.some(room => this.announcer.isWild(room))) {
      if (rooms !== undefined) this.counts.toAll++
      return all.size > this.fanout ? undefined : [...all]
    }
    const nodes = new Set<NodeId>()
    for (const [uid, node] of live) if (!nodes.has(node) && this.directory.wants(uid, rooms)) nodes.add(node)
    if (nodes.size > this.fanout) {
      this.counts.toAll++
      return undefined
    }
    this.counts.routed++
    this.counts.serversSkipped += all.size - nodes.size
    return [...nodes]
  }

  /** Publishes `message` to those nodes only (a snapshot for a new server, a keepalive); returns its number. */
  private publishTo (nodes: NodeId[], message: { type: number, data?: unknown }): number | undefined {
    if (nodes.length === 0) return undefined
    this.only = nodes
    const seq = this.host.publish(message)
    this.only = undefined
    return seq
  }

  /**
   * A server asks to be sent everything (a ROOMS saying `any`, applied now): a heartbeat to its
   * node, whose number goes back in the acknowledgement. Everything this server numbers after it
   * goes to that server, and once that server has delivered it, nothing before was left out.
   */
  heartbeatTo (node: NodeId): number | undefined {
    return this.publishTo([node], { type: MessageType.HEARTBEAT })
  }

  /**
   * A server asks the cluster for a session: the keeper waits until it has got as far with this
   * server as the asker had. Nodes not sent this server's last number get a heartbeat, which tells
   * them what they were not sent, so the keeper need not wait for the next keepalive.
   */
  catchUpAll (): void {
    // To every node, not only those behind: then none is behind after it, and a burst of requests
    // costs one heartbeat (sent to those behind only, it put the others behind for the next one).
    const nodes = this.host.liveNodes()
    if (this.chain.behind(nodes)) this.publishTo([...nodes], { type: MessageType.HEARTBEAT })
  }

  private sendKeepalives (): void {
    const live = this.host.live()
    if (live.size === 0) return
    const now = Date.now()
    this.publishTo(this.chain.silentSince(this.host.liveNodes(), now - this.heartbeatInterval / 2), { type: MessageType.HEARTBEAT })
    this.askUnknown(live, now)
  }

  /**
   * A live server still unknown two heartbeat intervals on is asked for its rooms, and again every
   * two intervals until its snapshot is applied. Whatever lost it (a snapshot lost before any
   * later message of that server came: the first message heard sets where its sequence starts, so
   * nothing counts the snapshot missing; a request or its answer lost with a link), asking again is
   * the one repair that covers every cause; until then it is sent every broadcast.
   * Not sooner: that server sends its snapshot unasked once it counts this one, about an interval
   * after this one counts it, and it refuses a request from a server it does not count yet.
   */
  private askUnknown (live: ReadonlyMap<ServerId, NodeId>, now: number): void {
    for (const uid of this.unknownSince.keys()) {
      if (!live.has(uid) || this.directory.knows(uid)) this.unknownSince.delete(uid)
    }
    for (const uid of live.keys()) {
      if (this.directory.knows(uid)) continue
      const since = this.unknownSince.get(uid)
      if (since === undefined) this.unknownSince.set(uid, now)
      else if (now - since >= 2 * this.heartbeatInterval) {
        this.unknownSince.set(uid, now)
        this.counts.roomsAsked++
        this.askRooms(uid)
      }
    }
  }

  /** `uid` on `node` counts from now on: it gets this server's snapshot. */
  serverLive (node: NodeId): void {
    for (const data of this.announcer.snapshot()) this.publishTo([node], { type: ROOMS, data })
  }

  /** `uid` asked for a snapshot (it missed some of this server's messages). */
  resync (node: NodeId): void {
    this.serverLive(node)
  }

  /** A ROOMS from `uid` was delivered. */
  rooms (uid: ServerId, data: RoomsMessage['data']): void {
    this.directory.apply(uid, data)
  }

  /**
   * Some of `uid`'s messages were given up here: its rooms are not known any more; ask for them
   * again. Asked even when they were not known: the message given up may have been its snapshot
   * (seen under packet loss: the snapshot came after its gap was given up, was dropped, and the
   * server stayed unknown, sent every broadcast, for as long as the test waited).
   */
  gap (uid: ServerId): void {
    this.directory.forget(uid)
    this.askRooms(uid)
  }

  /** Asks `uid` for a snapshot of its rooms (it answers with `resync`). */
  private askRooms (uid: ServerId): void {
    this.host.respond(uid, { type: ROOMS_RESYNC, data: { requestId: 'rooms' } })
  }

  /** This server lagged: anyone's messages may be missing. */
  lagged (): void {
    for (const uid of this.directory.forgetAll()) this.askRooms(uid)
  }

  /**
   * This server applied the SOCKETS_JOIN numbered `seq` of `issuer` (its own included): the rooms go
   * to every server until every other has applied it too; what this server gained is announced,
   * then every other server is told, with the number of this server's last message to it.
   */
  joinApplied (issuer: ServerId, seq: number, rooms: Room[]): void {
    const key = joinKey(issuer, seq)
    this.announcer.joinKnown(key, rooms)
    this.announcer.flush()
    for (const [uid, node] of this.host.live()) {
      this.host.respond(uid, { type: ROOMS_ACK, data: { requestId: key, upTo: this.chain.lastTo(node) } })
    }
  }

  serverGone (uid: ServerId): void {
    this.directory.forget(uid)
    this.announcer.serverGone(uid)
  }

  close (): void {
    clearInterval(this.keepalive)
    this.announcer.close()
  }
}

/** The rooms of a broadcast that may be routed: to rooms, without acks (every server must answer those). */
function routableRooms (message: ClusterMessage): Room[] | undefined {
  if (message.type !== MessageType.BROADCAST || message.data.requestId !== undefined) return undefined
  const rooms = message.data.opts.rooms as Room[]
  return rooms.length > 0 ? rooms : undefined
}
