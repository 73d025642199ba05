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
 *   fails and Socket.IO makes a new session, as it does when its own adapters cannot restore.
 */
import { randomBytes } from 'node:crypto'
import type { Room, ServerId, Session } from 'socket.io-adapter'
import type { Logger } from '../core/api.js'
import { MessageTooLargeError } from '../core/errors.js'
import { encodedSize } from './envelope.js'
import type { EncodedFrontier, RestoreRequest, RestoreResponse } from './envelope.js'
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
  request: (data: RestoreRequest['data']) => void
  respond: (to: ServerId, data: RestoreResponse['data']) => Promise<void>
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
}

interface PendingRequest {
  missing: Set<ServerId>
  askedAt: Frontier
  timer: NodeJS.Timeout
  finish: (session: Session | null) => void
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
  private readonly counts = { restoredHere: 0, restoredFromPeer: 0, notFound: 0, timedOut: 0, incomplete: 0, handedOver: 0, tooLarge: 0 }
  private closed = false

  constructor (private readonly host: RecoveryHost, private readonly limits: RecoveryLimits) {
    this.log = new SessionLog(limits)
    this.arrivals = new SessionArrivals(limits.maxPackets)
    this.sweeper = setInterval(() => {
      this.log.expire()
      this.arrivals.sweep(ARRIVAL_TTL)
    }, Math.min(limits.maxAge, 10_000))
    this.sweeper.unref()
  }

  get stats (): RecoveryStats {
    return { ...this.log.stats, ...this.counts, asking: this.pending.size, catchingUp: this.waiting.size }
  }

  persist (session: { sid: string, pid: string, rooms: Room[], data: unknown }, bytes: number): void {
    if (this.closed) return
    this.log.persist({ sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data, bytes })
  }

  /**
   * A recoverable packet was delivered here, its offset already appended to `data`. Logged if it
   * may concern a socket connected here or a session kept here.
   */
  delivered (data: unknown[], rooms: ReadonlySet<Room>, except: ReadonlySet<Room>, offset: string, sender: { uid: ServerId, seq: number } | undefined, bytes: number): void {
    if (this.closed) return
    const log = this.host.reachesLocalSocket(rooms) || this.log.concernsSession(rooms)
    if (!log && !this.arrivals.active) return
    const roomList = [...rooms]
    const exceptList = [...except]
    if (log) this.log.append({ offset, data, rooms: roomList, except: exceptList, bytes })
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
    const arrival = this.arrivals.joined(sid, () => this.host.frontier())
    if (arrival === undefined || !arrival.fromPeer) return
    for (const data of arrival.replayed) {
      const offset = data.at(-1)
      if (typeof offset !== 'string') continue
      this.log.append({ offset, data, rooms: [sid], except: [], bytes: sizeOf(data), replayedTo: sid })
    }
  }

  async restore (pid: string, offset: string): Promise<Session | null> {
    if (this.closed) return null
    if (this.log.has(pid)) return this.restoreHere(pid, offset)
    const servers = this.host.servers()
    if (servers.length === 0) {
      this.counts.notFound++
      return null
    }
    const requestId = randomBytes(8).toString('hex')
    const askedAt = this.host.frontier()
    this.arrivals.open(requestId)
    return await new Promise<Session | null>(resolve => {
      const finish = (session: Session | null): void => {
        clearTimeout(request.timer)
        this.pending.delete(requestId)
        if (session === null) this.arrivals.abandon(requestId)
        resolve(session)
      }
      const request: PendingRequest = {
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
      this.host.request({ requestId, pid, offset, frontier: encodeFrontier(askedAt) })
    })
  }

  /** A server asks for a session: answered at once if it is not here, once caught up with the asker if it is. */
  onRequest (from: ServerId, request: RestoreRequest['data']): void {
    if (this.closed || !this.log.has(request.pid)) {
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
    const missed = this.arrivals.arrive(response.requestId, sid, rooms as Room[], response.packets ?? [], new Map(response.frontier), request.askedAt)
    if (missed === undefined) {
      this.counts.incomplete++
      this.host.logger.warn({ nsp: this.host.nspName, from }, 'socket.io adapter: a session came back without everything its socket missed; the client gets a new one')
      request.finish(null)
      return
    }
    this.counts.restoredFromPeer++
    request.finish({ sid, pid, rooms: rooms as Room[], data, missedPackets: missed })
  }

  /** A server left: it will not answer, and nothing more will come from it. */
  serverGone (uid: ServerId): void {
    this.arrivals.forgetSender(uid)
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
    this.log.clear()
    this.arrivals.clear()
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
    const session = this.log.take(pid)
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
    this.host.respond(waiting.to, found).then(() => { this.counts.handedOver++ }, (err: unknown) => {
      if (!(err instanceof MessageTooLargeError)) return
      // The session is lost either way; saying so now spares the asker its timeout.
      this.counts.tooLarge++
      this.host.logger.warn({ err, nsp: this.host.nspName, sid: session.sid, packets: packets.length }, 'socket.io adapter: a session and its missed packets are too large to hand over; the client gets a new one')
      this.send(waiting.to, { requestId, found: false })
    })
  }

  private send (to: ServerId, data: RestoreResponse['data']): void {
    this.host.respond(to, data).catch(() => {})
  }
}

function sizeOf (value: unknown): number {
  try {
    return encodedSize(value)
  } catch {
    return 0
  }
}

function encodeFrontier (frontier: Frontier): EncodedFrontier {
  return [...frontier]
}
