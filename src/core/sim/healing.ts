/**
 * Partition healing in the simulator: the same `Healer` the runtime uses, one per node, asking
 * the same questions (is the topic isolated? is it maybe split?) and issuing the same `join`
 * commands into the same protocol state.
 *
 * What the simulator abstracts is topic discovery: every node's address book holds every node
 * that ever joined the topic (what a seed list or a Kubernetes headless service gives, and what
 * discovery converges to in a small cluster). Dead nodes stay in it, so healing joins to them fail
 * as they would for real.
 */
import { Healer, defaultHealerConfig, type HealerConfig } from '../discovery/healer.js'
import { State } from '../proto/state.js'
import type { TopicId } from '../proto/types.js'
import { seededRng, shuffle } from '../proto/random.js'
import type { MessageOutcome, MessageRecord } from './metrics.js'
import { SIM_TOPIC, bootstrap, broadcastSeries, outcomes, overlay, randomMember, type Scenario } from './scenarios.js'
import { Simulator, type ProtocolFactory, type SimObserver } from './simulator.js'

/** Counts evictions (neighbourDown with reason 'eviction') over the whole run. */
export class EvictionCounter {
  count = 0

  /** A protocol factory for `SimOptions.protocol` that wraps the real State and counts. */
  factory (): ProtocolFactory {
    return (id, config, rng, data) => {
      const state = new State<number>(id, config, rng, data)
      return {
        handle: (input, now) => {
          const outs = state.handle(input, now)
          for (const out of outs) {
            if (out.type === 'emit' && out.event.type === 'neighborDown' && out.event.reason === 'eviction') this.count++
          }
          return outs
        },
        view: topic => state.view(topic),
        membership: topic => state.membership(topic)
      }
    }
  }
}

/**
 * Runs a healer on every node that is (or becomes) part of `topic`: from now on, each node ticks
 * on the schedule its healer asks for, while alive.
 */
export function startHealing (sim: Simulator, topic: TopicId, book: () => readonly number[], config: HealerConfig = defaultHealerConfig): void {
  const started = new Set<number>()
  const tick = (node: number, healer: Healer<number>): void => {
    if (!sim.isAlive(node)) return
    const known = book()
    const decision = healer.tick({
      topic,
      now: sim.now,
      active: sim.view(node, topic)?.active ?? [],
      interested: known.filter(n => n !== node)
    })
    if (decision.join.length > 0) sim.join(node, topic, decision.join)
    sim.at(sim.now + decision.next, () => tick(node, healer))
  }
  const startNew = (): void => {
    for (let node = 0; node < sim.nodeCount; node++) {
      if (started.has(node) || !sim.isAlive(node) || sim.view(node, topic) === undefined) continue
      started.add(node)
      const healer = new Healer<number>(config, seededRng(Math.floor(sim.rng.next() * 2 ** 31)))
      // Start at a random phase so that nodes do not tick in lock step.
      sim.at(sim.now + Math.floor(sim.rng.next() * config.interval), () => tick(node, healer))
    }
    sim.at(sim.now + 1_000, startNew)
  }
  startNew()
}

export interface HealingSettings {
  nodes: number
  seed: number
  /** Run the healer (false: HyParView alone, to show what healing adds). Default true. */
  heal?: boolean
  /**
   * Where the healer's candidates come from: `'all'` (default) every node that ever joined, as
   * above; `'discovery'` the simulator's discovery layer, as in the runtime (nodes know 3 seeds,
   * join through `stream()`, heal from discovery's book).
   */
  book?: 'all' | 'discovery'
  /** Watches the run (the trace recorder). */
  observer?: SimObserver | undefined
}

export interface PartitionResult {
  [figure: string]: number
  componentsDuringSplit: number
  componentsAfter: number
  /** From the mend to the first broadcast after which every broadcast reached every member, ms. */
  healMs: number
  /** Share of the broadcasts sent in the last 10 s of the run that reached every member. */
  finalFullDelivery: number
  evictionsDuringHeal: number
  evictionsPerNode: number
}

function healingSim (settings: HealingSettings, evictions: EvictionCounter, contacts: 1 | 'random'): Simulator {
  const sim = new Simulator({ seed: settings.seed, protocol: evictions.factory(), observer: settings.observer })
  bootstrap(sim, { nodes: settings.nodes, contacts })
  return sim
}

/** Like `bootstrap`, but every node knows only the seeds 0-2 and enters through `stream()`. */
function discoverySim (settings: HealingSettings, evictions: EvictionCounter): Simulator {
  const sim = new Simulator({ seed: settings.seed, protocol: evictions.factory(), discovery: { seeds: [0, 1, 2] }, observer: settings.observer })
  const interval = 2
  for (let i = 0; i < settings.nodes; i++) {
    sim.at(i * interval, () => {
      const id = sim.addNode()
      sim.stream(id, SIM_TOPIC)
    })
  }
  sim.runUntil(settings.nodes * interval + 2 * sim.config.membership.shuffleInterval)
  return sim
}

/** From the first message after which every message was fully delivered; NaN if the last was not. */
function healedAt (sim: Simulator, first: number): number {
  const records = sim.metrics.messages.slice(first)
  const list = outcomes(sim, records)
  let k = list.length
  while (k > 0 && (list[k - 1] as MessageOutcome).delivered === (list[k - 1] as MessageOutcome).recipients) k--
  return k === list.length ? Number.NaN : (records[k] as MessageRecord).publishedAt
}

function tailFullDelivery (sim: Simulator, first: number, last: number): number {
  const list = outcomes(sim, sim.metrics.messages.slice(first)).slice(-last)
  return list.filter(o => o.delivered === o.recipients).length / Math.max(1, list.length)
}

/**
 * 50/50 split for 30 s (far longer than failure detection: every link across breaks and each half
 * rebuilds a full overlay of its own), then mended; a broadcast every second for 60 s after.
 */
export function partitionScenario (settings: HealingSettings): PartitionResult {
  const evictions = new EvictionCounter()
  const viaDiscovery = settings.book === 'discovery'
  const sim = viaDiscovery ? discoverySim(settings, evictions) : healingSim(settings, evictions, 'random')
  const everyone = sim.aliveNodes()
  if (settings.heal !== false && !viaDiscovery) startHealing(sim, SIM_TOPIC, () => everyone)
  broadcastSeries(sim, 5, 250, () => randomMember(sim))
  const order = shuffle(sim.rng, everyone.slice())
  const half = Math.floor(order.length / 2)
  sim.partition([order.slice(0, half), order.slice(half)])
  sim.runFor(30_000)
  const componentsDuringSplit = overlay(sim).components
  sim.mend()
  const mendedAt = sim.now
  const before = evictions.count
  const first = sim.metrics.messages.length
  broadcastSeries(sim, 60, 1000, () => randomMember(sim))
  sim.runFor(5_000)
  const healed = healedAt(sim, first)
  const during = evictions.count - before
  return {
    componentsDuringSplit,
    componentsAfter: overlay(sim).components,
    healMs: healed - mendedAt,
    finalFullDelivery: tailFullDelivery(sim, first, 10),
    evictionsDuringHeal: during,
    evictionsPerNode: during / settings.nodes
  }
}

export interface BootstrapLossResult {
  [figure: string]: number
  newcomers: number
  /** Newcomers with at least one neighbour at the end. */
  newcomersJoined: number
  componentsAfter: number
  /** From the last newcomer's join to the first broadcast after which every one reached every member, ms. */
  healMs: number
  finalFullDelivery: number
  evictionsDuringHeal: number
  evictionsPerNode: number
}

/**
 * p2panda's rejoin test at scale: every node joined through node 0, node 0 dies, then newcomers
 * (10 % of the nodes) join through the dead node 0 as their only contact. Their joins fail; the
 * healer must get them in elsewhere.
 */
export function bootstrapLossScenario (settings: HealingSettings): BootstrapLossResult {
  const evictions = new EvictionCounter()
  const sim = healingSim(settings, evictions, 1)
  const book = sim.aliveNodes()
  if (settings.heal !== false) startHealing(sim, SIM_TOPIC, () => book)
  sim.kill([0])
  sim.runFor(1_000)
  const before = evictions.count
  const count = Math.max(10, Math.round(settings.nodes / 10))
  const newcomers: number[] = []
  for (let i = 0; i < count; i++) {
    const id = sim.addNode()
    newcomers.push(id)
    sim.at(sim.now + i * 100, () => {
      book.push(id)
      sim.join(id, SIM_TOPIC, [0])
    })
  }
  sim.runFor(count * 100)
  const lastJoin = sim.now
  const first = sim.metrics.messages.length
  broadcastSeries(sim, 60, 1000, () => randomMember(sim))
  sim.runFor(5_000)
  const healed = healedAt(sim, first)
  const during = evictions.count - before
  return {
    newcomers: count,
    newcomersJoined: newcomers.filter(n => (sim.view(n, SIM_TOPIC)?.active.length ?? 0) > 0).length,
    componentsAfter: overlay(sim).components,
    healMs: healed - lastJoin,
    finalFullDelivery: tailFullDelivery(sim, first, 10),
    evictionsDuringHeal: during,
    evictionsPerNode: during / settings.nodes
  }
}

/** The two healing experiments in the form `bench:sim` runs. */
export const healingScenarios: Scenario[] = [
  {
    name: 'partition',
    description: '50/50 split for 30 s, then mended; a broadcast every second for 60 s; healer on',
    run: settings => partitionScenario({ nodes: settings.nodes, seed: settings.seed, observer: settings.sim?.observer })
  },
  {
    name: 'bootstrap-loss',
    description: 'all joined through node 0, node 0 dies, 10 % newcomers join through dead node 0 only; healer on',
    run: settings => bootstrapLossScenario({ nodes: settings.nodes, seed: settings.seed, observer: settings.sim?.observer })
  }
]
