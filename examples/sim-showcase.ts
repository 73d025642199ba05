/**
 * `npm start` until the Fastify demo lands: 200 simulated nodes run the real HyParView + Plumtree
 * state machines. They join, gossip, lose half their number at once, and heal; one table row per
 * phase. Deterministic: the same seed prints the same table.
 */
import { Simulator } from '../src/core/sim/simulator.js'
import { SIM_TOPIC, bootstrap, broadcastSeries, outcomes, overlay, randomMember, summarise } from '../src/core/sim/scenarios.js'
import { sample } from '../src/core/proto/random.js'

const NODES = 200
const seed = Number(process.argv[2] ?? 1)
const sim = new Simulator({ seed })

interface Row { phase: string, [figure: string]: string }
const rows: Row[] = []

function record (phase: string, fromMessage: number): void {
  const o = overlay(sim)
  const s = summarise(outcomes(sim, sim.metrics.messages.slice(fromMessage)))
  const fmt = (v: number | undefined, digits = 0, unit = ''): string =>
    v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(digits)}${unit}`
  rows.push({
    phase,
    't (s)': (sim.now / 1000).toFixed(1),
    alive: String(o.nodes),
    msgs: String(s.messages),
    reliability: s.messages === 0 ? '–' : fmt((s.reliability ?? 0) * 100, 1, ' %'),
    RMR: fmt(s.rmr, 2),
    LDH: fmt(s.ldh, 1),
    'full (ms)': fmt(s.fullDeliveryMs),
    'active/passive': `${o.active.mean.toFixed(1)}/${o.passive.mean.toFixed(1)}`,
    isolated: String(o.isolated),
    components: String(o.components)
  })
}

const started = performance.now()
bootstrap(sim, { nodes: NODES })
record(`${NODES} nodes join (+1 shuffle period)`, 0)

let from = sim.metrics.messages.length
sim.broadcast(randomMember(sim) ?? 0, SIM_TOPIC)
sim.runUntilQuiet()
record('first broadcast (floods, builds the tree)', from)

from = sim.metrics.messages.length
const sender = randomMember(sim)
broadcastSeries(sim, 20, 250, () => sender)
sim.runUntilQuiet()
record('20 broadcasts, one sender (tree)', from)

from = sim.metrics.messages.length
broadcastSeries(sim, 20, 250, () => randomMember(sim))
sim.runUntilQuiet()
record('20 broadcasts, random senders', from)

sim.kill(sample(sim.rng, sim.aliveNodes(), NODES / 2))
from = sim.metrics.messages.length
sim.broadcast(randomMember(sim) ?? 0, SIM_TOPIC)
sim.runUntilQuiet()
record('kill 100 nodes at once, broadcast', from)

from = sim.metrics.messages.length
broadcastSeries(sim, 10, 1000, () => randomMember(sim))
sim.runUntilQuiet()
record('next 10 s, a broadcast per second', from)

sim.runFor(sim.config.membership.shuffleInterval)
from = sim.metrics.messages.length
broadcastSeries(sim, 20, 250, () => randomMember(sim))
sim.runUntilQuiet()
record('one shuffle period later', from)

const headers = Object.keys(rows[0] ?? {})
const widths = headers.map(h => Math.max(h.length, ...rows.map(r => (r[h] ?? '').length)))
const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)).join('  ')
console.log(`Grapevine simulator: ${NODES} nodes, HyParView + Plumtree, latency 10–100 ms per link, seed ${seed}\n`)
console.log(line(headers))
console.log(line(widths.map(w => '-'.repeat(w))))
for (const r of rows) console.log(line(headers.map(h => r[h] ?? '')))
console.log(`\nreliability: share of alive members that got each message; RMR: redundant payload sends
(0 = a perfect tree); LDH: hops of the last delivery. ${sim.eventCount} events in ${((performance.now() - started) / 1000).toFixed(1)} s.`)
