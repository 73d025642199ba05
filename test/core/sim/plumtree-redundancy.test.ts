import t from 'tap'
import { Simulator } from '../../../src/core/sim/simulator.js'
import { bootstrap, broadcastSeries, outcomes, overlay, randomMember } from '../../../src/core/sim/scenarios.js'
import { countersBetween } from '../../../src/core/sim/metrics.js'

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
