import t from 'tap'
import { defaultConfig, resolveConfig } from '../../../src/core/proto/config.js'

t.test('the defaults are the values of the HyParView and Plumtree papers', async t => {
  t.equal(defaultConfig.membership.activeViewCapacity, 5)
  t.equal(defaultConfig.membership.passiveViewCapacity, 30)
  t.equal(defaultConfig.membership.activeRandomWalkLength, 6)
  t.equal(defaultConfig.membership.passiveRandomWalkLength, 3)
  t.equal(defaultConfig.broadcast.optimizationThreshold, 7)
})

t.test('a partial config overrides only what it names', async t => {
  const c = resolveConfig({ membership: { activeViewCapacity: 8 }, broadcast: { graftTimeout1: 200 } })
  t.equal(c.membership.activeViewCapacity, 8)
  t.equal(c.membership.passiveViewCapacity, 30)
  t.equal(c.broadcast.graftTimeout1, 200)
  t.equal(c.broadcast.graftTimeout2, 40)
  t.equal(defaultConfig.membership.activeViewCapacity, 5, 'the defaults are not mutated')
})
