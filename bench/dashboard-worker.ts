/**
 * One process of bench/dashboard.ts, driven over IPC: a few Grapevine nodes of one cluster, each in
 * one idle application topic, with or without `clusterSummary`. It reports each node's bytes on
 * the wire and its counters of the cluster-summary topic; the process holding the cluster's first
 * node also keeps a dashboard's view of the cluster (a ClusterView fed from that node, as the
 * Fastify plugin's dashboard does) and says how many nodes it shows.
 */
import { performance } from 'node:perf_hooks'
import { Gossip } from '../src/core/gossip.js'
import type { GossipHandle, Logger, TopicStats } from '../src/core/api.js'
import { CLUSTER_TOPIC, CLUSTER_TOPIC_ID, decodeSummary } from '../src/core/cluster-summary.js'
import { ClusterView } from '../src/core/cluster-view.js'
import { toTopicId } from '../src/core/topic-id.js'

type Command =
  | { id: number, cmd: 'start', secret: string, seeds: string[], count: number, summary: boolean, topicOnly: boolean, appTopic: string, view: boolean }
  | { id: number, cmd: 'status' }
  | { id: number, cmd: 'sample' }
  | { id: number, cmd: 'view' }
  | { id: number, cmd: 'stop' }

const send = (m: unknown): void => { process.send?.(m) }
// CLOCK_MONOTONIC is one clock for every process of the machine (see bench/node-worker.ts).
const wallNow = (): number => Number(process.hrtime.bigint()) / 1e6

const log = { warn: 0, error: 0, first: [] as string[] }
function at (level: 'warn' | 'error') {
  return (obj: unknown, msg?: string): void => {
    log[level]++
    if (log.first.length < 8) {
      const o = obj as { reason?: unknown, err?: { message?: unknown } } | undefined
      const detail = o?.reason ?? o?.err?.message
      log.first.push(`${level}: ${msg ?? ''}${detail !== undefined ? ` (${String(detail)})` : ''}`)
    }
  }
}
const logger: Logger = { trace: () => {}, debug: () => {}, info: () => {}, warn: at('warn'), error: at('error') }

interface Member { gossip: Gossip, app: GossipHandle, downs: number, cluster?: GossipHandle }
/** neighbourDown events of every node of this process, by reason. */
const downReasons: Record<string, number> = {}
const members: Member[] = []
let appTopicId = ''

/** The dashboard's view, on the first node of the cluster only. */
let view: ClusterView | undefined
let viewNode: Gossip | undefined
/** What that node heard on the summary topic: every origin, when, the intervals announced, the sizes. */
const heardAt = new Map<string, number>()
const intervals = new Map<string, number>()
const sizes: number[] = []

async function watchView (g: Gossip): Promise<void> {
  view = new ClusterView(g.nodeId, { removeAfter: 60_000 })
  const handle = await g.stream(CLUSTER_TOPIC)
  const sub = handle.subscribe({ bufferSize: 1024 })
  void (async () => {
    for await (const item of sub) {
      if (item.type !== 'message') continue
      const now = performance.now()
      view!.receive(item.origin, item.content, now)
      heardAt.set(item.origin, wallNow())
      sizes.push(item.content.byteLength)
      const s = decodeSummary(item.content)
      if (s !== undefined) intervals.set(item.origin, s.interval)
    }
  })()
}

function topicOf (stats: TopicStats[], id: string): Pick<TopicStats, 'published' | 'delivered' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'duplicates' | 'neighbours'> {
  const t = stats.find(x => x.topic === id)
  return {
    published: t?.published ?? 0,
    delivered: t?.delivered ?? 0,
    messagesIn: t?.messagesIn ?? 0,
    messagesOut: t?.messagesOut ?? 0,
    bytesIn: t?.bytesIn ?? 0,
    bytesOut: t?.bytesOut ?? 0,
    duplicates: t?.duplicates ?? 0,
    neighbours: t?.neighbours ?? 0
  }
}

process.on('message', (m: Command) => {
  void (async () => {
    switch (m.cmd) {
      case 'start': {
        appTopicId = toTopicId(m.appTopic)
        const addresses: string[] = []
        for (let k = 0; k < m.count; k++) {
          // The first node of the process seeds its others too, so that not all dial one seed at once.
          const seeds = k === 0 ? m.seeds : [...m.seeds.slice(0, 1), addresses[0]!]
          const gossip = await Gossip.spawn({ secret: m.secret, seeds, logger, clusterSummary: m.summary })
          const member: Member = { gossip, app: await gossip.stream(m.appTopic), downs: 0 }
          // The summary topic joined, but nothing published on it: what the topic's upkeep costs alone.
          if (m.topicOnly) member.cluster = await gossip.stream(CLUSTER_TOPIC)
          members.push(member)
          addresses.push(gossip.address)
          void (async () => {
            for await (const e of gossip.events()) {
              if (e.type !== 'neighbourDown') continue
              member.downs++
              const key = `${e.topic === CLUSTER_TOPIC_ID ? 'summary' : 'app'} ${e.reason}`
              downReasons[key] = (downReasons[key] ?? 0) + 1
            }
          })()
          if (k === 0 && m.view) {
            viewNode = gossip
            await watchView(gossip)
          }
        }
        send({ id: m.id, ok: true, addresses })
        return
      }
      case 'status':
        send({
          id: m.id,
          ok: true,
          nodes: members.map(x => {
            const s = x.gossip.stats()
            return { app: x.app.neighbours().length, cluster: topicOf(s.topics, CLUSTER_TOPIC_ID).neighbours, links: s.links }
          })
        })
        return
      case 'sample':
        send({
          id: m.id,
          ok: true,
          at: wallNow(),
          cpu: process.cpuUsage(),
          rss: process.memoryUsage().rss,
          log,
          downReasons: { ...downReasons },
          nodes: members.map(x => {
            const s = x.gossip.stats()
            return {
              at: wallNow(),
              wireIn: s.wireBytesIn,
              wireOut: s.wireBytesOut,
              links: s.links,
              downs: x.downs,
              app: topicOf(s.topics, appTopicId),
              cluster: topicOf(s.topics, CLUSTER_TOPIC_ID)
            }
          })
        })
        return
      case 'view': {
        if (view === undefined || viewNode === undefined) {
          send({ id: m.id, ok: true, view: null })
          return
        }
        const snap = view.snapshot(performance.now())
        const announced = [...intervals.values()]
        const count = (state: string): number => snap.nodes.filter(n => n.state === state).length
        send({
          id: m.id,
          ok: true,
          view: {
            self: viewNode.nodeId,
            shown: snap.nodes.length,
            live: count('live'),
            stale: count('stale'),
            unknown: count('unknown'),
            /** The dashboard's own node: not heard (its summaries do not come back), named by its neighbours'. */
            selfState: snap.nodes.find(n => n.id === viewNode!.nodeId)?.state ?? null,
            links: snap.links.length,
            /** Origins whose summary this node received, and when each was last heard (ms, this machine's monotonic clock). */
            heard: Object.fromEntries(heardAt),
            announcedIntervalMs: { min: Math.min(...announced), max: Math.max(...announced), mean: announced.reduce((a, b) => a + b, 0) / Math.max(1, announced.length) },
            summaryBytes: { count: sizes.length, min: Math.min(...sizes), max: Math.max(...sizes), mean: sizes.reduce((a, b) => a + b, 0) / Math.max(1, sizes.length) }
          }
        })
        return
      }
      case 'stop':
        await Promise.all(members.map(async x => await x.gossip.close()))
        send({ id: m.id, ok: true })
        process.exit(0)
    }
  })().catch(err => send({ id: m.id, ok: false, error: String(err?.stack ?? err) }))
})
// Never outlive the benchmark: if the parent goes away, so does this process.
process.on('disconnect', () => { process.exit(1) })
send({ ready: true })
