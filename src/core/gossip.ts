/**
 * A gossip node over real sockets: the IO runtime that carries out what the pure state machines
 * decide. It owns the sockets, timers, DNS and the dial queue, nothing else.
 *
 * Data flows one way. Bytes from a link are decoded by the transport into frames; `proto` frames
 * become inputs of the protocol state (../proto), `discovery` frames inputs of topic discovery
 * (./discovery); the outputs of both (send, emit, schedule, disconnect...) are executed here.
 * The healer reads discovery's address book and issues `join` commands into the protocol.
 *
 * Nothing a peer sends and nothing the node emits may crash the process: every input and every
 * effect runs guarded, and a failure logs its reason and closes at most the link concerned.
 */
import { performance } from 'node:perf_hooks'
import { randomBytes, randomInt } from 'node:crypto'
import type {
  GossipApi, GossipEvent, GossipMessage, GossipOptions, GossipStats, KeyPair, Lagged, Logger, NodeId, PeerInfo, TopicId, TopicInput
} from './api.js'
import { BoundedQueue } from './bounded-queue.js'
import { EarliestTimer } from './earliest-timer.js'
import { ClosedError, GossipError, MessageTooLargeError } from './errors.js'
import { TopicHandle, type HandleHost } from './handle.js'
import { LocalTopics } from './local-topics.js'
import { Seeds } from './seeds.js'
import { silentLogger } from './logger.js'
import { LinkLog } from './link-log.js'
import { Counters } from './stats.js'
import { resolveSummaryOptions, startClusterSummary } from './cluster-publisher.js'
import { toTopicId } from './topic-id.js'
import { topicKey, type TopicKey } from './discovery/topic-key.js'
import { Discovery } from './discovery/discovery.js'
import { Healer, defaultHealerConfig } from './discovery/healer.js'
import type { DiscoveryInput, DiscoveryOutput } from './discovery/types.js'
import { resolveConfig, type ProtoConfig } from './proto/config.js'
import { wireLimits } from './proto/limits.js'
import { TIMER_SLACK } from './proto/deadline.js'
import { MESSAGE_ID_PREFIX_BYTES, runtimeMessageId } from './proto/message-id.js'
import { warmDeliveredLog } from './delivered-log-warm-up.js'
import { seededRng } from './proto/random.js'
import { State } from './proto/state.js'
import type { Event, InEvent, Message, OutEvent, Timer } from './proto/types.js'
import type { Frame } from './net/frames.js'
import { encodeFrame } from './net/codec.js'
import { Transport, isLoopback, isUnspecified, parseAddress } from './net/transport.js'
import type { Link, LinkCloseInfo } from './net/link.js'
import { generateKeyPair, nodeIdOf, normalizeKeyPair } from './net/identity.js'
import { MAX_BATCH, OriginVerifier, signBatch } from './net/origin.js'
import type { Signable } from './net/origin.js'

/** The default `maxMessageSize`. */
export const DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  seedRefreshInterval: 30_000,
  maxMessageSize: DEFAULT_MAX_MESSAGE_SIZE,
  subscriberBufferSize: 1024,
  pendingPublishLimit: 1024,
  linkWriteBufferBytes: 8 * 1024 * 1024,
  handshakeTimeout: 5_000,
  maxPendingHandshakes: 64,
  keepaliveTimeout: 6_000,
  /** A link no topic needs is closed after this long without traffic. */
  idleLinkTimeout: 60_000,
  /** How long a peer dropped for lying (forged origins, IHAVE floods) is refused, ms. */
  punishMs: 60_000,
  /** Topics healed per turn of the event loop. */
  healSlice: 50,
  /** A topic without a neighbour for this long is worth a warning. */
  aloneWarning: 10_000,
  /** Room for framing and headers around the largest payload; also the control frames' budget. */
  frameOverhead: 16 * 1024
}

/** Frames waiting for a link being dialled (see `Gossip.dialing`). */
interface DialQueue {
  bodies: Uint8Array[]
  bytes: number
  /** Frames that did not fit. */
  dropped: number
  /** Of the frames held, those an application sent (`sendDirect`): told of if the dial fails. */
  direct: number
  /** The protocol is done with the peer once they are sent (a one-off reply such as a shuffle answer or a refusal). */
  closeAfter: boolean
}

/** Checks the options the way `Gossip.spawn` does (the adapter calls it before spawning lazily). */
export function validateOptions (options: GossipOptions): void {
  const fail = (name: string, why: string): never => {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${name}" ${why}`)
  }
  if (options == null || typeof options !== 'object') fail('options', 'must be an object')
  const s = options.secret
  if (!(typeof s === 'string' && s.length > 0) && !(s instanceof Uint8Array && s.length > 0)) fail('secret', 'must be a non-empty string or Uint8Array')
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)) fail('port', 'must be an integer from 0 to 65535')
  if (options.seeds !== undefined && (!Array.isArray(options.seeds) || options.seeds.some(x => typeof x !== 'string' || !/^.+:\d+$/.test(x)))) fail('seeds', 'must be an array of "host:port" strings')
  if (options.advertise !== undefined) {
    let host = ''
    try {
      host = parseAddress(options.advertise).host
    } catch {
      fail('advertise', `must be "host:port", got ${JSON.stringify(options.advertise)}`)
    }
    if (isUnspecified(host)) fail('advertise', `must be an address peers can dial, not ${options.advertise}`)
  }
  // A node listening on loopback can only be reached from its own host: with seeds elsewhere it
  // would sit alone without a word. Refuse it at start, naming both.
  const host = options.host ?? DEFAULTS.host
  if (isLoopback(host) && options.advertise === undefined) {
    const remote = (options.seeds ?? []).find(seed => !isLoopback(parseAddress(seed).host))
    if (remote !== undefined) {
      fail('host', `is ${host}${options.host === undefined ? ' (the default)' : ''}, a loopback address, but seed ${JSON.stringify(remote)} is not: ` +
        'peers on other hosts could never reach this node. Listen on "0.0.0.0" (or this host\'s address), or set "advertise"')
    }
  }
  if (options.signMessages !== undefined && typeof options.signMessages !== 'boolean') fail('signMessages', 'must be a boolean')
  resolveSummaryOptions(options.clusterSummary)
  for (const name of ['maxMessageSize', 'subscriberBufferSize', 'pendingPublishLimit', 'linkWriteBufferBytes', 'handshakeTimeout', 'maxPendingHandshakes', 'seedRefreshInterval', 'keepaliveTimeout'] as const) {
    const v = options[name]
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) fail(name, 'must be a positive integer')
  }
}

/** Peer data is an address only if it reads as one: what a peer sends is never trusted as is. */
function addressFromPeerData (data: Uint8Array): string | undefined {
  if (data.byteLength < wireLimits.minPeerDataBytes || data.byteLength > wireLimits.maxAddrLength) return undefined
  const addr = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
  try {
    parseAddress(addr)
    return addr
  } catch {
    return undefined
  }
}

export class GossipBuilder {
  constructor (private readonly options: GossipOptions) {}
  async spawn (): Promise<Gossip> {
    return await Gossip.spawn(this.options)
  }
}

export class Gossip implements GossipApi, HandleHost {
  /** The p2panda-net shape: `await Gossip.builder(options).spawn()`. */
  static builder (options: GossipOptions): GossipBuilder {
    return new GossipBuilder(options)
  }

  static async spawn (options: GossipOptions): Promise<Gossip> {
    validateOptions(options)
    const node = new Gossip(options)
    try {
      await node.start()
    } catch (err) {
      await node.close()
      throw err
    }
    return node
  }

  readonly nodeId: NodeId
  readonly keyPair: KeyPair
  readonly maxMessageSize: number
  readonly subscriberBufferSize: number
  private _address = ''
  private readonly log: Logger
  private readonly config: ProtoConfig
  private readonly transport: Transport
  private readonly state: State<NodeId>
  private readonly discovery: Discovery<NodeId>
  private readonly healer: Healer<NodeId>
  private readonly topics: LocalTopics
  /** When each topic's healer wants to be asked again (one timer serves them all). */
  private readonly healDue = new Map<TopicId, number>()
  private readonly healTimer = new EarliestTimer(() => this.now(), () => { this.runHeals() })
  private readonly timers = new Set<NodeJS.Timeout>()
  private discoveryTimer: NodeJS.Timeout | undefined
  /**
   * Frames for peers being dialled, encoded, in order. Bounded in bytes, at half a link's write
   * buffer (`linkWriteBufferBytes`), so that handing them to the new link never overflows it: a
   * burst of small direct messages to a peer whose link just went must not be cut at a frame
   * count, while a few big ones cannot take more than a link could.
   */
  private readonly dialing = new Map<NodeId, DialQueue>()
  private readonly dialQueueBytes: number
  private readonly linkWriteBufferBytes: number
  private readonly eventStreams = new Set<BoundedQueue<GossipEvent>>()
  private readonly lastActivity = new Map<NodeId, number>()
  /** Topics without a neighbour, since when, and those already warned about. */
  private readonly aloneSince = new Map<TopicId, number>()
  private readonly aloneWarned = new Set<TopicId>()
  /** Our topics by the key discovery names them with (its `found` gives the key). */
  private readonly topicOfKey = new Map<TopicKey, TopicId>()
  private readonly background = new Set<NodeJS.Timeout>()
  private readonly seeds: Seeds
  private closed = false
  /**
   * Our messages published in this turn of the event loop, signed together at its end (one
   * signature per batch: see net/origin.ts); at most MAX_BATCH wait.
   */
  private toSign: Signable[] = []
  private signTimer: NodeJS.Immediate | undefined
  private readonly verifier = new OriginVerifier()
  private readonly signing: boolean
  /** The last proto or direct frame encoded (see `encode`). */
  private lastEncoded: { key: object, topic: TopicId | undefined, body: Uint8Array } | undefined
  private messageSeq = 0
  /** Messages dropped because their origin had not signed them. */
  private forged = 0
  private peersDropped = 0
  private readonly epoch = performance.now()
  private readonly counters = new Counters(topic => this.topics.has(topic))
  private readonly linkLog: LinkLog
  private readonly summaryOptions: ReturnType<typeof resolveSummaryOptions>
  private summary: { close (): void } | undefined

  private constructor (options: GossipOptions) {
    this.summaryOptions = resolveSummaryOptions(options.clusterSummary)
    this.log = options.logger ?? silentLogger
    this.maxMessageSize = options.maxMessageSize ?? DEFAULTS.maxMessageSize
    const maxFrameSize = this.maxMessageSize + DEFAULTS.frameOverhead
    // Control frames (IHAVE batches, shuffles, discovery) get the overhead's room at most, so a
    // node with small messages never builds a control frame its peers would refuse.
    const controlBudget = Math.min(DEFAULTS.frameOverhead, maxFrameSize)
    const wanted = options.protocol?.maxFrameBytes ?? controlBudget
    try {
      // A larger budget than the frame limit would build frames every peer refuses.
      this.config = resolveConfig({ ...options.protocol, maxFrameBytes: Math.min(wanted, maxFrameSize) })
    } catch (err) {
      throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "protocol" ${(err as Error).message}`, { cause: err })
    }
    this.keyPair = normalizeKeyPair(options.keyPair ?? generateKeyPair())
    warmDeliveredLog()
    this.nodeId = nodeIdOf(this.keyPair.publicKey)
    this.subscriberBufferSize = options.subscriberBufferSize ?? DEFAULTS.subscriberBufferSize
    this.signing = options.signMessages ?? true
    this.topics = new LocalTopics(this.nodeId, options.pendingPublishLimit ?? DEFAULTS.pendingPublishLimit)
    const idPrefix = randomBytes(MESSAGE_ID_PREFIX_BYTES).toString('base64url')
    this.state = new State<NodeId>(this.nodeId, this.config, seededRng(randomInt(2 ** 47)), undefined, idPrefix, randomInt(2 ** 31))
    this.discovery = new Discovery<NodeId>(this.nodeId, seededRng(randomInt(2 ** 47)), { maxFrameBytes: this.config.maxFrameBytes })
    this.healer = new Healer<NodeId>(defaultHealerConfig, seededRng(randomInt(2 ** 47)))
    this.linkWriteBufferBytes = options.linkWriteBufferBytes ?? DEFAULTS.linkWriteBufferBytes
    this.dialQueueBytes = Math.floor(this.linkWriteBufferBytes / 2)
    this.transport = new Transport({
      keyPair: this.keyPair,
      secret: options.secret,
      host: options.host ?? DEFAULTS.host,
      port: options.port ?? DEFAULTS.port,
      maxFrameSize,
      handshakeTimeout: options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
      maxPendingHandshakes: options.maxPendingHandshakes ?? DEFAULTS.maxPendingHandshakes,
      linkWriteBufferBytes: this.linkWriteBufferBytes,
      keepaliveTimeout: options.keepaliveTimeout ?? DEFAULTS.keepaliveTimeout,
      advertise: options.advertise,
      logger: this.log
    })
    this.seeds = new Seeds(options.seeds ?? [], { refreshInterval: options.seedRefreshInterval ?? DEFAULTS.seedRefreshInterval }, {
      dial: async addr => await this.transport.dial(addr),
      linkedTo: addr => [...this.transport.links.values()].some(l => l.remoteAddr === addr),
      linkCount: () => this.transport.links.size,
      self: () => this._address,
      log: this.log
    })
    this.linkLog = new LinkLog(this.log, () => this.transport.links.size)
    this.transport.on('link', (link: Link) => { this.guard('link up', () => { this.onLink(link) }, link.peerId) })
    // Frames and disconnects come from the transport, not the link: it also delivers what a
    // losing duplicate link drains, and reports a peer gone only when no link replaced it.
    this.transport.on('frame', (peer: NodeId, frame: Frame) => {
      try {
        this.onFrame(peer, frame)
      } catch (err) {
        this.failed(`${frame.type} frame`, err, peer)
      }
    })
    this.transport.on('disconnect', (peer: NodeId, info: LinkCloseInfo) => { this.guard('link down', () => { this.onPeerGone(peer, info) }) })
  }

  get address (): string { return this._address }

  private now (): number {
    return performance.now() - this.epoch
  }

  private async start (): Promise<void> {
    await this.transport.listen()
    this._address = this.transport.address as string
    this.state.setMyData(Buffer.from(this._address))
    // Who the node is and where it listens, said once (links are told in summary from here on).
    this.log.info({ nodeId: this.nodeId, address: this._address }, `gossip node listening on ${this._address}`)
    this.every(DEFAULTS.idleLinkTimeout / 2, () => { this.closeIdleLinks() })
    this.every(DEFAULTS.aloneWarning / 2, () => { this.checkAlone() })
    await this.seeds.start()
    if (this.summaryOptions !== undefined) this.summary = await startClusterSummary(this, this.summaryOptions, this.log)
  }

  // -------------------------------------------------------------------------------------------
  // Public API
  // -------------------------------------------------------------------------------------------

  async stream (topic: TopicInput): Promise<TopicHandle> {
    if (this.closed) throw new ClosedError()
    const id = toTopicId(topic)
    if (!this.topics.has(id) && this.topics.size >= this.config.maxTopics) {
      throw new GossipError('ERR_GOSSIP_TOO_MANY_TOPICS', `this node is already in ${this.config.maxTopics} topics`)
    }
    const handle = new TopicHandle(this, id)
    if (this.topics.add(handle)) {
      const contacts = this.pickContacts(id)
      this.input({ type: 'command', topic: id, command: { type: 'join', peers: contacts.map(c => ({ id: c })) } })
      this.topicOfKey.set(topicKey(id), id)
      this.discover({ type: 'joinTopic', topic: topicKey(id) })
      this.scheduleHeal(id, 1_000)
    }
    return handle
  }

  events (): BoundedQueue<GossipEvent> & AsyncIterable<GossipEvent | Lagged> {
    if (this.closed) throw new ClosedError()
    const q: BoundedQueue<GossipEvent> = new BoundedQueue<GossipEvent>(this.subscriberBufferSize, () => this.eventStreams.delete(q))
    this.eventStreams.add(q)
    return q
  }

  async sendDirect (peer: NodeId, topic: TopicInput, content: Uint8Array | string): Promise<void> {
    if (this.closed) throw new ClosedError()
    const bytes = typeof content === 'string' ? Buffer.from(content) : content
    if (bytes.length > this.maxMessageSize) throw new MessageTooLargeError(bytes.length, this.maxMessageSize)
    const topicId = toTopicId(topic)
    if (!this.transport.links.has(peer) && !this.dialing.has(peer) && this.discovery.addressOf(peer) === undefined) {
      throw new GossipError('ERR_GOSSIP_UNKNOWN_PEER', `no link to node ${peer.slice(0, 16)}… and no address known for it`)
    }
    this.sendFrame(peer, { type: 'direct', topic: topicId, content: bytes })
  }

  /** @internal HandleHost */
  async publish (topic: TopicId, data: Uint8Array | string, from: TopicHandle): Promise<void> {
    if (this.closed) throw new ClosedError()
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    if (bytes.length > this.maxMessageSize) throw new MessageTooLargeError(bytes.length, this.maxMessageSize)
    if (!this.topics.has(topic)) throw new ClosedError('gossip handle')
    this.topics.deliverLocally(from, bytes)
    const view = this.state.view(topic)
    if (view === undefined || view.active.length === 0) {
      this.topics.hold(topic, bytes)
      return
    }
    this.broadcast(topic, bytes)
  }

  /** @internal HandleHost */
  neighbours (topic: TopicId): NodeId[] {
    return this.state.view(topic)?.active.slice() ?? []
  }

  /** @internal measurement for benchmarks and tests */
  traffic (): { bytesSent: number, bytesReceived: number, links: number } {
    return { bytesSent: this.transport.bytesSent, bytesReceived: this.transport.bytesReceived, links: this.transport.links.size }
  }

  peers (): PeerInfo[] {
    const topicsOf = new Map<NodeId, TopicId[]>()
    const eagerOf = new Map<NodeId, TopicId[]>()
    const add = (map: Map<NodeId, TopicId[]>, peer: NodeId, topic: TopicId): void => {
      const list = map.get(peer)
      if (list === undefined) map.set(peer, [topic])
      else list.push(topic)
    }
    for (const topic of this.topics.ids()) {
      const view = this.state.view(topic)
      for (const peer of view?.active ?? []) add(topicsOf, peer, topic)
      for (const peer of view?.eager ?? []) add(eagerOf, peer, topic)
    }
    const now = performance.now()
    return [...this.transport.links.values()].map(link => ({
      nodeId: link.peerId,
      address: link.remoteAddr ?? this.discovery.addressOf(link.peerId),
      linkAge: now - link.openedAt,
      rtt: link.rtt,
      outbound: link.isInitiator,
      topics: topicsOf.get(link.peerId) ?? [],
      eager: eagerOf.get(link.peerId) ?? [],
      bufferedBytes: link.bufferedBytes
    }))
  }

  stats (): GossipStats {
    const topics = [...this.topics.ids()].map(topic => {
      const view = this.state.view(topic)
      const proto = this.state.stats(topic)
      const depths = this.topics.depths(topic)
      return {
        topic,
        ...this.counters.of(topic),
        neighbours: view?.active.length ?? 0,
        passive: view?.passive.length ?? 0,
        queues: { ...depths, cached: proto?.cached ?? 0, missing: proto?.missing ?? 0, pendingIHaves: proto?.pendingIHaves ?? 0, pendingRequests: proto?.pendingRequests ?? 0 }
      }
    })
    let linkBufferedBytes = 0
    for (const link of this.transport.links.values()) linkBufferedBytes += link.bufferedBytes
    let dialQueued = 0
    for (const queued of this.dialing.values()) dialQueued += queued.bodies.length
    return {
      nodeId: this.nodeId,
      address: this._address,
      running: !this.closed,
      uptime: this.now(),
      links: this.transport.links.size,
      ...this.counters.total,
      wireBytesOut: this.transport.bytesSent,
      wireBytesIn: this.transport.bytesReceived,
      forged: this.forged,
      peersDropped: this.peersDropped,
      queues: {
        linkBufferedBytes,
        dialQueued,
        pendingPublishes: topics.reduce((n, t) => n + t.queues.pendingPublishes, 0),
        subscriberBuffered: topics.reduce((n, t) => n + t.queues.subscriberBuffered, 0)
      },
      topics
    }
  }

  /** @internal HandleHost */
  lagged (topic: TopicId): void {
    this.counters.lagged(topic, 1)
  }

  /** @internal HandleHost */
  async release (handle: TopicHandle): Promise<void> {
    if (this.topics.remove(handle) && !this.closed) this.leave(handle.topic)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.flushSigning()
    this.summary?.close()
    this.closed = true
    for (const topic of this.topics.terminateAll()) this.leave(topic)
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.healTimer.clear()
    this.healDue.clear()
    if (this.discoveryTimer !== undefined) clearTimeout(this.discoveryTimer)
    this.seeds.close()
    this.linkLog.close()
    for (const t of this.background) clearInterval(t)
    this.background.clear()
    await this.transport.close()
    for (const q of [...this.eventStreams]) q.close()
    this.log.info({ nodeId: this.nodeId }, 'gossip node closed')
  }

  // -------------------------------------------------------------------------------------------
  // Driving the state machines
  // -------------------------------------------------------------------------------------------

  /**
   * Run `fn`; if it throws, log what failed and close the link of `peer` when one is concerned.
   * A bug, or a peer that found a way to make us fail, costs at most that link, never the node.
   */
  private guard (what: string, fn: () => void, peer?: NodeId): void {
    try {
      fn()
    } catch (err) {
      this.failed(what, err, peer)
    }
  }

  private failed (what: string, err: unknown, peer: NodeId | undefined): void {
    this.log.error({ err, peer }, `gossip node failed on ${what}`)
    if (peer !== undefined) this.transport.links.get(peer)?.close(`internal error on ${what}`)
  }

  private input (event: InEvent<NodeId>): void {
    if (this.closed && event.type !== 'command') return
    let outs: Array<OutEvent<NodeId>>
    try {
      outs = this.state.handle(event, this.now())
    } catch (err) {
      // A protocol bug must not take the whole node down; say loudly what input caused it.
      this.log.error({ err, input: event.type }, 'protocol state failed on an input')
      return
    }
    // Guarded as `guard` does, written out: a label and a closure per effect were a tenth of what
    // a delivered message allocated.
    for (const out of outs) {
      try {
        this.execute(out)
      } catch (err) {
        this.failed(`protocol ${out.type}`, err, out.type === 'send' ? out.to : undefined)
      }
    }
  }

  private execute (out: OutEvent<NodeId>): void {
    switch (out.type) {
      case 'send':
        this.counters.sent(out.message.topic, out.message.body)
        this.sendFrame(out.to, { type: 'proto', message: out.message })
        break
      case 'emit':
        this.onProtoEvent(out.topic, out.event)
        break
      case 'schedule':
        this.schedule(out.after, out.timer)
        break
      case 'disconnect': {
        // Still dialling: what was queued goes out first, then the link closes.
        const queued = this.dialing.get(out.peer)
        if (queued !== undefined) {
          queued.closeAfter = true
          break
        }
        const link = this.transport.links.get(out.peer)
        if (link === undefined) break
        // Our latest topics go out first (a topic we just left, say): the peer would otherwise
        // keep naming us for it until its hearsay expired.
        this.discover({ type: 'flush', peer: out.peer })
        link.close('no topic needs this link')
        break
      }
      case 'drop':
        this.punish(out.peer, `protocol violation: ${out.reason}`)
        break
      case 'throttle':
        this.throttle(out.peer, out.ms)
        break
      case 'peerData': {
        const addr = addressFromPeerData(out.data)
        if (addr !== undefined) this.discover({ type: 'learn', peer: out.peer, addr, topic: topicKey(out.topic) })
        break
      }
    }
  }

  private discover (input: DiscoveryInput<NodeId>): void {
    if (this.closed && input.type !== 'leaveTopic') return
    let outs: Array<DiscoveryOutput<NodeId>>
    try {
      outs = this.discovery.handle(input, this.now())
    } catch (err) {
      this.log.error({ err, input: input.type }, 'topic discovery failed on an input')
      return
    }
    for (const out of outs) {
      this.guard(`discovery ${out.type}`, () => {
        switch (out.type) {
          case 'send':
            this.sendFrame(out.to, { type: 'discovery', message: out.message })
            break
          case 'schedule':
            this.scheduleDiscovery(out.after)
            break
          case 'found': {
            // A topic that is isolated and just learned of interested nodes should not wait its backoff.
            const topic = this.topicOfKey.get(out.topic)
            if (topic !== undefined && this.topics.has(topic) && (this.state.membership(topic)?.active.length ?? 0) === 0) this.scheduleHeal(topic, 0)
          }
        }
      }, out.type === 'send' ? out.to : undefined)
    }
  }

  private scheduleDiscovery (after: number): void {
    if (this.closed) return
    if (this.discoveryTimer !== undefined) clearTimeout(this.discoveryTimer)
    this.discoveryTimer = setTimeout(() => {
      this.discoveryTimer = undefined
      this.discover({ type: 'tick' })
    }, after)
    this.discoveryTimer.unref()
  }

  private schedule (after: number, timer: Timer<NodeId>): void {
    if (this.closed) return
    this.later(after, () => { this.input({ type: 'timer', timer }) })
  }

  /** Run `fn` after `ms`, unless the node closes first; the timer never keeps the process alive. */
  private later (ms: number, fn: () => void): void {
    const t: NodeJS.Timeout = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    t.unref()
    this.timers.add(t)
  }

  private onProtoEvent (topic: TopicId, event: Event<NodeId>): void {
    switch (event.type) {
      case 'received': {
        const message: GossipMessage = { type: 'message', id: event.id, topic, content: event.content, origin: event.origin, from: event.from, hops: event.hops }
        this.counters.delivered(topic)
        this.topics.deliver(topic, message)
        return
      }
      case 'joined':
        this.emitEvent({ type: 'joined', topic, peers: event.peers })
        this.flushPending(topic)
        return
      case 'neighborUp':
        this.emitEvent({ type: 'neighbourUp', topic, peer: event.peer })
        this.flushPending(topic)
        return
      case 'neighborDown':
        if (event.reason === 'failure') this.healer.failed(topic, this.now())
        this.emitEvent({ type: 'neighbourDown', topic, peer: event.peer, reason: event.reason })
        return
      case 'joinFailed':
        this.emitEvent({ type: 'joinFailed', topic, peers: event.peers })
        return
      case 'left':
        this.emitEvent({ type: 'left', topic })
    }
  }

  /** Our own publish: its id, and our signature so that nobody else can publish as us. */
  private broadcast (topic: TopicId, content: Uint8Array): void {
    const id = runtimeMessageId(this.state.messageIdPrefix(), this.messageSeq++)
    this.counters.published(topic)
    if (!this.signing) {
      this.input({ type: 'command', topic, command: { type: 'broadcast', content, id } })
      return
    }
    this.toSign.push({ topic, id, content })
    if (this.toSign.length >= MAX_BATCH) this.flushSigning()
    else this.signTimer ??= setImmediate(() => { this.flushSigning() })
  }

  /** Sign what waits and send it, in publish order (before a topic is left or the node closes, too). */
  private flushSigning (): void {
    if (this.signTimer !== undefined) clearImmediate(this.signTimer)
    this.signTimer = undefined
    const batch = this.toSign
    if (batch.length === 0) return
    this.toSign = []
    const proofs = signBatch(this.keyPair.secretKey, batch)
    for (let i = 0; i < batch.length; i++) {
      const { topic, id, content } = batch[i] as Signable
      this.input({ type: 'command', topic, command: { type: 'broadcast', content, id, sig: proofs[i] } })
    }
  }

  private flushPending (topic: TopicId): void {
    for (const content of this.topics.takePending(topic)) this.broadcast(topic, content)
  }

  private emitEvent (event: GossipEvent): void {
    for (const q of this.eventStreams) q.push(event)
  }

  private leave (topic: TopicId): void {
    // What was published before leaving goes out before the leave does.
    this.flushSigning()
    this.healDue.delete(topic)
    this.healer.forget(topic)
    this.counters.forget(topic)
    // The neighbours hear that we left before quitting tells them to drop us: a neighbour that
    // then needs our link no more closes it, and stops reading what follows on it.
    const neighbours = this.state.view(topic)?.active ?? []
    this.topicOfKey.delete(topicKey(topic))
    this.discover({ type: 'leaveTopic', topic: topicKey(topic) })
    if (!this.closed) for (const peer of neighbours) this.discover({ type: 'flush', peer })
    this.input({ type: 'command', topic, command: { type: 'quit' } })
  }

  // -------------------------------------------------------------------------------------------
  // Links
  // -------------------------------------------------------------------------------------------

  /**
   * Send or queue a frame. A frame our own encoder refuses is our bug, not the peer's: it is
   * logged and dropped, and the link stays (the protocol's timeouts cover a lost message).
   */
  private sendFrame (peer: NodeId, frame: Frame): void {
    const link = this.transport.links.get(peer)
    if (link !== undefined) {
      this.lastActivity.set(peer, this.now())
      this.sendOn(link, frame.type, this.encodeOrLog(peer, frame))
      return
    }
    const queued = this.dialing.get(peer)
    if (queued !== undefined) {
      const body = this.encodeOrLog(peer, frame)
      if (body === undefined) return
      if (queued.bytes + body.byteLength <= this.dialQueueBytes) {
        queued.bodies.push(body)
        queued.bytes += body.byteLength
        if (frame.type === 'direct') queued.direct++
      } else {
        queued.dropped++
      }
      // Sending again after a disconnect means the protocol wants the link after all.
      queued.closeAfter = false
      return
    }
    const addr = this.discovery.addressOf(peer)
    if (addr === undefined) {
      this.log.debug({ peer }, 'no address known for peer')
      this.input({ type: 'peerDisconnected', peer })
      return
    }
    const body = this.encodeOrLog(peer, frame)
    if (body === undefined) return
    const queue: DialQueue = { bodies: [body], bytes: body.byteLength, dropped: 0, direct: frame.type === 'direct' ? 1 : 0, closeAfter: false }
    this.dialing.set(peer, queue)
    // On success onLink flushes the queue when the link comes up; only failure is handled here.
    this.transport.dial(addr, peer).catch((err: unknown) => {
      // Not ours any more if a link came up meanwhile (onLink sent the queue) and went again.
      const pending = this.dialing.get(peer) === queue
      if (pending) this.dialing.delete(peer)
      if (this.closed) return
      // The protocol's frames are its own business (it hears peerDisconnected); direct messages
      // were accepted by sendDirect and are now lost: say so.
      if (pending && queue.direct > 0) this.log.warn({ peer, addr, err, lost: queue.direct }, 'direct messages not sent: the peer could not be dialled')
      else this.log.debug({ peer, addr, err }, 'dial failed')
      this.guard('dial failure', () => {
        this.discover({ type: 'dialFailed', peer })
        this.input({ type: 'peerDisconnected', peer })
      })
    })
  }

  private encodeOrLog (peer: NodeId, frame: Frame): Uint8Array | undefined {
    try {
      return this.encode(frame)
    } catch (err) {
      this.log.error({ err, peer, frame: frame.type }, 'frame not sent: it does not encode within the limits')
      return undefined
    }
  }

  private sendOn (link: Link, type: Frame['type'] | undefined, body: Uint8Array | undefined): void {
    if (body === undefined) return
    try {
      link.sendEncoded(body)
    } catch (err) {
      this.log.error({ err, peer: link.peerId, frame: type }, 'frame not sent: it does not encode within the limits')
    }
  }

  /**
   * A frame's body, encoded once when the same frame goes to several peers in a row: Plumtree hands
   * one GOSSIP message object to every eager peer, and the Socket.IO adapter sends the same bytes
   * directly to each server. The last body is kept, keyed by the message object (the state
   * machines never change a message once sent) or by a direct frame's content and topic (and
   * checked byte for byte, since that content is the application's).
   */
  private encode (frame: Frame): Uint8Array {
    const last = this.lastEncoded
    if (frame.type === 'proto') {
      if (last !== undefined && last.key === frame.message) return last.body
      const body = encodeFrame(frame)
      this.lastEncoded = { key: frame.message, topic: undefined, body }
      return body
    }
    if (frame.type === 'direct') {
      const content = frame.content
      if (last !== undefined && last.key === content && last.topic === frame.topic &&
        Buffer.from(last.body.buffer, last.body.byteOffset + last.body.byteLength - content.byteLength, content.byteLength)
          .equals(content)) return last.body
      const body = encodeFrame(frame)
      this.lastEncoded = { key: content, topic: frame.topic, body }
      return body
    }
    return encodeFrame(frame)
  }

  /**
   * Read nothing more from a peer's link for `ms`: what it sends meanwhile waits in the kernel's
   * buffers and then in its own, so an IHAVE flood is read, decrypted and decoded at the budget's
   * rate, not at the rate the flooder can write.
   */
  private throttle (peer: NodeId, ms: number): void {
    const link = this.transport.links.get(peer)
    if (link === undefined) return
    this.log.debug({ peer, ms }, 'peer announced more ids than maxIHavesPerSecond: not read for the rest of the second')
    link.pause()
    this.later(ms, () => { link.resume() })
  }

  /** Close the link of a peer caught lying and refuse it for a while: it has the secret, not our trust. */
  private punish (peer: NodeId, reason: string): void {
    this.peersDropped++
    this.log.warn({ peer, reason, refusedForMs: DEFAULTS.punishMs }, 'peer dropped and refused for a while')
    this.transport.refuse(peer, DEFAULTS.punishMs)
    this.transport.links.get(peer)?.close(reason)
  }

  private onLink (link: Link): void {
    const peer = link.peerId
    this.lastActivity.set(peer, this.now())
    const queued = this.dialing.get(peer)
    this.dialing.delete(peer)
    this.linkLog.linkUp()
    this.discover({ type: 'linkUp', peer, addr: link.remoteAddr ?? undefined })
    if (link.remoteAddr !== null && this.seeds.addresses.has(link.remoteAddr)) this.discover({ type: 'seed', peer, addr: link.remoteAddr })
    if (queued === undefined) return
    for (const body of queued.bodies) this.sendOn(link, undefined, body)
    if (queued.dropped > 0) {
      this.log.warn({ peer, dropped: queued.dropped, queuedBytes: queued.bytes }, 'frames for a peer being dialled dropped: more than half of linkWriteBufferBytes waited for the link')
    }
    if (queued.closeAfter) {
      this.discover({ type: 'flush', peer })
      link.close('no topic needs this link')
    }
  }

  private onPeerGone (peer: NodeId, info: LinkCloseInfo): void {
    this.lastActivity.delete(peer)
    if (this.closed) return
    if (info.error) this.log.warn({ peer, reason: info.reason }, 'link failed')
    else this.log.debug({ peer, reason: info.reason }, 'link closed')
    this.linkLog.linkDown(info.error)
    this.discover({ type: 'linkDown', peer })
    // A link that failed (a cut, a crash) counts as a failed dial: until the peer is reached
    // again, an isolated topic looks for its other members first.
    if (info.error) this.discover({ type: 'dialFailed', peer })
    this.input({ type: 'peerDisconnected', peer, graceful: info.byPeer === true })
    if (this.transport.links.size === 0) this.seeds.lonely()
  }

  private onFrame (peer: NodeId, frame: Frame): void {
    this.lastActivity.set(peer, this.now())
    switch (frame.type) {
      case 'proto': {
        const message = frame.message
        const body = message.body
        // Checked before delivery and before forwarding; a copy of a message already delivered
        // changes nothing, so it costs no check.
        const seen = body.type === 'gossip' && this.state.hasSeen(message.topic, body.id)
        if (body.type === 'gossip' && this.signing && !seen &&
          !this.verifier.verify(body.origin, message.topic, body.id, body.content, body.sig)) {
          this.forged++
          this.log.warn({ peer, origin: body.origin, topic: message.topic }, 'message whose origin did not sign it')
          this.punish(peer, 'forged message origin')
          return
        }
        this.counters.received(message.topic, body, seen)
        this.input({ type: 'recv', from: peer, message: message as Message<NodeId> })
        return
      }
      case 'discovery':
        this.discover({ type: 'recv', from: peer, message: frame.message })
        return
      case 'direct': {
        const message: GossipMessage = { type: 'message', id: `direct:${peer}`, topic: frame.topic, content: frame.content, origin: peer, from: peer, hops: 0 }
        this.topics.deliver(frame.topic, message)
        return
      }
      case 'bye':
        this.log.debug({ peer, reason: frame.reason }, 'peer said goodbye')
        break
      case 'hello':
        // The transport consumes hellos; one here is a protocol violation it already handles.
        break
    }
  }

  // -------------------------------------------------------------------------------------------
  // Healing
  // -------------------------------------------------------------------------------------------

  /** Up to three contacts for a new topic: one we have talked to when there is one, the rest from all. */
  private pickContacts (topic: TopicId): NodeId[] {
    const trusted = this.discovery.contactsFor(topicKey(topic))
    const all = this.discovery.interestedIn(topicKey(topic))
    const out: NodeId[] = []
    if (trusted.length > 0) out.push(trusted[randomInt(trusted.length)] as NodeId)
    while (out.length < 3 && all.length > 0) {
      const i = randomInt(all.length)
      const pick = all[i] as NodeId
      all[i] = all[all.length - 1] as NodeId
      all.pop()
      if (!out.includes(pick)) out.push(pick)
    }
    return out
  }

  /**
   * Healing runs on one timer for all topics, not one per topic: a node entering 1,000 topics at
   * once would otherwise run 1,000 heal ticks back to back before reading a socket (Node runs
   * every due timer before any IO). Each firing heals at most `healSlice` topics, then lets IO in.
   */
  private scheduleHeal (topic: TopicId, after: number): void {
    if (!this.topics.has(topic) || this.closed) return
    const due = this.now() + after
    this.healDue.set(topic, due)
    this.armHeal(due)
  }

  private armHeal (due: number): void {
    if (!this.closed) this.healTimer.arm(due)
  }

  private runHeals (): void {
    if (this.closed) return
    // Timers may fire a little early: what is due within TIMER_SLACK is due.
    const now = this.now() + TIMER_SLACK
    const due: TopicId[] = []
    for (const [topic, at] of this.healDue) {
      if (at <= now) due.push(topic)
      if (due.length >= DEFAULTS.healSlice) break
    }
    for (const topic of due) {
      this.healDue.delete(topic)
      if (this.topics.has(topic)) this.guard('healing', () => { this.healOne(topic) })
    }
    let next = Infinity
    for (const at of this.healDue.values()) if (at < next) next = at
    if (next === Infinity) return
    if (next <= now) {
      // More are due than one slice: read the sockets first, then go on.
      this.later(0, () => { this.runHeals() })
      return
    }
    this.armHeal(next)
  }

  private healOne (topic: TopicId): void {
    const view = this.state.membership(topic)
    const active = view?.active ?? []
    // Isolated, a node joins members it has talked to, or that the overlay itself vouched for (its
    // passive view), before hearsay: invented members cannot keep it from the real ones.
    const candidates = active.length === 0
      ? [...new Set([...(view?.passive ?? []), ...this.discovery.contactsFor(topicKey(topic))])]
      : this.discovery.interestedIn(topicKey(topic))
    const decision = this.healer.tick({ topic, active, interested: candidates, now: this.now() })
    if (decision.join.length > 0) {
      this.log.debug({ topic, peers: decision.join }, 'healing: joining')
      this.input({ type: 'command', topic, command: { type: 'join', peers: decision.join.map(id => ({ id })) } })
    }
    this.scheduleHeal(topic, decision.next)
  }

  /**
   * Say once when topics have had no neighbour for a while (their publishes wait in the queue),
   * and once when they have neighbours again; one line for all of them, not one per topic.
   */
  private checkAlone (): void {
    const now = this.now()
    const late: TopicId[] = []
    let recovered = 0
    for (const topic of this.topics.ids()) {
      const alone = (this.state.membership(topic)?.active.length ?? 0) === 0
      const since = this.aloneSince.get(topic)
      if (!alone) {
        if (since !== undefined && this.aloneWarned.delete(topic)) recovered++
        this.aloneSince.delete(topic)
        continue
      }
      if (since === undefined) this.aloneSince.set(topic, now)
      else if (now - since >= DEFAULTS.aloneWarning && !this.aloneWarned.has(topic)) late.push(topic)
    }
    for (const topic of this.aloneSince.keys()) if (!this.topics.has(topic)) { this.aloneSince.delete(topic); this.aloneWarned.delete(topic) }
    if (late.length > 0) {
      for (const topic of late) this.aloneWarned.add(topic)
      this.log.warn({
        topics: late.length,
        sample: late.slice(0, 5).map(topic => ({ topic, knownMembers: this.discovery.interestedIn(topicKey(topic)).length })),
        links: this.transport.links.size
      }, `${late.length} topic(s) without a neighbour for more than ${DEFAULTS.aloneWarning / 1000} s: publishes wait in their queues`)
    }
    if (recovered > 0) this.log.info({ topics: recovered }, `${recovered} topic(s) have neighbours again`)
  }

  private closeIdleLinks (): void {
    const now = this.now()
    for (const [peer, link] of this.transport.links) {
      if (this.state.needsLink(peer)) continue
      const last = this.lastActivity.get(peer) ?? 0
      if (now - last > DEFAULTS.idleLinkTimeout) link.close('idle')
    }
  }

  private every (ms: number, fn: () => void): void {
    const t = setInterval(() => { if (!this.closed) this.guard('periodic task', fn) }, ms)
    t.unref()
    this.background.add(t)
  }
}
