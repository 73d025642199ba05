/**
 * The cluster as the summaries on the cluster topic tell it: the latest summary of every node, and
 * what follows from them all (links, each topic's tree edges, rates). Pure: time comes in as an
 * argument, so that fading can be tested without waiting.
 *
 * A node fades in two steps. It turns stale (a dashboard greys it) when it has been silent for
 * `staleIntervals` of the intervals it announced, or at once when every peer it named has spoken
 * since without naming it back (its links are gone: killed, or cut off). It leaves the view once
 * silent for `removeAfter`.
 */
import type { NodeId } from './api.js'
import { PREFIX_CHARS, decodeSummary, type ClusterSummary, type SummaryCounts } from './cluster-summary.js'

export interface ClusterViewOptions {
  /** Announced intervals of silence after which a node is stale. Default 2.5. */
  staleIntervals?: number
  /** Ms of silence after which a node leaves the view. Default 60 000 (at least its stale delay). */
  removeAfter?: number
  /** Nodes kept at most; a new one then replaces the one silent the longest. Default 1 000. */
  maxNodes?: number
}

export type NodeState = 'live' | 'stale' | 'unknown'
export type Health = 'ok' | 'warn' | 'bad' | 'gone'

/** Per second, over the node's last summary. */
export type Rates = SummaryCounts & { wireIn: number, wireOut: number }

export interface ViewNode {
  id: string
  /** First 8 hex characters, for labels. */
  short: string
  /** `unknown`: named by another node's summary, but publishes none itself. */
  state: NodeState
  /** Why a node is stale: silent for too long, or every peer it named lost it. */
  staleReason?: 'silent' | 'cut off'
  health: Health
  self: boolean
  address?: string
  /** Ms since the node started, as of now. */
  uptime?: number
  /** Ms since its last summary. */
  silentFor?: number
  interval?: number
  links?: number
  topics?: number
  rates?: Rates
  queues?: ClusterSummary['queues']
}

export interface ViewLink { a: string, b: string, rtt?: number }
export interface ViewEdge { a: string, b: string, eager: boolean }

export interface ViewTopic {
  id: string
  name?: string
  members: string[]
  edges: ViewEdge[]
  /** Per second, over live members: messages published, delivered (each receiver counts), duplicates. */
  published: number
  delivered: number
  duplicates: number
}

export interface ClusterSnapshot {
  self: string | undefined
  nodes: ViewNode[]
  links: ViewLink[]
  topics: ViewTopic[]
  /** Live nodes together, per second: distinct messages published, and deliveries. */
  messagesPerSecond: number
  deliveriesPerSecond: number
}

interface Entry {
  id: NodeId
  summary: ClusterSummary
  heardAt: number
  /** Order of arrival over all nodes: who spoke after whom. */
  order: number
}

const ZERO_RATES: Rates = { published: 0, delivered: 0, duplicates: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, wireIn: 0, wireOut: 0 }

function perSecond (s: ClusterSummary): Rates {
  if (s.span <= 0) return { ...ZERO_RATES }
  const f = 1000 / s.span
  const t = s.totals
  const r = (n: number): number => Math.round(n * f * 10) / 10
  return {
    published: r(t.published),
    delivered: r(t.delivered),
    duplicates: r(t.duplicates),
    messagesIn: r(t.messagesIn),
    messagesOut: r(t.messagesOut),
    bytesIn: r(t.bytesIn),
    bytesOut: r(t.bytesOut),
    wireIn: r(t.wireIn),
    wireOut: r(t.wireOut)
  }
}

/** Queues deep enough to mean a node falls behind. */
const DEEP_QUEUE = 1000
const DEEP_BUFFER = 1024 * 1024

export class ClusterView {
  private readonly entries = new Map<NodeId, Entry>()
  private order = 0
  private readonly staleIntervals: number
  private readonly removeAfter: number
  private readonly maxNodes: number

  /** `self`: this node's id; it is never stale (its summaries do not travel). */
  constructor (private readonly self?: NodeId, options: ClusterViewOptions = {}) {
    this.staleIntervals = options.staleIntervals ?? 2.5
    this.removeAfter = options.removeAfter ?? 60_000
    this.maxNodes = options.maxNodes ?? 1000
  }

  get size (): number { return this.entries.size }

  /** A message of the cluster topic; false when it is not a summary or is older than the one held. */
  receive (origin: NodeId, content: Uint8Array, now: number): boolean {
    const summary = decodeSummary(content)
    return summary !== undefined && this.accept(origin, summary, now)
  }

  accept (origin: NodeId, summary: ClusterSummary, now: number): boolean {
    const held = this.entries.get(origin)
    // A lower sequence number is a late copy, unless the node restarted (its uptime went back).
    if (held !== undefined && summary.seq <= held.summary.seq && summary.uptime >= held.summary.uptime) return false
    if (held === undefined && this.entries.size >= this.maxNodes) this.evictOldest()
    this.entries.set(origin, { id: origin, summary, heardAt: now, order: ++this.order })
    return true
  }

  /** Drops the nodes silent for `removeAfter`; returns how many. */
  prune (now: number): number {
    let removed = 0
    for (const entry of [...this.entries.values()]) {
      if (entry.id !== this.self && now - entry.heardAt > this.removeDelay(entry)) {
        this.entries.delete(entry.id)
        removed++
      }
    }
    return removed
  }

  snapshot (now: number): ClusterSnapshot {
    this.prune(now)
    const byPrefix = new Map<string, Entry>()
    for (const entry of this.entries.values()) byPrefix.set(entry.id.slice(0, PREFIX_CHARS), entry)
    const resolve = (prefix: string): string => byPrefix.get(prefix)?.id ?? prefix

    const nodes = new Map<string, ViewNode>()
    for (const entry of this.entries.values()) nodes.set(entry.id, this.nodeOf(entry, byPrefix, now))

    const links = new Map<string, ViewLink>()
    const topics = new Map<string, ViewTopic>()
    for (const entry of this.entries.values()) {
      const s = entry.summary
      const peers = s.links.map(l => resolve(l.peer))
      s.links.forEach((l, i) => {
        const peer = peers[i] as string
        if (peer === entry.id) return
        if (!nodes.has(peer)) nodes.set(peer, { id: peer, short: peer.slice(0, 8), state: 'unknown', health: 'ok', self: false })
        const key = entry.id < peer ? `${entry.id} ${peer}` : `${peer} ${entry.id}`
        const link = links.get(key) ?? (entry.id < peer ? { a: entry.id, b: peer } : { a: peer, b: entry.id })
        if (l.rtt !== undefined) link.rtt = Math.max(link.rtt ?? 0, l.rtt)
        links.set(key, link)
      })
      const live = nodes.get(entry.id)?.state === 'live'
      const rate = (n: number): number => (live && s.span > 0 ? n * 1000 / s.span : 0)
      for (const t of s.topics) {
        const topic = topics.get(t.id) ?? { id: t.id, members: [], edges: [], published: 0, delivered: 0, duplicates: 0 }
        if (t.name !== undefined) topic.name ??= t.name
        topic.members.push(entry.id)
        topic.published += rate(t.published)
        topic.delivered += rate(t.delivered)
        topic.duplicates += rate(t.duplicates)
        for (const n of t.neighbours) {
          const peer = peers[n.link]
          if (peer === undefined || peer === entry.id) continue
          const [a, b] = entry.id < peer ? [entry.id, peer] : [peer, entry.id]
          const edge = topic.edges.find(e => e.a === a && e.b === b)
          // Either end pushing payloads over the link makes it a tree edge.
          if (edge === undefined) topic.edges.push({ a, b, eager: n.eager })
          else edge.eager ||= n.eager
        }
        topics.set(t.id, topic)
      }
    }

    let messagesPerSecond = 0
    let deliveriesPerSecond = 0
    for (const node of nodes.values()) {
      if (node.state !== 'live' || node.rates === undefined) continue
      messagesPerSecond += node.rates.published
      deliveriesPerSecond += node.rates.delivered
    }
    const round = (n: number): number => Math.round(n * 10) / 10
    return {
      self: this.self,
      nodes: [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
      links: [...links.values()],
      topics: [...topics.values()]
        .map(t => ({ ...t, published: round(t.published), delivered: round(t.delivered), duplicates: round(t.duplicates) }))
        .sort((a, b) => b.members.length - a.members.length || (a.id < b.id ? -1 : 1)),
      messagesPerSecond: round(messagesPerSecond),
      deliveriesPerSecond: round(deliveriesPerSecond)
    }
  }

  private staleDelay (entry: Entry): number {
    return this.staleIntervals * Math.max(100, entry.summary.interval)
  }

  private removeDelay (entry: Entry): number {
    return Math.max(this.removeAfter, this.staleDelay(entry))
  }

  /**
   * Cut off: every peer the node named is known here and has spoken since, and none of them named
   * it back. A peer that publishes no summary, or whose summary lists only part of its links,
   * tells nothing either way.
   */
  private cutOff (entry: Entry, byPrefix: Map<string, Entry>): boolean {
    const links = entry.summary.links
    if (links.length === 0) return false
    const own = entry.id.slice(0, PREFIX_CHARS)
    for (const link of links) {
      const peer = byPrefix.get(link.peer)
      if (peer === undefined || peer.order < entry.order) return false
      const s = peer.summary
      if (s.links.length < s.linkCount) return false
      if (s.links.some(l => l.peer === own)) return false
    }
    return true
  }

  private nodeOf (entry: Entry, byPrefix: Map<string, Entry>, now: number): ViewNode {
    const s = entry.summary
    const self = entry.id === this.self
    const silentFor = now - entry.heardAt
    let staleReason: ViewNode['staleReason']
    if (!self) {
      if (silentFor > this.staleDelay(entry)) staleReason = 'silent'
      else if (this.cutOff(entry, byPrefix)) staleReason = 'cut off'
    }
    const alone = s.topics.some(t => t.neighbours.length === 0) && s.topicCount > 0
    const deep = s.queues.pendingPublishes + s.queues.subscriberBuffered > DEEP_QUEUE || s.queues.linkBuffered > DEEP_BUFFER
    const health: Health = staleReason !== undefined ? 'gone' : s.linkCount === 0 && this.entries.size > 1 ? 'bad' : alone || deep ? 'warn' : 'ok'
    const node: ViewNode = {
      id: entry.id,
      short: entry.id.slice(0, 8),
      state: staleReason === undefined ? 'live' : 'stale',
      health,
      self,
      address: s.address,
      uptime: s.uptime + silentFor,
      silentFor,
      interval: s.interval,
      links: s.linkCount,
      topics: s.topicCount,
      rates: perSecond(s),
      queues: s.queues
    }
    if (staleReason !== undefined) node.staleReason = staleReason
    return node
  }

  private evictOldest (): void {
    let oldest: Entry | undefined
    for (const entry of this.entries.values()) if (entry.id !== this.self && (oldest === undefined || entry.heardAt < oldest.heardAt)) oldest = entry
    if (oldest !== undefined) this.entries.delete(oldest.id)
  }
}
