import t from 'tap'
import {
  MetricsRecorder, controlPerDelivery, countersBetween, distribution, messageOutcome, overlayStats, rmr
} from '../../../src/core/sim/metrics.js'
import type { TopicView } from '../../../src/core/proto/state.js'
import type { Message } from '../../../src/core/proto/types.js'

const topic = 'ab'.repeat(32)
const gossip = (id: string): Message<number> => ({ topic, body: { type: 'gossip', id, origin: 0, content: new Uint8Array(0), round: 0 } })
const received = (id: string, hops: number) => ({ type: 'received' as const, id, content: new Uint8Array(0), from: 0, origin: 0, hops })

t.test('RMR is payload sends over (nodes with the message - 1), minus 1', async t => {
  t.equal(rmr(4, 5), 0, 'a spanning tree over 5 nodes: 4 sends, no redundancy')
  t.equal(rmr(16, 5), 3, 'flooding with fanout 4 over 5 nodes')
  t.equal(rmr(6, 5), 0.5)
  t.ok(Number.isNaN(rmr(3, 1)), 'undefined when only the origin has it')
})

t.test('a hand-made trace gives the paper metrics of one message', async t => {
  const m = new MetricsRecorder()
  // Nodes 0..4; 0 publishes; 1..4 are members.
  m.onPublish('x', topic, 0, 1000, Int32Array.from([1, 2, 3, 4]), 5)
  for (let i = 0; i < 5; i++) m.onSend(gossip('x')) // 0→1, 0→2, 1→3, 2→3 (duplicate), 3→4
  m.onReceived(1, received('x', 1), 1010)
  m.onReceived(2, received('x', 1), 1020)
  m.onReceived(3, received('x', 2), 1050)
  m.onReceived(4, received('x', 3), 1090)
  m.onReceived(4, received('x', 3), 1095)
  const rec = m.record('x')
  t.ok(rec)
  if (rec === undefined) return
  t.equal(rec.duplicateDeliveries, 1, 'a second delivery at the same node is flagged')
  const all = messageOutcome(rec, () => true)
  t.same(all, { id: 'x', recipients: 4, delivered: 4, reliability: 1, rmr: 5 / 4 - 1, ldh: 3, fullDeliveryMs: 90 })
  t.ok(m.has('x', 0), 'the origin has its own message')
  t.ok(m.has('x', 4))
})

t.test('reliability counts only recipients and full delivery needs all of them', async t => {
  const m = new MetricsRecorder()
  const rec = m.onPublish('y', topic, 0, 0, Int32Array.from([1, 2, 3, 4]), 5)
  m.onSend(gossip('y'))
  m.onSend(gossip('y'))
  m.onReceived(1, received('y', 1), 40)
  m.onReceived(2, received('y', 2), 80)
  const out = messageOutcome(rec, () => true)
  t.equal(out.reliability, 0.5)
  t.ok(Number.isNaN(out.fullDeliveryMs))
  t.equal(out.ldh, 2, 'LDH is the hop count of the last delivery')
  const survivors = messageOutcome(rec, n => n <= 2)
  t.equal(survivors.reliability, 1, 'dead nodes are not recipients')
  t.equal(survivors.fullDeliveryMs, 80)
  t.equal(survivors.rmr, 0)
})

t.test('a node born after the publish is no recipient but its delivery counts for RMR', async t => {
  const m = new MetricsRecorder()
  const rec = m.onPublish('z', topic, 0, 0, Int32Array.from([1]), 2)
  m.onSend(gossip('z'))
  m.onSend(gossip('z'))
  m.onReceived(1, received('z', 1), 10)
  m.onReceived(7, received('z', 2), 20)
  const out = messageOutcome(rec, () => true)
  t.equal(out.recipients, 1)
  t.equal(out.reliability, 1)
  t.equal(out.rmr, 0)
  t.equal(out.ldh, 2)
  t.equal(out.fullDeliveryMs, 10)
})

t.test('traffic counters split payload, Plumtree control and membership', async t => {
  const m = new MetricsRecorder()
  const before = m.counters()
  m.onSend(gossip('a'))
  m.onSend({ topic, body: { type: 'ihave', entries: [] } })
  m.onSend({ topic, body: { type: 'ihave', entries: [] } })
  m.onSend({ topic, body: { type: 'graft', round: 1 } })
  m.onSend({ topic, body: { type: 'graft', id: 'a', round: 1, pull: true } })
  m.onSend({ topic, body: { type: 'prune' } })
  m.onSend({ topic, body: { type: 'shuffle', origin: { id: 1 }, nodes: [], ttl: 3 } })
  m.onLost()
  m.onDropped()
  m.onPublish('a', topic, 0, 0, Int32Array.from([1, 2]), 3)
  m.onReceived(1, received('a', 1), 1)
  m.onReceived(2, received('a', 1), 1)
  const w = countersBetween(before, m.counters())
  t.same(w, { payload: 1, ihave: 2, graft: 1, pull: 1, prune: 1, membership: 1, delivered: 2, lost: 1, dropped: 1, discovery: 0 })
  t.equal(controlPerDelivery(w), 2.5, 'a PULL is control traffic too')
})

t.test('a distribution has mean, bounds and a dense histogram', async t => {
  t.same(distribution([5, 5, 3, 4]), { mean: 4.25, min: 3, max: 5, histogram: [0, 0, 0, 1, 1, 2] })
  t.ok(Number.isNaN(distribution([]).mean))
})

t.test('overlay stats find isolated nodes, components and asymmetric links', async t => {
  const v = (active: number[], passive: number[] = []): TopicView<number> => ({ active, passive, eager: active.slice(0, 1), lazy: active.slice(1) })
  const views = new Map<number, TopicView<number>>([
    [0, v([1, 2])],
    [1, v([0])],
    [2, v([0, 9])], // 9 is dead; 2→0 is symmetric
    [3, v([4])], // 4 does not list 3: asymmetric
    [4, v([], [3])],
    [5, v([])]
  ])
  const s = overlayStats(views, n => n !== 9)
  t.equal(s.nodes, 6)
  t.equal(s.isolated, 2)
  t.equal(s.components, 3, '{0,1,2}, {3,4}, {5}')
  t.equal(s.largestComponent, 3)
  t.equal(s.deadActive, 1)
  t.equal(s.symmetry, 4 / 5, '0→1, 0→2, 1→0, 2→0 symmetric; 3→4 not')
  t.same(s.active.histogram, [2, 2, 2])
  t.equal(s.passive.max, 1)
})
