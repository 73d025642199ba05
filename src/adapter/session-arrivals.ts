/**
 * Sessions arriving at this server from the server that kept them, handed over so that the socket
 * misses nothing and gets nothing twice.
 *
 * Each server delivers every other server's messages in that server's order, but two servers are
 * not at the same point at the same moment. The owner's answer says how far it had got with each
 * sender (its frontier: the next sequence number it had not delivered) when it gathered the missed
 * packets. Then, per sender:
 *
 * - what this server delivered from that point on, the owner did not have: this server adds it
 *   (it buffers every sequenced packet it delivers while a request is out, so it has them, as the
 *   owner first waits until it has got as far as this server was when it asked);
 * - what this server has not delivered yet up to that point, the owner already sent: when it comes,
 *   the restored socket is left out of it (`excluded`).
 *
 * Between the answer and the moment Socket.IO puts the socket in its rooms, matching packets are
 * appended to the missed list Socket.IO is about to replay (it reads the list after the joins).
 */
import type { Room, ServerId } from 'socket.io-adapter'
import { packetMatches } from './session-log.js'

/** Per sender, the next sequence number not yet delivered. */
export type Frontier = Map<ServerId, number>

export interface DeliveredPacket {
  data: unknown[]
  rooms: Room[]
  except: Room[]
  /** Set for a cluster message (numbered by its sender); undefined for a packet only this server sent. */
  sender?: { uid: ServerId, seq: number }
}

interface Arrival {
  /** Whether the session came from another server (rather than from this server's own log). */
  fromPeer: boolean
  rooms: Room[]
  missed: unknown[][]
  frontier: Frontier
  at: number
  /** Set for a session taken over from a server that closed: kept until then, for its client. */
  until?: number
}

interface Exclusion {
  sid: string
  /** Messages numbered below this were in the socket's replay. */
  below: number
  at: number
}

export class SessionArrivals {
  /**
   * Sequenced packets delivered while at least one request is out, shared by all of them (a
   * reconnection storm must not cost a copy per request per packet): `recent[i]` is number
   * `recentStart + i`; each request remembers the number it started at.
   */
  private recent: DeliveredPacket[] = []
  private recentStart = 0
  private readonly buffers = new Map<string, number>()
  private readonly arrivals = new Map<string, Arrival>()
  private readonly exclusions = new Map<ServerId, Exclusion[]>()

  /** Packets collected by held sessions, in all: bounded by `maxHeld` (the oldest held session goes first). */
  private heldEntries = 0
  private readonly maxHeld: number

  constructor (private readonly maxBuffered: number, private readonly now: () => number = Date.now) {
    this.maxHeld = maxBuffered * 10
  }

  /** Entries held: buffered packets, sessions waiting for their socket, exclusions pending. */
  get size (): { buffered: number, arriving: number, exclusions: number } {
    const buffered = this.recent.length
    let exclusions = 0
    for (const list of this.exclusions.values()) exclusions += list.length
    return { buffered, arriving: this.arrivals.size, exclusions }
  }

  /** Packets collected by sessions held for their clients, in all. */
  get heldPackets (): number {
    return this.heldEntries
  }

  /** Whether a delivered packet matters here: a request is out or a session waits for its socket. */
  get active (): boolean {
    return this.buffers.size > 0 || this.arrivals.size > 0
  }

  /** A request went out: from now on every sequenced packet delivered here is kept for it. */
  open (requestId: string): void {
    this.buffers.set(requestId, this.recentStart + this.recent.length)
  }

  /** The request ended without a session. */
  abandon (requestId: string): void {
    this.close(requestId)
  }

  /** What was delivered since `requestId` went out; undefined if part of it was dropped (or it is unknown). */
  private close (requestId: string): DeliveredPacket[] | undefined {
    const start = this.buffers.get(requestId)
    this.buffers.delete(requestId)
    const packets = start === undefined || start < this.recentStart ? undefined : this.recent.slice(start - this.recentStart)
    if (this.buffers.size === 0) {
      this.recentStart += this.recent.length
      this.recent = []
    }
    return packets
  }

  /**
   * The session arrived with the packets the owner gathered and the owner's frontier. Returns the
   * full missed list (which keeps growing until the socket joins its rooms), or undefined if it
   * cannot be complete: the owner had not got as far as this server was when it asked, or the
   * packets delivered meanwhile were more than it can hold.
   */
  arrive (requestId: string | undefined, sid: string, rooms: Room[], missed: unknown[][], frontier: Frontier, askedAt?: Frontier): unknown[][] | undefined {
    const buffered = requestId === undefined ? [] : this.close(requestId)
    if (buffered === undefined) return undefined
    for (const [uid, next] of askedAt ?? []) {
      const theirs = frontier.get(uid)
      if (theirs !== undefined && theirs < next) return undefined
    }
    const list = [...missed]
    for (const packet of buffered) {
      if (packet.sender !== undefined && this.covered(frontier, packet.sender)) continue
      if (packetMatches(rooms, packet.rooms, packet.except)) list.push(packet.data)
    }
    this.arrivals.set(sid, { fromPeer: requestId !== undefined, rooms, missed: list, frontier, at: this.now() })
    return list
  }

  /** A recoverable packet was delivered here. */
  delivered (packet: DeliveredPacket): void {
    if (this.buffers.size > 0 && packet.sender !== undefined) {
      this.recent.push(packet)
      // Past the bound the oldest go: a request that started before them can no longer be complete.
      if (this.recent.length > this.maxBuffered * 2) {
        const drop = this.recent.length - this.maxBuffered
        this.recent = this.recent.slice(drop)
        this.recentStart += drop
      }
    }
    for (const [sid, arrival] of this.arrivals) {
      if (packet.sender !== undefined && this.covered(arrival.frontier, packet.sender)) continue
      if (!packetMatches(arrival.rooms, packet.rooms, packet.except)) continue
      arrival.missed.push(packet.data)
      // Socket.IO joins the rooms a few microtasks after the answer; a socket that never does (a
      // session without rooms) must not collect packets until the sweep.
      if (arrival.until !== undefined) this.heldEntries++
      else if (arrival.missed.length > this.maxBuffered * 2) this.remove(sid)
    }
    while (this.heldEntries > this.maxHeld) this.dropOldestHeld()
  }

  /**
   * The socket joined its rooms: it now receives what is delivered here. From each sender this
   * server is behind the owner on, the messages still to come up to the owner's point were replayed
   * already, and will be excluded. Returns the packets the socket is replayed.
   */
  /** Whether a socket `sid` is expected (its session arrived, its socket has not joined yet). */
  expects (sid: string): boolean {
    return this.arrivals.has(sid)
  }

  joined (sid: string, frontier: () => Frontier): { replayed: unknown[][], fromPeer: boolean } | undefined {
    const arrival = this.arrivals.get(sid)
    if (arrival === undefined) return undefined
    this.remove(sid)
    const current = frontier()
    for (const [uid, below] of arrival.frontier) {
      // Senders unknown here are not excluded: a frontier naming thousands of made-up ones would
      // otherwise leave as many exclusions behind.
      const mine = current.get(uid)
      if (mine === undefined || mine >= below) continue
      let list = this.exclusions.get(uid)
      if (list === undefined) this.exclusions.set(uid, list = [])
      list.push({ sid, below, at: this.now() })
    }
    return { replayed: arrival.missed, fromPeer: arrival.fromPeer }
  }

  /** The restored sockets to leave out of message `seq` of `uid` (they had it in their replay). */
  excluded (uid: ServerId, seq: number): string[] {
    const list = this.exclusions.get(uid)
    if (list === undefined) return []
    const sids: string[] = []
    const rest = list.filter(e => {
      if (seq < e.below) sids.push(e.sid)
      return seq + 1 < e.below
    })
    if (rest.length === 0) this.exclusions.delete(uid)
    else this.exclusions.set(uid, rest)
    return sids
  }

  /**
   * Keeps a session that arrived without its socket (taken over from a server that closed) until
   * `until`, collecting what its socket would have got, for the client to come back to.
   */
  hold (sid: string, until: number): void {
    const arrival = this.arrivals.get(sid)
    if (arrival === undefined || arrival.until !== undefined) return
    arrival.until = until
    this.heldEntries += arrival.missed.length
  }

  /**
   * The client of a held session came back with `offset`, the last packet it got: the packets it
   * missed since (the list keeps growing until the socket joins), or undefined if `offset` is
   * neither where the hand-over started (`start`) nor among the packets collected since.
   */
  resume (sid: string, offset: string, start: string): unknown[][] | undefined {
    const arrival = this.arrivals.get(sid)
    if (arrival === undefined) return undefined
    if (arrival.until !== undefined) this.heldEntries -= arrival.missed.length
    arrival.until = undefined
    if (offset !== start) {
      const index = arrival.missed.findIndex(packet => packet.at(-1) === offset)
      if (index === -1) return undefined
      arrival.missed = arrival.missed.slice(index + 1)
    }
    arrival.at = this.now()
    return arrival.missed
  }

  /** The frontier a held session's packets are complete up to. */
  frontierOf (sid: string): Frontier | undefined {
    return this.arrivals.get(sid)?.frontier
  }

  drop (sid: string): void {
    this.remove(sid)
  }

  private remove (sid: string): void {
    const arrival = this.arrivals.get(sid)
    if (arrival === undefined) return
    if (arrival.until !== undefined) this.heldEntries -= arrival.missed.length
    this.arrivals.delete(sid)
  }

  private dropOldestHeld (): void {
    let oldest: [string, Arrival] | undefined
    for (const entry of this.arrivals) {
      if (entry[1].until !== undefined && (oldest === undefined || entry[1].at < oldest[1].at)) oldest = entry
    }
    if (oldest === undefined) {
      this.heldEntries = 0
      return
    }
    this.remove(oldest[0])
  }

  /** A sender left: nothing more will come from it. */
  forgetSender (uid: ServerId): void {
    this.exclusions.delete(uid)
  }

  /** Drops what waited longer than `maxWait` ms: a socket that never joined, a sender that went quiet. */
  sweep (maxWait: number): void {
    const threshold = this.now() - maxWait
    const now = this.now()
    for (const [sid, arrival] of this.arrivals) {
      if (arrival.until !== undefined ? arrival.until < now : arrival.at < threshold) this.remove(sid)
    }
    for (const [uid, list] of this.exclusions) {
      const rest = list.filter(e => e.at >= threshold)
      if (rest.length === 0) this.exclusions.delete(uid)
      else this.exclusions.set(uid, rest)
    }
  }

  clear (): void {
    this.heldEntries = 0
    this.buffers.clear()
    this.recentStart += this.recent.length
    this.recent = []
    this.arrivals.clear()
    this.exclusions.clear()
  }

  private covered (frontier: Frontier, sender: { uid: ServerId, seq: number }): boolean {
    const next = frontier.get(sender.uid)
    return next !== undefined && sender.seq < next
  }
}
