import t from 'tap'
import { scenarios } from '../../../src/core/sim/scenarios.js'

// The kill scenario exercises joins, shuffles, failures, repairs and broadcasts: everything that
// consumes randomness or depends on event order.
const kill = scenarios.find(s => s.name === 'kill50')!

t.test('the same seed gives the same metrics, byte for byte', async t => {
  const a = JSON.stringify(kill.run({ nodes: 150, seed: 7 }))
  const b = JSON.stringify(kill.run({ nodes: 150, seed: 7 }))
  t.equal(a, b)
})

t.test('another seed gives another run', async t => {
  const a = kill.run({ nodes: 150, seed: 7 })
  const b = kill.run({ nodes: 150, seed: 8 })
  t.not(JSON.stringify(a), JSON.stringify(b))
  t.not(a.events, b.events, 'even the number of events differs')
})
