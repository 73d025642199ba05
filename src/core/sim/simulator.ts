/**
 * A deterministic discrete-event simulator that drives the real protocol state machines
 * (`State` from ../proto) over a simulated network. Peer ids are node indices. Every source of
 * randomness is seeded from the run seed: one stream per node for the protocol, one for the
 * network (loss) and the scenario's own choices come from `sim.rng`. Events run in (time,
 * sequence) order, so the same seed gives the same run, byte for byte.
 */
import { resolveConfig, type PartialProtoConfig, type ProtoConfig } from '../proto/config.js'
import { State, type TopicView } from '../proto/state.js'
import type { Command, InEvent, Message, MessageId, OutEvent, Rng, Timer, TopicId } from '../proto/types.js'
import { EventQueue } from './event-queue.js'
import { MetricsRecorder } from './metrics.js'
import { Network } from './network.js'
import { seededRng } from '../proto/random.js'
import { deriveSeed } from './seed-streams.js'

/** What the simulator needs from a node's protocol; `State<number>` is one. */
export interface SimProtocol {
  handle(input: InEvent<number>, now: number): OutEvent<number>[]
  view(topic: TopicId): TopicView<number> | undefined
}

export type ProtocolFactory = (id: number, config: ProtoConfig, rng: Rng) => SimProtocol

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
  /** Builds a node's protocol; default `new State(id, config, rng)`. */
  protocol?: ProtocolFactory | undefined
}

/** Timers that re-arm themselves forever; they do not keep a run from being quiet. */
const PERIODIC_TIMERS = new Set<Timer<number>['type']>(['shuffle', 'evictCache'])

type SimEvent =
  | { kind: 'deliver', from: number, to: number, epoch: number, message: Message<number> }
  /** `to` learns that its connection `epoch` with `from` is gone. */
  | { kind: 'closed', from: number, to: number, epoch: number }
  /** `periodic`: a re-arming timer that does not count as pending work. */
  | { kind: 'timer', node: number, timer: Timer<number>, periodic: boolean }
  | { kind: 'call', fn: () => void }

interface SimNode {
  protocol: SimProtocol
  alive: boolean
  /** When the node first had a neighbour in some topic (NaN: not yet): from then it is a subscriber. */
  memberSince: number
  diedAt: number
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

  constructor (options: SimOptions) {
    this.seed = options.seed >>> 0
    this.config = resolveConfig(options.config)
    this.rng = seededRng(deriveSeed(this.seed, -1))
    this.netRng = seededRng(deriveSeed(this.seed, -2))
    this.flood = options.flood ?? false
    this.protocol = options.protocol ?? ((id, config, rng) => new State<number>(id, config, rng))
    this.network = new Network({
      seed: deriveSeed(this.seed, -3),
      latency: options.latency ?? { min: 10, max: 100 },
      loss: options.loss ?? 0,
      failureDelay: options.failureDelay ?? 'latency'
    })
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

  /** Creates a node (not yet in any topic) and returns its id. */
  addNode (): number {
    const id = this.nodes.length
    const rng = seededRng(deriveSeed(this.seed, id))
    this.nodes.push({ protocol: this.protocol(id, this.config, rng), alive: true, memberSince: Number.NaN, diedAt: Number.NaN })
    this.network.addNode(id)
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

  /** Publishes a fresh payload from `node` now and records it for the metrics; returns its id. */
  broadcast (node: number, topic: TopicId, content: Uint8Array = new Uint8Array(0)): MessageId {
    const id = `m${this.messageSeq++}`
    const members = this.members().filter(m => m !== node)
    this.metrics.onPublish(id, topic, node, this.clock, Int32Array.from(members), this.nodes.length)
    this.command(node, topic, { type: 'broadcast', content, id })
    return id
  }

  /** Kills nodes at once (crash, no goodbye). Their peers notice after the failure delay. */
  kill (victims: readonly number[]): void {
    for (const x of victims) {
      const node = this.nodes[x]
      if (node === undefined || !node.alive) continue
      node.alive = false
      node.diedAt = this.clock
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
    if (event.kind !== 'timer' || !event.periodic) this.busy++
    this.queue.push(time, event)
  }

  private step (): void {
    const event = this.queue.pop()
    if (event === undefined) return
    const time = this.queue.lastTime
    if (event.kind !== 'timer' || !event.periodic) this.busy--
    this.clock = time
    this.processed++
    switch (event.kind) {
      case 'deliver': this.deliver(event.from, event.to, event.epoch, event.message); break
      case 'closed': this.closed(event.from, event.to, event.epoch); break
      case 'timer':
        if ((this.nodes[event.node] as SimNode).alive) this.input(event.node, { type: 'timer', timer: event.timer })
        break
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
          else if ((ev.type === 'joined' || ev.type === 'neighborUp') && Number.isNaN(n.memberSince)) n.memberSince = this.clock
          break
        }
        case 'schedule':
          this.post(this.clock + out.after, { kind: 'timer', node, timer: out.timer, periodic: PERIODIC_TIMERS.has(out.timer.type) })
          break
        case 'disconnect': this.hangUp(node, out.peer); break
        case 'peerData': break
      }
    }
  }

  private send (from: number, to: number, message: Message<number>): void {
    this.metrics.onSend(message)
    const epoch = this.network.dial(from, to)
    if (this.network.loss > 0 && this.netRng.next() < this.network.loss) {
      this.metrics.onLost()
      return
    }
    this.post(this.clock + this.network.latency(from, to), { kind: 'deliver', from, to, epoch, message })
  }

  private deliver (from: number, to: number, epoch: number, message: Message<number>): void {
    const target = this.nodes[to] as SimNode
    if (!target.alive || !this.network.reachable(from, to)) {
      // Nobody answers: the sender's connection attempt (or connection) fails after the failure delay.
      this.metrics.onDropped()
      if ((this.nodes[from] as SimNode).alive) {
        this.post(this.clock + this.network.failureDelay(from, to), { kind: 'closed', from: to, to: from, epoch })
      }
      return
    }
    if (!this.network.accept(to, from, epoch)) {
      this.metrics.onDropped()
      return
    }
    const body = message.body
    if (this.flood && body.type === 'gossip' && this.metrics.has(body.id, to)) return
    this.input(to, { type: 'recv', from, message })
  }

  private hangUp (node: number, peer: number): void {
    const epoch = this.network.hangUp(node, peer)
    if (epoch === undefined) return
    // Queued after everything already sent on this link, and with the same latency: it arrives last.
    this.post(this.clock + this.network.latency(node, peer), { kind: 'closed', from: node, to: peer, epoch })
  }

  private closed (from: number, to: number, epoch: number): void {
    if (!(this.nodes[to] as SimNode).alive) return
    if (this.network.close(to, from, epoch)) this.input(to, { type: 'peerDisconnected', peer: from })
  }
}
