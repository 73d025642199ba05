import t from 'tap'
import { Simulator } from '../../../src/core/sim/simulator.js'
import { SIM_TOPIC, bootstrap, broadcastSeries, outcomes, overlay, randomMember } from '../../../src/core/sim/scenarios.js'

const NODES = 300

t.test('a settled overlay of 300 nodes is one symmetric component with full views', async t => {
  const sim = new Simulator({ seed: 11 })
  bootstrap(sim, { nodes: NODES })
  sim.runUntilQuiet()
  const s = overlay(sim)
  t.equal(s.nodes, NODES)
  t.equal(s.isolated, 0, 'nobody is without a neighbour')
  t.equal(s.components, 1, 'the active-view graph is connected')
  t.equal(s.symmetry, 1, 'if a has b in its active view, b has a')
  t.equal(s.deadActive, 0)
  t.ok(s.active.max <= sim.config.membership.activeViewCapacity, 'no active view exceeds its capacity')
  t.ok(s.active.mean >= 4, `active views are nearly full (mean ${s.active.mean})`)
  t.ok(s.passive.max <= sim.config.membership.passiveViewCapacity)
  t.ok(s.passive.mean > 5, `passive views are filled by joins and shuffles (mean ${s.passive.mean})`)
})

t.test('in steady state every broadcast reaches every member', async t => {
  const sim = new Simulator({ seed: 12 })
  bootstrap(sim, { nodes: NODES })
  broadcastSeries(sim, 60, 100, () => randomMember(sim))
  sim.runUntilQuiet()
  const list = outcomes(sim, sim.metrics.messages)
  t.equal(list.length, 60)
  const missed = list.filter(o => o.reliability !== 1)
  t.same(missed, [], 'reliability is 100 % for every message')
  t.ok(list.every(o => o.recipients === NODES - 1))
  t.ok(sim.metrics.messages.every(r => r.duplicateDeliveries === 0), 'no node delivers a message twice')
  t.ok(list.every(o => o.ldh >= 1 && !Number.isNaN(o.fullDeliveryMs)))
})

t.test('the same bytes published twice are delivered twice', async t => {
  const sim = new Simulator({ seed: 13 })
  bootstrap(sim, { nodes: 100 })
  const content = new TextEncoder().encode('same bytes')
  const a = sim.broadcast(5, SIM_TOPIC, content)
  const b = sim.broadcast(5, SIM_TOPIC, content)
  sim.runUntilQuiet()
  t.not(a, b)
  for (const id of [a, b]) t.equal(sim.metrics.record(id)?.deliveries, 99, `message ${id} reaches the 99 others`)
})
