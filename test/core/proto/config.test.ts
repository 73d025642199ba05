import t from 'tap'
import { defaultConfig, resolveConfig } from '../../../src/core/proto/config.js'
import { MIN_FRAME_BYTES } from '../../../src/core/proto/limits.js'

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
  t.equal(c.broadcast.graftTimeout2, defaultConfig.broadcast.graftTimeout2)
  t.equal(defaultConfig.membership.activeViewCapacity, 5, 'the defaults are not mutated')
})

t.test('control frames have a byte budget of 16 KiB by default, of at least MIN_FRAME_BYTES when set', async t => {
  t.equal(defaultConfig.maxFrameBytes, 16 * 1024)
  t.equal(resolveConfig().maxFrameBytes, 16 * 1024)
  t.equal(resolveConfig({ maxFrameBytes: MIN_FRAME_BYTES }).maxFrameBytes, MIN_FRAME_BYTES)
  t.throws(() => resolveConfig({ maxFrameBytes: MIN_FRAME_BYTES - 1 }), RangeError, 'too small for one peer with its address')
  t.throws(() => resolveConfig({ maxFrameBytes: 4096.5 }), RangeError, 'not a whole number of bytes')
})
