/**
 * What one server keeps so its disconnected sockets can get their state back (Socket.IO's
 * connection state recovery), with no store outside the servers:
 *
 * - the sessions of its own sockets that went away (Socket.IO persists a session on the server the
 *   socket was connected to), each restorable once;
 * - the recoverable broadcast packets it delivered, in its delivery order, with the rooms they went
 *   to: a returning socket gets the packets after the last one it saw that match its rooms.
 *
 * Bounded by age (past `maxAge`, Socket.IO's `maxDisconnectionDuration`, neither is of use), by
 * count (sessions and packets separately) and by bytes (an estimate of the memory both take: their
 * encoded size, as they would travel to another server, plus what each entry costs in the heap
 * beyond it); past a bound the oldest entry goes first. A session whose last
 * packet has been evicted can no longer be restored (its offset is unknown): it fails, it is never
 * restored with a hole.
 */
import type { Room } from 'socket.io-adapter'

/**
 * Heap an entry takes beyond its encoded size, bytes (measured with V8 on Node 20: about 390 for a
 * session and 600 to 650 for a packet, whatever their size), so `maxBytes` bounds memory, not just
 * payload.
 */
export const SESSION_OVERHEAD = 400
export const PACKET_OVERHEAD = 640

export interface SessionLogLimits {
  /** How long a session and a packet are kept, ms (Socket.IO's `maxDisconnectionDuration`). */
  maxAge: number
  maxSessions: number
  maxPackets: number
  /** Estimated memory of sessions and packets together, bytes. */
  maxBytes: number
  now?: () => number
}

export interface StoredSession {
  sid: string
  pid: string
  rooms: Room[]
  data: unknown
  disconnectedAt: number
  /** Encoded size plus SESSION_OVERHEAD. */
  bytes: number
  /** Position in the packet log when the socket went away: what was logged before, it was sent. */
  logEnd: number
}

export interface LoggedPacket {
  /** The offset the packet carries as its last argument (what the client reports when it returns). */
  offset: string
  /**
   * Set for a packet replayed here to a socket restored from another server: logged again at the
   * point the socket got it here, found by that socket only (others got the packet elsewhere in
   * this server's order).
   */
  replayedTo?: string
  /** The event and its arguments, the offset last: what is sent to the client again. */
  data: unknown[]
  rooms: Room[]
  except: Room[]
  at: number
  /** Encoded size plus PACKET_OVERHEAD. */
  bytes: number
}

export interface SessionLogStats {
  sessions: number
  packets: number
  /** Estimated memory held by sessions and packets, bytes. */
  bytes: number
  /** Entries dropped before their time to stay within a count or byte bound. */
  evictedSessions: number
  evictedPackets: number
}

/** Socket.IO's rule: a packet is for a session if it went to one of its rooms (or to all) and excluded none. */
export function packetMatches (sessionRooms: readonly Room[], rooms: readonly Room[], except: readonly Room[]): boolean {
  const included = rooms.length === 0 || sessionRooms.some(room => rooms.includes(room))
  return included && sessionRooms.every(room => !except.includes(room))
}

export class SessionLog {
  /** In persist order, which is disconnection order: the front is the oldest. */
  private readonly sessions = new Map<string, StoredSession>()
  /**
   * The same sessions oldest first (and ones gone since, skipped): the oldest is found here. Asking
   * the Map for its first entry walks over every entry deleted before it until V8 rehashes, and
   * once the bound is reached every persist evicted one: 24 µs a persist at 10,000 sessions.
   */
  private order: StoredSession[] = []
  private orderHead = 0
  /** How many held sessions are in each room: which packets may concern a held session. */
  private readonly sessionRooms = new Map<Room, number>()
  /** The packet log is `packets[head..]`; `first` is the position of `packets[head]` since the start. */
  private packets: LoggedPacket[] = []
  private head = 0
  private first = 0
  private readonly positions = new Map<string, number>()
  /** Positions of replayed packets, by socket id and offset. */
  private readonly replayPositions = new Map<string, number>()
  private bytes = 0
  private evictedSessions = 0
  private evictedPackets = 0
  private readonly now: () => number

  /** `kept`: a session came (true) or went (false), however it went: taken, expired, evicted, cleared. */
  constructor (private readonly limits: SessionLogLimits, private readonly kept: (session: StoredSession, here: boolean) => void = () => {}) {
    this.now = limits.now ?? Date.now
  }

  get stats (): SessionLogStats {
    this.expire()
    return {
      sessions: this.sessions.size,
      packets: this.packets.length - this.head,
      bytes: this.bytes,
      evictedSessions: this.evictedSessions,
      evictedPackets: this.evictedPackets
    }
  }

  has (pid: string): boolean {
    this.expire()
    return this.sessions.has(pid)
  }

  /** Keeps the session of a socket that just went away (a session with the same pid is replaced); `bytes` is its encoded size. */
  persist (session: Omit<StoredSession, 'disconnectedAt' | 'logEnd'>): void {
    this.remove(session.pid)
    const logEnd = this.first + this.packets.length - this.head
    const stored: StoredSession = { ...session, bytes: session.bytes + SESSION_OVERHEAD, disconnectedAt: this.now(), logEnd }
    this.sessions.set(stored.pid, stored)
    this.order.push(stored)
    for (const room of stored.rooms) this.sessionRooms.set(room, (this.sessionRooms.get(room) ?? 0) + 1)
    this.bytes += stored.bytes
    this.kept(stored, true)
    this.trim()
  }

  /** Removes and returns the session: a session is restored once. Undefined if unknown or expired. */
  take (pid: string): StoredSession | undefined {
    this.expire()
    const session = this.sessions.get(pid)
    if (session !== undefined) this.remove(pid)
    return session
  }

  /**
   * Whether a packet to `rooms` except `except` may concern a held session (the exclusions are
   * applied when the session is restored).
   */
  concernsSession (rooms: ReadonlySet<Room>): boolean {
    if (this.sessions.size === 0) return false
    if (rooms.size === 0) return true
    for (const room of rooms) if (this.sessionRooms.has(room)) return true
    return false
  }

  /** Logs a packet; `bytes` is its encoded size. */
  append (packet: Omit<LoggedPacket, 'at'>): void {
    const positions = packet.replayedTo === undefined ? this.positions : this.replayPositions
    const key = replayKey(packet.offset, packet.replayedTo)
    if (positions.has(key)) return
    positions.set(key, this.first + this.packets.length - this.head)
    const logged: LoggedPacket = { ...packet, bytes: packet.bytes + PACKET_OVERHEAD, at: this.now() }
    this.packets.push(logged)
    this.bytes += logged.bytes
    this.trim()
  }

  /**
   * The packets logged after `offset` that match `rooms`, in order; undefined if `offset` is not in
   * the log (too old, evicted, or never delivered here): what was missed cannot be known then.
   * `sid`: the session's socket, whose replayed packets are where it got them here.
   */
  after (offset: string, rooms: readonly Room[], sid?: string): unknown[][] | undefined {
    this.expire()
    const position = (sid === undefined ? undefined : this.replayPositions.get(replayKey(offset, sid))) ?? this.positions.get(offset)
    if (position === undefined) return undefined
    const missed: unknown[][] = []
    for (let i = this.head + position - this.first + 1; i < this.packets.length; i++) {
      const packet = this.packets[i]!
      if (packetMatches(rooms, packet.rooms, packet.except)) missed.push(packet.data)
    }
    return missed
  }

  /** The private ids of the sessions kept, oldest first. */
  pids (): string[] {
    this.expire()
    return [...this.sessions.keys()]
  }

  /**
   * The offset of the last packet logged for session `pid` before its socket went away (the last
   * one it was sent, if its rooms did not change); undefined if none is logged any more.
   */
  lastSent (pid: string): string | undefined {
    const session = this.sessions.get(pid)
    if (session === undefined) return undefined
    for (let i = this.head + session.logEnd - this.first - 1; i >= this.head; i--) {
      const packet = this.packets[i]!
      if (packetMatches(session.rooms, packet.rooms, packet.except)) return packet.offset
    }
    return undefined
  }

  /** Drops what is older than `maxAge`. */
  expire (): void {
    const threshold = this.now() - this.limits.maxAge
    for (let session = this.oldestSession(); session !== undefined && session.disconnectedAt < threshold; session = this.oldestSession()) {
      this.remove(session.pid)
    }
    while (this.head < this.packets.length && this.packets[this.head]!.at < threshold) this.shiftPacket()
    this.compact()
  }

  clear (): void {
    const sessions = [...this.sessions.values()]
    this.sessions.clear()
    this.order = []
    this.orderHead = 0
    this.sessionRooms.clear()
    this.packets = []
    this.head = 0
    this.positions.clear()
    this.replayPositions.clear()
    this.bytes = 0
    for (const session of sessions) this.kept(session, false)
  }

  private remove (pid: string): void {
    const session = this.sessions.get(pid)
    if (session === undefined) return
    this.sessions.delete(pid)
    this.bytes -= session.bytes
    for (const room of session.rooms) {
      const count = (this.sessionRooms.get(room) ?? 1) - 1
      if (count <= 0) this.sessionRooms.delete(room)
      else this.sessionRooms.set(room, count)
    }
    this.kept(session, false)
  }

  private shiftPacket (): void {
    const packet = this.packets[this.head]!
    this.packets[this.head] = undefined as unknown as LoggedPacket
    this.head++
    this.first++
    if (packet.replayedTo === undefined) this.positions.delete(packet.offset)
    else this.replayPositions.delete(replayKey(packet.offset, packet.replayedTo))
    this.bytes -= packet.bytes
  }

  /** Within the bounds again, the oldest entry first (a session or a packet, whichever is older). */
  private trim (): void {
    this.expire()
    while (this.sessions.size > this.limits.maxSessions) this.evictSession()
    while (this.packets.length - this.head > this.limits.maxPackets) this.evictPacket()
    while (this.bytes > this.limits.maxBytes) {
      const session = this.oldestSession()
      const packet = this.head < this.packets.length ? this.packets[this.head] : undefined
      if (session === undefined && packet === undefined) break
      if (packet === undefined || (session !== undefined && session.disconnectedAt <= packet.at)) this.evictSession()
      else this.evictPacket()
    }
    this.compact()
  }

  /** The session kept longest, or undefined; drops the front of `order` that is gone. */
  private oldestSession (): StoredSession | undefined {
    while (this.orderHead < this.order.length) {
      const session = this.order[this.orderHead]!
      if (this.sessions.get(session.pid) === session) return session
      this.orderHead++
    }
    return undefined
  }

  private evictSession (): void {
    const oldest = this.oldestSession()
    if (oldest === undefined) return
    this.remove(oldest.pid)
    this.evictedSessions++
  }

  private evictPacket (): void {
    this.shiftPacket()
    this.evictedPackets++
  }

  /** Drops the consumed front of the array once it is at least half of it. */
  private compact (): void {
    if (this.head >= 1_024 && this.head * 2 >= this.packets.length) {
      this.packets = this.packets.slice(this.head)
      this.head = 0
    }
    // Sessions taken from the middle leave entries in `order` until they reach its front.
    if (this.order.length - this.orderHead > 2 * this.sessions.size + 1_024) {
      this.order = this.order.slice(this.orderHead).filter(session => this.sessions.get(session.pid) === session)
      this.orderHead = 0
    } else if (this.orderHead >= 1_024 && this.orderHead * 2 >= this.order.length) {
      this.order = this.order.slice(this.orderHead)
      this.orderHead = 0
    }
  }
}

function replayKey (offset: string, sid: string | undefined): string {
  return sid === undefined ? offset : `${sid}\u0000${offset}`
}
