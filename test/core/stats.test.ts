import t from 'tap'
import { Counters } from '../../src/core/stats.js'

const TOPIC = 'ab'.repeat(32)

t.test('a PULL counts as a pull, not as a GRAFT: grafts say how often the tree was mended', async t => {
  const counters = new Counters(() => true)
  counters.sent(TOPIC, { type: 'graft', id: 'm1', round: 2, pull: true })
  counters.sent(TOPIC, { type: 'graft', id: 'm2', round: 2 })
  counters.sent(TOPIC, { type: 'graft', round: 0 })
  counters.received(TOPIC, { type: 'graft', id: 'm3', round: 1, pull: true }, false)
  t.match(counters.total, { pullsSent: 1, graftsSent: 2, pullsReceived: 1, graftsReceived: 0 })
  t.match(counters.of(TOPIC), { pullsSent: 1, graftsSent: 2, pullsReceived: 1, graftsReceived: 0 }, 'per topic too')
})
