/**
 * Socket.IO connection state recovery across the cluster, with no store outside the servers.
 *
 * Socket.IO persists the session of a socket that went away on the server it was connected to, and
 * asks the adapter of whichever server the client comes back to for it (its private id, and the
 * offset of the last packet it got). Here:
 *
 * - every server logs the recoverable broadcast packets it delivers (SessionLog) and keeps the
 *   sessions of its own sockets;
 * - a server asked for a session it keeps restores it at once, from its own log;
 * - otherwise it asks every other server (RESTORE_SESSION, with how far it has got with each
 *   sender); every server answers, the one that keeps the session with the session and the packets
 *   after the offset that match its rooms (after catching up with the asker, so nothing the asker
 *   delivered before asking is missing), the others with "not here"; SessionArrivals then makes the
 *   replay exact across the two servers' different points in the stream;
 * - a session is handed out once (the keeper deletes it as it answers); if nobody has it, if it
 *   expired, if its offset is no longer logged, or if the answer cannot be complete, the restore
 *   fails and Socket.IO makes a new session, as it does when its own adapters cannot restore;
 * - a server that closes hands its sessions over first: it names each (with the last packet it
 *   sent the socket) to another server, which takes it over with the same request, keeps
 *   collecting what the socket would have got, and restores it when its client comes back there
 *   (or hands it to the server the client came back to). Socket.IO closes the clients' connections
 *   only once the adapter has closed, so they come back after the hand-over;
 * - with room routing, the rooms of the sessions kept or taken over here stay announced while
 *   their sockets are away, and a server asks for a session only once every server sends it
 *   everything (`holdAll`), until the restored socket is in its rooms: what the keeper had not got
 *   when it answered still reaches the asker. On a request, every server tells the nodes it has not
 *   sent its last number about it, so the keeper catches up with the asker without waiting.
 */
import { randomBytes } from 'node:crypto'
import type { Room, ServerId, Session } from 'socket.io-adapter'
import type { Logger } from '../core/api.js'
import { MessageTooLargeError } from '../core/errors.js'
import { fnv1a } from '../core/proto/fnv1a.js'
import { MAX_HAND_OVER, encodedSizeOrZero } from './envelope.js'
import type { EncodedFrontier, HandOver, RestoreRequest, RestoreResponse } from './envelope.js'
import { SessionArrivals } from './session-arrivals.js'
import type { Frontier } from './session-arrivals.js'
import { SessionLog } from './session-log.js'
import type { SessionLogStats } from './session-log.js'

export interface RecoveryLimits {
  /** Socket.IO's `maxDisconnectionDuration`, ms. */
  maxAge: number
  maxSessions: number
  maxPackets: number
  maxBytes: number
  /** How long a server waits for the cluster to say where a session is, ms. */
  timeout: number
  /** How long the keeper waits to catch up with the asker before answering anyway, ms. */
  catchUp: number
}

/** What recovery needs from the adapter. */
export interface RecoveryHost {
  readonly uid: ServerId
  readonly nspName: string
  readonly logger: Logger
  /** Per sender (this server included), the next sequence number not yet delivered here. */
  frontier: () => Frontier
  /** Where this server stands with one sender; undefined if it knows nothing of it. */
  position: (uid: ServerId) => number | undefined
  /** The servers that count here: each answers a request. */
  servers: () => ServerId[]
  /** Whether a packet to `rooms` reaches a socket connected here. */
  reachesLocalSocket: (rooms: ReadonlySet<Room>) => boolean
  /** Whether a socket with this id is connected here. */
  hasSocket: (sid: string) => boolean
  request: (data: RestoreRequest['data']) => void
  respond: (to: ServerId, data: RestoreResponse['data']) => Promise<void>
  handOver: (data: HandOver['data']) => void
  /**
   * With room routing: makes every server send this one everything, resolving once in force, with
   * the call that ends it (see RoomAnnouncer.holdAll). Asked before asking for a session, whose
   * rooms this server does not route yet.
   */
  holdAll?: () => Promise<() => void>
  /** With room routing: these rooms of sessions kept here (see `keepsRoom`) came or went. */
  roomsKept?: (rooms: Room[]) => void
}

export interface RecoveryStats extends SessionLogStats {
  /** Sessions restored from this server's own log / from another server. */
  restoredHere: number
  restoredFromPeer: number
  /** Restores that failed: nobody had the session (or it expired, or its offset is gone), or no answer in time, or it could not be complete. */
  notFound: number
  timedOut: number
  incomplete: number
  /** Sessions handed to another server. */
  handedOver: number
  /** Sessions that could not be handed over: with their missed packets, larger than one gossip message. */
  tooLarge: number
  /** Now: requests this server has out, and answers it holds until it has caught up with their asker. */
  asking: number
  catchingUp: number
  /** Sessions taken over from servers that closed: in all, and held now for their clients. */
  takenOver: number
  held: number
  /** Packets those held sessions collected, in all (at most ten times `recoveryMaxPackets`; past it the oldest held session goes). */
  heldPackets: number
}

interface PendingRequest {
  /** The session asked for: an answer naming another is not taken. */
  pid: string
  missing: Set<ServerId>
  askedAt: Frontier
  timer: NodeJS.Timeout
  finish: (session: Session | null) => void
}

/** A session taken over from a server that closed, its packets collected by SessionArrivals. */
interface Adopted {
  sid: string
  pid: string
  rooms: Room[]
  data: unknown
  /** The offset the hand-over started from: the last packet the closing server sent the socket. */
  start: string
}

interface WaitingAnswer {
  to: ServerId
  request: RestoreRequest['data']
  need: Frontier
  timer: NodeJS.Timeout
}

/** Sessions waiting for their socket, and exclusions, are dropped after this long, ms. */
const ARRIVAL_TTL = 60_000

export class SessionRecovery {
  private readonly log: SessionLog
  private readonly arrivals: SessionArrivals
  private readonly pending = new Map<string, PendingRequest>()
  private readonly waiting = new Set<WaitingAnswer>()
  private readonly sweeper: NodeJS.Timeout
  private readonly counts = { restoredHere: 0, restoredFromPeer: 0, notFound: 0, timedOut: 0, incomplete: 0, handedOver: 0, tooLarge: 0, takenOver: 0 }
  private readonly adopted = new Map<string, Adopted>()
  /** While handing over at close: the sessions not taken yet, and answers still being sent. */
  private handingOver: { pids: Set<string>, to: Map<ServerId, string[]>, sending: Set<Promise<unknown>>, done: () => void } | undefined
  private closed = false
  /** Closing: sessions are handed over from here, none taken over. */
  private leaving = false
  /** Servers seen handing their sessions over: closing, they take none over. */
  private readonly leavingServers = new Set<ServerId>()
  /**
   * Rooms of the sessions kept or taken over here (not their sockets' own ids), counted: with room
   * routing, this server stays in them so the sessions get their packets while their sockets are away.
   */
  private readonly keptRooms = new Map<Room, number>()
  /** Restored sockets, by id, whose server is sent everything until they are in their rooms here. */
  private readonly holding = new Map<string, { release: () => void, timer: NodeJS.Timeout }>()

  constructor (private readonly host: RecoveryHost, private readonly limits: RecoveryLimits) {
    this.log = new SessionLog(limits, (session, here) => { this.keep(session.sid, session.rooms, here) })
    this.arrivals = new SessionArrivals(limits.maxPackets)
    this.sweeper = setInterval(() => {
      this.log.expire()
      this.arrivals.sweep(ARRIVAL_TTL)
      for (const [pid, adopted] of this.adopted) if (this.arrivals.frontierOf(adopted.sid) === undefined) this.unadopt(pid)
    }, Math.min(limits.maxAge, 10_000))
    this.sweeper.unref()
  }

  /** Whether a session kept or taken over here is in `room` (a socket's own id never counts). */
  keepsRoom (room: Room): boolean {
    return this.keptRooms.has(room)
  }

  private keep (sid: string, rooms: readonly Room[], here: boolean): void {
    const changed: Room[] = []
    for (const room of rooms) {
      if (room === sid) continue
      const n = (this.keptRooms.get(room) ?? 0) + (here ? 1 : -1)
      if (n > 0) this.keptRooms.set(room, n)
      else this.keptRooms.delete(room)
      if (n === (here ? 1 : 0)) changed.push(room)
    }
    if (changed.length > 0) this.host.roomsKept?.(changed)
  }

  private adopt (adopted: Adopted): void {
    this.unadopt(adopted.pid)
    this.adopted.set(adopted.pid, adopted)
    this.keep(adopted.sid, adopted.rooms, true)
  }

  private unadopt (pid: string): void {
    const adopted = this.adopted.get(pid)
    if (adopted === undefined) return
    this.adopted.delete(pid)
    this.keep(adopted.sid, adopted.rooms, false)
  }

  get stats (): RecoveryStats {
    return { ...this.log.stats, ...this.counts, asking: this.pending.size, catchingUp: this.waiting.size, held: this.adopted.size, heldPackets: this.arrivals.heldPackets }
  }

  persist (session: { sid: string, pid: string, rooms: Room[], data: unknown }, bytes: number): void {
    if (this.closed) return
    this.log.persist({ sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data, bytes })
  }

  /**
   * A recoverable packet was delivered here, its offset already appended to `data`. Logged if it
   * may concern a socket connected here or a session kept here.
   */
  delivered (data: unknown[], rooms: ReadonlySet<Room>, except: ReadonlySet<Room>, offset: string, sender: { uid: ServerId, seq: number } | undefined, bytes: number | (() => number)): void {
    if (this.closed) return
    const log = this.host.reachesLocalSocket(rooms) || this.log.concernsSession(rooms)
    if (!log && !this.arrivals.active) return
    const roomList = [...rooms]
    const exceptList = [...except]
    // Sized only when logged: with recovery on every socket.emit passes here.
    if (log) this.log.append({ offset, data, rooms: roomList, except: exceptList, bytes: typeof bytes === 'number' ? bytes : bytes() })
    this.arrivals.delivered({ data, rooms: roomList, except: exceptList, sender })
  }

  /** Restored sockets to leave out of message `seq` of `uid`: it was in their replay. */
  excluded (uid: ServerId, seq: number): string[] {
    return this.arrivals.excluded(uid, seq)
  }

  /**
   * A socket joined a room here: if it was being restored, it now receives live packets. A socket
   * from another server got its replay here: the replayed packets are logged at this point for it,
   * so that if it goes away again before anything else, its last offset is known here.
   */
  joined (sid: string): void {
    // In the same turn as its joins: the announcement that ends `any` lists its rooms.
    this.unhold(sid)
    const arrival = this.arrivals.joined(sid, () => this.host.frontier())
    if (arrival === undefined || !arrival.fromPeer) return
    for (const data of arrival.replayed) {
      const offset = data.at(-1)
      if (typeof offset !== 'string') continue
      this.log.append({ offset, data, rooms: [sid], except: [], bytes: encodedSizeOrZero(data), replayedTo: sid })
    }
  }

  async restore (pid: string, offset: string): Promise<Session | null> {
    if (this.closed) return null
    if (this.log.has(pid)) return this.restoreHere(pid, offset)
    if (this.adopted.has(pid)) return this.resumeHere(pid, offset)
    const { session, release } = await this.ask(pid, offset)
    if (session === null) {
      release()
      return null
    }
    this.counts.restoredFromPeer++
    // Sent everything until Socket.IO has put the socket in its rooms here (see `joined`).
    this.unhold(session.sid)
    const timer = setTimeout(() => { this.unhold(session.sid) }, this.limits.timeout)
    timer.unref()
    this.holding.set(session.sid, { release, timer })
    return session
  }

  /** Ends the hold a restore of socket `sid` left in force, if any. */
  private unhold (sid: string): void {
    const held = this.holding.get(sid)
    if (held === undefined) return
    this.holding.delete(sid)
    clearTimeout(held.timer)
    held.release()
  }

  /**
   * Asks the cluster for session `pid`, seen up to `offset` (only `keeper` answers, if given). With
   * room routing, every server first sends this one everything (`release` ends it): the rooms of
   * the session are not known here yet, and what the keeper has not got when it answers must reach
   * this server.
   */
  private async ask (pid: string, offset: string, keeper?: ServerId): Promise<{ session: Session | null, release: () => void }> {
    const servers = keeper === undefined ? this.host.servers() : [keeper]
    if (servers.length === 0) {
      this.counts.notFound++
      return { session: null, release: () => {} }
    }
    const release = this.host.holdAll === undefined ? () => {} : await this.host.holdAll()
    if (this.closed) {
      release()
      return { session: null, release: () => {} }
    }
    const requestId = randomBytes(8).toString('hex')
    const askedAt = this.host.frontier()
    this.arrivals.open(requestId)
    const session = await new Promise<Session | null>(resolve => {
      const finish = (session: Session | null): void => {
        clearTimeout(request.timer)
        this.pending.delete(requestId)
        if (session === null) this.arrivals.abandon(requestId)
        resolve(session)
      }
      const request: PendingRequest = {
        pid,
        missing: new Set(servers),
        askedAt,
        finish,
        timer: setTimeout(() => {
          this.counts.timedOut++
          this.host.logger.warn({ nsp: this.host.nspName, missing: [...request.missing] }, 'socket.io adapter: no server said where a session is in time; the client gets a new one')
          finish(null)
        }, this.limits.timeout)
      }
      this.pending.set(requestId, request)
      this.host.request({ requestId, pid, offset, frontier: encodeFrontier(askedAt), ...(keeper === undefined ? {} : { keeper }) })
    })
    return { session, release }
  }

  /** A server asks for a session: answered at once if it is not here, once caught up with the asker if it is. */
  onRequest (from: ServerId, request: RestoreRequest['data']): void {
    if (request.keeper !== undefined && request.keeper !== this.host.uid) return
    if (this.closed || (!this.log.has(request.pid) && !this.adopted.has(request.pid))) {
      this.send(from, { requestId: request.requestId, found: false })
      return
    }
    // One answer waits per session: a repeat is answered "not here" (only one restore can win).
    for (const w of this.waiting) {
      if (w.request.pid !== request.pid) continue
      this.send(from, { requestId: request.requestId, found: false })
      return
    }
    const waiting: WaitingAnswer = {
      to: from,
      request,
      need: new Map(request.frontier),
      timer: setTimeout(() => { this.answer(waiting) }, this.limits.catchUp)
    }
    this.waiting.add(waiting)
    this.progressed()
  }

  /** Something was delivered here: answers whose asker this server has now caught up with go out. */
  progressed (): void {
    if (this.waiting.size === 0) return
    for (const waiting of this.waiting) if (this.caughtUp(waiting.need)) this.answer(waiting)
  }

  onResponse (from: ServerId, response: RestoreResponse['data']): void {
    const request = this.pending.get(response.requestId)
    if (request === undefined) return
    if (!response.found || response.session === undefined) {
      request.missing.delete(from)
      if (request.missing.size === 0) {
        this.counts.notFound++
        request.finish(null)
      }
      return
    }
    const { sid, pid, rooms, data } = response.session
    // A session is taken only from a server asked (only the keeper, for a hand-over), only the one
    // asked for, and only under an id no socket here has: another server's word is not enough to
    // put a stranger's session, or one of our own sockets' ids, on the client.
    if (!request.missing.has(from) || pid !== request.pid || this.host.hasSocket(sid) || this.arrivals.expects(sid)) {
      this.host.logger.warn({ nsp: this.host.nspName, from }, 'socket.io adapter: a restore answer that does not fit the request was ignored')
      return
    }
    const missed = this.arrivals.arrive(response.requestId, sid, rooms as Room[], response.packets ?? [], new Map(response.frontier), request.askedAt)
    if (missed === undefined) {
      this.counts.incomplete++
      this.host.logger.warn({ nsp: this.host.nspName, from }, 'socket.io adapter: a session came back without everything its socket missed; the client gets a new one')
      request.finish(null)
      return
    }
    request.finish({ sid, pid, rooms: rooms as Room[], data, missedPackets: missed })
  }

  /** A server left: it will not answer, and nothing more will come from it. */
  serverGone (uid: ServerId): void {
    this.arrivals.forgetSender(uid)
    this.leavingServers.delete(uid)
    // A server this one was handing sessions to left (closing too, say): they are not waited for.
    for (const pid of this.handingOver?.to.get(uid) ?? []) this.taken(pid)
    for (const request of [...this.pending.values()]) {
      if (!request.missing.delete(uid) || request.missing.size > 0) continue
      this.counts.notFound++
      request.finish(null)
    }
  }

  /**
   * The server is closing: its sessions go with it (a client that comes back elsewhere gets a new
   * session at once, as every server left says "not here"); restores in progress fail.
   */
  close (): void {
    this.closed = true
    clearInterval(this.sweeper)
    for (const waiting of this.waiting) clearTimeout(waiting.timer)
    this.waiting.clear()
    for (const request of [...this.pending.values()]) request.finish(null)
    for (const sid of [...this.holding.keys()]) this.unhold(sid)
    this.log.clear()
    this.arrivals.clear()
    for (const pid of [...this.adopted.keys()]) this.unadopt(pid)
  }

  /**
   * Closing: names each session kept here, with the last packet its socket was sent, to another
   * server (spread by private id), and waits until each was taken over (or `timeout`).
   */
  async handOver (): Promise<void> {
    this.leaving = true
    const servers = this.host.servers().filter(uid => !this.leavingServers.has(uid)).sort()
    if (this.closed || servers.length === 0) return
    const groups = new Map<ServerId, Array<[string, string]>>()
    for (const pid of this.log.pids()) {
      const offset = this.log.lastSent(pid)
      if (offset === undefined) continue
      // FNV-1a spreads sessions over the servers that take them over.
      const to = servers[fnv1a(pid) % servers.length]!
      let group = groups.get(to)
      if (group === undefined) groups.set(to, group = [])
      group.push([pid, offset])
    }
    if (groups.size === 0) return
    const pids = new Set([...groups.values()].flat().map(([pid]) => pid))
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, this.limits.timeout)
      const to = new Map([...groups].map(([uid, sessions]) => [uid, sessions.map(([pid]) => pid)]))
      this.handingOver = { pids, to, sending: new Set(), done: () => { clearTimeout(timer); resolve() } }
      for (const [to, sessions] of groups) {
        for (let i = 0; i < sessions.length; i += MAX_HAND_OVER) this.host.handOver({ to, sessions: sessions.slice(i, i + MAX_HAND_OVER) })
      }
    })
    await Promise.allSettled(this.handingOver!.sending)
    this.handingOver = undefined
  }

  /**
   * Server `uid` is handing its sessions over: it is closing. It is not given any, and sessions
   * this server was handing to it are not waited for (two servers closing together each wait for
   * nothing from the other).
   */
  serverLeaving (uid: ServerId): void {
    if (this.leavingServers.size >= 4_096) this.leavingServers.clear()
    this.leavingServers.add(uid)
    for (const pid of this.handingOver?.to.get(uid) ?? []) this.taken(pid)
  }

  /** A closing server hands sessions over to this one: each is asked for, and held for its client. */
  onHandOver (from: ServerId, sessions: Array<[string, string]>): void {
    for (const [pid, offset] of sessions) {
      if (this.closed || this.leaving || this.log.has(pid) || this.adopted.has(pid) || this.asking(pid)) continue
      // Bounded like the sessions kept here: a peer naming sessions without end gets no more asks.
      if (this.pending.size + this.adopted.size >= this.limits.maxSessions) break
      this.ask(pid, offset, from).then(({ session, release }) => {
        // Its rooms are announced (kept) in the same turn as `any` ends.
        if (session !== null && !this.closed) {
          this.counts.takenOver++
          this.adopt({ sid: session.sid, pid, rooms: session.rooms, data: session.data, start: offset })
          this.arrivals.hold(session.sid, Date.now() + this.limits.maxAge)
        }
        release()
      }, () => {})
    }
  }

  private asking (pid: string): boolean {
    for (const request of this.pending.values()) if (request.pid === pid) return true
    return false
  }

  /** The client of a session taken over here came back here. */
  private resumeHere (pid: string, offset: string): Session | null {
    const adopted = this.adopted.get(pid)!
    this.unadopt(pid)
    const missed = this.arrivals.resume(adopted.sid, offset, adopted.start)
    if (missed === undefined) {
      this.arrivals.drop(adopted.sid)
      this.counts.notFound++
      return null
    }
    this.counts.restoredHere++
    return { sid: adopted.sid, pid, rooms: adopted.rooms, data: adopted.data, missedPackets: missed }
  }

  private restoreHere (pid: string, offset: string): Session | null {
    const session = this.log.take(pid)
    const packets = session === undefined ? undefined : this.log.after(offset, session.rooms, session.sid)
    if (session === undefined || packets === undefined) {
      this.counts.notFound++
      return null
    }
    const missed = this.arrivals.arrive(undefined, session.sid, session.rooms, packets, this.host.frontier())!
    this.counts.restoredHere++
    return { sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data, missedPackets: missed }
  }

  private caughtUp (need: Frontier): boolean {
    for (const [uid, next] of need) {
      if (uid === this.host.uid) continue
      const here = this.host.position(uid)
      if (here !== undefined && here < next) return false
    }
    return true
  }

  private answer (waiting: WaitingAnswer): void {
    clearTimeout(waiting.timer)
    this.waiting.delete(waiting)
    const { requestId, pid, offset } = waiting.request
    if (this.adopted.has(pid)) {
      this.answerAdopted(waiting.to, waiting.request)
      return
    }
    const session = this.log.take(pid)
    this.taken(pid)
    const packets = session === undefined ? undefined : this.log.after(offset, session.rooms, session.sid)
    if (session === undefined || packets === undefined) {
      this.send(waiting.to, { requestId, found: false })
      return
    }
    const found: RestoreResponse['data'] = {
      requestId,
      found: true,
      session: { sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data },
      packets,
      frontier: encodeFrontier(this.host.frontier())
    }
    this.sending(this.host.respond(waiting.to, found).then(() => { this.counts.handedOver++ }, (err: unknown) => {
      if (!(err instanceof MessageTooLargeError)) return
      // The session is lost either way; saying so now spares the asker its timeout.
      this.counts.tooLarge++
      this.host.logger.warn({ err, nsp: this.host.nspName, sid: session.sid, packets: packets.length }, 'socket.io adapter: a session and its missed packets are too large to hand over; the client gets a new one')
      this.send(waiting.to, { requestId, found: false })
    }))
  }

  /**
   * A session taken over here is asked for by the server its client came back to: it gets what
   * was collected since the client's offset, complete up to where this server or the closed one
   * had got with each sender, whichever is further.
   */
  private answerAdopted (to: ServerId, request: RestoreRequest['data']): void {
    const adopted = this.adopted.get(request.pid)!
    this.unadopt(request.pid)
    const collectedTo = this.arrivals.frontierOf(adopted.sid)
    const missed = this.arrivals.resume(adopted.sid, request.offset, adopted.start)
    this.arrivals.drop(adopted.sid)
    if (missed === undefined || collectedTo === undefined) {
      this.send(to, { requestId: request.requestId, found: false })
      return
    }
    const frontier = this.host.frontier()
    for (const [uid, next] of collectedTo) if ((frontier.get(uid) ?? -1) < next) frontier.set(uid, next)
    this.host.respond(to, {
      requestId: request.requestId,
      found: true,
      session: { sid: adopted.sid, pid: adopted.pid, rooms: adopted.rooms, data: adopted.data },
      packets: [...missed],
      frontier: encodeFrontier(frontier)
    }).then(() => { this.counts.handedOver++ }, (err: unknown) => {
      if (!(err instanceof MessageTooLargeError)) return
      this.counts.tooLarge++
      this.send(to, { requestId: request.requestId, found: false })
    })
  }

  /** While handing over at close: `pid` is no longer here. */
  private taken (pid: string): void {
    const handing = this.handingOver
    if (handing === undefined || !handing.pids.delete(pid) || handing.pids.size > 0) return
    handing.done()
  }

  private sending (promise: Promise<unknown>): void {
    const handing = this.handingOver
    if (handing === undefined) return
    handing.sending.add(promise)
    promise.finally(() => { handing.sending.delete(promise) }).catch(() => {})
  }

  private send (to: ServerId, data: RestoreResponse['data']): void {
    this.host.respond(to, data).catch(() => {})
  }
}

function encodeFrontier (frontier: Frontier): EncodedFrontier {
  return [...frontier]
}
