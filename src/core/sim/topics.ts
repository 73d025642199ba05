/**
 * Topic discovery at scale: many nodes, many topics, Zipf-distributed subscriptions, nodes that
 * know nothing but three seeds, subscriptions that come and go. Drives the simulator's discovery
 * layer (the runtime's `Discovery` + `Healer` + `stream()`) and measures what it costs and whether
 * every topic's members find each other.
 *
 * Timeline (defaults): the seeds start at 0 and the other nodes over the first 10 s, each opening
 * streams of its topics at once; 10 s after the last start the overlays are checked; then for two
 * minutes 5 % of every node's topics per minute are left and as many others joined (topics never
 * joined before are created this way); 10 s after the churn the overlays are checked again and
 * every topic with two members or more gets one broadcast per round, three rounds 5 s apart.
 *
 * Sizes are those of the real codec (see wire-size.ts); figures are per node per second of
 * simulated time.
 */
import type { HealerConfig } from '../discovery/healer.js'
import type { DiscoveryConfig, DiscoveryMessage } from '../discovery/types.js'
import { seededRng } from '../proto/random.js'
import type { TopicView } from '../proto/state.js'
import type { Message, TopicId } from '../proto/types.js'
import { messageOutcome, overlayStats } from './metrics.js'
import type { Scenario } from './scenarios.js'
import { deriveSeed } from './seed-streams.js'
import { Simulator } from './simulator.js'
import { discoveryFrameBytes, protoControlFrameBytes } from './wire-size.js'
import { ZipfTopics, zipfCounts } from './zipf.js'

export interface TopicsSettings {
  nodes: number
  seed: number
  /** Topics that exist to be joined. Default 10 × nodes. */
  topics?: number | undefined
  /** Mean and largest number of topics per node. Default 50 and 1,000. */
  meanTopics?: number | undefined
  maxTopicsPerNode?: number | undefined
  /** Nodes 0..seeds-1 are every node's seeds. Default 3. */
  seeds?: number | undefined
  /** The nodes other than the seeds start over this long, ms. Default 10 s. */
  joinWindow?: number | undefined
  /** Share of a node's topics left (and as many others joined) per minute of churn. Default 0.05. */
  churnPerMinute?: number | undefined
  /** How long subscriptions churn, ms. Default 120 s. */
  churnFor?: number | undefined
  /** Broadcast rounds at the end, one broadcast per topic with 2 members or more each. Default 3. */
  broadcastRounds?: number | undefined
  /** Discovery settings to try. */
  discovery?: Partial<DiscoveryConfig> | undefined
  /** Healer settings to try (default: the runtime's). */
  healer?: HealerConfig | undefined
}

export interface TopicsResult {
  [figure: string]: number
  nodes: number
  topics: number
  meanTopicsPerNode: number
  maxTopicsPerNode: number
  /** Topics with 2 members or more at the end. */
  sharedTopics: number
  /** Discovery bytes sent per node per second: mean over the second half of the churn. */
  discoveryBps: number
  /** ... the same for the busiest node (a seed, typically). */
  discoveryBpsBusiest: number
  /** The worst second of the whole run, averaged over the nodes. */
  discoveryBpsPeak: number
  /** The worst second of any one node. */
  discoveryBpsNodePeak: number
  /** Per message type, mean over the second half of the churn, bytes per node per second. */
  bpsTopics: number
  bpsDigest: number
  bpsResync: number
  bpsQuery: number
  bpsMembers: number
  /** Snapshots (first pages) sent per node per second, mean over the second half of the churn: one per new link end. */
  snapshotsPerNodeSecond: number
  /** Bytes of those first pages, per node per second (part of `bpsTopics`). */
  bpsSnapshots: number
  /** From stream(topic) to the first neighbour, for streams opened while another member existed, ms. */
  firstNeighbourP50: number
  firstNeighbourP99: number
  firstNeighbourMax: number
  firstNeighbourCount: number
  /** Such streams still without a neighbour at the end (their topic still has other members). */
  firstNeighbourMissing: number
  /** Share of the topics with 2 members or more whose members form one overlay, 10 s after the last start. */
  oneOverlayAfterStart: number
  /** ... 10 s after the end of the churn. */
  oneOverlay: number
  splitTopics: number
  reliability: number
  minReliability: number
  /** Share of the broadcasts that reached every member of their topic. */
  fullyDelivered: number
  /** Share of the topics all of whose broadcasts reached every member. */
  topicsFullyDelivered: number
  maxDiscoveryFrame: number
  maxProtoControlFrame: number
  framesOverBudget: number
  /** Links (open connection ends) per node at the end. */
  linksPerNode: number
  /** Nodes and (node, topic) interests in a node's address book at the end, mean over the nodes. */
  bookNodes: number
  bookInterests: number
  events: number
}

const MESSAGE_TYPES = ['topics', 'digest', 'resync', 'query', 'members'] as const

/** 64-hex id of topic index `k`. */
export function simTopicId (k: number): TopicId {
  return 'e' + k.toString(16).padStart(63, '0')
}

function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number
}

/** Whether the members of `topic` form one overlay (a member out of the topic counts as alone). */
function oneOverlay (sim: Simulator, members: readonly number[], topic: TopicId): boolean {
  const views = new Map<number, TopicView<number>>()
  for (const m of members) views.set(m, sim.view(m, topic) ?? { active: [], passive: [], eager: [], lazy: [] })
  return overlayStats(views, n => sim.isAlive(n)).components === 1
}

export function topicsScenario (settings: TopicsSettings): TopicsResult {
  const n = settings.nodes
  const topicCount = settings.topics ?? 10 * n
  const seedCount = Math.min(n, settings.seeds ?? 3)
  const joinWindow = settings.joinWindow ?? 10_000
  const churnRate = settings.churnPerMinute ?? 0.05
  const churnFor = settings.churnFor ?? 120_000
  const rounds = settings.broadcastRounds ?? 3
  const rng = seededRng(deriveSeed(settings.seed >>> 0, -100))
  const zipf = new ZipfTopics(topicCount)
  const counts = zipfCounts(rng, n, settings.meanTopics ?? 50, settings.maxTopicsPerNode ?? 1_000, topicCount)

  // Measurements, fed by the simulator's send hooks.
  const seconds: number[] = []
  const nodeSecond = new Float64Array(n)
  const nodeSecondAt = new Int32Array(n).fill(-1)
  let nodePeak = 0
  let steadyFrom = Infinity
  let steadyTo = Infinity
  const steadyByNode = new Float64Array(n)
  const steadyByType = new Map<string, number>(MESSAGE_TYPES.map(t => [t, 0]))
  let steadySnapshots = 0
  let steadySnapshotBytes = 0
  let maxDiscovery = 0
  let maxProto = 0
  let overBudget = 0

  const sim: Simulator = new Simulator({
    seed: settings.seed,
    discovery: { seeds: Array.from({ length: seedCount }, (_, i) => i), config: settings.discovery, healer: settings.healer },
    onDiscoverySend: (from: number, _to: number, message: DiscoveryMessage<number>) => {
      const bytes = discoveryFrameBytes(message)
      const budget = sim.discoveryOf(from)?.discovery.config.maxFrameBytes ?? Infinity
      if (bytes > budget) overBudget++
      if (bytes > maxDiscovery) maxDiscovery = bytes
      const s = Math.floor(sim.now / 1000)
      seconds[s] = (seconds[s] ?? 0) + bytes
      if (nodeSecondAt[from] !== s) {
        nodeSecondAt[from] = s
        nodeSecond[from] = 0
      }
      nodeSecond[from] = (nodeSecond[from] as number) + bytes
      if ((nodeSecond[from] as number) > nodePeak) nodePeak = nodeSecond[from] as number
      if (sim.now >= steadyFrom && sim.now < steadyTo) {
        steadyByNode[from] = (steadyByNode[from] as number) + bytes
        steadyByType.set(message.type, (steadyByType.get(message.type) ?? 0) + bytes)
        if (message.type === 'topics' && message.reset) {
          steadySnapshots++
          steadySnapshotBytes += bytes
        }
      }
    },
    onSend: (_from: number, _to: number, message: Message<number>) => {
      if (message.body.type === 'gossip') return
      const bytes = protoControlFrameBytes(message)
      if (bytes > maxProto) maxProto = bytes
      const budget = sim.config.maxFrameBytes
      if (bytes > budget) overBudget++
    }
  })

  /** Each node's topics (indices), as the scenario sees them. */
  const mine: Array<Set<number>> = []
  const start = (): void => {
    const id = sim.addNode()
    const topics = new Set(zipf.drawDistinct(rng, counts[id] as number))
    mine[id] = topics
    for (const k of topics) sim.stream(id, simTopicId(k))
  }
  const startAt: number[] = []
  for (let i = 0; i < n; i++) startAt.push(i < seedCount ? 0 : Math.floor(rng.next() * joinWindow))
  startAt.sort((a, b) => a - b)
  for (const t of startAt) sim.at(t, start)
  const lastStart = startAt[startAt.length - 1] as number

  const shared = (): Array<[TopicId, number[]]> => {
    const out: Array<[TopicId, number[]]> = []
    for (const topic of sim.streamedTopics()) {
      const members = sim.streamers(topic)
      if (members.length >= 2) out.push([topic, members])
    }
    return out
  }
  const overlayShare = (): { share: number, split: number } => {
    const list = shared()
    const split = list.filter(([topic, members]) => !oneOverlay(sim, members, topic)).length
    return { share: list.length === 0 ? 1 : 1 - split / list.length, split }
  }

  sim.runUntil(lastStart + 10_000)
  const afterStart = overlayShare()

  // Subscription churn: every second each node swaps each of its topics with probability
  // churnRate / 60 (one swap = leave one of its topics, join one it is not in).
  const churnStart = sim.now
  const churnEnd = churnStart + churnFor
  steadyFrom = churnEnd - churnFor / 2
  steadyTo = churnEnd
  for (let t = churnStart; t < churnEnd; t += 1000) {
    sim.at(t, () => {
      for (let id = 0; id < n; id++) {
        const topics = mine[id] as Set<number>
        const expected = (topics.size * churnRate) / 60
        let swaps = Math.floor(expected) + (rng.next() < expected % 1 ? 1 : 0)
        for (; swaps > 0; swaps--) {
          const list = [...topics]
          const out = list[Math.floor(rng.next() * list.length)] as number
          const [into] = zipf.drawDistinct(rng, 1, topics)
          topics.delete(out)
          sim.leave(id, simTopicId(out))
          if (into === undefined) continue
          topics.add(into)
          sim.stream(id, simTopicId(into))
        }
      }
    })
  }
  sim.runUntil(churnEnd + 10_000)
  const end = overlayShare()

  // Broadcast rounds: every topic with 2 members or more, from a random member, spread over 1 s.
  const firstMessage = sim.metrics.messages.length
  const topicOf = new Map<string, TopicId>()
  for (let r = 0; r < rounds; r++) {
    const roundStart = sim.now
    for (const [topic] of shared()) {
      sim.at(roundStart + Math.floor(rng.next() * 1000), () => {
        const now = sim.streamers(topic)
        if (now.length < 2) return
        const from = now[Math.floor(rng.next() * now.length)] as number
        topicOf.set(sim.broadcast(from, topic, new Uint8Array(0), now), topic)
      })
    }
    sim.runFor(5_000)
  }
  const outcomes = sim.metrics.messages.slice(firstMessage).map(r => messageOutcome(r, () => true))
  const failedTopics = new Set<TopicId>()
  for (const o of outcomes) if (o.delivered < o.recipients) failedTopics.add(topicOf.get(o.id) as TopicId)
  const broadcastTopics = new Set(topicOf.values())
  sim.metrics.dropFrom(firstMessage)

  // Discovery traffic.
  const alive = sim.aliveNodes().length
  const steadySeconds = (steadyTo - steadyFrom) / 1000
  let steadyTotal = 0
  let busiest = 0
  for (let i = 0; i < n; i++) {
    steadyTotal += steadyByNode[i] as number
    if ((steadyByNode[i] as number) > busiest) busiest = steadyByNode[i] as number
  }
  let peakSecond = 0
  for (const b of seconds) if (b !== undefined && b > peakSecond) peakSecond = b

  const delays = sim.firstNeighbourMs.slice().sort((a, b) => a - b)
  const missing = sim.waitingForNeighbour().filter(w => sim.streamers(w.topic).length >= 2).length
  let links = 0
  let bookNodes = 0
  let bookInterests = 0
  for (let i = 0; i < n; i++) {
    for (const e of sim.network.endsOf(i).values()) if (e.open) links++
    const book = sim.discoveryOf(i)?.discovery.book
    bookNodes += book?.size ?? 0
    bookInterests += book?.interestCount ?? 0
  }
  let subscriptions = 0
  let most = 0
  for (let i = 0; i < n; i++) {
    subscriptions += counts[i] as number
    if ((counts[i] as number) > most) most = counts[i] as number
  }

  const perNodeSecond = (bytes: number): number => bytes / alive / steadySeconds
  return {
    nodes: n,
    topics: topicCount,
    meanTopicsPerNode: subscriptions / n,
    maxTopicsPerNode: most,
    sharedTopics: shared().length,
    discoveryBps: perNodeSecond(steadyTotal),
    discoveryBpsBusiest: busiest / steadySeconds,
    discoveryBpsPeak: peakSecond / alive,
    discoveryBpsNodePeak: nodePeak,
    bpsTopics: perNodeSecond(steadyByType.get('topics') ?? 0),
    bpsDigest: perNodeSecond(steadyByType.get('digest') ?? 0),
    bpsResync: perNodeSecond(steadyByType.get('resync') ?? 0),
    bpsQuery: perNodeSecond(steadyByType.get('query') ?? 0),
    bpsMembers: perNodeSecond(steadyByType.get('members') ?? 0),
    snapshotsPerNodeSecond: perNodeSecond(steadySnapshots),
    bpsSnapshots: perNodeSecond(steadySnapshotBytes),
    firstNeighbourP50: percentile(delays, 0.5),
    firstNeighbourP99: percentile(delays, 0.99),
    firstNeighbourMax: delays.length === 0 ? Number.NaN : delays[delays.length - 1] as number,
    firstNeighbourCount: delays.length,
    firstNeighbourMissing: missing,
    oneOverlayAfterStart: afterStart.share,
    oneOverlay: end.share,
    splitTopics: end.split,
    reliability: outcomes.length === 0 ? Number.NaN : outcomes.reduce((a, o) => a + o.reliability, 0) / outcomes.length,
    minReliability: outcomes.reduce((a, o) => Math.min(a, o.reliability), 1),
    fullyDelivered: outcomes.length === 0 ? Number.NaN : outcomes.filter(o => o.delivered === o.recipients).length / outcomes.length,
    topicsFullyDelivered: broadcastTopics.size === 0 ? Number.NaN : 1 - failedTopics.size / broadcastTopics.size,
    maxDiscoveryFrame: maxDiscovery,
    maxProtoControlFrame: maxProto,
    framesOverBudget: overBudget,
    linksPerNode: links / alive,
    bookNodes: bookNodes / alive,
    bookInterests: bookInterests / alive,
    events: sim.eventCount
  }
}

/** The scenario as `bench:sim` runs it (`topics`: the --topics flag, default 10 × nodes). */
export function topicsBenchScenario (topics?: number): Scenario {
  return {
    name: 'topics',
    description: 'N nodes, 10 N topics, Zipf subscriptions (mean 50, max 1,000), 3 seeds, joins over 10 s, 5 %/min subscription churn for 2 min, 3 broadcasts per topic',
    run: settings => topicsScenario({ nodes: settings.nodes, seed: settings.seed, topics })
  }
}
