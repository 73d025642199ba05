/**
 * What the simulator measures, with the definitions of the HyParView and Plumtree papers:
 *
 * - reliability of a message: share of its recipients (alive subscribers, the origin excluded)
 *   that delivered it;
 * - RMR (relative message redundancy): m / (n - 1) - 1, with m the payload (GOSSIP) sends for the
 *   message and n the nodes that have it (the deliverers plus the origin); 0 is a perfect tree,
 *   eager flooding over a fanout of f gives about f - 1;
 * - LDH (last delivery hop): the hop count of the last delivery, a neighbour of the origin being 1;
 * - time to full delivery: from publish to the last recipient's delivery (NaN if some never did);
 * - overlay shape: view-size distributions, nodes with no neighbour, connected components of the
 *   active-view graph, and how symmetric the active views are.
 */
import type { Event, Message, MessageId, TopicId } from '../proto/types.js'
import type { TopicView } from '../proto/state.js'
import type { DiscoveryMessage } from '../discovery/types.js'
import { DisjointSets } from './disjoint-sets.js'

export interface MessageRecord {
  id: MessageId
  topic: TopicId
  origin: number
  publishedAt: number
  /** Subscribers other than the origin at publish time. */
  members: Int32Array
  /**
   * Delivery time (NaN: not delivered) by node id, covering the nodes that existed at publish
   * time; or, when `slots` is set, by the node's slot (its index in `members`).
   */
  deliveredAt: Float64Array
  /** Node id -> index in `deliveredAt`, for a record kept for its members only (one topic of many). */
  slots?: Map<number, number> | undefined
  /** First deliveries, by any node. */
  deliveries: number
  /** A node delivering the same message twice: a protocol bug, counted to be seen. */
  duplicateDeliveries: number
  payloadSends: number
  lastDeliveryAt: number
  lastHops: number
  maxHops: number
}

/** Message counts by kind, for control-overhead ratios over a window. */
export interface TrafficCounters {
  payload: number
  ihave: number
  /** GRAFTs that make a link eager again. */
  graft: number
  /** PULLs: a missed payload asked for over a link that stays lazy. */
  pull: number
  prune: number
  membership: number
  delivered: number
  lost: number
  dropped: number
  /** Topic discovery messages (not counted in `membership`). */
  discovery: number
}

export class MetricsRecorder {
  readonly messages: MessageRecord[] = []
  private readonly byId = new Map<MessageId, MessageRecord>()
  private readonly traffic: TrafficCounters = {
    payload: 0, ihave: 0, graft: 0, pull: 0, prune: 0, membership: 0, delivered: 0, lost: 0, dropped: 0, discovery: 0
  }

  /**
   * A message published now. `sparse`: keep delivery times for `members` only instead of for every
   * node (for runs with many topics, where a topic's members are a small share of the nodes).
   */
  onPublish (id: MessageId, topic: TopicId, origin: number, time: number, members: Int32Array, nodeCount: number, sparse = false): MessageRecord {
    let slots: Map<number, number> | undefined
    if (sparse) {
      slots = new Map()
      for (let i = 0; i < members.length; i++) slots.set(members[i] as number, i)
    }
    const record: MessageRecord = {
      id,
      topic,
      origin,
      publishedAt: time,
      members,
      deliveredAt: new Float64Array(sparse ? members.length : nodeCount).fill(Number.NaN),
      slots,
      deliveries: 0,
      duplicateDeliveries: 0,
      payloadSends: 0,
      lastDeliveryAt: Number.NaN,
      lastHops: 0,
      maxHops: 0
    }
    this.messages.push(record)
    this.byId.set(id, record)
    return record
  }

  record (id: MessageId): MessageRecord | undefined {
    return this.byId.get(id)
  }

  /** Forgets the records from `messages[index]` on (deliveries of them are then ignored). */
  dropFrom (index: number): void {
    for (const r of this.messages.splice(index)) this.byId.delete(r.id)
  }

  onDiscoverySend (_message: DiscoveryMessage<number>): void {
    this.traffic.discovery++
  }

  onSend (message: Message<number>): void {
    const body = message.body
    switch (body.type) {
      case 'gossip': {
        this.traffic.payload++
        const record = this.byId.get(body.id)
        if (record !== undefined) record.payloadSends++
        break
      }
      case 'ihave': this.traffic.ihave++; break
      case 'graft': if (body.pull === true) this.traffic.pull++; else this.traffic.graft++; break
      case 'prune': this.traffic.prune++; break
      default: this.traffic.membership++
    }
  }

  onLost (): void { this.traffic.lost++ }
  onDropped (): void { this.traffic.dropped++ }

  /** A `received` event: the first delivery of a payload at `node`. */
  onReceived (node: number, event: Extract<Event<number>, { type: 'received' }>, time: number): void {
    const record = this.byId.get(event.id)
    if (record === undefined) return
    const slot = record.slots === undefined ? node : (record.slots.get(node) ?? record.deliveredAt.length)
    if (slot >= record.deliveredAt.length) {
      // A node born after the publish (or, in a sparse record, no member then) is no recipient;
      // still count the delivery for RMR.
      record.deliveries++
    } else if (Number.isNaN(record.deliveredAt[slot] as number)) {
      record.deliveredAt[slot] = time
      record.deliveries++
    } else {
      record.duplicateDeliveries++
      return
    }
    this.traffic.delivered++
    record.lastDeliveryAt = time
    record.lastHops = event.hops
    if (event.hops > record.maxHops) record.maxHops = event.hops
  }

  /** True if `node` has delivered message `id` (or published it). */
  has (id: MessageId, node: number): boolean {
    const record = this.byId.get(id)
    if (record === undefined) return false
    if (record.origin === node) return true
    const t = record.deliveredAt[record.slots === undefined ? node : (record.slots.get(node) ?? -1)]
    return t !== undefined && !Number.isNaN(t)
  }

  /** A copy of the counters; subtract two snapshots to measure a window. */
  counters (): TrafficCounters {
    return { ...this.traffic }
  }
}

export function countersBetween (before: TrafficCounters, after: TrafficCounters): TrafficCounters {
  return {
    payload: after.payload - before.payload,
    ihave: after.ihave - before.ihave,
    graft: after.graft - before.graft,
    pull: after.pull - before.pull,
    prune: after.prune - before.prune,
    membership: after.membership - before.membership,
    delivered: after.delivered - before.delivered,
    lost: after.lost - before.lost,
    dropped: after.dropped - before.dropped,
    discovery: after.discovery - before.discovery
  }
}

/** Plumtree control messages (IHAVE, GRAFT, PULL, PRUNE) per delivered payload in a window. */
export function controlPerDelivery (window: TrafficCounters): number {
  const control = window.ihave + window.graft + window.pull + window.prune
  return window.delivered === 0 ? Number.NaN : control / window.delivered
}

export interface MessageOutcome {
  id: MessageId
  recipients: number
  delivered: number
  reliability: number
  rmr: number
  ldh: number
  fullDeliveryMs: number
}

/**
 * The paper metrics of one message. `isRecipient(node)` says whether a member at publish time
 * still counts (typically: it was alive long enough to be expected to deliver).
 */
export function messageOutcome (record: MessageRecord, isRecipient: (node: number) => boolean): MessageOutcome {
  let recipients = 0
  let delivered = 0
  let last = record.publishedAt
  const slots = record.slots
  for (let i = 0; i < record.members.length; i++) {
    const node = record.members[i] as number
    if (!isRecipient(node)) continue
    recipients++
    const t = record.deliveredAt[slots === undefined ? node : i] as number
    if (!Number.isNaN(t)) {
      delivered++
      if (t > last) last = t
    }
  }
  return {
    id: record.id,
    recipients,
    delivered,
    reliability: recipients === 0 ? 1 : delivered / recipients,
    rmr: rmr(record.payloadSends, record.deliveries + 1),
    ldh: record.lastHops,
    fullDeliveryMs: delivered === recipients ? last - record.publishedAt : Number.NaN
  }
}

/** Relative message redundancy: `payloadSends / (nodesWithMessage - 1) - 1`, counting the origin. */
export function rmr (payloadSends: number, nodesWithMessage: number): number {
  if (nodesWithMessage <= 1) return Number.NaN
  return payloadSends / (nodesWithMessage - 1) - 1
}

export interface Distribution {
  mean: number
  min: number
  max: number
  /** `histogram[k]` nodes have a view of size k. */
  histogram: number[]
}

export function distribution (values: readonly number[]): Distribution {
  if (values.length === 0) return { mean: Number.NaN, min: Number.NaN, max: Number.NaN, histogram: [] }
  let sum = 0
  let min = Infinity
  let max = -Infinity
  const histogram: number[] = []
  for (const v of values) {
    sum += v
    if (v < min) min = v
    if (v > max) max = v
    histogram[v] = (histogram[v] ?? 0) + 1
  }
  for (let i = 0; i < histogram.length; i++) histogram[i] ??= 0
  return { mean: sum / values.length, min, max, histogram }
}

export interface OverlayStats {
  nodes: number
  active: Distribution
  passive: Distribution
  eager: Distribution
  lazy: Distribution
  /** Alive members with an empty active view. */
  isolated: number
  /** Connected components of the active-view graph over alive members (edges taken undirected). */
  components: number
  largestComponent: number
  /** Share of active entries a→b (b alive) where b also has a in its active view. */
  symmetry: number
  /** Active entries that point at a dead node. */
  deadActive: number
}

/**
 * Shape of one topic's overlay. `views` holds the alive members' views keyed by node id;
 * `isAlive` tells whether a peer named in a view is alive.
 */
export function overlayStats (views: ReadonlyMap<number, TopicView<number>>, isAlive: (node: number) => boolean): OverlayStats {
  const ids = [...views.keys()].sort((a, b) => a - b)
  const index = new Map<number, number>()
  ids.forEach((id, i) => index.set(id, i))
  const sets = new DisjointSets(ids.length)

  let isolated = 0
  let edges = 0
  let symmetric = 0
  let deadActive = 0
  const sizes = { active: [] as number[], passive: [] as number[], eager: [] as number[], lazy: [] as number[] }
  for (const id of ids) {
    const view = views.get(id) as TopicView<number>
    sizes.active.push(view.active.length)
    sizes.passive.push(view.passive.length)
    sizes.eager.push(view.eager.length)
    sizes.lazy.push(view.lazy.length)
    if (view.active.length === 0) isolated++
    for (const peer of view.active) {
      if (!isAlive(peer)) { deadActive++; continue }
      edges++
      if (views.get(peer)?.active.includes(id) === true) symmetric++
      const j = index.get(peer)
      if (j === undefined) continue
      sets.union(index.get(id) as number, j)
    }
  }
  const componentSizes = sets.sizes()
  return {
    nodes: ids.length,
    active: distribution(sizes.active),
    passive: distribution(sizes.passive),
    eager: distribution(sizes.eager),
    lazy: distribution(sizes.lazy),
    isolated,
    components: componentSizes.size,
    largestComponent: Math.max(0, ...componentSizes.values()),
    symmetry: edges === 0 ? 1 : symmetric / edges,
    deadActive
  }
}
