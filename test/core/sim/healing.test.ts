import t from 'tap'
import { bootstrapLossScenario, partitionScenario } from '../../../src/core/sim/healing.js'

t.test('newcomers whose only contact is dead get in through the healer, and stay out without it', async t => {
  const healed = bootstrapLossScenario({ nodes: 300, seed: 7 })
  t.equal(healed.newcomersJoined, healed.newcomers, 'every newcomer has neighbours')
  t.equal(healed.componentsAfter, 1, 'one overlay')
  t.equal(healed.finalFullDelivery, 1, 'the last broadcasts reach every member')
  t.ok(healed.healMs <= 60_000, `healed ${healed.healMs} ms (simulated) after the last newcomer`)
  t.ok(healed.evictionsDuringHeal <= 2 * 300, `${healed.evictionsDuringHeal} evictions, at most 2 per node`)

  const unhealed = bootstrapLossScenario({ nodes: 300, seed: 7, heal: false })
  t.equal(unhealed.newcomersJoined, 0, 'without the healer no newcomer gets a neighbour')
})

t.test('a 50/50 split longer than failure detection is one overlay again within a minute of the mend', async t => {
  const r = partitionScenario({ nodes: 300, seed: 3 })
  t.equal(r.componentsDuringSplit >= 2, true, `split into ${r.componentsDuringSplit} components`)
  t.equal(r.componentsAfter, 1, 'one overlay after the mend')
  t.equal(r.finalFullDelivery, 1, 'the last broadcasts reach every member')
  t.ok(r.healMs <= 60_000, `healed ${r.healMs} ms (simulated) after the mend`)
  t.ok(r.evictionsDuringHeal <= 2 * 300, `${r.evictionsDuringHeal} evictions, at most 2 per node`)
})

t.test('the same seed gives the same healing run', async t => {
  t.same(partitionScenario({ nodes: 100, seed: 11 }), partitionScenario({ nodes: 100, seed: 11 }))
})

t.test('with the discovery layer feeding the healer, a 50/50 split is one overlay again too', async t => {
  const r = partitionScenario({ nodes: 100, seed: 3, book: 'discovery' })
  t.equal(r.componentsDuringSplit >= 2, true, `split into ${r.componentsDuringSplit} components`)
  t.equal(r.componentsAfter, 1, 'one overlay after the mend')
  t.equal(r.finalFullDelivery, 1, 'the last broadcasts reach every member')
})
