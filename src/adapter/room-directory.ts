/**
 * Room routing, the receiving side of announcements: which rooms each other server has members
 * in, as its ROOMS messages said (a snapshot, then deltas, applied in the sender's order).
 *
 * What is not known is never taken for "no member": a server is `known` only once its snapshot has
 * been applied here, and stops being known as soon as one of its messages may have been missed (a
 * gap given up, this server lagging); until it is known again it is sent every broadcast. A server
 * whose last message said `any` (the rest of its snapshot is on its way, or it has a room whose
 * name is too long to list) is sent every broadcast too. Socket-id rooms are never announced: a
 * room no known server lists may be one, so it goes to every server.
 *
 * Bounded, because what a server lists is what it says: past `maxRooms` rooms, or their names past
 * `maxRooms` × ROOM_BYTES bytes as they travel (a peer may list numbers too: `roomCost` sizes both), a server's list is dropped and it is sent every broadcast
 * (always correct, only wasteful) until its next snapshot. Without the bound, deltas of 4,096 rooms
 * each, one after the other, grew the directory until the process ran out of memory.
 */
import type { Room, ServerId } from 'socket.io-adapter'
import type { RoomsMessage } from './envelope.js'
import { roomCost } from './room-announcer.js'

/** Bytes of room names allowed per listed room, on average. */
export const ROOM_BYTES = 64

/** Rooms of one server kept by default. */
export const DEFAULT_MAX_ROOMS = 100_000

interface Known {
  rooms: Set<Room>
  /** Bytes of the names in `rooms` (`roomCost`). */
  bytes: number
  any: boolean
  /** Listed past the bound: its list was dropped; it is sent everything until its next snapshot. */
  over: boolean
}

export class RoomDirectory {
  private readonly servers = new Map<ServerId, Known>()
  /** Room -> known servers listing it. */
  private readonly index = new Map<Room, Set<ServerId>>()

  /** `overflow`: called when a server lists more than the bound allows (once, until its next snapshot). */
  constructor (private readonly maxRooms = DEFAULT_MAX_ROOMS, private readonly overflow: (uid: ServerId, rooms: number, bytes: number) => void = () => {}) {}

  /** Applies `uid`'s ROOMS, in its order. A delta before any snapshot is ignored (the server stays unknown). */
  apply (uid: ServerId, data: RoomsMessage['data']): void {
    let known = this.servers.get(uid)
    if (data.full) {
      this.forget(uid)
      known = { rooms: new Set(), bytes: 0, any: true, over: false }
      this.servers.set(uid, known)
    }
    if (known === undefined || known.over) return
    known.any = data.any
    for (const room of data.remove) {
      if (!known.rooms.delete(room)) continue
      known.bytes -= roomCost(room)
      this.unindex(uid, room)
    }
    for (const room of data.add) {
      if (known.rooms.has(room)) continue
      known.rooms.add(room)
      known.bytes += roomCost(room)
      let holders = this.index.get(room)
      if (holders === undefined) this.index.set(room, holders = new Set())
      holders.add(uid)
    }
    if (known.rooms.size > this.maxRooms || known.bytes > this.maxRooms * ROOM_BYTES) {
      this.overflow(uid, known.rooms.size, known.bytes)
      for (const room of known.rooms) this.unindex(uid, room)
      known.rooms = new Set()
      known.bytes = 0
      known.over = true
    }
  }

  private unindex (uid: ServerId, room: Room): void {
    const holders = this.index.get(room)
    holders?.delete(uid)
    if (holders?.size === 0) this.index.delete(room)
  }

  /** `uid` gone, or what is known of it no longer to be trusted: it is sent everything until its next snapshot. */
  forget (uid: ServerId): void {
    const known = this.servers.get(uid)
    if (known === undefined) return
    this.servers.delete(uid)
    for (const room of known.rooms) this.unindex(uid, room)
  }

  /** Every server becomes unknown (this server may have missed anyone's messages). */
  forgetAll (): ServerId[] {
    const uids = [...this.servers.keys()]
    this.servers.clear()
    this.index.clear()
    return uids
  }

  knows (uid: ServerId): boolean {
    return this.servers.has(uid)
  }

  get knownCount (): number {
    return this.servers.size
  }

  /**
   * Whether a broadcast to `rooms` must reach server `uid`: unknown, `any`, or a member of one of
   * them. `everywhere(rooms)` is checked first by the caller.
   */
  wants (uid: ServerId, rooms: Iterable<Room>): boolean {
    const known = this.servers.get(uid)
    if (known === undefined || known.any || known.over) return true
    for (const room of rooms) if (known.rooms.has(room)) return true
    return false
  }

  /**
   * True if one of `rooms` is listed by no known server: it may be a socket id, or a room a server
   * is joining right now, its announcement on the way; the broadcast goes everywhere.
   */
  everywhere (rooms: Iterable<Room>): boolean {
    for (const room of rooms) if (!this.index.has(room)) return true
    return false
  }
}
