/**
 * Records a simulation's time-line (./trace-format.ts) as a `SimObserver`: the simulator tells it
 * when a node's protocol handled an input, and it compares that node's view of the topic with the
 * one it last saw. It only reads: the traced run is the run the bench table reports.
 */
import { DisjointSets } from './disjoint-sets.js'
import { SIM_TOPIC } from './scenarios.js'
import type { SimObserver, Simulator } from './simulator.js'
import type { TopicId } from '../proto/types.js'
import {
  ACTIVE_ADD, ACTIVE_DEL, EAGER_ADD, EAGER_DEL, JOIN, KILL, LEAVE, MEND, PARTITION, TRACE_FORMAT, TRACE_VERSION,
  type SimTrace, type TraceBounds, type TraceEvent, type TraceMessage, type TraceTotals
} from './trace-format.js'

export const traceDefaults: TraceBounds = Object.freeze({
  /** Nodes drawn: a page stays fluid with a few hundred. */
  maxDrawn: 300,
  /** About 16 bytes each in the file. */
  maxEvents: 500_000,
  /** Delivery times kept per message. */
  maxSamples: 256,
  maxMessages: 20_000
})

/** Same horizon as the scenarios' `outcomes`: a member that dies within 5 s of a publish is no recipient. */
const RECIPIENT_HORIZON = 5_000
const TOTALS_EVERY = 1_000

export interface TraceOptions extends Partial<TraceBounds> {
  scenario: string
  /** Nodes the scenario starts with: sets which ones are drawn. */
  nodes: number
  seed: number
  topic?: TopicId
}

export class TraceRecorder implements SimObserver {
  private sim: Simulator | undefined
  private readonly bounds: TraceBounds
  private readonly drawEvery: number
  private readonly topic: TopicId
  private readonly events: TraceEvent[] = []
  private readonly totals: TraceTotals[] = []
  private readonly active = new Map<number, Set<number>>()
  private readonly eager = new Map<number, Set<number>>()
  private nextTotals = 0
  private truncatedAt: number | null = null

  constructor (private readonly options: TraceOptions) {
    this.bounds = {
      maxDrawn: options.maxDrawn ?? traceDefaults.maxDrawn,
      maxEvents: options.maxEvents ?? traceDefaults.maxEvents,
      maxSamples: Math.max(2, options.maxSamples ?? traceDefaults.maxSamples),
      maxMessages: options.maxMessages ?? traceDefaults.maxMessages
    }
    this.drawEvery = Math.max(1, Math.ceil(options.nodes / this.bounds.maxDrawn))
    this.topic = options.topic ?? SIM_TOPIC
  }

  attach (sim: Simulator): void {
    if (this.sim !== undefined) throw new Error('a TraceRecorder records one simulation')
    this.sim = sim
  }

  private drawn (node: number): boolean {
    return node % this.drawEvery === 0
  }

  private get now (): number {
    return Math.round((this.sim as Simulator).now)
  }

  private push (event: TraceEvent, structural: boolean): void {
    if (!structural && this.truncatedAt !== null) return
    if (!structural && this.events.length >= this.bounds.maxEvents) {
      this.truncatedAt = this.now
      return
    }
    this.events.push(event)
  }

  touched (node: number): void {
    const sim = this.sim as Simulator
    if (sim.now >= this.nextTotals) this.recordTotals()
    if (!this.drawn(node)) return
    const view = sim.view(node, this.topic)
    const had = this.active.get(node)
    if (view === undefined) {
      if (had === undefined) return
      this.active.delete(node)
      this.eager.delete(node)
      this.push([this.now, LEAVE, node], true)
      return
    }
    if (had === undefined) this.push([this.now, JOIN, node], true)
    this.diff(node, this.active, view.active.filter(p => this.drawn(p)), ACTIVE_ADD, ACTIVE_DEL)
    this.diff(node, this.eager, view.eager.filter(p => this.drawn(p)), EAGER_ADD, EAGER_DEL)
  }

  private diff (node: number, held: Map<number, Set<number>>, now: number[], add: number, del: number): void {
    let before = held.get(node)
    if (before === undefined) {
      before = new Set()
      held.set(node, before)
    }
    if (now.length === before.size && now.every(p => (before as Set<number>).has(p))) return
    const after = new Set(now)
    const t = this.now
    for (const p of before) if (!after.has(p)) this.push([t, del, node, p], false)
    for (const p of after) if (!before.has(p)) this.push([t, add, node, p], false)
    held.set(node, after)
  }

  killed (nodes: readonly number[]): void {
    if (nodes.length === 0) return
    const drawn = nodes.filter(n => this.drawn(n) && this.active.has(n))
    for (const n of drawn) { this.active.delete(n); this.eager.delete(n) }
    this.push([this.now, KILL, nodes.length, ...drawn], true)
  }

  partitioned (groups: ReadonlyArray<readonly number[]>): void {
    this.push([this.now, PARTITION, groups.map(g => g.filter(n => this.drawn(n)))], true)
  }

  mended (): void {
    this.push([this.now, MEND], true)
  }

  /** The whole run's figures, every node counted (drawn or not). */
  private recordTotals (): void {
    const sim = this.sim as Simulator
    this.nextTotals = (Math.floor(sim.now / TOTALS_EVERY) + 1) * TOTALS_EVERY
    const views = sim.views(this.topic)
    const ids = [...views.keys()]
    const index = new Map(ids.map((id, i) => [id, i]))
    const sets = new DisjointSets(ids.length)
    let directed = 0
    let isolated = 0
    const pairs = new Set<number>()
    const n = sim.nodeCount
    for (const [a, view] of views) {
      if (view.active.length === 0) isolated++
      for (const b of view.active) {
        const j = index.get(b)
        if (j === undefined) continue
        directed++
        pairs.add(a < b ? a * n + b : b * n + a)
        sets.union(index.get(a) as number, j)
      }
    }
    const components = sets.sizes().size
    this.totals.push([this.now, ids.length, directed === 0 ? 0 : pairs.size, components, isolated])
  }

  /** The trace of the run so far, with the scenario's figures (`result`). */
  finish (result: Record<string, number> = {}): SimTrace {
    const sim = this.sim
    if (sim === undefined) throw new Error('the TraceRecorder saw no simulation (pass it as the simulator\'s observer)')
    this.recordTotals()
    const records = sim.metrics.messages.filter(r => r.topic === this.topic)
    const kept = records.slice(0, this.bounds.maxMessages)
    const messages: TraceMessage[] = kept.map(r => {
      const offsets: number[] = []
      let recipients = 0
      for (let i = 0; i < r.members.length; i++) {
        const node = r.members[i] as number
        const died = sim.diedAt(node)
        if (!Number.isNaN(died) && died < r.publishedAt + RECIPIENT_HORIZON) continue
        recipients++
        const at = r.deliveredAt[r.slots === undefined ? node : i] as number
        if (!Number.isNaN(at)) offsets.push(Math.round(at - r.publishedAt))
      }
      offsets.sort((a, b) => a - b)
      const delivered = offsets.length
      const last = delivered === 0 ? 0 : offsets[delivered - 1] as number
      return [Math.round(r.publishedAt), r.origin, recipients, delivered, last, sampleRanks(offsets, this.bounds.maxSamples)]
    })
    const figures: Record<string, number | null> = {}
    for (const [k, v] of Object.entries(result)) figures[k] = Number.isFinite(v) ? v : null
    return {
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      scenario: this.options.scenario,
      nodes: this.options.nodes,
      seed: this.options.seed,
      topic: this.topic,
      drawEvery: this.drawEvery,
      end: this.now,
      bounds: { ...this.bounds },
      truncatedAt: this.truncatedAt,
      messagesDropped: records.length - kept.length,
      events: this.events,
      totals: this.totals,
      messages,
      result: figures
    }
  }
}

/** All of `sorted` when it fits, else `max` order statistics spread evenly, the first and last included. */
export function sampleRanks (sorted: readonly number[], max: number): number[] {
  if (sorted.length <= max) return sorted.slice()
  const out: number[] = []
  for (let j = 0; j < max; j++) out.push(sorted[Math.round(j * (sorted.length - 1) / (max - 1))] as number)
  return out
}

/** Compact JSON: one event, message or totals row per line, so that a trace diffs and greps. */
export function formatTrace (trace: SimTrace): string {
  const { events, totals, messages, ...head } = trace
  const rows = (list: unknown[]): string => list.length === 0 ? '[]' : `[\n${list.map(x => JSON.stringify(x)).join(',\n')}\n]`
  const header = JSON.stringify(head).slice(0, -1)
  return `${header},\n"events": ${rows(events)},\n"totals": ${rows(totals)},\n"messages": ${rows(messages)}\n}\n`
}
