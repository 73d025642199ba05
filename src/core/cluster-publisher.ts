/**
 * Publishes a node's cluster summary (./cluster-summary.ts) on the cluster topic: periodically,
 * and early when its neighbours change, at most once per `interval`. Works on any GossipApi, so a
 * node that only relays publishes too (`clusterSummary` node option) and the Fastify dashboard can
 * start it on a node it was given. One publisher per node, however many ask for it.
 *
 * The period grows with the cluster: every node receives (and most forward, or announce) every
 * summary, so with N nodes each handles N summaries a period. A node counts the origins it hears
 * on the topic and spaces its own summaries so that their estimated cost, N x 2 x (summary size +
 * WIRE_OVERHEAD) a period, stays within `bytesPerSecond`.
 */
import { performance } from 'node:perf_hooks'
import type { ClusterSummaryOptions, GossipApi, GossipHandle, Logger, MessageCounters, TopicId } from './api.js'
import { CLUSTER_TOPIC, CLUSTER_TOPIC_ID, CLUSTER_TOPIC_NAME, encodeSummary, summaryLimits, type ClusterSummary, type SummaryNeighbour, type SummaryTopic } from './cluster-summary.js'
import { EarliestTimer } from './earliest-timer.js'
import { GossipError } from './errors.js'
import { toTopicId } from './topic-id.js'

export interface ResolvedSummaryOptions {
  interval: number
  bytesPerSecond: number
  topicNames: string[]
  maxBytes: number
}

export const summaryDefaults: Readonly<ResolvedSummaryOptions> = Object.freeze({ interval: 5_000, bytesPerSecond: 350, topicNames: [], maxBytes: summaryLimits.defaultBytes })

/**
 * What one summary costs every node besides its own bytes, each way: the gossip frame around it
 * (id, topic, origin, signature), encryption and framing, and the IHAVEs of the lazy links.
 * Measured: a summary of 279 bytes cost each node of a 16-node cluster 1,470 bytes in and out.
 */
const WIRE_OVERHEAD = 460

/**
 * The longest period, whatever the cluster's size: a dashboard still hears of every node within
 * minutes. At the default budget it binds beyond about 70 nodes; from there the cost grows with N.
 */
const MAX_PERIOD = 300_000
/** Changes within this many ms go out in one summary. */
const CHANGE_DEBOUNCE = 50
/** Summaries a quiet node may send at once on changes, beyond its period's share. */
const BURST = 2

/** Checks `clusterSummary` the way the node checks its other options (errors name the option). */
export function resolveSummaryOptions (value: boolean | ClusterSummaryOptions | undefined, name = 'clusterSummary'): ResolvedSummaryOptions | undefined {
  const fail = (option: string, why: string): never => {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "${option}" ${why}`)
  }
  if (value === undefined || value === false) return undefined
  if (value === true) return { ...summaryDefaults }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(name, 'must be true, false or { interval, bytesPerSecond, topicNames, maxBytes }')
  const known = new Set(['interval', 'bytesPerSecond', 'topicNames', 'maxBytes'])
  for (const key of Object.keys(value)) if (!known.has(key)) fail(`${name}.${key}`, 'is not a cluster summary option')
  const out: ResolvedSummaryOptions = { ...summaryDefaults }
  if (value.interval !== undefined) {
    if (!Number.isInteger(value.interval) || value.interval < 100 || value.interval > MAX_PERIOD) fail(`${name}.interval`, `must be an integer from 100 to ${MAX_PERIOD} (ms)`)
    out.interval = value.interval
  }
  if (value.bytesPerSecond !== undefined) {
    if (typeof value.bytesPerSecond !== 'number' || !(value.bytesPerSecond > 0) || !Number.isFinite(value.bytesPerSecond)) fail(`${name}.bytesPerSecond`, 'must be a positive number')
    out.bytesPerSecond = value.bytesPerSecond
  }
  if (value.maxBytes !== undefined) {
    if (!Number.isInteger(value.maxBytes) || value.maxBytes < summaryLimits.minBytes || value.maxBytes > summaryLimits.maxBytes) {
      fail(`${name}.maxBytes`, `must be an integer from ${summaryLimits.minBytes} to ${summaryLimits.maxBytes}`)
    }
    out.maxBytes = value.maxBytes
  }
  if (value.topicNames !== undefined) {
    if (!Array.isArray(value.topicNames) || value.topicNames.some(n => typeof n !== 'string' || n.length === 0 || n.length > summaryLimits.maxNameLength)) {
      fail(`${name}.topicNames`, `must be an array of topic names (1 to ${summaryLimits.maxNameLength} characters)`)
    }
    out.topicNames = [...value.topicNames]
  }
  return out
}

interface Lease { close (): void }

const running = new WeakMap<GossipApi, { publisher: SummaryPublisher, refs: number }>()

/**
 * Starts the node's publisher, or shares the one already running (whose options then stay).
 * `close()` on the lease stops it once every holder has closed.
 */
export async function startClusterSummary (node: GossipApi, options: ResolvedSummaryOptions, log?: Logger): Promise<Lease> {
  let entry = running.get(node)
  if (entry === undefined) {
    entry = { publisher: new SummaryPublisher(node, options, log), refs: 0 }
    running.set(node, entry)
    try {
      await entry.publisher.start()
    } catch (err) {
      running.delete(node)
      throw err
    }
  }
  const shared = entry
  shared.refs++
  let closed = false
  return {
    close () {
      if (closed) return
      closed = true
      if (--shared.refs > 0) return
      running.delete(node)
      shared.publisher.close()
    }
  }
}

type Counts = Pick<MessageCounters, 'published' | 'delivered' | 'duplicates' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut'>

function delta (now: Counts, before: Counts | undefined): Counts {
  return {
    published: now.published - (before?.published ?? 0),
    delivered: now.delivered - (before?.delivered ?? 0),
    duplicates: now.duplicates - (before?.duplicates ?? 0),
    messagesIn: now.messagesIn - (before?.messagesIn ?? 0),
    messagesOut: now.messagesOut - (before?.messagesOut ?? 0),
    bytesIn: now.bytesIn - (before?.bytesIn ?? 0),
    bytesOut: now.bytesOut - (before?.bytesOut ?? 0)
  }
}

export class SummaryPublisher {
  private handle: GossipHandle | undefined
  private closeInputs: Array<() => void> = []
  private readonly timer = new EarliestTimer(() => performance.now(), () => { this.publish() })
  private closed = false
  private seq = 0
  private lastAt = 0
  private lastSize = 256
  /**
   * The byte budget as summaries: one more accrues every period, each summary spends one. Early
   * summaries (on changes) need one in hand, so that a cluster whose neighbours keep changing
   * (HyParView's healer evicts someone now and then) still keeps to its budget.
   */
  private tokens = 1
  private tokensAt = performance.now()
  private failures = 0
  private readonly names = new Map<TopicId, string>([[CLUSTER_TOPIC_ID, CLUSTER_TOPIC_NAME]])
  /** When each origin was last heard on the cluster topic: how many nodes summarise. */
  private readonly heard = new Map<string, number>()
  private before: { at: number, totals: Counts & { wireIn: number, wireOut: number }, topics: Map<TopicId, Counts> }

  constructor (private readonly node: GossipApi, private readonly options: ResolvedSummaryOptions, private readonly log?: Logger) {
    for (const name of options.topicNames) this.names.set(toTopicId(name), name)
    this.before = this.snapshotCounts()
  }

  async start (): Promise<void> {
    this.handle = await this.node.stream(CLUSTER_TOPIC)
    const sub = this.handle.subscribe({ bufferSize: 256 })
    const events = this.node.events()
    this.closeInputs = [() => sub.close(), () => events.close()]
    void (async () => {
      for await (const item of sub) {
        if (item.type !== 'message') continue
        if (this.heard.size >= 100_000 && !this.heard.has(item.origin)) this.forgetOld(performance.now())
        this.heard.set(item.origin, performance.now())
      }
    })().catch(err => this.log?.debug({ err }, 'cluster summary: listening ended'))
    void (async () => {
      for await (const event of events) {
        if (event.type === 'neighbourUp' || event.type === 'neighbourDown' || event.type === 'joined' || event.type === 'left') this.changed()
      }
    })().catch(err => this.log?.debug({ err }, 'cluster summary: events ended'))
    // The first summary soon, so that a dashboard sees a new node at once.
    this.arm(CHANGE_DEBOUNCE)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.timer.clear()
    for (const close of this.closeInputs) close()
    void this.handle?.close().catch(() => {})
  }

  /** Ms until the next periodic summary: the interval, or longer when the cluster's summaries would exceed the byte budget. */
  period (): number {
    const now = performance.now()
    this.forgetOld(now)
    const nodes = this.heard.size + 1
    const spaced = Math.ceil(nodes * 2 * (this.lastSize + WIRE_OVERHEAD) * 1000 / this.options.bytesPerSecond)
    return Math.min(MAX_PERIOD, Math.max(this.options.interval, spaced))
  }

  /** Origins silent for several periods are gone (or spaced out far): they no longer count. */
  private forgetOld (now: number): void {
    const horizon = 3 * MAX_PERIOD
    for (const [origin, at] of this.heard) if (now - at > horizon) this.heard.delete(origin)
  }

  private refill (now: number): void {
    this.tokens = Math.min(BURST, this.tokens + (now - this.tokensAt) / this.period())
    this.tokensAt = now
  }

  private changed (): void {
    if (this.closed) return
    const now = performance.now()
    this.refill(now)
    const budget = this.tokens >= 1 ? 0 : (1 - this.tokens) * this.period()
    const earliest = Math.max(this.lastAt + this.options.interval - now, budget)
    this.arm(Math.max(CHANGE_DEBOUNCE, earliest))
  }

  /** Publish in `after` ms, unless a summary is already due sooner. */
  private arm (after: number): void {
    if (!this.closed) this.timer.arm(performance.now() + after)
  }

  private publish (): void {
    if (this.closed || this.handle === undefined) return
    let bytes: Uint8Array | undefined
    try {
      bytes = encodeSummary(this.summary(), this.options.maxBytes)
      this.lastSize = bytes.byteLength
    } catch (err) {
      this.log?.error({ err }, 'cluster summary: could not build the summary')
    }
    this.lastAt = performance.now()
    this.refill(this.lastAt)
    this.tokens -= 1
    this.arm(this.period())
    if (bytes === undefined) return
    this.handle.publish(bytes).then(() => { this.failures = 0 }, (err: unknown) => {
      // A node that closes under us, or a queue full while alone: the next summary tries again.
      if (this.closed) return
      if (this.failures++ === 0) this.log?.warn({ err }, 'cluster summary not published')
    })
  }

  private snapshotCounts (): SummaryPublisher['before'] {
    const stats = this.node.stats()
    return {
      at: performance.now(),
      totals: { ...stats, wireIn: stats.wireBytesIn, wireOut: stats.wireBytesOut },
      topics: new Map(stats.topics.map(t => [t.topic, t]))
    }
  }

  /** This node now: links ordered so that those carrying topics come first, topics by traffic. */
  summary (): ClusterSummary {
    const stats = this.node.stats()
    const peers = this.node.peers()
    const now = performance.now()
    const before = this.before
    this.before = { at: now, totals: { ...stats, wireIn: stats.wireBytesIn, wireOut: stats.wireBytesOut }, topics: new Map(stats.topics.map(t => [t.topic, t])) }

    peers.sort((a, b) => b.topics.length - a.topics.length)
    const neighboursOf = new Map<TopicId, SummaryNeighbour[]>()
    peers.forEach((peer, link) => {
      const eager = new Set(peer.eager ?? [])
      for (const topic of peer.topics) {
        const list = neighboursOf.get(topic) ?? []
        list.push({ link, eager: eager.has(topic) })
        neighboursOf.set(topic, list)
      }
    })

    const topics: Array<SummaryTopic & { traffic: number }> = stats.topics.map(t => {
      const counts = delta(t, before.topics.get(t.topic))
      const q = t.queues
      return {
        id: t.topic,
        name: this.names.get(t.topic),
        neighbours: neighboursOf.get(t.topic) ?? [],
        ...counts,
        queued: q.pendingPublishes + q.subscriberBuffered + q.missing + q.pendingIHaves + q.pendingRequests,
        traffic: t.topic === CLUSTER_TOPIC_ID ? Infinity : counts.messagesIn + counts.messagesOut
      }
    })
    topics.sort((a, b) => b.traffic - a.traffic || b.neighbours.length - a.neighbours.length)

    return {
      seq: ++this.seq,
      address: stats.address,
      uptime: stats.uptime,
      interval: this.period(),
      span: now - before.at,
      totals: {
        ...delta(stats, before.totals),
        wireIn: stats.wireBytesIn - before.totals.wireIn,
        wireOut: stats.wireBytesOut - before.totals.wireOut
      },
      queues: {
        linkBuffered: stats.queues.linkBufferedBytes,
        dialQueued: stats.queues.dialQueued,
        pendingPublishes: stats.queues.pendingPublishes,
        subscriberBuffered: stats.queues.subscriberBuffered
      },
      linkCount: peers.length,
      links: peers.map(p => ({ peer: p.nodeId, rtt: p.rtt, buffered: p.bufferedBytes })),
      topicCount: stats.topics.length,
      topics: topics.map(({ traffic, ...t }) => t)
    }
  }
}
