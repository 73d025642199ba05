import t from 'tap'
import { Simulator } from '../../../src/core/sim/simulator.js'
import { bootstrap, broadcastSeries, outcomes, overlay, randomMember } from '../../../src/core/sim/scenarios.js'
import { sample } from '../../../src/core/proto/random.js'

const NODES = 300

t.test('after half the nodes die at once, broadcasts reach every survivor again', async t => {
  const sim = new Simulator({ seed: 31 })
  bootstrap(sim, { nodes: NODES })
  broadcastSeries(sim, 5, 200, () => randomMember(sim))
  sim.runUntilQuiet()
  const killedAt = sim.now
  sim.kill(sample(sim.rng, sim.aliveNodes(), NODES / 2))
  t.equal(sim.aliveNodes().length, NODES / 2)
  const first = sim.metrics.messages.length
  broadcastSeries(sim, 30, 1000, () => randomMember(sim))
  sim.runUntilQuiet()
  const list = outcomes(sim, sim.metrics.messages.slice(first))
  t.equal(list.length, 30)
  t.ok(list.every(o => o.recipients === NODES / 2 - 1), 'the recipients are the survivors')
  const recovered = list.findIndex(o => o.reliability === 1)
  t.ok(recovered >= 0, 'some broadcast reaches every survivor')
  t.ok(recovered < 10, `within 10 simulated seconds (message ${recovered} after the kill)`)
  t.same(list.slice(recovered).filter(o => o.reliability !== 1), [], 'and every later one does too')
  t.ok(list[0]!.reliability >= 0.9, `the first message already reaches ${(list[0]!.reliability * 100).toFixed(1)} %`)
  const s = overlay(sim)
  t.equal(s.isolated, 0)
  t.equal(s.components, 1)
  t.equal(s.deadActive, 0, 'dead peers are gone from every active view')
  t.equal(s.symmetry, 1)
  t.ok(sim.now - killedAt < 60_000)
})

t.test('a partition splits the broadcast domain and links across it break', async t => {
  const sim = new Simulator({ seed: 32 })
  bootstrap(sim, { nodes: 200 })
  sim.runUntilQuiet()
  const nodes = sim.aliveNodes()
  const left = nodes.filter(n => n % 2 === 0)
  const right = nodes.filter(n => n % 2 === 1)
  sim.partition([left, right])
  sim.runFor(5_000)
  for (const [n, view] of sim.views('5e'.repeat(32))) {
    const other = n % 2
    t.ok(view.active.every(p => p % 2 === other), `node ${n} keeps only same-side neighbours`)
  }
  const id = sim.broadcast(left[0]!, '5e'.repeat(32))
  sim.runUntilQuiet()
  const record = sim.metrics.record(id)!
  const reached = [...record.deliveredAt.keys()].filter(n => !Number.isNaN(record.deliveredAt[n]!))
  t.ok(reached.every(n => n % 2 === 0), 'nothing crosses the cut')
  t.ok(reached.length > left.length * 0.9, `most of the sender's side gets it (${reached.length}/${left.length - 1})`)
  sim.mend()
  t.notOk(sim.network.partitioned)
})
