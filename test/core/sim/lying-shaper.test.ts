/**
 * An insider that makes itself the tree's shaper and then lies. Every node follows the lowest-ranked
 * origin heard from lately (see plumtree.ts), and the rank is a hash of the origin's id: a member
 * can grind ids until it ranks lowest, so the simulator gives that role to the member that does.
 * It keeps publishing to stay the shaper, and forwards nobody else's payloads: it drops them
 * (`silent`, announcing nothing), or announces them and never serves them (`teasing`: its IHAVEs
 * go out, the PULLs and GRAFTs they draw get nothing). The lazy links must carry every honest
 * message around it.
 */
import t from 'tap'
import { Simulator, type SimProtocol } from '../../../src/core/sim/simulator.js'
import { SIM_TOPIC, bootstrap, broadcastSeries, outcomes, randomMember } from '../../../src/core/sim/scenarios.js'
import { State } from '../../../src/core/proto/state.js'
import { fnv1a } from '../../../src/core/proto/fnv1a.js'
import type { OutEvent } from '../../../src/core/proto/types.js'

const NODES = 250

/** The member whose id ranks lowest for the topic: the one a grinding attacker would become. */
function lowestRanked (): number {
  const basis = fnv1a(SIM_TOPIC)
  let best = 0
  for (let id = 1; id < NODES; id++) if (fnv1a(String(id), basis) < fnv1a(String(best), basis)) best = id
  return best
}

type Lie = 'honest' | 'silent' | 'teasing'

function liar (inner: State<number>, self: number, lie: Lie): SimProtocol {
  const withheld = (e: OutEvent<number>): boolean => {
    if (e.type !== 'send') return false
    const body = e.message.body
    if (body.type === 'gossip') return body.origin !== self
    return lie === 'silent' && body.type === 'ihave'
  }
  return {
    handle: (input, now) => {
      const out = inner.handle(input, now)
      return lie === 'honest' ? out : out.filter(e => !withheld(e))
    },
    view: topic => inner.view(topic),
    membership: topic => inner.membership(topic)
  }
}

function run (lie: Lie) {
  const attacker = lowestRanked()
  const sim = new Simulator({
    seed: 31,
    protocol: (id, config, rng, data) => {
      const state = new State(id, config, rng, data)
      return id === attacker ? liar(state, attacker, lie) : state
    }
  })
  bootstrap(sim, { nodes: NODES })
  // The attacker publishes every second for the whole run, so it stays the shaper.
  const own = broadcastSeries(sim, 25, 1_000, () => attacker)
  const honest = (): number => {
    for (;;) {
      const m = randomMember(sim)
      if (m !== attacker) return m ?? 0
    }
  }
  broadcastSeries(sim, 10, 250, honest)
  sim.runUntilQuiet()
  const first = sim.metrics.messages.length
  broadcastSeries(sim, 60, 250, honest)
  sim.runUntilQuiet()
  const list = outcomes(sim, sim.metrics.messages.slice(first).filter(r => !own.includes(r.id)))
  const mean = (f: (o: typeof list[number]) => number) => list.reduce((a, o) => a + f(o), 0) / list.length
  const ownOutcomes = outcomes(sim, own.map(id => sim.metrics.record(id)!))
  return { list, ownReached: ownOutcomes.every(o => o.reliability === 1), rmr: mean(o => o.rmr), full: mean(o => o.fullDeliveryMs) }
}

t.test('an insider that makes itself the shaper and withholds everyone else\'s messages cannot stop them', async t => {
  const base = run('honest')
  t.ok(base.ownReached, 'its own messages reach everyone: every node takes it as the shaper')
  for (const lie of ['silent', 'teasing'] as const) {
    const r = run(lie)
    t.ok(r.ownReached, `${lie}: it is still everyone's shaper`)
    t.equal(r.list.length, 60)
    t.ok(r.list.every(o => o.reliability === 1), `${lie}: every honest message reached every member`)
    t.comment(`${lie}: RMR ${r.rmr.toFixed(3)} (honest shaper ${base.rmr.toFixed(3)}), full delivery ${r.full.toFixed(0)} ms (${base.full.toFixed(0)} ms)`)
  }
})
