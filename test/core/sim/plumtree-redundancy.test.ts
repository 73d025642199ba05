import t from 'tap'
import { Simulator } from '../../../src/core/sim/simulator.js'
import { bootstrap, broadcastSeries, outcomes, overlay, randomMember } from '../../../src/core/sim/scenarios.js'
import { countersBetween } from '../../../src/core/sim/metrics.js'
import type { PartialProtoConfig } from '../../../src/core/proto/config.js'

const NODES = 250

/** One fixed sender; returns the mean RMR and the traffic of the messages after `warmup`. */
function fixedSender (flood: boolean, warmup: number, measured: number) {
  const sim = new Simulator({ seed: 21, flood })
  bootstrap(sim, { nodes: NODES })
  const sender = randomMember(sim)
  broadcastSeries(sim, warmup, 200, () => sender)
  sim.runUntilQuiet()
  const before = sim.metrics.counters()
  const first = sim.metrics.messages.length
  broadcastSeries(sim, measured, 200, () => sender)
  sim.runUntilQuiet()
  const list = outcomes(sim, sim.metrics.messages.slice(first))
  const rmr = list.reduce((a, o) => a + o.rmr, 0) / list.length
  return { sim, list, rmr, window: countersBetween(before, sim.metrics.counters()) }
}

t.test('the first broadcast floods the all-eager overlay and duplicates prune it', async t => {
  const sim = new Simulator({ seed: 20 })
  bootstrap(sim, { nodes: NODES })
  const before = sim.metrics.counters()
  const id = sim.broadcast(randomMember(sim) ?? 0, '5e'.repeat(32))
  sim.runUntilQuiet()
  const w = countersBetween(before, sim.metrics.counters())
  const o = outcomes(sim, [sim.metrics.record(id)!])[0]!
  t.equal(o.reliability, 1)
  t.ok(o.rmr > 2, `every eager link carries the payload once: RMR ${o.rmr.toFixed(2)}`)
  t.ok(w.prune > NODES / 2, `duplicates make their senders lazy with PRUNE (${w.prune} prunes)`)
})

t.test('with Plumtree a fixed sender\'s messages follow a tree: RMR near 0', async t => {
  const { list, rmr, window } = fixedSender(false, 5, 30)
  t.ok(list.every(o => o.reliability === 1))
  t.ok(rmr < 0.1, `RMR ${rmr.toFixed(3)}`)
  t.ok(window.ihave > 0, 'ids still flow lazily along the pruned links')
})

t.test('with duplicates hidden from Plumtree nothing is pruned: RMR near fanout - 1', async t => {
  const { sim, list, rmr, window } = fixedSender(true, 5, 30)
  t.ok(list.every(o => o.reliability === 1))
  t.equal(window.prune, 0, 'no duplicate reached the protocol, so no PRUNE')
  // Flooding sends every payload once over each active link except the one it came in on (the
  // origin over all of them): sends = sum(|active|) - (n - 1), so RMR = sum(|active|) / (n - 1) - 2,
  // about fanout - 1 = 3 with full views of 5.
  const active = overlay(sim).active
  const expected = (active.mean * NODES) / (NODES - 1) - 2
  t.ok(Math.abs(rmr - expected) < 0.05, `RMR ${rmr.toFixed(3)}, expected ${expected.toFixed(3)} from the active views`)
  t.ok(rmr > 2, 'far above the tree')
})

/** Random senders, one message every 250 ms (several in flight at once); the last 40 measured. */
function randomSenders (config: PartialProtoConfig) {
  const sim = new Simulator({ seed: 21, config })
  bootstrap(sim, { nodes: NODES })
  broadcastSeries(sim, 10, 250, () => randomMember(sim))
  sim.runUntilQuiet()
  const first = sim.metrics.messages.length
  broadcastSeries(sim, 40, 250, () => randomMember(sim))
  sim.runUntilQuiet()
  const list = outcomes(sim, sim.metrics.messages.slice(first))
  const mean = (f: (o: typeof list[number]) => number) => list.reduce((a, o) => a + f(o), 0) / list.length
  return { list, rmr: mean(o => o.rmr), full: mean(o => o.fullDeliveryMs), eager: overlay(sim).eager.mean }
}

t.test('with many senders at once, one origin shaping the tree keeps it whole: fewer duplicates and sooner delivery than when every origin prunes', async t => {
  const shaped = randomSenders({})
  const paper = randomSenders({ broadcast: { shaperTimeout: 0 } })
  t.ok(shaped.list.every(o => o.reliability === 1) && paper.list.every(o => o.reliability === 1), 'everything delivered either way')
  t.ok(paper.eager < 1.95, `every origin pruning splits the tree: ${paper.eager.toFixed(2)} eager links per node`)
  t.ok(shaped.eager >= 1.95, `one origin pruning keeps it spanning (a tree has 2 - 2/n): ${shaped.eager.toFixed(2)}`)
  t.ok(shaped.rmr < 0.25 && shaped.rmr < paper.rmr, `RMR ${shaped.rmr.toFixed(3)} against ${paper.rmr.toFixed(3)}`)
  t.ok(shaped.full < paper.full, `full delivery ${shaped.full.toFixed(0)} ms against ${paper.full.toFixed(0)} ms`)
})
