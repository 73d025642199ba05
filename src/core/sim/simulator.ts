/**
 * A deterministic discrete-event simulator that drives the real protocol state machines
 * (`State` from ../proto) over a simulated network. Peer ids are node indices. Every source of
 * randomness is seeded from the run seed: one stream per node for the protocol, one for the
 * network (loss) and the scenario's own choices come from `sim.rng`. Events run in (time,
 * sequence) order, so the same seed gives the same run, byte for byte.
 *
 * With `discovery` set, every node also runs what the runtime (../gossip.ts) runs beside the
 * protocol, wired the same way: topic discovery (`Discovery`, ../discovery) over the simulator's
 * connections, the `Healer` fed from discovery's address book, seeds dialled at start and again
 * while not linked, and `stream(topic)` / `leave(topic)` as the application's entry points.
 * Without it nothing of that runs and the simulator behaves exactly as it did before.
 */
import { resolveConfig, type PartialProtoConfig, type ProtoConfig } from '../proto/config.js'
import { State, type TopicView } from '../proto/state.js'
import type { Command, InEvent, Message, MessageId, OutEvent, PeerData, Rng, Timer, TopicId } from '../proto/types.js'
import { topicKey } from '../discovery/topic-key.js'
import type { DiscoveryInput, DiscoveryMessage } from '../discovery/types.js'
import { EventQueue } from './event-queue.js'
import { MetricsRecorder } from './metrics.js'
import { Network } from './network.js'
import { NodeDiscovery, type SimDiscoveryOptions } from './node-discovery.js'
import { SEED_BACKOFF_MIN } from '../seed-backoff.js'
import { seededRng } from '../proto/random.js'
import { deriveSeed } from './seed-streams.js'
import { simAddr } from './wire-size.js'

/** What the simulator needs from a node's protocol; `State<number>` is one. */
export interface SimProtocol {
  handle(input: InEvent<number>, now: number): OutEvent<number>[]
  view(topic: TopicId): TopicView<number> | undefined
  /** The active and passive views without copies, when the protocol has them (`State` does). */
  membership?(topic: TopicId): { readonly active: readonly number[], readonly passive: readonly number[] } | undefined
}

/** `data`: what the node advertises about itself (its address), when the discovery layer runs. */
export type ProtocolFactory = (id: number, config: ProtoConfig, rng: Rng, data?: PeerData) => SimProtocol

export interface SimOptions {
  seed: number
  config?: PartialProtoConfig | undefined
  /** Per-pair latency bounds, ms. Default 10–100. */
  latency?: { min: number, max: number } | undefined
  /** Probability that any message is lost. Default 0. */
  loss?: number | undefined
  /** Delay before a dead peer or a cut link is noticed, ms, or `'latency'` (default). */
  failureDelay?: number | 'latency' | undefined
  /**
   * Swallow duplicate payloads before they reach the protocol. Plumtree then never sees a
   * duplicate, never prunes, and every neighbour stays eager: plain flooding, whose RMR is
   * about fanout - 1. Used to check the RMR counter against a known value.
   */
  flood?: boolean | undefined
  /** Builds a node's protocol; default `new State(id, config, rng, data)`. */
  protocol?: ProtocolFactory | undefined
  /** Run topic discovery and the healer on every node, as the runtime does (see the header). */
  discovery?: SimDiscoveryOptions | undefined
  /** Sees every protocol message sent (for measurements). */
  onSend?: ((from: number, to: number, message: Message<number>) => void) | undefined
  /** Sees every discovery message sent (for measurements). */
  onDiscoverySend?: ((from: number, to: number, message: DiscoveryMessage<number>) => void) | undefined
  /** Watches the run from outside (the trace recorder, ./trace.ts); it must not change it. */
  observer?: SimObserver | undefined
}

/**
 * What an observer is told. It reads the simulator (views, liveness, metrics) and never posts
 * events nor draws from its random streams, so that a run with an observer is the same run.
 */
export interface SimObserver {
  /** Once, at the end of the simulator's constructor. */
  attach(sim: Simulator): void
  /** `node`'s protocol just handled an input: its views may have changed. */
  touched(node: number): void
  killed(nodes: readonly number[]): void
  partitioned(groups: ReadonlyArray<readonly number[]>): void
  mended(): void
}

/** Timers that re-arm themselves forever; they do not keep a run from being quiet. */
const PERIODIC_TIMERS = new Set<Timer<number>['type']>(['shuffle', 'evictCache'])

/** A message on a connection, tagged with the layer it is for. */
type Delivery =
  | { kind: 'deliver', layer: 'proto', from: number, to: number, epoch: number, message: Message<number> }
  | { kind: 'deliver', layer: 'discovery', from: number, to: number, epoch: number, message: DiscoveryMessage<number> }
  /** The first bytes of a connection dialled for its own sake (a seed): nothing to hand over. */
  | { kind: 'deliver', layer: 'hello', from: number, to: number, epoch: number, message: undefined }

type SimEvent =
  | Delivery
  /** `to` learns that its connection `epoch` with `from` is gone. */
  /** `graceful`: `from` hung up on purpose (it is alive), rather than the link failing. */
  | { kind: 'closed', from: number, to: number, epoch: number, graceful?: true }
  /** The dialler `to` learns that `from` accepted its connection `epoch` (the handshake's answer). */
  | { kind: 'connected', from: number, to: number, epoch: number }
  /** `periodic`: a re-arming timer that does not count as pending work. */
  | { kind: 'timer', node: number, timer: Timer<number>, periodic: boolean }
  /** Discovery's timer and a topic's heal timer: periodic, stale unless `token` is the node's current one. */
  | { kind: 'tick', node: number, token: number }
  | { kind: 'heal', node: number, topic: TopicId, token: number }
  /** The seed re-dial round (`seed` undefined), or the retry of one seed after a failed dial. */
  | { kind: 'seeds', node: number, seed: number | undefined }
  | { kind: 'call', fn: () => void }

/** Events that re-arm themselves forever and do not keep a run from being quiet. */
function isPeriodic (event: SimEvent): boolean {
  switch (event.kind) {
    case 'timer': return event.periodic
    case 'tick': case 'heal': case 'seeds': return true
    default: return false
  }
}

interface SimNode {
  protocol: SimProtocol
  alive: boolean
  /** When the node first had a neighbour in some topic (NaN: not yet): from then it is a subscriber. */
  memberSince: number
  diedAt: number
  discovery: NodeDiscovery | undefined
}

/** The address in a node's peer data (what the runtime's `addressFromPeerData` reads). */
const addresses = new WeakMap<PeerData, string>()
function addressOf (data: PeerData): string {
  let addr = addresses.get(data)
  if (addr === undefined) {
    addr = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
    addresses.set(data, addr)
  }
  return addr
}

export class Simulator {
  readonly config: ProtoConfig
  readonly metrics = new MetricsRecorder()
  /** The scenario's own random stream (choice of senders, victims...). */
  readonly rng: Rng
  readonly network: Network
  private readonly queue = new EventQueue<SimEvent>()
  private readonly nodes: SimNode[] = []
  private readonly seed: number
  private readonly netRng: Rng
  private readonly flood: boolean
  private readonly protocol: ProtocolFactory
  private clock = 0
  /** Pending events other than periodic timers. */
  private busy = 0
  private messageSeq = 0
  private processed = 0
  private readonly discoveryOptions: SimDiscoveryOptions | undefined
  private readonly seedSet: ReadonlySet<number>
  private readonly onSend: SimOptions['onSend']
  private readonly onDiscoverySend: SimOptions['onDiscoverySend']
  private readonly observer: SimObserver | undefined
  /** Topic -> alive nodes with a stream of it (discovery layer). */
  private readonly streaming = new Map<TopicId, Set<number>>()
  /** stream() time, by node and topic, of streams still waiting for their first neighbour while another member existed. */
  private readonly waiting = new Map<number, Map<TopicId, number>>()
  /**
   * From `stream(topic)` to the first neighbour in that topic, ms, for every stream opened while
   * another node was in the topic (discovery layer).
   */
  readonly firstNeighbourMs: number[] = []

  constructor (options: SimOptions) {
    this.seed = options.seed >>> 0
    this.config = resolveConfig(options.config)
    this.rng = seededRng(deriveSeed(this.seed, -1))
    this.netRng = seededRng(deriveSeed(this.seed, -2))
    this.flood = options.flood ?? false
    this.protocol = options.protocol ?? ((id, config, rng, data) => new State<number>(id, config, rng, data))
    this.discoveryOptions = options.discovery
    this.seedSet = new Set(options.discovery?.seeds ?? [])
    this.onSend = options.onSend
    this.onDiscoverySend = options.onDiscoverySend
    this.network = new Network({
      seed: deriveSeed(this.seed, -3),
      latency: options.latency ?? { min: 10, max: 100 },
      loss: options.loss ?? 0,
      failureDelay: options.failureDelay ?? 'latency'
    })
    this.observer = options.observer
    this.observer?.attach(this)
  }

  /** Current simulated time, ms. */
  get now (): number {
    return this.clock
  }

  /** Events processed so far. */
  get eventCount (): number {
    return this.processed
  }

  get nodeCount (): number {
    return this.nodes.length
  }

  /**
   * Creates a node (not yet in any topic) and returns its id. With the discovery layer, the node
   * starts as the runtime does: it dials its seeds now and every `seedRefreshInterval` after.
   */
  addNode (): number {
    const id = this.nodes.length
    const rng = seededRng(deriveSeed(this.seed, id))
    const d = this.discoveryOptions
    const data = d === undefined ? undefined : Buffer.from(simAddr(id), 'latin1')
    this.nodes.push({
      protocol: this.protocol(id, this.config, rng, data),
      alive: true,
      memberSince: Number.NaN,
      diedAt: Number.NaN,
      discovery: d === undefined ? undefined : new NodeDiscovery(id, this.seed, d, this.config.maxFrameBytes)
    })
    this.network.addNode(id)
    if (d !== undefined) {
      this.dialSeeds(id)
      this.post(this.clock + this.seedRefresh, { kind: 'seeds', node: id, seed: undefined })
    }
    return id
  }

  isAlive (node: number): boolean {
    return this.nodes[node]?.alive ?? false
  }

  diedAt (node: number): number {
    return this.nodes[node]?.diedAt ?? Number.NaN
  }

  memberSince (node: number): number {
    return this.nodes[node]?.memberSince ?? Number.NaN
  }

  aliveNodes (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.nodes.length; i++) if ((this.nodes[i] as SimNode).alive) out.push(i)
    return out
  }

  /** Alive nodes that have had a neighbour: the subscribers a broadcast should reach. */
  members (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i] as SimNode
      if (n.alive && !Number.isNaN(n.memberSince)) out.push(i)
    }
    return out
  }

  view (node: number, topic: TopicId): TopicView<number> | undefined {
    const n = this.nodes[node]
    return n?.alive === true ? n.protocol.view(topic) : undefined
  }

  /** The views of every alive node that is in `topic`. */
  views (topic: TopicId): Map<number, TopicView<number>> {
    const out = new Map<number, TopicView<number>>()
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i] as SimNode
      if (!n.alive) continue
      const v = n.protocol.view(topic)
      if (v !== undefined) out.set(i, v)
    }
    return out
  }

  /** Gives `node` an application command now. */
  command (node: number, topic: TopicId, command: Command<number>): void {
    this.input(node, { type: 'command', topic, command })
  }

  join (node: number, topic: TopicId, contacts: readonly number[]): void {
    this.command(node, topic, { type: 'join', peers: contacts.map(id => ({ id })) })
  }

  /**
   * Publishes a fresh payload from `node` now and records it for the metrics; returns its id. The
   * recipients are `recipients` when given (the topic's members, in runs with many topics),
   * otherwise every member.
   */
  broadcast (node: number, topic: TopicId, content: Uint8Array = new Uint8Array(0), recipients?: readonly number[]): MessageId {
    const id = `m${this.messageSeq++}`
    const members = (recipients ?? this.members()).filter(m => m !== node)
    this.metrics.onPublish(id, topic, node, this.clock, Int32Array.from(members), this.nodes.length, recipients !== undefined)
    this.command(node, topic, { type: 'broadcast', content, id })
    return id
  }

  /** Kills nodes at once (crash, no goodbye). Their peers notice after the failure delay. */
  kill (victims: readonly number[]): void {
    this.observer?.killed(victims.filter(x => this.nodes[x]?.alive === true))
    for (const x of victims) {
      const node = this.nodes[x]
      if (node === undefined || !node.alive) continue
      node.alive = false
      node.diedAt = this.clock
      if (node.discovery !== undefined) for (const topic of node.discovery.streams) this.streaming.get(topic)?.delete(x)
      this.waiting.delete(x)
      for (const [peer, end] of this.network.endsOf(x)) {
        if (end.open) this.post(this.clock + this.network.failureDelay(x, peer), { kind: 'closed', from: x, to: peer, epoch: end.epoch })
      }
      this.network.drop(x)
    }
  }

  /**
   * Cuts the network into groups (unlisted nodes form one more group). Links across groups break:
   * both ends notice after the failure delay, and messages across are dropped until `mend()`.
   */
  partition (groups: ReadonlyArray<readonly number[]>): void {
    this.network.partition(groups, this.nodes.length)
    this.observer?.partitioned(groups)
    for (let a = 0; a < this.nodes.length; a++) {
      if (!(this.nodes[a] as SimNode).alive) continue
      for (const [b, end] of this.network.endsOf(a)) {
        if (end.open && !this.network.reachable(a, b)) {
          this.post(this.clock + this.network.failureDelay(a, b), { kind: 'closed', from: b, to: a, epoch: end.epoch })
        }
      }
    }
  }

  mend (): void {
    this.network.mend()
    this.observer?.mended()
  }

  /** Runs `fn` at simulated time `time` (not before now). */
  at (time: number, fn: () => void): void {
    this.post(Math.max(time, this.clock), { kind: 'call', fn })
  }

  /** Processes every event up to and including time `time`, then sets the clock to `time`. */
  runUntil (time: number): void {
    for (;;) {
      const next = this.queue.peekTime()
      if (next === undefined || next > time) break
      this.step()
    }
    if (time > this.clock) this.clock = time
  }

  runFor (ms: number): void {
    this.runUntil(this.clock + ms)
  }

  /**
   * Runs until nothing but periodic timers is pending (no message in flight, no pending protocol
   * timer, no scheduled call), or until `limit` ms have passed. Returns true if it got quiet.
   */
  runUntilQuiet (limit = 60_000): boolean {
    const end = this.clock + limit
    while (this.busy > 0) {
      const next = this.queue.peekTime()
      if (next === undefined || next > end) break
      this.step()
    }
    if (this.busy === 0) return true
    this.runUntil(end)
    return this.busy === 0
  }

  private post (time: number, event: SimEvent): void {
    if (!isPeriodic(event)) this.busy++
    this.queue.push(time, event)
  }

  private step (): void {
    const event = this.queue.pop()
    if (event === undefined) return
    const time = this.queue.lastTime
    if (!isPeriodic(event)) this.busy--
    this.clock = time
    this.processed++
    switch (event.kind) {
      case 'deliver': this.deliver(event); break
      case 'closed': this.closed(event.from, event.to, event.epoch, event.graceful === true); break
      case 'connected': this.connected(event.from, event.to, event.epoch); break
      case 'timer':
        if ((this.nodes[event.node] as SimNode).alive) this.input(event.node, { type: 'timer', timer: event.timer })
        break
      case 'tick': {
        const d = this.liveDiscovery(event.node)
        if (d !== undefined && d.tick === event.token) this.discover(event.node, { type: 'tick' })
        break
      }
      case 'heal': this.heal(event.node, event.topic, event.token); break
      case 'seeds': {
        const d = this.liveDiscovery(event.node)
        if (d === undefined) break
        if (event.seed === undefined) {
          this.dialSeeds(event.node)
          this.post(this.clock + this.seedRefresh, event)
        } else {
          const s = d.seedDials.get(event.seed)
          if (s !== undefined) s.retrying = false
          this.dialSeed(event.node, d, event.seed)
        }
        break
      }
      case 'call': event.fn(); break
    }
  }

  private input (node: number, input: InEvent<number>): void {
    const n = this.nodes[node] as SimNode
    if (!n.alive) return
    const outs = n.protocol.handle(input, this.clock)
    for (const out of outs) {
      switch (out.type) {
        case 'send': this.send(node, out.to, out.message); break
        case 'emit': {
          const ev = out.event
          if (ev.type === 'received') this.metrics.onReceived(node, ev, this.clock)
          else if (ev.type === 'neighborDown' && ev.reason === 'failure') n.discovery?.healer.failed(out.topic, this.clock)
          else if (ev.type === 'joined' || ev.type === 'neighborUp') {
            if (Number.isNaN(n.memberSince)) n.memberSince = this.clock
            if (n.discovery !== undefined) this.firstNeighbour(node, out.topic)
          }
          break
        }
        case 'schedule':
          this.post(this.clock + out.after, { kind: 'timer', node, timer: out.timer, periodic: PERIODIC_TIMERS.has(out.timer.type) })
          break
        case 'disconnect': case 'drop': this.hangUp(node, out.peer); break
        // The simulated network has no read buffers to leave a peer's messages in.
        case 'throttle': break
        case 'peerData':
          if (n.discovery !== undefined) this.discover(node, { type: 'learn', peer: out.peer, addr: addressOf(out.data), topic: topicKey(out.topic) })
          break
      }
    }
    this.observer?.touched(node)
  }

  private send (from: number, to: number, message: Message<number>): void {
    this.metrics.onSend(message)
    if (this.onSend !== undefined) this.onSend(from, to, message)
    const epoch = this.network.dial(from, to)
    if (this.network.loss > 0 && this.netRng.next() < this.network.loss) {
      this.metrics.onLost()
      return
    }
    this.post(this.clock + this.network.latency(from, to), { kind: 'deliver', layer: 'proto', from, to, epoch, message })
  }

  private deliver (event: Delivery): void {
    const { from, to, epoch } = event
    const target = this.nodes[to] as SimNode
    if (!target.alive || !this.network.reachable(from, to)) {
      // Nobody answers: the sender's connection attempt (or connection) fails after the failure delay.
      if (event.layer !== 'hello') this.metrics.onDropped()
      if ((this.nodes[from] as SimNode).alive) {
        this.post(this.clock + this.network.failureDelay(from, to), { kind: 'closed', from: to, to: from, epoch })
      }
      return
    }
    // The epoch `to` had with `from` before this message: a newer one is a connection `from` dialled.
    const known = target.discovery === undefined ? epoch : this.network.end(to, from)?.epoch
    if (!this.network.accept(to, from, epoch)) {
      if (event.layer !== 'hello') this.metrics.onDropped()
      return
    }
    if (known !== epoch) this.accepted(to, from, epoch)
    if (event.layer === 'proto') {
      const body = event.message.body
      if (this.flood && body.type === 'gossip' && this.metrics.has(body.id, to)) return
      this.input(to, { type: 'recv', from, message: event.message })
    } else if (event.layer === 'discovery') {
      this.discover(to, { type: 'recv', from, message: event.message })
    }
    // A hello only opens the connection.
  }

  private hangUp (node: number, peer: number): void {
    const epoch = this.network.hangUp(node, peer)
    if (epoch === undefined) return
    // Queued after everything already sent on this link, and with the same latency: it arrives last.
    this.post(this.clock + this.network.latency(node, peer), { kind: 'closed', from: node, to: peer, epoch, graceful: true })
    const d = (this.nodes[node] as SimNode).discovery
    if (d !== undefined && d.up.delete(peer)) {
      this.discover(node, { type: 'linkDown', peer })
      if (d.up.size === 0) this.dialSeeds(node)
    }
  }

  private closed (from: number, to: number, epoch: number, graceful: boolean): void {
    const node = this.nodes[to] as SimNode
    if (!node.alive) return
    if (!this.network.close(to, from, epoch)) return
    const d = node.discovery
    if (d === undefined) {
      this.input(to, { type: 'peerDisconnected', peer: from, graceful })
      return
    }
    // As the runtime: discovery first (a link that never came up is a failed dial), then the
    // protocol; then the seeds, if this was our dial of a seed or our last link.
    const wasUp = d.up.delete(from)
    this.discover(to, wasUp ? { type: 'linkDown', peer: from } : { type: 'dialFailed', peer: from })
    this.input(to, { type: 'peerDisconnected', peer: from, graceful })
    const seedDial = d.seedDials.get(from)
    if (!wasUp && seedDial !== undefined && seedDial.epoch === epoch && !seedDial.retrying) {
      this.post(this.clock + d.seedRetry(from, this.seedRefresh), { kind: 'seeds', node: to, seed: from })
    }
    if (wasUp && d.up.size === 0) this.dialSeeds(to)
  }

  // -------------------------------------------------------------------------------------------
  // The discovery layer: what ../gossip.ts does around `Discovery`, `Healer` and `State`
  // -------------------------------------------------------------------------------------------

  /** The node's discovery state while it is alive (undefined without the layer). */
  discoveryOf (node: number): NodeDiscovery | undefined {
    return this.liveDiscovery(node)
  }

  /**
   * The application opens a stream of `topic` on `node` (the runtime's `stream()` for a topic not
   * streamed yet): join through up to 3 random nodes discovery knows in the topic (possibly none),
   * tell discovery, and heal the topic from 1 s on.
   */
  stream (node: number, topic: TopicId): void {
    const d = this.liveDiscovery(node)
    if (d === undefined) throw new Error(`stream() needs the discovery layer and an alive node (node ${node})`)
    if (d.streams.has(topic)) return
    d.streams.add(topic)
    let members = this.streaming.get(topic)
    if (members === undefined) {
      members = new Set()
      this.streaming.set(topic, members)
    }
    if (members.size > 0) {
      let waits = this.waiting.get(node)
      if (waits === undefined) {
        waits = new Map()
        this.waiting.set(node, waits)
      }
      waits.set(topic, this.clock)
    }
    members.add(node)
    this.join(node, topic, d.pickContacts(topic))
    d.topicOfKey.set(topicKey(topic), topic)
    this.discover(node, { type: 'joinTopic', topic: topicKey(topic) })
    this.scheduleHeal(node, topic, 1_000)
  }

  /** The application closes the last stream of `topic` on `node`: quit, tell discovery, stop healing. */
  leave (node: number, topic: TopicId): void {
    const d = this.liveDiscovery(node)
    if (d === undefined || !d.streams.delete(topic)) return
    d.heal.delete(topic)
    d.healer.forget(topic)
    this.streaming.get(topic)?.delete(node)
    this.waiting.get(node)?.delete(topic)
    this.command(node, topic, { type: 'quit' })
    d.topicOfKey.delete(topicKey(topic))
    this.discover(node, { type: 'leaveTopic', topic: topicKey(topic) })
  }

  /** Alive nodes with a stream of `topic`. */
  streamers (topic: TopicId): number[] {
    return [...(this.streaming.get(topic) ?? [])]
  }

  /** Every topic some node has (or had) a stream of. */
  streamedTopics (): TopicId[] {
    return [...this.streaming.keys()]
  }

  /** Streams still waiting for their first neighbour although another member existed when they opened. */
  waitingForNeighbour (): Array<{ node: number, topic: TopicId, since: number }> {
    const out: Array<{ node: number, topic: TopicId, since: number }> = []
    for (const [node, waits] of this.waiting) for (const [topic, since] of waits) out.push({ node, topic, since })
    return out
  }

  private liveDiscovery (node: number): NodeDiscovery | undefined {
    const n = this.nodes[node]
    return n?.alive === true ? n.discovery : undefined
  }

  private firstNeighbour (node: number, topic: TopicId): void {
    const waits = this.waiting.get(node)
    const since = waits?.get(topic)
    if (waits === undefined || since === undefined) return
    waits.delete(topic)
    this.firstNeighbourMs.push(this.clock - since)
  }

  private discover (node: number, input: DiscoveryInput<number>): void {
    const n = this.nodes[node] as SimNode
    const d = n.discovery
    if (!n.alive || d === undefined) return
    for (const out of d.discovery.handle(input, this.clock)) {
      switch (out.type) {
        case 'send': this.sendDiscovery(node, out.to, out.message); break
        case 'schedule':
          // One timer per node: the new one replaces the pending one.
          d.tick = d.token()
          this.post(this.clock + out.after, { kind: 'tick', node, token: d.tick })
          break
        case 'found': {
          // An isolated topic that just learned of interested nodes does not wait for its backoff.
          const topic = d.topicOfKey.get(out.topic)
          if (topic !== undefined && d.streams.has(topic) && (this.viewsOf(node, topic)?.active.length ?? 0) === 0) this.scheduleHeal(node, topic, 0)
          break
        }
      }
    }
  }

  private sendDiscovery (from: number, to: number, message: DiscoveryMessage<number>): void {
    this.metrics.onDiscoverySend(message)
    if (this.onDiscoverySend !== undefined) this.onDiscoverySend(from, to, message)
    const epoch = this.network.dial(from, to)
    if (this.network.loss > 0 && this.netRng.next() < this.network.loss) {
      this.metrics.onLost()
      return
    }
    this.post(this.clock + this.network.latency(from, to), { kind: 'deliver', layer: 'discovery', from, to, epoch, message })
  }

  private get seedRefresh (): number {
    return this.discoveryOptions?.seedRefreshInterval ?? 30_000
  }

  /** A round of the runtime's `Seeds`: dial every seed not linked and not waiting for its backoff. */
  private dialSeeds (node: number): void {
    const d = this.liveDiscovery(node)
    if (d === undefined) return
    for (const seed of this.seedSet) {
      if (d.seedDials.get(seed)?.retrying !== true) this.dialSeed(node, d, seed)
    }
  }

  /** Dial one seed unless linked to it (a seed not started yet is a dial that fails). */
  private dialSeed (node: number, d: NodeDiscovery, seed: number): void {
    if (seed === node || this.network.end(node, seed)?.open === true) return
    const epoch = this.network.dial(node, seed)
    const s = d.seedDials.get(seed)
    if (s === undefined) d.seedDials.set(seed, { epoch, backoff: SEED_BACKOFF_MIN, failures: 0, retrying: false })
    else s.epoch = epoch
    if (seed >= this.nodes.length) {
      this.post(this.clock + this.network.latency(node, seed), { kind: 'closed', from: seed, to: node, epoch })
      return
    }
    this.post(this.clock + this.network.latency(node, seed), { kind: 'deliver', layer: 'hello', from: node, to: seed, epoch, message: undefined })
  }

  /** `node` accepted the connection `epoch` that `peer` dialled: its end is up, and the dialler learns so. */
  private accepted (node: number, peer: number, epoch: number): void {
    this.linkUp(node, peer, epoch)
    this.post(this.clock + this.network.latency(node, peer), { kind: 'connected', from: node, to: peer, epoch })
  }

  private connected (from: number, to: number, epoch: number): void {
    const d = this.liveDiscovery(to)
    if (d === undefined || !this.network.reachable(from, to) || d.up.get(from) === epoch) return
    const end = this.network.end(to, from)
    if (end !== undefined && end.open && end.epoch === epoch) this.linkUp(to, from, epoch)
  }

  private linkUp (node: number, peer: number, epoch: number): void {
    const d = (this.nodes[node] as SimNode).discovery
    if (d === undefined) return
    d.up.set(peer, epoch)
    this.discover(node, { type: 'linkUp', peer, addr: simAddr(peer) })
    if (this.seedSet.has(peer)) {
      const s = d.seedDials.get(peer)
      if (s !== undefined) {
        s.backoff = SEED_BACKOFF_MIN
        s.failures = 0
      }
      this.discover(node, { type: 'seed', peer, addr: simAddr(peer) })
    }
  }

  private viewsOf (node: number, topic: TopicId): { readonly active: readonly number[], readonly passive: readonly number[] } | undefined {
    const n = this.nodes[node]
    if (n?.alive !== true) return undefined
    return n.protocol.membership !== undefined ? n.protocol.membership(topic) : n.protocol.view(topic)
  }

  /** A topic's heal timer (the runtime's `scheduleHeal`): a newer one replaces the pending one. */
  private scheduleHeal (node: number, topic: TopicId, after: number): void {
    const d = this.liveDiscovery(node)
    if (d === undefined || !d.streams.has(topic)) return
    const token = d.token()
    d.heal.set(topic, token)
    this.post(this.clock + after, { kind: 'heal', node, topic, token })
  }

  private heal (node: number, topic: TopicId, token: number): void {
    const d = this.liveDiscovery(node)
    if (d === undefined || d.heal.get(topic) !== token) return
    d.heal.delete(topic)
    if (!d.streams.has(topic)) return
    const view = this.viewsOf(node, topic)
    const active = view?.active ?? []
    const decision = d.healer.tick({ topic, active, interested: d.healCandidates(topic, active, view?.passive ?? []), now: this.clock })
    if (decision.join.length > 0) this.join(node, topic, decision.join)
    this.scheduleHeal(node, topic, decision.next)
  }
}
