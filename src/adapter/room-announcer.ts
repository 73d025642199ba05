/**
 * Room routing, the announcing side: tells the other servers which rooms this server has members
 * in, so that a room broadcast goes only to the servers with a member (see RoomDirectory).
 *
 * Compact: rooms joined or left within one turn of the event loop go out together as one delta
 * (ROOMS, numbered in this server's sequence, to every server), and only when a room gains its
 * first member here or loses its last. Socket-id rooms are never announced (a room no server lists
 * goes to every server). A new server is sent a snapshot. Exact however many rooms there are: a
 * snapshot or delta too large for one message goes out in pages (at most MAX_LISTED_ROOMS rooms
 * and `pageBytes` bytes of names each). A snapshot's pages but the last say `any` (send me
 * everything: the rest of the list is on its way); a delta's pages add before they remove, so each
 * page leaves the receiver with a superset of the rooms here. Only a room whose name alone is over
 * `pageBytes` is not listed: while this server has one, every message says `any`.
 *
 * Why a socket that joined a room gets every broadcast emitted after its join, on every server:
 *
 * - The join's promise (`await socket.join(room)`) resolves only once every server counted here has
 *   acknowledged the delta that announced the room (ROOMS_ACK, sent after applying it). A broadcast
 *   emitted after that, anywhere, is routed with the room known. Until then the join is in progress
 *   and races broadcasts, as a join on another server always does.
 * - A server that has not applied this server's snapshot yet (new, or it missed a message and asked
 *   for a new one) does not route to it: it sends it everything. So only what a server has applied
 *   is trusted, and deltas after the snapshot arrive in order after it.
 * - `io.socketsJoin(rooms)`, from any server: every server that applies it (the one that asked
 *   included) announces what it gained and then tells every other server so, with the number of
 *   its last message to that server. Each server sends the rooms to every server from the moment
 *   it knows of the join until every other server has said so and it has delivered that far. So
 *   `io.socketsJoin('x'); io.to('x').emit()` reaches the sockets that just joined, on every server,
 *   and so does a broadcast to 'x' from a third server once it has applied the join itself (a
 *   confirmation that comes before the join is kept until then).
 * - Leaving is safe at any time: a server that still thinks a room is here only sends too much.
 *
 * `holdAll()` makes every server send this one everything for a while (its messages say `any`):
 * connection state recovery asks for it before it asks the cluster for a session, whose rooms this
 * server does not know yet (see SessionRecovery). It resolves once every server has applied it and
 * this server has delivered what each had sent before (each names the number from which on it sends
 * everything, as `upTo` of its acknowledgement), so from then on nothing is routed past this server.
 */
import type { Room, ServerId } from 'socket.io-adapter'
import { MAX_LISTED_ROOMS } from './envelope.js'
import type { RoomsMessage } from './envelope.js'

export interface AnnouncerHost {
  /** Whether `room` has a member here and is not a socket's own room. */
  announceable: (room: Room) => boolean
  /** Publishes ROOMS to every server; returns its number (undefined if it could not be sent). */
  publish: (data: RoomsMessage['data']) => number | undefined
  /** The servers counted now: those whose acknowledgement a join waits for. */
  servers: () => ServerId[]
  /** Whether `uid` routes by rooms (it announced its own): only such servers are waited for after a SOCKETS_JOIN. */
  routes: (uid: ServerId) => boolean
  /** The next number expected from `uid` (everything before was delivered or given up). */
  position: (uid: ServerId) => number | undefined
  /** Bytes of room names one ROOMS message may carry (the rest of the message limit is left to its headers). */
  pageBytes: () => number
}

type RoomsData = RoomsMessage['data']

/**
 * Bytes of room names a ROOMS message may carry when messages may be `maxMessageSize` bytes: half
 * of it, less a little, so that the rest of the message (the namespace, the routing header, whose
 * list of skipped numbers grows with the servers) always fits.
 */
export function roomsPageBytes (maxMessageSize: number): number {
  return Math.max(0, Math.floor(maxMessageSize / 2) - 1024)
}

/** Bytes `room` takes in a MessagePack list (a string's header is 1 to 5 bytes; a number, which a peer may send, at most 9). */
export function roomCost (room: Room | number): number {
  if (typeof room !== 'string') return 9
  const n = Buffer.byteLength(room)
  return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65_536 ? 3 : 5)
}

/**
 * The pages of one snapshot (`full`) or delta: at most MAX_LISTED_ROOMS rooms and `budget` bytes
 * of them each, additions first. A page but the last of a snapshot says `any`, and so does one of a
 * delta after which this server stops saying `any` (`wasAny`: the receiver would otherwise route by
 * part of the additions); every other page says `any` as given.
 */
export function roomsPages (full: boolean, add: readonly Room[], remove: readonly Room[], any: boolean, budget: number, wasAny = false): RoomsData[] {
  const pages: RoomsData[] = []
  let page: RoomsData = { full, any, add: [], remove: [], ack: false }
  let bytes = 0
  const put = (room: Room, list: 'add' | 'remove'): void => {
    const cost = roomCost(room)
    if (page.add.length + page.remove.length >= MAX_LISTED_ROOMS || (bytes + cost > budget && bytes > 0)) {
      if (full || wasAny) page.any = true
      pages.push(page)
      page = { full: false, any, add: [], remove: [], ack: false }
      bytes = 0
    }
    page[list].push(room)
    bytes += cost
  }
  for (const room of add) put(room, 'add')
  for (const room of remove) put(room, 'remove')
  pages.push(page)
  return pages
}

interface PendingAck {
  missing: Set<ServerId>
  resolve: () => void
  timer: NodeJS.Timeout
}

/** Confirmations of joins not known here yet, kept at most this many and this long (ackTimeout). */
const MAX_EARLY = 1_024
/**
 * Joins not confirmed everywhere, at most: every server's joins count here now, so a server that
 * floods SOCKETS_JOINs must not grow this without end. Past it the oldest goes (its rooms are
 * routed by the directory again), which only a flood reaches: a join is confirmed in a round trip.
 */
const MAX_WILD = 1_024

/** How a SOCKETS_JOIN is named in confirmations: its server and its number there. */
export function joinKey (issuer: ServerId, seq: number): string {
  return `j${issuer}:${seq}`
}

interface Wild {
  rooms: Set<Room>
  /** Servers that have not yet confirmed; the number they named once they have. */
  waiting: Map<ServerId, number | undefined>
  timer: NodeJS.Timeout
  /** Called once the entry goes (every server confirmed, gone, or timed out). */
  done?: () => void
}

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>(_resolve => { resolve = _resolve })
  return { promise, resolve }
}

export class RoomAnnouncer {
  private readonly announced = new Set<Room>()
  /** Announced rooms whose name alone is over a page: not listed, and every message says `any`. */
  private readonly unlisted = new Set<Room>()
  private readonly dirty = new Set<Room>()
  private flushing: { promise: Promise<void>, resolve: () => void } | undefined
  /** Rooms whose announcement is not yet acknowledged by every server: the joins wait for it. */
  private readonly joining = new Map<Room, Promise<void>>()
  private readonly acks = new Map<string, PendingAck>()
  private readonly wild = new Map<string, Wild>()
  /** Room -> how many entries of `wild` name it: `isWild` is asked for every room broadcast. */
  private readonly wildRooms = new Map<Room, number>()
  /** Confirmations of joins this server has not applied yet: join key -> server -> its number. */
  private readonly early = new Map<string, { from: Map<ServerId, number>, at: number }>()
  /** `holdAll` calls not released: while there is one, every message says `any`. */
  private holds = 0
  /** Whether the last delta published said `any`. */
  private sentAny = false
  /** Once every server has applied the `any` now in force: undefined while it is not in force. */
  private anyApplied: { promise: Promise<void>, resolve: () => void } | undefined
  private closed = false

  constructor (private readonly host: AnnouncerHost, private readonly ackTimeout: number) {}

  get announcedCount (): number {
    return this.announced.size
  }

  /**
   * Rooms a socket joined or left here. Returns a promise for a join that announces a room (or
   * waits for one being announced): it resolves once every server has acknowledged it.
   */
  touched (rooms: Iterable<Room>, joining: boolean): Promise<void> | undefined {
    if (this.closed) return undefined
    const waits: Array<Promise<void>> = []
    for (const room of rooms) {
      const pending = this.joining.get(room)
      if (pending !== undefined && joining) waits.push(pending)
      if (this.announced.has(room) === this.host.announceable(room) && !this.dirty.has(room)) continue
      this.dirty.add(room)
      const flush = this.scheduled().promise
      if (joining) waits.push(flush)
    }
    if (waits.length === 0) return undefined
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => {})
  }

  private scheduled (): { promise: Promise<void>, resolve: () => void } {
    if (this.flushing !== undefined) return this.flushing
    let resolve!: () => void
    const promise = new Promise<void>(_resolve => { resolve = _resolve })
    this.flushing = { promise, resolve }
    setImmediate(() => { this.flush() })
    return this.flushing
  }

  /** Publishes what changed since the last ROOMS, now. */
  flush (): void {
    const flushing = this.flushing
    this.flushing = undefined
    const add: Room[] = []
    const remove: Room[] = []
    const wasAny = this.sentAny
    const budget = this.host.pageBytes()
    const added: Room[] = []
    for (const room of this.dirty) {
      const here = this.host.announceable(room)
      if (here && !this.announced.has(room)) {
        this.announced.add(room)
        added.push(room)
        if (roomCost(room) > budget) this.unlisted.add(room)
        else add.push(room)
      } else if (!here && this.announced.has(room)) {
        this.announced.delete(room)
        if (!this.unlisted.delete(room)) remove.push(room)
      }
    }
    this.dirty.clear()
    const any = this.unlisted.size > 0 || this.holds > 0
    if (this.closed || (add.length + remove.length === 0 && any === wasAny)) {
      flushing?.resolve()
      return
    }
    const pages = roomsPages(false, add, remove, any, budget, wasAny)
    const last = pages[pages.length - 1] as RoomsData
    const anyOn = any && !wasAny
    // Only the last page asks for acknowledgements: pages are applied in order.
    last.ack = added.length > 0 || anyOn
    let seq: number | undefined
    for (const page of pages) seq = this.host.publish(page)
    this.sentAny = any
    if (!any && this.anyApplied !== undefined) {
      // Released before it was in force everywhere: nobody waits for it any more.
      this.anyApplied.resolve()
      this.anyApplied = undefined
    }
    if (anyOn) this.awaitAny(seq)
    if (added.length === 0 || seq === undefined) {
      flushing?.resolve()
      return
    }
    const done = this.expectAcks(String(seq), this.host.servers())
    for (const room of added) this.joining.set(room, done)
    void done.then(() => {
      for (const room of added) if (this.joining.get(room) === done) this.joining.delete(room)
      flushing?.resolve()
    })
  }

  /** `any` went out as message `seq`: in force once every server confirmed it and was caught up with. */
  private awaitAny (seq: number | undefined): void {
    const applied = this.anyApplied ??= deferred()
    const servers = this.host.servers()
    if (seq === undefined || servers.length === 0 || this.closed) {
      applied.resolve()
      return
    }
    const key = String(seq)
    const timer = setTimeout(() => { this.dropWild(key) }, this.ackTimeout)
    timer.unref()
    this.wild.set(key, { rooms: new Set(), waiting: new Map(servers.map(uid => [uid, undefined])), timer, done: () => { applied.resolve() } })
  }

  /** This server's rooms as a snapshot, in pages (flushed first, so it matches what was announced). */
  snapshot (): RoomsData[] {
    if (this.dirty.size > 0) this.flush()
    // Which rooms are too long is decided again: the limit is known only once the node is there.
    const budget = this.host.pageBytes()
    const listed: Room[] = []
    this.unlisted.clear()
    for (const room of this.announced) {
      if (roomCost(room) > budget) this.unlisted.add(room)
      else listed.push(room)
    }
    return roomsPages(true, listed, [], this.unlisted.size > 0 || this.holds > 0, budget)
  }

  /**
   * Every server sends this one everything until the returned release is called: resolves once
   * each has applied it (see the header), or after the acknowledgement timeout.
   */
  async holdAll (): Promise<() => void> {
    if (this.closed) return () => {}
    this.holds++
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      this.holds--
      if (this.holds === 0) this.scheduled()
    }
    this.anyApplied ??= deferred()
    const applied = this.anyApplied.promise
    if (!this.sentAny) this.scheduled()
    await applied
    return release
  }

  /**
   * This server published or applied the SOCKETS_JOIN `key` (see `joinKey`) for `rooms`: they go to
   * every server until each other server that routes has confirmed it applied the join.
   */
  joinKnown (key: string, rooms: Room[]): void {
    if (this.closed || this.wild.has(key)) return
    const waiting = new Map<ServerId, number | undefined>()
    for (const uid of this.host.servers()) if (this.host.routes(uid)) waiting.set(uid, undefined)
    const early = this.early.get(key)
    this.early.delete(key)
    if (waiting.size === 0) return
    if (this.wild.size >= MAX_WILD) this.dropWild(this.wild.keys().next().value as string)
    const timer = setTimeout(() => { this.dropWild(key) }, this.ackTimeout)
    timer.unref()
    const entry: Wild = { rooms: new Set(rooms), waiting, timer }
    this.wild.set(key, entry)
    for (const room of entry.rooms) this.wildRooms.set(room, (this.wildRooms.get(room) ?? 0) + 1)
    if (early === undefined) return
    for (const [uid, upTo] of early.from) if (waiting.has(uid)) waiting.set(uid, upTo)
    for (const uid of early.from.keys()) this.progressed(uid)
  }

  /** Whether a broadcast to `room` must go to every server (a join of it from here is not confirmed everywhere yet). */
  isWild (room: Room): boolean {
    return this.wildRooms.has(room)
  }

  /** Joins not confirmed everywhere (not counting a wait for `holdAll`). */
  get wildCount (): number {
    let n = 0
    for (const wild of this.wild.values()) if (wild.done === undefined) n++
    return n
  }

  /** ROOMS_ACK from `uid`. */
  acked (uid: ServerId, requestId: string, upTo: number | undefined): void {
    const pending = this.acks.get(requestId)
    if (pending !== undefined) {
      pending.missing.delete(uid)
      if (pending.missing.size === 0) this.settleAck(requestId)
    }
    const wild = this.wild.get(requestId)
    if (wild?.waiting.has(uid) === true) {
      wild.waiting.set(uid, upTo ?? -1)
      this.progressed(uid)
      return
    }
    // A join another server applied before it reached this one: kept for when it does.
    if (pending === undefined && wild === undefined && requestId.startsWith('j') && !this.closed) this.keepEarly(requestId, uid, upTo ?? -1)
  }

  private keepEarly (key: string, uid: ServerId, upTo: number): void {
    const now = Date.now()
    for (const [k, e] of this.early) {
      if (now - e.at < this.ackTimeout && this.early.size < MAX_EARLY) break
      this.early.delete(k)
    }
    let entry = this.early.get(key)
    if (entry === undefined) this.early.set(key, entry = { from: new Map(), at: now })
    entry.from.set(uid, upTo)
  }

  /** Something from `uid` was delivered: a join it confirmed may now be complete here. */
  progressed (uid: ServerId): void {
    for (const [key, wild] of this.wild) {
      const upTo = wild.waiting.get(uid)
      if (upTo === undefined || (this.host.position(uid) ?? -1) <= upTo) continue
      wild.waiting.delete(uid)
      if (wild.waiting.size === 0) this.dropWild(key)
    }
  }

  private dropWild (key: string): void {
    const wild = this.wild.get(key)
    if (wild === undefined) return
    clearTimeout(wild.timer)
    this.wild.delete(key)
    for (const room of wild.rooms) {
      const n = (this.wildRooms.get(room) ?? 1) - 1
      if (n > 0) this.wildRooms.set(room, n)
      else this.wildRooms.delete(room)
    }
    wild.done?.()
  }

  /** `uid` left or was dropped: nothing waits for it. */
  serverGone (uid: ServerId): void {
    for (const [requestId, pending] of [...this.acks]) {
      if (pending.missing.delete(uid) && pending.missing.size === 0) this.settleAck(requestId)
    }
    for (const [key, wild] of [...this.wild]) {
      if (wild.waiting.delete(uid) && wild.waiting.size === 0) this.dropWild(key)
    }
  }

  close (): void {
    this.closed = true
    this.flushing?.resolve()
    this.flushing = undefined
    for (const requestId of [...this.acks.keys()]) this.settleAck(requestId)
    for (const key of [...this.wild.keys()]) this.dropWild(key)
    this.early.clear()
    this.anyApplied?.resolve()
  }

  private expectAcks (requestId: string, servers: ServerId[]): Promise<void> {
    if (servers.length === 0) return Promise.resolve()
    return new Promise<void>(resolve => {
      // A server that never answers (gone without a word) holds a join up for ackTimeout at most.
      const timer = setTimeout(() => { this.settleAck(requestId) }, this.ackTimeout)
      timer.unref()
      this.acks.set(requestId, { missing: new Set(servers), resolve, timer })
    })
  }

  private settleAck (requestId: string): void {
    const pending = this.acks.get(requestId)
    if (pending === undefined) return
    clearTimeout(pending.timer)
    this.acks.delete(requestId)
    pending.resolve()
  }
}
