/**
 * A gossip node over real sockets: the runtime that carries out what the pure protocol decides.
 *
 * Data flows one way. Bytes from a link are decoded by the transport into frames; `proto` frames
 * become `recv` inputs of the protocol state; the state's outputs (send, emit, schedule,
 * disconnect, peerData) are executed here. Topic discovery and healing sit beside the protocol:
 * they learn who wants which topic and issue `join` commands, never touching its internals.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { performance } from 'node:perf_hooks'
import { randomInt } from 'node:crypto'
import type {
  GossipApi, GossipEvent, GossipMessage, GossipOptions, KeyPair, Lagged, Logger, NodeId, TopicId, TopicInput
} from './api.js'
import { AddressBook } from './address-book.js'
import { BoundedQueue } from './bounded-queue.js'
import { ClosedError, GossipError, MessageTooLargeError } from './errors.js'
import { TopicHandle, type HandleHost } from './handle.js'
import { Healer, defaultHealerConfig } from './discovery/healer.js'
import { silentLogger } from './logger.js'
import { toTopicId } from './topic-id.js'
import { resolveConfig, type ProtoConfig } from './proto/config.js'
import { seededRng } from './proto/random.js'
import { State } from './proto/state.js'
import type { Event, InEvent, Message, OutEvent, Timer } from './proto/types.js'
import type { Frame } from './net/frames.js'
import { Transport } from './net/transport.js'
import type { Link, LinkCloseInfo } from './net/link.js'
import { generateKeyPair, nodeIdOf, normalizeKeyPair } from './net/identity.js'

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  seedRefreshInterval: 30_000,
  maxMessageSize: 256 * 1024,
  subscriberBufferSize: 1024,
  pendingPublishLimit: 1024,
  linkWriteBufferBytes: 8 * 1024 * 1024,
  handshakeTimeout: 5_000,
  maxPendingHandshakes: 64,
  /** Frames held for a peer while we dial it. */
  dialQueueLimit: 1024,
  /** Topic discovery: how often a random linked peer hears what we know. */
  discoveryInterval: 10_000,
  /** Records handed over per discovery frame. */
  discoverySample: 16,
  /** A link no topic needs is closed after this long without traffic. */
  idleLinkTimeout: 60_000,
  /** Room for framing and headers around the largest payload. */
  frameOverhead: 16 * 1024
}

interface TopicEntry {
  handles: Set<TopicHandle>
  /** Publishes made while the topic has no neighbour; sent when the first one comes up. */
  pending: Uint8Array[]
  healTimer: NodeJS.Timeout | undefined
}

function validateOptions (options: GossipOptions): void {
  const fail = (name: string, why: string): never => {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${name}" ${why}`)
  }
  if (options == null || typeof options !== 'object') fail('options', 'must be an object')
  const s = options.secret
  if (!(typeof s === 'string' && s.length > 0) && !(s instanceof Uint8Array && s.length > 0)) fail('secret', 'must be a non-empty string or Uint8Array')
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)) fail('port', 'must be an integer from 0 to 65535')
  if (options.seeds !== undefined && (!Array.isArray(options.seeds) || options.seeds.some(x => typeof x !== 'string' || !/^.+:\d+$/.test(x)))) fail('seeds', 'must be an array of "host:port" strings')
  for (const name of ['maxMessageSize', 'subscriberBufferSize', 'pendingPublishLimit', 'linkWriteBufferBytes', 'handshakeTimeout', 'maxPendingHandshakes', 'seedRefreshInterval'] as const) {
    const v = options[name]
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) fail(name, 'must be a positive integer')
  }
}

function splitHostPort (addr: string): { host: string, port: number } {
  const i = addr.lastIndexOf(':')
  let host = addr.slice(0, i)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  return { host, port: Number(addr.slice(i + 1)) }
}

function joinHostPort (host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
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
    await node.start()
    return node
  }

  readonly nodeId: NodeId
  readonly keyPair: KeyPair
  readonly maxMessageSize: number
  readonly subscriberBufferSize: number
  private _address = ''
  private readonly options: GossipOptions
  private readonly log: Logger
  private readonly config: ProtoConfig
  private readonly transport: Transport
  private readonly state: State<NodeId>
  private readonly book: AddressBook
  private readonly healer: Healer<NodeId>
  private readonly topics = new Map<TopicId, TopicEntry>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly dialing = new Map<NodeId, Frame[]>()
  private readonly eventStreams = new Set<BoundedQueue<GossipEvent>>()
  private readonly lastActivity = new Map<NodeId, number>()
  private readonly background = new Set<NodeJS.Timeout>()
  private readonly seedAddrs = new Set<string>()
  private closed = false
  private localSeq = 0
  private readonly epoch = performance.now()

  private constructor (options: GossipOptions) {
    this.options = options
    this.log = options.logger ?? silentLogger
    this.config = resolveConfig(options.protocol)
    this.keyPair = normalizeKeyPair(options.keyPair ?? generateKeyPair())
    this.nodeId = nodeIdOf(this.keyPair.publicKey)
    this.maxMessageSize = options.maxMessageSize ?? DEFAULTS.maxMessageSize
    this.subscriberBufferSize = options.subscriberBufferSize ?? DEFAULTS.subscriberBufferSize
    const rng = seededRng(randomInt(2 ** 31))
    this.state = new State<NodeId>(this.nodeId, this.config, rng)
    this.book = new AddressBook(this.nodeId)
    this.healer = new Healer<NodeId>(defaultHealerConfig, seededRng(randomInt(2 ** 31)))
    this.transport = new Transport({
      keyPair: this.keyPair,
      secret: options.secret,
      host: options.host ?? DEFAULTS.host,
      port: options.port ?? DEFAULTS.port,
      maxFrameSize: this.maxMessageSize + DEFAULTS.frameOverhead,
      handshakeTimeout: options.handshakeTimeout ?? DEFAULTS.handshakeTimeout,
      maxPendingHandshakes: options.maxPendingHandshakes ?? DEFAULTS.maxPendingHandshakes,
      linkWriteBufferBytes: options.linkWriteBufferBytes ?? DEFAULTS.linkWriteBufferBytes,
      advertise: options.advertise,
      logger: this.log
    })
    this.transport.on('link', (link: Link) => this.onLink(link))
    // Frames and disconnects come from the transport, not the link: it also delivers what a
    // losing duplicate link drains, and reports a peer gone only when no link replaced it.
    this.transport.on('frame', (peer: NodeId, frame: Frame) => this.onFrame(peer, frame))
    this.transport.on('disconnect', (peer: NodeId, info: LinkCloseInfo) => this.onPeerGone(peer, info))
  }

  get address (): string { return this._address }

  private now (): number {
    return performance.now() - this.epoch
  }

  private async start (): Promise<void> {
    await this.transport.listen()
    this._address = this.transport.address as string
    this.state.setMyData(Buffer.from(this._address))
    this.every(DEFAULTS.discoveryInterval, () => this.discoveryRound())
    this.every(DEFAULTS.idleLinkTimeout / 2, () => this.closeIdleLinks())
    const seeds = this.options.seeds ?? []
    if (seeds.length > 0) {
      this.every(this.options.seedRefreshInterval ?? DEFAULTS.seedRefreshInterval, () => { void this.dialSeeds() })
      await this.dialSeeds()
    }
    this.log.info({ nodeId: this.nodeId, address: this._address }, 'gossip node listening')
  }

  // -------------------------------------------------------------------------------------------
  // Public API
  // -------------------------------------------------------------------------------------------

  async stream (topic: TopicInput): Promise<TopicHandle> {
    if (this.closed) throw new ClosedError()
    const id = toTopicId(topic)
    let entry = this.topics.get(id)
    if (entry === undefined) {
      if (this.topics.size >= this.config.maxTopics) {
        throw new GossipError('ERR_GOSSIP_TOO_MANY_TOPICS', `this node is already in ${this.config.maxTopics} topics`)
      }
      entry = { handles: new Set(), pending: [], healTimer: undefined }
      this.topics.set(id, entry)
      const contacts = this.pickContacts(id)
      this.input({ type: 'command', topic: id, command: { type: 'join', peers: contacts.map(c => ({ id: c })) } })
      this.announceTopics()
      this.scheduleHeal(id, 1_000)
    }
    const handle = new TopicHandle(this, id)
    entry.handles.add(handle)
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
    if (!this.transport.links.has(peer) && !this.dialing.has(peer) && this.book.get(peer) === undefined) {
      throw new GossipError('ERR_GOSSIP_UNKNOWN_PEER', `no link to node ${peer.slice(0, 16)}… and no address known for it`)
    }
    this.sendFrame(peer, { type: 'direct', topic: topicId, content: bytes })
  }

  /** @internal HandleHost */
  async publish (topic: TopicId, data: Uint8Array | string, from: TopicHandle): Promise<void> {
    if (this.closed) throw new ClosedError()
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    if (bytes.length > this.maxMessageSize) throw new MessageTooLargeError(bytes.length, this.maxMessageSize)
    const entry = this.topics.get(topic)
    if (entry === undefined) throw new ClosedError('gossip handle')
    this.deliverLocally(entry, topic, bytes, from)
    const view = this.state.view(topic)
    if (view === undefined || view.active.length === 0) {
      // p2panda-net's promise: a publish before the first neighbour is queued, not lost.
      if (entry.pending.length >= (this.options.pendingPublishLimit ?? DEFAULTS.pendingPublishLimit)) {
        throw new GossipError('ERR_GOSSIP_QUEUE_FULL', 'the topic has no neighbour yet and its queue of pending publishes is full')
      }
      entry.pending.push(bytes)
      return
    }
    this.input({ type: 'command', topic, command: { type: 'broadcast', content: bytes } })
  }

  /**
   * Other handles of the topic on this node are subscribers too (a route's handle and the
   * WebSocket bridge's, two adapters on one node): they get the publish at once, at hop 0. The
   * network never sends a node its own message back, so this is their only way to see it.
   */
  private deliverLocally (entry: TopicEntry, topic: TopicId, content: Uint8Array, from: TopicHandle): void {
    if (entry.handles.size < 2) return
    const message: GossipMessage = { type: 'message', id: `${this.nodeId}:local:${this.localSeq++}`, topic, content, origin: this.nodeId, from: this.nodeId, hops: 0 }
    for (const h of entry.handles) if (h !== from) h.deliver(message)
  }

  /** @internal HandleHost */
  neighbours (topic: TopicId): NodeId[] {
    return this.state.view(topic)?.active.slice() ?? []
  }

  /** @internal HandleHost */
  async release (handle: TopicHandle): Promise<void> {
    const entry = this.topics.get(handle.topic)
    if (entry === undefined) return
    entry.handles.delete(handle)
    if (entry.handles.size === 0 && !this.closed) this.leave(handle.topic, entry)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const [topic, entry] of [...this.topics]) {
      for (const h of entry.handles) h.terminate()
      this.leave(topic, entry)
    }
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    for (const t of this.background) clearInterval(t)
    this.background.clear()
    await this.transport.close()
    for (const q of [...this.eventStreams]) q.close()
    this.log.info({ nodeId: this.nodeId }, 'gossip node closed')
  }

  // -------------------------------------------------------------------------------------------
  // Driving the protocol
  // -------------------------------------------------------------------------------------------

  private input (event: InEvent<NodeId>): void {
    if (this.closed && event.type !== 'command') return
    let outs: OutEvent<NodeId>[]
    try {
      outs = this.state.handle(event, this.now())
    } catch (err) {
      // A protocol bug must not take the whole node down; say loudly what input caused it.
      this.log.error({ err, input: event.type }, 'protocol state failed on an input')
      return
    }
    for (const out of outs) this.execute(out)
  }

  private execute (out: OutEvent<NodeId>): void {
    switch (out.type) {
      case 'send':
        this.sendFrame(out.to, { type: 'proto', message: out.message })
        break
      case 'emit':
        this.onProtoEvent(out.topic, out.event)
        break
      case 'schedule':
        this.schedule(out.after, out.timer)
        break
      case 'disconnect': {
        const link = this.transport.links.get(out.peer)
        link?.close('no topic needs this link')
        this.dialing.delete(out.peer)
        break
      }
      case 'peerData':
        this.book.learn(out.peer, Buffer.from(out.data).toString(), undefined, this.now())
        break
    }
  }

  private schedule (after: number, timer: Timer<NodeId>): void {
    if (this.closed) return
    const t: NodeJS.Timeout = setTimeout(() => {
      this.timers.delete(t)
      this.input({ type: 'timer', timer })
    }, after)
    t.unref()
    this.timers.add(t)
  }

  private onProtoEvent (topic: TopicId, event: Event<NodeId>): void {
    const entry = this.topics.get(topic)
    switch (event.type) {
      case 'received': {
        if (entry === undefined) return
        const message: GossipMessage = { type: 'message', id: event.id, topic, content: event.content, origin: event.origin, from: event.from, hops: event.hops }
        for (const h of entry.handles) h.deliver(message)
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
        this.emitEvent({ type: 'neighbourDown', topic, peer: event.peer, reason: event.reason })
        return
      case 'joinFailed':
        this.emitEvent({ type: 'joinFailed', topic, peers: event.peers })
        return
      case 'left':
        this.emitEvent({ type: 'left', topic })
    }
  }

  private flushPending (topic: TopicId): void {
    const entry = this.topics.get(topic)
    if (entry === undefined || entry.pending.length === 0) return
    const pending = entry.pending.splice(0)
    for (const content of pending) this.input({ type: 'command', topic, command: { type: 'broadcast', content } })
  }

  private emitEvent (event: GossipEvent): void {
    for (const q of this.eventStreams) q.push(event)
  }

  private leave (topic: TopicId, entry: TopicEntry): void {
    if (entry.healTimer !== undefined) clearTimeout(entry.healTimer)
    this.healer.forget(topic)
    this.input({ type: 'command', topic, command: { type: 'quit' } })
    this.topics.delete(topic)
    if (!this.closed) this.announceTopics()
  }

  // -------------------------------------------------------------------------------------------
  // Links
  // -------------------------------------------------------------------------------------------

  private sendFrame (peer: NodeId, frame: Frame): void {
    const link = this.transport.links.get(peer)
    if (link !== undefined) {
      this.lastActivity.set(peer, this.now())
      link.send(frame)
      return
    }
    const queued = this.dialing.get(peer)
    if (queued !== undefined) {
      if (queued.length < DEFAULTS.dialQueueLimit) queued.push(frame)
      return
    }
    const addr = this.book.get(peer)?.addr
    if (addr === undefined) {
      this.log.debug({ peer }, 'no address known for peer')
      this.input({ type: 'peerDisconnected', peer })
      return
    }
    this.dialing.set(peer, [frame])
    // On success onLink flushes the queue when the link comes up; only failure is handled here.
    this.transport.dial(addr, peer).catch((err: unknown) => {
      this.dialing.delete(peer)
      if (this.closed) return
      this.book.failure(peer, this.now())
      this.log.debug({ peer, addr, err }, 'dial failed')
      this.input({ type: 'peerDisconnected', peer })
    })
  }

  private onLink (link: Link): void {
    const peer = link.peerId
    const now = this.now()
    this.lastActivity.set(peer, now)
    if (link.remoteAddr != null) this.book.learn(peer, link.remoteAddr, undefined, now)
    this.book.success(peer, now)
    const queued = this.dialing.get(peer)
    this.dialing.delete(peer)
    link.send({ type: 'discovery', topics: [...this.topics.keys()], nodes: this.book.sample(DEFAULTS.discoverySample) })
    if (queued !== undefined) for (const f of queued) link.send(f)
  }

  private onPeerGone (peer: NodeId, info: LinkCloseInfo): void {
    this.lastActivity.delete(peer)
    if (this.closed) return
    if (info.error) this.log.warn({ peer, reason: info.reason }, 'link failed')
    else this.log.debug({ peer, reason: info.reason }, 'link closed')
    this.input({ type: 'peerDisconnected', peer })
  }

  private onFrame (peer: NodeId, frame: Frame): void {
    this.lastActivity.set(peer, this.now())
    switch (frame.type) {
      case 'proto':
        this.input({ type: 'recv', from: peer, message: frame.message as Message<NodeId> })
        return
      case 'discovery': {
        const link = this.transport.links.get(peer)
        if (link !== undefined) this.onDiscovery(link, frame.topics, frame.nodes)
        return
      }
      case 'direct': {
        const entry = this.topics.get(frame.topic)
        if (entry === undefined) return
        const message: GossipMessage = { type: 'message', id: `direct:${peer}`, topic: frame.topic, content: frame.content, origin: peer, from: peer, hops: 0 }
        for (const h of entry.handles) h.deliver(message)
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
  // Topic discovery and healing
  // -------------------------------------------------------------------------------------------

  private onDiscovery (link: Link, topics: TopicId[], nodes: { id: NodeId, addr: string, topics: TopicId[] }[]): void {
    const now = this.now()
    const before = this.book.get(link.peerId)?.topics
    this.book.learn(link.peerId, link.remoteAddr, topics, now)
    for (const n of nodes) {
      if (n.id === this.nodeId) continue
      const known = this.book.get(n.id) !== undefined
      this.book.learn(n.id, n.addr, known ? undefined : n.topics, now)
      if (known) this.book.addTopics(n.id, n.topics)
    }
    // Answer with who else wants the topics the sender just told us about, so two nodes that
    // want a topic meet without sharing a bootstrap node. Only new topics get an answer: two
    // nodes never ping-pong.
    const fresh = topics.filter(t => before === undefined || !before.has(t))
    if (fresh.length > 0) {
      const records = []
      for (const t of fresh) {
        for (const id of this.book.interestedIn(t).slice(0, 8)) {
          if (id === link.peerId) continue
          const r = this.book.get(id)
          if (r !== undefined) records.push({ id, addr: r.addr, topics: [...r.topics] })
        }
      }
      if (records.length > 0) link.send({ type: 'discovery', topics: [...this.topics.keys()], nodes: records.slice(0, 64) })
    }
    // A topic that is isolated and just learned of interested nodes should not wait its backoff.
    for (const [topic, entry] of this.topics) {
      if ((this.state.view(topic)?.active.length ?? 0) === 0 && this.book.interestedIn(topic).length > 0) {
        this.scheduleHeal(topic, 0, entry)
      }
    }
  }

  private announceTopics (): void {
    const topics = [...this.topics.keys()]
    for (const link of this.transport.links.values()) link.send({ type: 'discovery', topics, nodes: [] })
  }

  private discoveryRound (): void {
    const links = [...this.transport.links.values()]
    if (links.length === 0) return
    const link = links[randomInt(links.length)] as Link
    link.send({ type: 'discovery', topics: [...this.topics.keys()], nodes: this.book.sample(DEFAULTS.discoverySample) })
  }

  private pickContacts (topic: TopicId): NodeId[] {
    const interested = this.book.interestedIn(topic)
    const out: NodeId[] = []
    while (out.length < 3 && interested.length > 0) {
      const i = randomInt(interested.length)
      out.push(interested[i] as NodeId)
      interested.splice(i, 1)
    }
    return out
  }

  private scheduleHeal (topic: TopicId, after: number, entry = this.topics.get(topic)): void {
    if (entry === undefined || this.closed) return
    if (entry.healTimer !== undefined) clearTimeout(entry.healTimer)
    entry.healTimer = setTimeout(() => {
      entry.healTimer = undefined
      if (this.closed || this.topics.get(topic) !== entry) return
      const decision = this.healer.tick({
        topic,
        active: this.state.view(topic)?.active ?? [],
        interested: this.book.interestedIn(topic)
      })
      if (decision.join.length > 0) {
        this.log.debug({ topic, peers: decision.join }, 'healing: joining')
        this.input({ type: 'command', topic, command: { type: 'join', peers: decision.join.map(id => ({ id })) } })
      }
      this.scheduleHeal(topic, decision.next, entry)
    }, after)
    entry.healTimer.unref()
  }

  private closeIdleLinks (): void {
    const now = this.now()
    for (const [peer, link] of this.transport.links) {
      if (this.state.needsLink(peer)) continue
      const last = this.lastActivity.get(peer) ?? 0
      if (now - last > DEFAULTS.idleLinkTimeout) link.close('idle')
    }
  }

  private async dialSeeds (): Promise<void> {
    const addrs: string[] = []
    for (const seed of this.options.seeds ?? []) {
      const { host, port } = splitHostPort(seed)
      if (isIP(host) !== 0) {
        addrs.push(joinHostPort(host, port))
        continue
      }
      try {
        // A Kubernetes headless service resolves to every pod: dial them all.
        for (const a of await lookup(host, { all: true })) addrs.push(joinHostPort(a.address, port))
      } catch (err) {
        this.log.warn({ seed, err }, 'could not resolve seed')
      }
    }
    const linkedAddrs = new Set([...this.transport.links.values()].map(l => l.remoteAddr))
    await Promise.all(addrs.filter(a => a !== this._address && !linkedAddrs.has(a)).map(async addr => {
      this.seedAddrs.add(addr)
      try {
        await this.transport.dial(addr)
      } catch (err) {
        if (!this.closed) this.log.debug({ addr, err }, 'seed not reachable')
      }
    }))
  }

  private every (ms: number, fn: () => void): void {
    const t = setInterval(() => { if (!this.closed) fn() }, ms)
    t.unref()
    this.background.add(t)
  }
}
