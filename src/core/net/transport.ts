/**
 * Links to peers over TCP: listens, dials, runs the handshake on every socket and keeps exactly one
 * live link per peer.
 *
 * Duplicate links (both nodes dial each other at once, or a peer reconnects while its old link
 * still looks alive) are resolved the same way on both ends without any extra message:
 * - links dialled from opposite ends: keep the one dialled by the node with the smaller id;
 * - links dialled from the same end: keep the newer one (a node only dials a peer it has no link
 *   to, so the older one is presumed dead).
 * The loser is closed with reason 'duplicate'. A link from another incarnation of the peer (it
 * restarted with the same identity, see `hello`) always wins, and the old one is reported as a
 * disconnect before the new one as a link: the old process took whatever state it had with it, so
 * the owner must not carry on as if the peer had only changed sockets.
 */
import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { createConnection, createServer, isIP } from 'node:net'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import type { AddressInfo, Server, Socket } from 'node:net'
import type { KeyPair, Logger } from '../api.js'
import { ClosedError, GossipError } from '../errors.js'
import { silentLogger } from '../logger.js'
import type { Frame, NodeId } from './frames.js'
import { DEFAULT_MAX_FRAME_SIZE } from './framing.js'
import { BYE_GRACE_MS, Handshake, HandshakeError } from './handshake.js'
import type { Session } from './handshake.js'
import { generateKeyPair, nodeIdOf, normalizeKeyPair } from './identity.js'
import { DEFAULT_LINK_WRITE_BUFFER_BYTES, Link } from './link.js'
import type { LinkCloseInfo } from './link.js'
import { MAX_NOISE_MESSAGE } from './secret-channel.js'

export interface TransportOptions {
  /** Ed25519 identity; generated when absent. */
  keyPair?: KeyPair | undefined
  /** Cluster secret: only peers holding it complete a handshake. */
  secret: string | Uint8Array
  /** Default '127.0.0.1'. */
  host?: string | undefined
  /** Default 0 (any free port). */
  port?: number | undefined
  /** Address announced to peers in hello ("host:port"); default the bound address. */
  advertise?: string | undefined
  /** Largest frame body accepted or sent, bytes. Default 256 KiB + 4 KiB. */
  maxFrameSize?: number | undefined
  /** ms. Default 5000. */
  handshakeTimeout?: number | undefined
  /** Inbound handshakes in progress at once; sockets beyond are closed at once. Default 64. */
  maxPendingHandshakes?: number | undefined
  /** Bytes a link may have queued for writing before it is closed. Default 8 MiB. */
  linkWriteBufferBytes?: number | undefined
  /** A link that heard nothing for this long fails, ms (0: never). A ping goes out at a third of it. Default 0. */
  keepaliveTimeout?: number | undefined
  logger?: Logger | undefined
}

export interface TransportEvents {
  /** A link became the live link to its peer (inbound or outbound, including a replacement). */
  link: [link: Link]
  /**
   * Every frame from every link, including a duplicate link that is draining what the peer sent on
   * it before it learned the link lost: listen here rather than on each link to lose nothing.
   */
  frame: [peerId: NodeId, frame: Frame, link: Link]
  /** The live link to a peer closed and no other replaced it: the peer is disconnected. */
  disconnect: [peerId: NodeId, info: LinkCloseInfo, link: Link]
}

const DEFAULT_HANDSHAKE_TIMEOUT = 5000
/** Why the losing one of two links between the same nodes is closed. */
const DUPLICATE = 'duplicate'
const DEFAULT_MAX_PENDING_HANDSHAKES = 64
/** Refused peers remembered at once: each is one id a peer with the secret had to burn. */
const MAX_REFUSED = 1024
/** Pending connections the kernel may queue for accept (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096

export class Transport extends EventEmitter<TransportEvents> {
  readonly keyPair: KeyPair
  readonly nodeId: NodeId
  /** This process's incarnation, announced in every hello. */
  readonly incarnation: Uint8Array = randomBytes(8)
  /** The live link of each linked peer. */
  readonly links = new Map<NodeId, Link>()

  private readonly secret: string | Uint8Array
  private readonly host: string
  private readonly port: number
  private advertise: string | null
  private readonly maxFrameSize: number
  private readonly handshakeTimeout: number
  private readonly maxPendingHandshakes: number
  private readonly linkWriteBufferBytes: number
  private readonly keepaliveTimeout: number
  private readonly logger: Logger
  private server: Server | null = null
  private readonly sockets = new Set<Socket>()
  private readonly handshakes = new Set<Handshake>()
  private readonly allLinks = new Set<Link>()
  private readonly dials = new Map<string, Promise<Link>>()
  /** Outbound sockets not yet connected: close() must not wait for their connect timeout. */
  private readonly connecting = new Set<Socket>()
  /** Peers whose live link the peer closed as a duplicate: waiting for the link it kept. */
  private readonly replacing = new Map<NodeId, NodeJS.Timeout>()
  /** Peers whose links are refused, until when (performance.now() ms); oldest first, bounded. */
  private readonly refused = new Map<NodeId, number>()
  /** Inbound sockets whose handshake is under way, oldest first, and how many per remote address. */
  private readonly pendingInbound: Socket[] = []
  private readonly pendingFrom = new Map<string, number>()
  /** Bytes of the sockets already closed; the open ones are read from their own counters. */
  private closedBytesSent = 0
  private closedBytesReceived = 0
  private closing = false
  private closed: Promise<void> | null = null

  constructor (options: TransportOptions) {
    super()
    this.keyPair = normalizeKeyPair(options.keyPair ?? generateKeyPair())
    this.nodeId = nodeIdOf(this.keyPair.publicKey)
    if (typeof options.secret !== 'string' && !(options.secret instanceof Uint8Array)) {
      throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'secret must be a string or bytes')
    }
    if (options.secret.length === 0) throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'secret must not be empty')
    this.secret = options.secret
    this.host = options.host ?? '127.0.0.1'
    this.port = options.port ?? 0
    this.advertise = options.advertise ?? null
    this.maxFrameSize = positiveInt(options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE, 'maxFrameSize')
    if (this.maxFrameSize > MAX_NOISE_MESSAGE - 4) {
      throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `maxFrameSize must be at most ${MAX_NOISE_MESSAGE - 4}`)
    }
    this.handshakeTimeout = positiveInt(options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT, 'handshakeTimeout')
    this.maxPendingHandshakes = positiveInt(options.maxPendingHandshakes, DEFAULT_MAX_PENDING_HANDSHAKES, 'maxPendingHandshakes')
    this.keepaliveTimeout = options.keepaliveTimeout ?? 0
    this.linkWriteBufferBytes = positiveInt(options.linkWriteBufferBytes, DEFAULT_LINK_WRITE_BUFFER_BYTES, 'linkWriteBufferBytes')
    this.logger = options.logger ?? silentLogger
  }

  /** "host:port" announced to peers: the advertise option, else the bound address once listening. */
  get address (): string | null {
    return this.advertise
  }

  /**
   * Bytes written to the wire (encrypted, handshakes included) over every socket this transport
   * ever had, closed ones too. Read from Node's own per-socket counters: nothing on the send path.
   */
  get bytesSent (): number {
    let total = this.closedBytesSent
    for (const socket of this.sockets) total += socket.bytesWritten ?? 0
    return total
  }

  /** Bytes read from the wire, counted like `bytesSent`. */
  get bytesReceived (): number {
    let total = this.closedBytesReceived
    for (const socket of this.sockets) total += socket.bytesRead
    return total
  }

  /** Start accepting links. Resolves with the bound address. */
  async listen (): Promise<AddressInfo> {
    if (this.closing) throw new ClosedError('transport')
    if (this.server !== null) throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'transport is already listening')
    const server = createServer((socket) => { this.accept(socket) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        this.server = null
        // EADDRINUSE, EACCES, EADDRNOTAVAIL: a node that cannot listen names where and why.
        reject(new GossipError('ERR_GOSSIP_LISTEN', `cannot listen on ${formatAddress(this.host, this.port)}: ${err.code ?? err.message}`, { cause: err }))
      }
      server.once('error', failed)
      // A flood of connections re-opened as fast as they are closed fills Node's default accept
      // queue (511): the kernel then drops an honest dialler's SYN, and it tries again only after
      // a second, then three. The kernel caps this at net.core.somaxconn.
      // Exclusive: in a worker of Node's cluster module, a plain listen is the primary's socket,
      // shared: workers on one port (every worker, with port 0) would take turns accepting one
      // node's links, and the primary would see each listen as the worker's `listening`.
      server.listen({ port: this.port, host: this.host, backlog: LISTEN_BACKLOG, exclusive: true }, () => {
        server.off('error', failed)
        resolve()
      })
    })
    server.on('error', (err) => { this.logger.error({ err }, 'transport server error') })
    const bound = server.address() as AddressInfo
    this.advertise ??= formatAddress(reachableHost(bound.address), bound.port)
    return bound
  }

  /**
   * A link to the node at `addr` ("host:port"). With `expectedPeerId`, the link is refused unless
   * the node proves that identity, and an existing link to it is returned without dialling.
   * Concurrent dials of one address share one attempt. Rejects with a GossipError
   * (ERR_GOSSIP_HANDSHAKE, or ERR_GOSSIP_CLOSED) or a socket error.
   */
  async dial (addr: string, expectedPeerId?: NodeId): Promise<Link> {
    if (this.closing) throw new ClosedError('transport')
    if (expectedPeerId !== undefined) {
      const existing = this.links.get(expectedPeerId)
      if (existing !== undefined) return existing
    }
    // One attempt per address, whoever asks: two links dialled from the same end at once would be
    // adopted in different orders by the two ends, each keeping a different one as the newer.
    let attempt = this.dials.get(addr)
    if (attempt === undefined) {
      attempt = this.connect(addr, expectedPeerId).finally(() => { this.dials.delete(addr) })
      this.dials.set(addr, attempt)
    }
    let link: Link
    try {
      link = await attempt
    } catch (err) {
      // The peer dialled us while our dial was failing: the caller wanted a link to it and there
      // is one. Failing would make the node report a live peer as gone in every topic.
      const live = expectedPeerId === undefined || this.closing ? undefined : this.links.get(expectedPeerId)
      if (live === undefined) throw err
      return live
    }
    if (expectedPeerId !== undefined && link.peerId !== expectedPeerId) {
      throw new HandshakeError(`the node at ${addr} is ${link.peerId}, not the expected ${expectedPeerId}`)
    }
    return link
  }

  /** Close every link, handshake and the listener; resolves once every socket is closed. */
  async close (): Promise<void> {
    this.closed ??= this.shutdown()
    await this.closed
  }

  private async shutdown (): Promise<void> {
    this.closing = true
    const serverClosed = this.server === null
      ? Promise.resolve()
      : new Promise<void>((resolve) => { this.server!.close(() => { resolve() }) })
    for (const timer of this.replacing.values()) clearTimeout(timer)
    this.replacing.clear()
    for (const socket of this.connecting) socket.destroy()
    for (const handshake of [...this.handshakes]) handshake.abort('transport closing')
    for (const link of [...this.allLinks]) link.close('transport closing')
    // A losing duplicate still draining (see Link's DRAIN_GRACE_MS) gets the usual grace, no more.
    const stragglers = setTimeout(() => { for (const socket of this.sockets) socket.destroy() }, BYE_GRACE_MS)
    await Promise.all([...this.sockets].map(async (socket) => await new Promise<void>((resolve) => {
      if (socket.destroyed && socket.closed) return resolve()
      socket.once('close', () => { resolve() })
    })))
    clearTimeout(stragglers)
    await serverClosed
  }

  private async connect (addr: string, expectedPeerId: NodeId | undefined): Promise<Link> {
    const { host, port } = parseAddress(addr)
    const socket = createConnection({ host, port })
    this.track(socket)
    this.connecting.add(socket)
    // A host that drops our SYNs silently would hold the dial for the kernel's SYN retries (about
    // 2 minutes): the connect phase gets the handshake's bound too.
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => { reject(err) }
        socket.once('error', onError)
        socket.once('close', () => { reject(new ClosedError('transport')) })
        socket.once('connect', () => {
          socket.off('error', onError)
          resolve()
        })
        timer = setTimeout(() => { reject(new Error(`connect to ${addr} timed out after ${this.handshakeTimeout} ms`)) }, this.handshakeTimeout)
      })
    } catch (err) {
      socket.destroy()
      throw this.closing ? new ClosedError('transport') : err
    } finally {
      clearTimeout(timer)
      this.connecting.delete(socket)
    }
    const session = await this.handshake(socket, true, expectedPeerId)
    const link = this.adopt(session)
    if (!link.closed) return link
    // Lost to a link that was there first (or arrived meanwhile): that one is the link to the peer.
    const live = this.links.get(link.peerId)
    if (live !== undefined) return live
    throw new HandshakeError(`link to ${link.peerId} closed at once: ${link.closeInfo!.reason}`)
  }

  private accept (socket: Socket): void {
    this.track(socket)
    if (this.closing) {
      socket.destroy()
      return
    }
    const ip = socket.remoteAddress ?? ''
    this.makeRoomFor(ip)
    this.pendingInbound.push(socket)
    this.pendingFrom.set(ip, (this.pendingFrom.get(ip) ?? 0) + 1)
    this.handshake(socket, false, undefined)
      .then((session) => {
        try {
          this.adopt(session)
        } catch (err) {
          // A listener of 'link' threw: that is the owner's bug, but must not kill the listener.
          this.logger.error({ err, peer: session.peerId }, 'error while adopting an inbound link')
        }
      }, () => {})
      .finally(() => { this.releaseSlot(socket, ip) })
  }

  private releaseSlot (socket: Socket, ip: string): void {
    const i = this.pendingInbound.indexOf(socket)
    if (i < 0) return
    this.pendingInbound.splice(i, 1)
    const left = (this.pendingFrom.get(ip) ?? 1) - 1
    if (left > 0) this.pendingFrom.set(ip, left)
    else this.pendingFrom.delete(ip)
  }

  /**
   * Fair handshake slots. Refusing newcomers when every slot is taken lets whoever opens silent
   * connections fastest lock everyone else out; instead the newcomer takes the slot of the oldest
   * pending handshake, from the address holding most of them (its own, past its share). An honest
   * handshake takes milliseconds, a stalled one the whole timeout, so the stalled ones go.
   */
  private makeRoomFor (ip: string): void {
    const share = Math.max(1, Math.floor(this.maxPendingHandshakes / 4))
    let victimIp: string | undefined
    if ((this.pendingFrom.get(ip) ?? 0) >= share) victimIp = ip
    else if (this.pendingInbound.length >= this.maxPendingHandshakes) {
      let most = 0
      for (const [addr, n] of this.pendingFrom) if (n > most) { most = n; victimIp = addr }
    }
    if (victimIp === undefined) return
    const victim = this.pendingInbound.find(s => (s.remoteAddress ?? '') === victimIp)
    if (victim === undefined) return
    this.logger.warn({ remote: `${victim.remoteAddress ?? '?'}:${victim.remotePort ?? '?'}`, pending: this.pendingInbound.length, fromThatAddress: this.pendingFrom.get(victimIp) },
      'pending handshake dropped to make room for a newer connection')
    this.releaseSlot(victim, victimIp)
    victim.destroy()
  }

  private track (socket: Socket): void {
    this.sockets.add(socket)
    // Sockets hand their errors to the secret stream once it exists; this keeps an error before
    // that (or after it has gone) from being an uncaught exception.
    socket.on('error', () => {})
    socket.once('close', () => {
      this.sockets.delete(socket)
      this.closedBytesSent += socket.bytesWritten ?? 0
      this.closedBytesReceived += socket.bytesRead
    })
  }

  private async handshake (socket: Socket, isInitiator: boolean, expectedPeerId: NodeId | undefined): Promise<Session> {
    const handshake = new Handshake({
      socket,
      isInitiator,
      keyPair: this.keyPair,
      secret: this.secret,
      listenAddr: this.advertise,
      incarnation: this.incarnation,
      expectedPeerId,
      timeout: this.handshakeTimeout,
      maxFrameSize: this.maxFrameSize
    })
    this.handshakes.add(handshake)
    try {
      return await handshake.done
    } catch (err) {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`
      const peer = err instanceof HandshakeError ? err.peerId ?? expectedPeerId : expectedPeerId
      this.logger.warn({ remote, peer, direction: isInitiator ? 'outbound' : 'inbound' }, `link refused: ${(err as Error).message}`)
      throw err instanceof HandshakeError || this.closing ? err : new HandshakeError(String(err), { cause: err })
    } finally {
      this.handshakes.delete(handshake)
    }
  }

  /** Make a Link of a fresh session and settle who stays the live link of that peer. */
  private adopt (session: Session): Link {
    const link = new Link(session, {
      linkWriteBufferBytes: this.linkWriteBufferBytes,
      keepaliveTimeout: this.keepaliveTimeout,
      keepaliveInterval: Math.ceil(this.keepaliveTimeout / 3),
      maxFrameSize: this.maxFrameSize,
      logger: this.logger
    })
    this.allLinks.add(link)
    link.on('frame', (frame) => { this.emit('frame', link.peerId, frame, link) })
    link.once('close', (info) => {
      this.allLinks.delete(link)
      if (this.links.get(link.peerId) !== link) return
      this.links.delete(link.peerId)
      if (info.reason === `closed by peer: ${DUPLICATE}` && !this.closing) {
        // The peer kept another link between us, whose handshake may not have finished on this
        // end yet (each end completes the two handshakes in its own order). Give it that long
        // before calling the peer gone, or every topic would see a failure that is not one.
        const timer = setTimeout(() => {
          this.replacing.delete(link.peerId)
          if (!this.links.has(link.peerId)) this.emit('disconnect', link.peerId, info, link)
        }, this.handshakeTimeout)
        timer.unref()
        this.replacing.set(link.peerId, timer)
        return
      }
      this.emit('disconnect', link.peerId, info, link)
    })
    if (this.closing) {
      link.close('transport closing')
      link.start()
      return link
    }
    if (session.peerId === this.nodeId) {
      link.close('connected to self')
      link.start()
      return link
    }
    if (this.isRefused(session.peerId)) {
      link.close('refused: dropped for breaking the protocol, not yet allowed back')
      link.start()
      return link
    }
    let existing = this.links.get(link.peerId)
    if (existing !== undefined && existing.peerIncarnation !== link.peerIncarnation) {
      this.dropRestarted(existing)
      existing = undefined
    }
    if (existing !== undefined && !this.prefer(link, existing)) {
      link.close(DUPLICATE, { keepReading: true })
      link.start()
      return link
    }
    this.links.set(link.peerId, link)
    const replaced = this.replacing.get(link.peerId)
    if (replaced !== undefined) {
      clearTimeout(replaced)
      this.replacing.delete(link.peerId)
    }
    this.logger.debug({ peer: link.peerId, remoteAddr: link.remoteAddr, outbound: link.isInitiator }, 'link up')
    try {
      this.emit('link', link)
    } finally {
      // Even if a listener threw: a registered link that is never read would hang the peer.
      // Only after the new link is live, so the owner never sees the peer as disconnected.
      existing?.close(DUPLICATE, { keepReading: true })
      link.start()
    }
    return link
  }

  /**
   * Refuse links with `peerId` (both ways) for `ms`. A peer dropped for lying would otherwise be
   * back within a handshake, with a clean record, to start over.
   */
  refuse (peerId: NodeId, ms: number): void {
    this.refused.delete(peerId)
    if (this.refused.size >= MAX_REFUSED) this.refused.delete(this.refused.keys().next().value as NodeId)
    this.refused.set(peerId, performance.now() + ms)
  }

  private isRefused (peerId: NodeId): boolean {
    const until = this.refused.get(peerId)
    if (until === undefined) return false
    if (performance.now() < until) return true
    this.refused.delete(peerId)
    return false
  }

  /** `old` is a link of an earlier incarnation of its peer: closed, and reported gone. */
  private dropRestarted (old: Link): void {
    // Unregistered first, so that its close handler does not report it as well.
    this.links.delete(old.peerId)
    // The new incarnation never saw what was sent on the old link: it is alive to be asked again.
    const info: LinkCloseInfo = { reason: 'the peer restarted', error: false, byPeer: true }
    old.close(info.reason)
    this.logger.debug({ peer: old.peerId }, 'peer restarted: its old link is dropped')
    this.emit('disconnect', old.peerId, info, old)
  }

  /** Whether `candidate` should replace `current` as the live link (see the file comment). */
  private prefer (candidate: Link, current: Link): boolean {
    if (candidate.isInitiator === current.isInitiator) return true
    const iAmSmaller = this.nodeId < candidate.peerId
    // The link dialled by the smaller id: ours if we are smaller, the peer's otherwise.
    return candidate.isInitiator === iAmSmaller
  }
}

function positiveInt (value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback
  if (!Number.isInteger(value) || value <= 0) throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `${name} must be a positive integer`)
  return value
}

/** True for 0.0.0.0 and ::, which mean "every interface" to a listener and nothing to a peer. */
export function isUnspecified (host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]'
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/**
 * What peers should dial for a listener bound to `host`. An unspecified address is never
 * announced: `POD_IP` when the environment gives it (Kubernetes' downward API), else the first
 * address of an interface that is not loopback (IPv4 first), else loopback.
 */
export function reachableHost (host: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!isUnspecified(host)) return host
  const podIp = env.POD_IP
  if (podIp !== undefined && isIP(podIp) !== 0 && !isUnspecified(podIp)) return podIp
  const all = Object.values(networkInterfaces()).flat().filter((i): i is NetworkInterfaceInfo => i !== undefined && !i.internal)
  const v4 = all.find(i => i.family === 'IPv4')
  const v6 = all.find(i => i.family === 'IPv6' && !i.address.startsWith('fe80:'))
  if (host === '0.0.0.0') return v4?.address ?? '127.0.0.1'
  return v4?.address ?? v6?.address ?? '::1'
}

export function parseAddress (addr: string): { host: string, port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(addr)
  const port = match === null ? NaN : Number(match[2])
  if (match === null || port < 1 || port > 65535) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `invalid address ${JSON.stringify(addr)}: expected host:port`)
  }
  return { host: match[1]!, port }
}

export function formatAddress (host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
