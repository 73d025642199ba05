/**
 * A simulation's time-line, as `bench:sim --trace FILE` writes it (./trace.ts) and the dashboard
 * page replays it (examples/sim-view.ts): the format, its reader, and `TraceReplay`, which turns
 * the time-line into the page's cluster snapshot at any time.
 *
 * No runtime import: the compiled file is loaded as is by the browser (a module script), so that
 * the page and the tests read a trace with the same code.
 *
 * One JSON document. Node ids are the simulator's small integers; times are simulated ms.
 * `events` are flat arrays ordered by time, `[t, code, ...]`:
 *
 *   [t, JOIN, n]          n has a view of the topic (it joined; it is drawn from now on)
 *   [t, LEAVE, n]         n left the topic
 *   [t, KILL, count, ...n] `count` nodes crashed at once; the drawn ones are listed
 *   [t, ACTIVE_ADD, a, b] a has b in its active view (a HyParView link)
 *   [t, ACTIVE_DEL, a, b]
 *   [t, EAGER_ADD, a, b]  a pushes payloads to b (a Plumtree tree edge); lazy otherwise
 *   [t, EAGER_DEL, a, b]
 *   [t, PARTITION, groups] the network is cut into groups (drawn nodes listed; others: one more group)
 *   [t, MEND]
 *
 * Bounds: links and tree edges are recorded among the drawn nodes only (every node up to
 * `bounds.maxDrawn`, else every k-th); `totals` give the whole run's figures every second.
 * A message keeps its delivery times whole up to `bounds.maxSamples` recipients, else that many
 * order statistics (with the exact count and the last time). Past `bounds.maxEvents` events,
 * link and tree changes stop being recorded (`truncatedAt`).
 */
import type { ClusterSnapshot, ViewEdge, ViewLink, ViewNode } from '../cluster-view.js'

export const TRACE_FORMAT = 'grapevine-sim-trace'
export const TRACE_VERSION = 1

export const JOIN = 0
export const LEAVE = 1
export const KILL = 2
export const ACTIVE_ADD = 3
export const ACTIVE_DEL = 4
export const EAGER_ADD = 5
export const EAGER_DEL = 6
export const PARTITION = 7
export const MEND = 8

export type TraceEvent = Array<number | number[][]>

/** `[publishedAt, origin, recipients, delivered, lastOffset, offsets]`: offsets from the publish, ms, sorted. */
export type TraceMessage = [number, number, number, number, number, number[]]

/** `[t, alive, links, components, isolated]` over the whole run (alive: nodes in the topic). */
export type TraceTotals = [number, number, number, number, number]

export interface TraceBounds {
  maxDrawn: number
  maxEvents: number
  maxSamples: number
  maxMessages: number
}

export interface SimTrace {
  format: typeof TRACE_FORMAT
  version: typeof TRACE_VERSION
  scenario: string
  nodes: number
  seed: number
  topic: string
  /** 1 when every node is drawn, else k: nodes whose id is a multiple of k. */
  drawEvery: number
  end: number
  bounds: TraceBounds
  /** Time from which link and tree changes were no longer recorded (maxEvents reached). */
  truncatedAt: number | null
  /** Messages published past maxMessages, not in `messages`. */
  messagesDropped: number
  events: TraceEvent[]
  totals: TraceTotals[]
  messages: TraceMessage[]
  /** The scenario's figures for this run, as the bench table reports them (null: not defined). */
  result: Record<string, number | null>
}

function fail (what: string): never {
  throw new Error(`not a simulation trace: ${what}`)
}

function isInt (v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0
}

/** Checks the shape (not every event's meaning) and returns the trace; throws on anything else. */
export function readTrace (input: string | unknown): SimTrace {
  const t = (typeof input === 'string' ? JSON.parse(input) : input) as Partial<SimTrace> | null
  if (t === null || typeof t !== 'object') fail('not an object')
  if (t.format !== TRACE_FORMAT) fail(`format ${String(t.format)}`)
  if (t.version !== TRACE_VERSION) fail(`version ${String(t.version)} (this reader knows ${TRACE_VERSION})`)
  if (!isInt(t.nodes) || !isInt(t.end) || !isInt(t.drawEvery) || t.drawEvery < 1 || typeof t.topic !== 'string') fail('header')
  if (!Array.isArray(t.events) || !Array.isArray(t.totals) || !Array.isArray(t.messages)) fail('events, totals or messages')
  let last = 0
  for (const e of t.events) {
    if (!Array.isArray(e) || !isInt(e[0]) || !isInt(e[1]) || e[1] > MEND || e[0] < last) fail('an event')
    last = e[0]
  }
  for (const m of t.messages) {
    if (!Array.isArray(m) || m.length !== 6 || !m.slice(0, 5).every(isInt) || !Array.isArray(m[5]) || m[5].length > m[3]) fail('a message')
  }
  for (const row of t.totals) if (!Array.isArray(row) || row.length !== 5 || !row.every(isInt)) fail('a totals row')
  return t as SimTrace
}

/** Deliveries of message `m` at most `dt` ms after its publish (exact when its offsets are whole). */
export function deliveredWithin (m: TraceMessage, dt: number): number {
  const [, , , delivered, last, offsets] = m
  if (dt < 0 || delivered === 0) return 0
  if (dt >= last) return delivered
  // Largest j with offsets[j] <= dt.
  let lo = -1
  let hi = offsets.length - 1
  while (lo < hi) {
    const mid = Math.ceil((lo + hi + 1) / 2)
    if ((offsets[mid] as number) <= dt) lo = mid
    else hi = mid - 1
  }
  if (lo < 0) return 0
  if (offsets.length === delivered) return lo + 1
  // Order statistics: sample j is the delivery of rank round(j (n - 1) / (s - 1)).
  return Math.round(lo * (delivered - 1) / Math.max(1, offsets.length - 1)) + 1
}

export interface MessageFigures {
  index: number
  publishedAt: number
  origin: number
  recipients: number
  delivered: number
  reliability: number
  /** Publish to last delivery when every recipient got it, else null. */
  fullMs: number | null
}

/** The figures the bench table derives from the same messages (see ./scenarios.ts). */
export interface RecoveryFigures {
  /** The first kill, and from it: the kill scenarios' figures over the messages published after it. */
  killedAt: number | null
  firstReliability: number | null
  reliability: number | null
  /** From the kill to the full delivery of the first message that reached every recipient. */
  recoveryMs: number | null
  /** The last mend, and from it to the first message after which every message reached everyone. */
  mendedAt: number | null
  healMs: number | null
}

export interface ReplayStats {
  time: number
  end: number
  /** Nodes in the topic and alive, killed so far: the whole run's (totals when only a sample is drawn). */
  alive: number
  dead: number
  components: number
  links: number
  /** Drawn on the page now: nodes (alive or dead) and alive ones. */
  drawn: number
  drawnAlive: number
  messagesPublished: number
  /** The latest message published by now: its recipients, deliveries so far and in the end. */
  lastMessage: { index: number, publishedAt: number, recipients: number, deliveredNow: number, delivered: number, reliability: number } | null
  partitioned: boolean
}

interface NodeState { joinedAt: number, diedAt: number | null, group: number }

export interface ReplayOptions {
  /** Ms a killed node stays on the page, greyed, before it leaves (default 10 000). */
  keepDead?: number
  /** Topic name shown in the page's topic list. */
  topicName?: string
}

const ZERO_RATES = { published: 0, delivered: 0, duplicates: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, wireIn: 0, wireOut: 0 }

/**
 * The trace's state at a time. Seeking forward applies the events in between; seeking back
 * starts over from the beginning (tens of thousands of events take milliseconds).
 */
export class TraceReplay {
  readonly trace: SimTrace
  private readonly keepDead: number
  private readonly topicName: string
  private time = -1
  private next = 0
  private nodes = new Map<number, NodeState>()
  private active = new Map<number, Set<number>>()
  private eager = new Map<number, Set<number>>()
  private killed = 0
  private partitioned = false
  /** Per message, ordered by publish time. */
  readonly figures: MessageFigures[]

  constructor (trace: SimTrace, options: ReplayOptions = {}) {
    this.trace = trace
    this.keepDead = options.keepDead ?? 10_000
    this.topicName = options.topicName ?? `sim topic (${trace.scenario})`
    this.figures = trace.messages.map((m, index) => ({
      index,
      publishedAt: m[0],
      origin: m[1],
      recipients: m[2],
      delivered: m[3],
      reliability: m[2] === 0 ? 1 : m[3] / m[2],
      fullMs: m[3] === m[2] ? m[4] : null
    }))
  }

  get now (): number { return Math.max(0, this.time) }

  /** Kills, partitions and mends, for the slider's marks. */
  markers (): Array<{ t: number, label: string }> {
    const out: Array<{ t: number, label: string }> = []
    for (const e of this.trace.events) {
      if (e[1] === KILL) out.push({ t: e[0] as number, label: `kill ${e[2] as number}` })
      else if (e[1] === PARTITION) out.push({ t: e[0] as number, label: 'partition' })
      else if (e[1] === MEND) out.push({ t: e[0] as number, label: 'mend' })
    }
    return out
  }

  seek (t: number): void {
    if (t < this.time) this.reset()
    const events = this.trace.events
    while (this.next < events.length && ((events[this.next] as TraceEvent)[0] as number) <= t) this.applyEvent(events[this.next++] as TraceEvent)
    this.time = t
  }

  private reset (): void {
    this.time = -1
    this.next = 0
    this.nodes = new Map()
    this.active = new Map()
    this.eager = new Map()
    this.killed = 0
    this.partitioned = false
  }

  private set (map: Map<number, Set<number>>, a: number): Set<number> {
    let s = map.get(a)
    if (s === undefined) {
      s = new Set()
      map.set(a, s)
    }
    return s
  }

  private applyEvent (e: TraceEvent): void {
    const t = e[0] as number
    const a = e[2] as number
    const b = e[3] as number
    switch (e[1]) {
      case JOIN: this.nodes.set(a, { joinedAt: t, diedAt: null, group: 0 }); break
      case LEAVE: this.nodes.delete(a); this.active.delete(a); this.eager.delete(a); break
      case KILL:
        this.killed += a
        for (const n of e.slice(3) as number[]) {
          const s = this.nodes.get(n)
          if (s !== undefined) s.diedAt = t
          // A dead node has no view; its neighbours' entries for it stay until they notice.
          this.active.delete(n)
          this.eager.delete(n)
        }
        break
      case ACTIVE_ADD: this.set(this.active, a).add(b); break
      case ACTIVE_DEL: this.active.get(a)?.delete(b); break
      case EAGER_ADD: this.set(this.eager, a).add(b); break
      case EAGER_DEL: this.eager.get(a)?.delete(b); break
      case PARTITION: {
        const groups = e[2] as number[][]
        for (const s of this.nodes.values()) s.group = groups.length
        groups.forEach((g, i) => { for (const n of g) { const s = this.nodes.get(n); if (s !== undefined) s.group = i } })
        this.partitioned = true
        break
      }
      case MEND:
        for (const s of this.nodes.values()) s.group = 0
        this.partitioned = false
        break
    }
  }

  private isAlive (n: number): boolean {
    const s = this.nodes.get(n)
    return s !== undefined && s.diedAt === null
  }

  /** Undirected links between drawn nodes (either end has the other active), with their tree state. */
  private edges (shown: (n: number) => boolean): Array<{ a: number, b: number, eager: boolean }> {
    const out = new Map<string, { a: number, b: number, eager: boolean }>()
    for (const [a, peers] of this.active) {
      if (!shown(a)) continue
      for (const b of peers) {
        if (a === b || !shown(b)) continue
        const [lo, hi] = a < b ? [a, b] : [b, a]
        const key = `${lo} ${hi}`
        const eager = this.eager.get(a)?.has(b) === true || this.eager.get(b)?.has(a) === true
        const edge = out.get(key)
        if (edge === undefined) out.set(key, { a: lo, b: hi, eager })
      }
    }
    return [...out.values()]
  }

  private components (): { components: number, links: number } {
    // Its own union-find, not ./disjoint-sets.js: the replay page loads this file alone (it may
    // import types only).
    const alive = [...this.nodes.keys()].filter(n => this.isAlive(n))
    const parent = new Map(alive.map(n => [n, n]))
    const find = (x: number): number => {
      let r = x
      while (parent.get(r) !== r) r = parent.get(r) as number
      parent.set(x, r)
      return r
    }
    const edges = this.edges(n => this.isAlive(n))
    for (const e of edges) parent.set(find(e.a), find(e.b))
    return { components: new Set(alive.map(find)).size, links: edges.length }
  }

  /** The latest totals row at or before the current time. */
  private totals (): TraceTotals | undefined {
    let found: TraceTotals | undefined
    for (const row of this.trace.totals) {
      if (row[0] > this.now) break
      found = row
    }
    return found
  }

  stats (): ReplayStats {
    const t = this.now
    const shown = this.shownNodes()
    const drawnAlive = shown.filter(n => this.isAlive(n)).length
    let alive: number
    let components: number
    let links: number
    if (this.trace.drawEvery === 1) {
      alive = [...this.nodes.keys()].filter(n => this.isAlive(n)).length
      ;({ components, links } = this.components())
    } else {
      const row = this.totals()
      alive = row?.[1] ?? 0
      links = row?.[2] ?? 0
      components = row?.[3] ?? 0
    }
    let last: MessageFigures | undefined
    let published = 0
    for (const f of this.figures) {
      if (f.publishedAt > t) break
      last = f
      published++
    }
    const m = last === undefined ? undefined : this.trace.messages[last.index]
    return {
      time: t,
      end: this.trace.end,
      alive,
      dead: this.killed,
      components,
      links,
      drawn: shown.length,
      drawnAlive,
      messagesPublished: published,
      lastMessage: last === undefined || m === undefined
        ? null
        : { index: last.index, publishedAt: last.publishedAt, recipients: last.recipients, deliveredNow: deliveredWithin(m, t - last.publishedAt), delivered: last.delivered, reliability: last.reliability },
      partitioned: this.partitioned
    }
  }

  private shownNodes (): number[] {
    const t = this.now
    return [...this.nodes].filter(([, s]) => s.diedAt === null || t - s.diedAt < this.keepDead).map(([n]) => n)
  }

  /** The page's model of the cluster (../cluster-view.ts) at the current time. */
  snapshot (): ClusterSnapshot {
    const t = this.now
    const shown = this.shownNodes()
    const shownSet = new Set(shown)
    const edges = this.edges(n => shownSet.has(n))
    const degree = new Map<number, number>()
    for (const e of edges) {
      if (this.isAlive(e.a) && this.isAlive(e.b)) {
        degree.set(e.a, (degree.get(e.a) ?? 0) + 1)
        degree.set(e.b, (degree.get(e.b) ?? 0) + 1)
      }
    }
    const id = (n: number): string => `n${n}`
    const published = this.trace.messages.filter(m => m[0] > t - 1000 && m[0] <= t)
    const nodes: ViewNode[] = shown.sort((a, b) => a - b).map(n => {
      const s = this.nodes.get(n) as NodeState
      const links = degree.get(n) ?? 0
      const dead = s.diedAt !== null
      const node: ViewNode = {
        id: id(n),
        short: `#${n}`,
        state: dead ? 'stale' : 'live',
        health: dead ? 'gone' : links === 0 ? 'bad' : 'ok',
        self: false,
        address: `#${n}${this.partitioned ? ` (side ${s.group + 1})` : ''}`,
        uptime: t - s.joinedAt,
        silentFor: dead ? t - (s.diedAt as number) : 0,
        interval: 1000,
        links,
        topics: 1,
        rates: { ...ZERO_RATES, published: published.filter(m => m[1] === n).length },
        queues: { linkBuffered: 0, dialQueued: 0, pendingPublishes: 0, subscriberBuffered: 0 }
      }
      if (dead) node.staleReason = 'silent'
      return node
    })
    const viewLinks: ViewLink[] = edges.map(e => ({ a: id(e.a), b: id(e.b) }))
    const viewEdges: ViewEdge[] = edges.map(e => ({ a: id(e.a), b: id(e.b), eager: e.eager }))
    let deliveries = 0
    for (const m of this.trace.messages) {
      if (m[0] > t || m[0] + m[4] <= t - 1000) continue
      deliveries += deliveredWithin(m, t - m[0]) - deliveredWithin(m, t - 1000 - m[0])
    }
    return {
      self: undefined,
      nodes,
      links: viewLinks,
      topics: [{
        id: this.trace.topic,
        name: this.topicName,
        members: nodes.filter(n => n.state === 'live').map(n => n.id),
        edges: viewEdges,
        published: published.length,
        delivered: deliveries,
        duplicates: 0
      }],
      messagesPerSecond: published.length,
      deliveriesPerSecond: deliveries
    }
  }

  /** What the bench table reports for the run, computed again from the trace's messages. */
  recovery (): RecoveryFigures {
    const events = this.trace.events
    const kill = events.find(e => e[1] === KILL)
    const mends = events.filter(e => e[1] === MEND)
    const mend = mends[mends.length - 1]
    const out: RecoveryFigures = { killedAt: null, firstReliability: null, reliability: null, recoveryMs: null, mendedAt: null, healMs: null }
    if (kill !== undefined) {
      const killedAt = kill[0] as number
      const after = this.figures.filter(f => f.publishedAt >= killedAt)
      out.killedAt = killedAt
      out.firstReliability = after[0]?.reliability ?? null
      out.reliability = after.length === 0 ? null : after.reduce((s, f) => s + f.reliability, 0) / after.length
      const full = after.find(f => f.fullMs !== null)
      out.recoveryMs = full === undefined ? null : full.publishedAt + (full.fullMs as number) - killedAt
    }
    if (mend !== undefined) {
      const mendedAt = mend[0] as number
      const after = this.figures.filter(f => f.publishedAt >= mendedAt)
      let k = after.length
      while (k > 0 && (after[k - 1] as MessageFigures).fullMs !== null) k--
      out.mendedAt = mendedAt
      out.healMs = k === after.length ? null : (after[k] as MessageFigures).publishedAt - mendedAt
    }
    return out
  }
}
