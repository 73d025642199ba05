/**
 * The experiments of the HyParView and Plumtree papers, as functions from (nodes, seed) to a flat
 * record of numbers. The benchmark runs them over several seeds; the showcase and the tests reuse
 * the building blocks (`bootstrap`, `broadcastSeries`, `summarise`).
 */
import type { PartialProtoConfig } from '../proto/config.js'
import type { MessageId, TopicId } from '../proto/types.js'
import {
  controlPerDelivery, countersBetween, messageOutcome, overlayStats,
  type MessageOutcome, type MessageRecord, type OverlayStats
} from './metrics.js'
import { sample } from '../proto/random.js'
import { Simulator, type SimOptions } from './simulator.js'

/** The topic every scenario uses: 32 bytes as hex. */
export const SIM_TOPIC: TopicId = '5e'.repeat(32)

export interface BootstrapOptions {
  nodes: number
  /**
   * Who the newcomers join through: `1` = all through node 0 (the papers' setting), `k > 1` = a
   * random one of the first k nodes, `'random'` (default) = any node that joined before, as when
   * every node is given the whole seed list.
   */
  contacts?: number | 'random'
  /** Gap between two joins, ms. Default 2 (10,000 nodes join within 20 s). */
  joinInterval?: number
  /**
   * Time to let the overlay settle after the last join, ms. Default two shuffle periods, so that
   * every node, the last joiner too, has shuffled at least once and has a passive view.
   */
  settle?: number
}

/** Adds `nodes` nodes that join one after another, then lets the overlay settle. */
export function bootstrap (sim: Simulator, options: BootstrapOptions, topic: TopicId = SIM_TOPIC): void {
  const interval = options.joinInterval ?? 2
  const contacts = options.contacts ?? 'random'
  const start = sim.now
  const first = sim.nodeCount
  for (let i = 0; i < options.nodes; i++) {
    const id = sim.addNode()
    sim.at(start + i * interval, () => {
      if (id === first) return sim.join(id, topic, [])
      const choices = contacts === 'random' ? id - first : Math.min(contacts, id - first)
      const contact = first + Math.floor(sim.rng.next() * choices)
      sim.join(id, topic, [contact])
    })
  }
  sim.runUntil(start + options.nodes * interval + (options.settle ?? 2 * sim.config.membership.shuffleInterval))
}

/** Publishes `count` messages, one every `interval` ms, each from `sender()` (skipped if it returns undefined). */
export function broadcastSeries (
  sim: Simulator, count: number, interval: number, sender: () => number | undefined, topic: TopicId = SIM_TOPIC
): MessageId[] {
  const ids: MessageId[] = []
  const start = sim.now
  for (let k = 0; k < count; k++) {
    sim.at(start + k * interval, () => {
      const from = sender()
      if (from !== undefined && sim.isAlive(from)) ids.push(sim.broadcast(from, topic))
    })
  }
  sim.runUntil(start + count * interval)
  return ids
}

/** A random current member, from the scenario's stream. */
export function randomMember (sim: Simulator): number | undefined {
  const members = sim.members()
  return members[Math.floor(sim.rng.next() * members.length)]
}

/**
 * A recipient of a message is a member at publish time that did not die within `horizon` ms of
 * the publish (a node that dies before the message could reach it is no alive subscriber).
 */
export function outcomes (sim: Simulator, records: readonly MessageRecord[], horizon = 5_000): MessageOutcome[] {
  return records.map(r => messageOutcome(r, n => {
    const died = sim.diedAt(n)
    return Number.isNaN(died) || died >= r.publishedAt + horizon
  }))
}

function mean (values: readonly number[]): number {
  const finite = values.filter(v => !Number.isNaN(v))
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / finite.length
}

function max (values: readonly number[]): number {
  const finite = values.filter(v => !Number.isNaN(v))
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => (b > a ? b : a), -Infinity)
}

function min (values: readonly number[]): number {
  const finite = values.filter(v => !Number.isNaN(v))
  return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => (b < a ? b : a), Infinity)
}

/** The per-message averages a scenario reports. */
export function summarise (list: readonly MessageOutcome[]): Record<string, number> {
  return {
    messages: list.length,
    reliability: mean(list.map(o => o.reliability)),
    minReliability: min(list.map(o => o.reliability)),
    rmr: mean(list.map(o => o.rmr)),
    ldh: mean(list.map(o => o.ldh)),
    maxLdh: max(list.map(o => o.ldh)),
    fullDeliveryMs: mean(list.map(o => o.fullDeliveryMs)),
    fullyDelivered: list.filter(o => o.delivered === o.recipients).length / Math.max(1, list.length)
  }
}

export function overlay (sim: Simulator, topic: TopicId = SIM_TOPIC): OverlayStats {
  return overlayStats(sim.views(topic), n => sim.isAlive(n))
}

function overlayFigures (s: OverlayStats): Record<string, number> {
  return {
    isolated: s.isolated,
    components: s.components,
    symmetry: s.symmetry,
    activeMean: s.active.mean,
    passiveMean: s.passive.mean,
    eagerMean: s.eager.mean,
    lazyMean: s.lazy.mean
  }
}

export interface ScenarioSettings {
  nodes: number
  seed: number
  config?: PartialProtoConfig | undefined
  /** Overrides for the simulator (latency, loss...). */
  sim?: Partial<Omit<SimOptions, 'seed' | 'config'>> | undefined
  bootstrap?: Omit<BootstrapOptions, 'nodes'> | undefined
}

export type ScenarioResult = Record<string, number>

export interface Scenario {
  name: string
  description: string
  /** Largest network the scenario is meant for. */
  maxNodes?: number
  run(settings: ScenarioSettings): ScenarioResult
}

function setUp (settings: ScenarioSettings, extra: Partial<SimOptions> = {}): Simulator {
  const sim = new Simulator({ ...settings.sim, ...extra, seed: settings.seed, config: settings.config })
  bootstrap(sim, { nodes: settings.nodes, ...settings.bootstrap })
  return sim
}

/** Broadcasts after the overlay settled: the first `warmup` messages build the tree and are not counted. */
function steadyBroadcasts (settings: ScenarioSettings, pickSender: (sim: Simulator) => () => number | undefined, extra: Partial<SimOptions> = {}): ScenarioResult {
  const warmup = 10
  const measured = 100
  const sim = setUp(settings, extra)
  const sender = pickSender(sim)
  broadcastSeries(sim, warmup, 250, sender)
  const before = sim.metrics.counters()
  const firstMeasured = sim.metrics.messages.length
  broadcastSeries(sim, measured, 250, sender)
  sim.runUntilQuiet(30_000)
  const window = countersBetween(before, sim.metrics.counters())
  return {
    ...summarise(outcomes(sim, sim.metrics.messages.slice(firstMeasured))),
    controlPerMsg: controlPerDelivery(window),
    ...overlayFigures(overlay(sim)),
    events: sim.eventCount
  }
}

function killScenario (share: number): Scenario {
  const pct = Math.round(share * 100)
  return {
    name: `kill${pct}`,
    description: `kill ${pct} % at once; from one second later a broadcast every second for 3 shuffle periods`,
    run (settings) {
      const sim = setUp(settings)
      broadcastSeries(sim, 5, 250, () => randomMember(sim))
      sim.runUntilQuiet(30_000)
      const killedAt = sim.now
      const all = sim.aliveNodes()
      sim.kill(sample(sim.rng, all, Math.round(all.length * share)))
      const first = sim.metrics.messages.length
      const before = sim.metrics.counters()
      const period = sim.config.membership.shuffleInterval
      const count = Math.ceil((3 * period) / 1000)
      sim.runFor(1000)
      broadcastSeries(sim, count, 1000, () => randomMember(sim))
      sim.runUntilQuiet(30_000)
      const window = countersBetween(before, sim.metrics.counters())
      const list = outcomes(sim, sim.metrics.messages.slice(first))
      const records = sim.metrics.messages.slice(first)
      const full = list.findIndex(o => o.delivered === o.recipients)
      const fullRecord = records[full]
      const fullOutcome = list[full]
      const s = overlay(sim)
      return {
        firstReliability: list[0]?.reliability ?? Number.NaN,
        recoveryMs: fullRecord === undefined || fullOutcome === undefined
          ? Number.NaN
          : fullRecord.publishedAt + fullOutcome.fullDeliveryMs - killedAt,
        ...summarise(list),
        controlPerMsg: controlPerDelivery(window),
        membershipMsgs: window.membership,
        survivors: sim.aliveNodes().length,
        ...overlayFigures(s),
        largestComponent: s.largestComponent,
        events: sim.eventCount
      }
    }
  }
}

function bootstrapScenario (name: string, description: string, contacts: BootstrapOptions['contacts']): Scenario {
  return {
    name,
    description,
    run (settings) {
      const sim = setUp({ ...settings, bootstrap: { contacts, ...settings.bootstrap } })
      const s = overlay(sim)
      // The very first broadcast runs over an all-eager overlay: it floods and builds the tree.
      const id = sim.broadcast(randomMember(sim) ?? 0, SIM_TOPIC)
      sim.runUntilQuiet(30_000)
      const first = outcomes(sim, [sim.metrics.record(id) as MessageRecord])[0] as MessageOutcome
      return {
        ...overlayFigures(s),
        largestComponent: s.largestComponent,
        deadActive: s.deadActive,
        activeMin: s.active.min,
        passiveMin: s.passive.min,
        reliability: first.reliability,
        rmr: first.rmr,
        ldh: first.ldh,
        fullDeliveryMs: first.fullDeliveryMs,
        events: sim.eventCount
      }
    }
  }
}

export const scenarios: Scenario[] = [
  bootstrapScenario('bootstrap', 'nodes join one by one, each through a random earlier node; the overlay after one shuffle period, then one broadcast', 'random'),
  bootstrapScenario('bootstrap1', 'the papers\' setting: every node joins through node 0; the overlay after one shuffle period, then one broadcast', 1),
  {
    name: 'single',
    description: '100 broadcasts from one fixed sender (after 10 warm-up messages)',
    run: settings => steadyBroadcasts(settings, sim => {
      const fixed = randomMember(sim)
      return () => fixed
    })
  },
  {
    name: 'random',
    description: '100 broadcasts, each from a random member (after 10 warm-up messages)',
    run: settings => steadyBroadcasts(settings, sim => () => randomMember(sim))
  },
  {
    name: 'flood',
    description: 'like single, but duplicates never reach Plumtree so nothing is pruned: RMR should be about fanout - 1',
    run: settings => steadyBroadcasts(settings, sim => {
      const fixed = randomMember(sim)
      return () => fixed
    }, { flood: true })
  },
  {
    name: 'burst',
    description: 'every member broadcasts at the same instant',
    maxNodes: 1000,
    run (settings) {
      const sim = setUp(settings)
      broadcastSeries(sim, 5, 250, () => randomMember(sim))
      sim.runUntilQuiet(30_000)
      const first = sim.metrics.messages.length
      const before = sim.metrics.counters()
      for (const m of sim.members()) sim.broadcast(m, SIM_TOPIC)
      sim.runUntilQuiet(60_000)
      const window = countersBetween(before, sim.metrics.counters())
      return {
        ...summarise(outcomes(sim, sim.metrics.messages.slice(first))),
        controlPerMsg: controlPerDelivery(window),
        ...overlayFigures(overlay(sim)),
        events: sim.eventCount
      }
    }
  },
  killScenario(0.5),
  killScenario(0.8),
  killScenario(0.9),
  {
    name: 'churn',
    description: '1 % of the nodes replaced per shuffle period for 5 periods, a broadcast every second',
    run (settings) {
      const sim = setUp(settings)
      const period = sim.config.membership.shuffleInterval
      const periods = 5
      const replaced = Math.max(1, Math.round(settings.nodes * 0.01))
      const gap = period / replaced
      const start = sim.now
      const first = sim.metrics.messages.length
      const before = sim.metrics.counters()
      for (let k = 0; k < periods * replaced; k++) {
        sim.at(start + k * gap, () => {
          const victim = randomMember(sim)
          if (victim !== undefined) sim.kill([victim])
          const contact = randomMember(sim)
          const id = sim.addNode()
          sim.join(id, SIM_TOPIC, contact === undefined ? [] : [contact])
        })
      }
      let maxIsolated = 0
      for (let p = 1; p <= periods; p++) {
        sim.at(start + p * period - 1, () => {
          maxIsolated = Math.max(maxIsolated, overlay(sim).isolated)
        })
      }
      broadcastSeries(sim, (periods * period) / 1000, 1000, () => randomMember(sim))
      sim.runUntilQuiet(30_000)
      const window = countersBetween(before, sim.metrics.counters())
      const s = overlay(sim)
      return {
        ...summarise(outcomes(sim, sim.metrics.messages.slice(first))),
        controlPerMsg: controlPerDelivery(window),
        membershipMsgs: window.membership,
        replaced: periods * replaced,
        maxIsolated,
        ...overlayFigures(s),
        largestComponent: s.largestComponent,
        events: sim.eventCount
      }
    }
  }
]
