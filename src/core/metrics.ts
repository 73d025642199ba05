/**
 * Prometheus metrics of a gossip node, through `prom-client` (an optional peer dependency, loaded
 * only when metrics are asked for). Nothing is counted twice: every metric is collected lazily
 * from `node.stats()` when the registry is scraped (prom-client's `collect()`), one snapshot per
 * scrape. Labels are low-cardinality (a direction, a queue name): no topic names, no node ids.
 */
import type { GossipApi, GossipStats } from './api.js'
import { GossipError } from './errors.js'

/** The part of a prom-client `Registry` used here (typed structurally: prom-client is optional). */
export interface MetricsRegistry {
  registerMetric(metric: never): void
  removeSingleMetric(name: string): void
  getSingleMetric(name: string): unknown
}

export interface MetricsOptions {
  /** Where to register; default prom-client's default registry (`register`). */
  registry?: MetricsRegistry
}

/** What `registerMetrics` returns: `close()` removes the metrics from the registry. */
export interface NodeMetrics {
  /** Names of the metrics registered. */
  readonly names: readonly string[]
  close(): void
}

type PromClient = typeof import('prom-client')

/** @internal tests swap the loader to play an install without prom-client. */
export const promClientLoader: { load: () => Promise<unknown> } = {
  load: async () => await import('prom-client')
}

type Direction = 'in' | 'out'

interface CounterDef { name: string, help: string, value: (s: GossipStats) => number }
interface DirectedDef { name: string, help: string, value: (s: GossipStats, d: Direction) => number }

const counters: CounterDef[] = [
  { name: 'grapevine_messages_published_total', help: 'Messages this node published to the overlay', value: s => s.published },
  { name: 'grapevine_messages_delivered_total', help: 'Messages from other nodes delivered to this node\'s subscribers', value: s => s.delivered },
  { name: 'grapevine_duplicates_total', help: 'Payload frames received for a message already delivered', value: s => s.duplicates },
  { name: 'grapevine_lagged_total', help: 'Messages dropped from the buffers of subscribers that fell behind', value: s => s.lagged },
  { name: 'grapevine_forged_total', help: 'Messages dropped because their origin had not signed them', value: s => s.forged },
  { name: 'grapevine_peers_dropped_total', help: 'Peers whose link was closed for breaking the protocol', value: s => s.peersDropped }
]

const directed: DirectedDef[] = [
  { name: 'grapevine_payload_frames_total', help: 'Payload frames received (in, duplicates included) and sent (out, one per neighbour)', value: (s, d) => d === 'in' ? s.messagesIn : s.messagesOut },
  { name: 'grapevine_payload_bytes_total', help: 'Payload bytes received and sent (content only)', value: (s, d) => d === 'in' ? s.bytesIn : s.bytesOut },
  { name: 'grapevine_wire_bytes_total', help: 'Bytes read from and written to the wire (encrypted, handshakes included)', value: (s, d) => d === 'in' ? s.wireBytesIn : s.wireBytesOut },
  { name: 'grapevine_grafts_total', help: 'Plumtree GRAFTs received and sent', value: (s, d) => d === 'in' ? s.graftsReceived : s.graftsSent },
  { name: 'grapevine_pulls_total', help: 'Plumtree PULLs (a missed message asked for over a lazy link) received and sent', value: (s, d) => d === 'in' ? s.pullsReceived : s.pullsSent },
  { name: 'grapevine_prunes_total', help: 'Plumtree PRUNEs received and sent', value: (s, d) => d === 'in' ? s.prunesReceived : s.prunesSent }
]

const gauges: CounterDef[] = [
  { name: 'grapevine_up', help: '1 while the gossip node runs', value: s => s.running ? 1 : 0 },
  { name: 'grapevine_links', help: 'Open links to other nodes', value: s => s.links },
  { name: 'grapevine_topics', help: 'Topics this node is in', value: s => s.topics.length },
  { name: 'grapevine_topics_without_neighbour', help: 'Topics with no active-view neighbour (their publishes wait)', value: s => s.topics.filter(t => t.neighbours === 0).length },
  { name: 'grapevine_neighbours', help: 'Active-view neighbours, summed over topics', value: s => s.topics.reduce((n, t) => n + t.neighbours, 0) },
  { name: 'grapevine_link_buffered_bytes', help: 'Bytes waiting to be written, over every link', value: s => s.queues.linkBufferedBytes }
]

type Queue = 'pending_publishes' | 'subscriber_buffered' | 'dial_queued' | 'missing' | 'pending_ihaves'
const queues: Record<Queue, (s: GossipStats) => number> = {
  pending_publishes: s => s.queues.pendingPublishes,
  subscriber_buffered: s => s.queues.subscriberBuffered,
  dial_queued: s => s.queues.dialQueued,
  missing: s => s.topics.reduce((n, t) => n + t.queues.missing, 0),
  pending_ihaves: s => s.topics.reduce((n, t) => n + t.queues.pendingIHaves, 0)
}

/**
 * Register the node's metrics on `options.registry` (default: prom-client's default registry).
 * Rejects with ERR_GOSSIP_MISSING_DEPENDENCY when prom-client is not installed, and with
 * ERR_GOSSIP_INVALID_OPTION when a metric of the same name is already registered there (two
 * nodes in one process need a registry each).
 */
export async function registerMetrics (node: Pick<GossipApi, 'stats'>, options: MetricsOptions = {}): Promise<NodeMetrics> {
  let prom: PromClient
  try {
    prom = await promClientLoader.load() as PromClient
  } catch (err) {
    throw new GossipError('ERR_GOSSIP_MISSING_DEPENDENCY',
      'metrics need the optional peer dependency "prom-client", which is not installed: npm install prom-client', { cause: err })
  }
  const registry = (options.registry ?? prom.register) as unknown as InstanceType<PromClient['Registry']>
  const taken = [...counters, ...directed, ...gauges].map(d => d.name).concat('grapevine_queue_depth').find(name => registry.getSingleMetric(name) !== undefined)
  if (taken !== undefined) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', `option "metrics": the registry already has a metric named ${taken} (give each node its own registry)`)
  }

  // One snapshot per scrape: a registry collects every metric in the same turn of the event loop.
  let snapshot: GossipStats | undefined
  const stats = (): GossipStats => {
    if (snapshot === undefined) {
      snapshot = node.stats()
      queueMicrotask(() => { snapshot = undefined })
    }
    return snapshot
  }
  const registers = [registry]
  const names: string[] = []
  for (const def of counters) {
    names.push(def.name)
    // eslint-disable-next-line no-new
    new prom.Counter({ name: def.name, help: def.help, registers, collect () { this.reset(); this.inc(def.value(stats())) } })
  }
  for (const def of directed) {
    names.push(def.name)
    // eslint-disable-next-line no-new
    new prom.Counter({
      name: def.name,
      help: def.help,
      labelNames: ['direction'],
      registers,
      collect () {
        const s = stats()
        this.reset()
        this.inc({ direction: 'in' }, def.value(s, 'in'))
        this.inc({ direction: 'out' }, def.value(s, 'out'))
      }
    })
  }
  for (const def of gauges) {
    names.push(def.name)
    // eslint-disable-next-line no-new
    new prom.Gauge({ name: def.name, help: def.help, registers, collect () { this.set(def.value(stats())) } })
  }
  names.push('grapevine_queue_depth')
  // eslint-disable-next-line no-new
  new prom.Gauge({
    name: 'grapevine_queue_depth',
    help: 'Items waiting in the node\'s bounded queues, by queue',
    labelNames: ['queue'],
    registers,
    collect () {
      const s = stats()
      for (const [queue, value] of Object.entries(queues)) this.set({ queue }, value(s))
    }
  })

  let closed = false
  return {
    names,
    close () {
      if (closed) return
      closed = true
      for (const name of names) registry.removeSingleMetric(name)
    }
  }
}
