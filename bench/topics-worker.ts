/**
 * One process of bench/topics.ts, driven over IPC: a Grapevine node that joins many topics at once
 * and reports when each topic got its first neighbour and its full active view, what it logged,
 * its memory, its bytes on the wire and what it delivered.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Gossip } from '../src/core/gossip.js'
import type { GossipHandle, Logger, TopicId } from '../src/core/api.js'
import { toTopicId } from '../src/core/topic-id.js'

type Command =
  | { id: number, cmd: 'start', secret: string, seeds: string[], index: number, nodes: number }
  | { id: number, cmd: 'join', topics: string[] }
  | { id: number, cmd: 'status', now?: boolean }
  | { id: number, cmd: 'timings' }
  | { id: number, cmd: 'sample' }
  | { id: number, cmd: 'subscribe', topics: string[] }
  | { id: number, cmd: 'publish', topics: string[], count: number }
  | { id: number, cmd: 'delivery' }
  | { id: number, cmd: 'stop' }

const send = (m: unknown): void => { process.send?.(m) }
// CLOCK_MONOTONIC is one clock for every process of the machine (see bench/node-worker.ts).
const wallNow = (): number => Number(process.hrtime.bigint()) / 1e6

/** Log lines kept verbatim (the first ones), the rest only counted. */
const KEEP_LOG_LINES = 8
const log = { warn: 0, error: 0, first: [] as string[], byMessage: {} as Record<string, number> }
const debugReasons = new Map<string, number>()
function at (level: 'warn' | 'error') {
  return (obj: unknown, msg?: string): void => {
    log[level]++
    log.byMessage[msg ?? ''] = (log.byMessage[msg ?? ''] ?? 0) + 1
    if (log.first.length < KEEP_LOG_LINES) {
      const o = obj as { reason?: unknown, err?: { message?: unknown } } | undefined
      const detail = o?.reason ?? o?.err?.message
      log.first.push(`${level}: ${msg ?? ''}${detail !== undefined ? ` (${String(detail)})` : ''}`)
    }
  }
}
const logger: Logger = {
  trace: () => {},
  // Debug lines are only tallied by message: links closed on purpose, dials that failed.
  debug: (_obj: unknown, msg?: string) => { const k = msg ?? ''; debugReasons.set(k, (debugReasons.get(k) ?? 0) + 1) },
  info: () => {},
  warn: at('warn'),
  error: at('error')
}

let gossip: Gossip | undefined
let nodes = 0
let index = 0
const handles = new Map<TopicId, GossipHandle>()
const names = new Map<TopicId, string>()
let joinStartedAt = 0
let joinCallsMs = 0
/** When each topic got its first neighbour, and when its active view first held every other node. */
const firstNeighbourAt = new Map<TopicId, number>()
const fullAt = new Map<TopicId, number>()
const downs: Record<string, number> = {}
let joinFailed = 0
let lagged = 0
const received = new Map<string, Set<string>>()
/** How long the event loop went without a turn (a burst of timers or frames holds every socket up). */
const loopDelay = monitorEventLoopDelay({ resolution: 20 })

/**
 * Record the first time a topic has a neighbour and the first time it has every other node. A
 * topic is only looked at until it got there: the measurement must not cost the node much.
 */
function noteNeighbour (topic: TopicId): void {
  if (fullAt.has(topic)) return
  const handle = handles.get(topic)
  if (handle === undefined) return
  const count = handle.neighbours().length
  if (count === 0) return
  const now = wallNow()
  if (!firstNeighbourAt.has(topic)) firstNeighbourAt.set(topic, now)
  if (count >= nodes - 1) fullAt.set(topic, now)
}

async function watchEvents (g: Gossip): Promise<void> {
  for await (const e of g.events()) {
    switch (e.type) {
      case 'lagged': lagged += e.dropped; break
      case 'joined': case 'neighbourUp': noteNeighbour(e.topic); break
      case 'neighbourDown': downs[e.reason] = (downs[e.reason] ?? 0) + 1; break
      case 'joinFailed': joinFailed++; break
    }
  }
}

/**
 * Topics that got a neighbour (and every other node) so far. Those not there yet are polled as well,
 * in case their event is still queued. With `now`, the counts are of the views as they are now.
 */
function status (now = false): Record<string, unknown> {
  let withNeighbour = 0
  let full = 0
  for (const [topic, handle] of handles) {
    if (now) {
      const n = handle.neighbours().length
      if (n > 0) withNeighbour++
      if (n >= nodes - 1) full++
    } else {
      noteNeighbour(topic)
    }
  }
  if (!now) {
    withNeighbour = firstNeighbourAt.size
    full = fullAt.size
  }
  return { topics: handles.size, withNeighbour, full, downs, joinFailed, lagged, log, traffic: gossip?.traffic() }
}

process.on('message', (m: Command) => {
  void (async () => {
    switch (m.cmd) {
      case 'start':
        index = m.index
        nodes = m.nodes
        gossip = await Gossip.spawn({ secret: m.secret, seeds: m.seeds, logger, subscriberBufferSize: 1 << 20 })
        void watchEvents(gossip)
        send({ id: m.id, ok: true, address: gossip.address, nodeId: gossip.nodeId })
        return
      case 'join': {
        joinStartedAt = wallNow()
        loopDelay.enable()
        const t0 = performance.now()
        for (const name of m.topics) {
          const handle = await gossip!.stream(name)
          handles.set(handle.topic, handle)
          names.set(handle.topic, name)
        }
        joinCallsMs = performance.now() - t0
        send({ id: m.id, ok: true, startedAt: joinStartedAt, callsMs: joinCallsMs })
        return
      }
      case 'status':
        send({ id: m.id, ok: true, ...status(m.now === true) })
        return
      case 'timings': {
        // Per topic, by name: ms since this node's first stream call (null: never).
        const first: Record<string, number | null> = {}
        const whole: Record<string, number | null> = {}
        for (const [topic, name] of names) {
          const f = firstNeighbourAt.get(topic)
          const w = fullAt.get(topic)
          first[name] = f === undefined ? null : f
          whole[name] = w === undefined ? null : w
        }
        send({ id: m.id, ok: true, first, full: whole })
        return
      }
      case 'sample': {
        const mem = process.memoryUsage()
        send({ id: m.id, ok: true, at: wallNow(), rss: mem.rss, heapUsed: mem.heapUsed, cpu: process.cpuUsage(), maxLoopDelayMs: loopDelay.max / 1e6, traffic: gossip!.traffic(), debug: Object.fromEntries(debugReasons), ...status() })
        return
      }
      case 'subscribe':
        for (const name of m.topics) {
          const topic = toTopicId(name)
          const seen = new Set<string>()
          received.set(name, seen)
          const sub = handles.get(topic)!.subscribe({ bufferSize: 1 << 16 })
          void (async () => {
            for await (const item of sub) {
              if (item.type === 'message') seen.add(Buffer.from(item.content).toString())
            }
          })()
        }
        send({ id: m.id, ok: true })
        return
      case 'publish':
        for (const name of m.topics) {
          const handle = handles.get(toTopicId(name))!
          for (let k = 0; k < m.count; k++) await handle.publish(`${index}|${name}|${k}`)
        }
        send({ id: m.id, ok: true })
        return
      case 'delivery': {
        // Messages from other nodes only: a node's own publish is not delivered back to its handle.
        const perTopic: Record<string, number> = {}
        for (const [name, seen] of received) perTopic[name] = [...seen].filter(s => !s.startsWith(`${index}|`)).length
        send({ id: m.id, ok: true, perTopic })
        return
      }
      case 'stop':
        await gossip?.close()
        send({ id: m.id, ok: true })
        process.exit(0)
    }
  })().catch(err => send({ id: m.id, ok: false, error: String(err?.stack ?? err) }))
})
// Never outlive the benchmark: if the parent goes away, so does this process.
process.on('disconnect', () => { process.exit(1) })
send({ ready: true })
