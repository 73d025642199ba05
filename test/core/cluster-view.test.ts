import t from 'tap'
import { createHash } from 'node:crypto'
import { encodeSummary, type ClusterSummary } from '../../src/core/cluster-summary.js'
import { ClusterView } from '../../src/core/cluster-view.js'

const id = (name: string): string => createHash('sha256').update(name).digest('hex')
const zero = { published: 0, delivered: 0, duplicates: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 }
const TOPIC = id('topic room')

/** A summary of `me` linked to `peers`, all of them neighbours in one topic (the first eager). */
function summary (seq: number, peers: string[], extra: Partial<ClusterSummary> = {}): ClusterSummary {
  return {
    seq,
    address: `127.0.0.1:${7000 + seq}`,
    uptime: seq * 1000,
    interval: 1000,
    span: 1000,
    totals: { ...zero, published: 2, delivered: 4, wireIn: 0, wireOut: 0 },
    queues: { linkBuffered: 0, dialQueued: 0, pendingPublishes: 0, subscriberBuffered: 0 },
    linkCount: peers.length,
    links: peers.map(p => ({ peer: id(p), rtt: 3, buffered: 0 })),
    topicCount: 1,
    topics: [{ id: TOPIC, name: 'room', neighbours: peers.map((_, i) => ({ link: i, eager: i === 0 })), ...zero, published: 2, delivered: 4, queued: 0 }],
    ...extra
  }
}

/** Feeds the encoded form, as the dashboard does. */
function hear (view: ClusterView, from: string, s: ClusterSummary, now: number): boolean {
  return view.receive(id(from), encodeSummary(s), now)
}

const stateOf = (view: ClusterView, name: string, now: number): string | undefined => view.snapshot(now).nodes.find(n => n.id === id(name))?.state

t.test('nodes, links and a topic tree come from the summaries', async t => {
  const view = new ClusterView(id('a'))
  hear(view, 'a', summary(1, ['b', 'c']), 0)
  hear(view, 'b', summary(1, ['a', 'c']), 0)
  hear(view, 'c', summary(1, ['a', 'b']), 0)
  const snap = view.snapshot(100)
  t.equal(snap.nodes.length, 3)
  t.ok(snap.nodes.every(n => n.state === 'live' && n.health === 'ok'))
  t.equal(snap.links.length, 3, 'each link once')
  t.ok(snap.links.every(l => l.rtt === 3))
  const topic = snap.topics[0]!
  t.equal(topic.name, 'room')
  t.equal(topic.members.length, 3)
  t.equal(topic.edges.length, 3)
  t.equal(topic.delivered, 12, 'deliveries per second over the members')
  t.equal(snap.messagesPerSecond, 6)
  t.ok(snap.nodes.find(n => n.id === id('a'))!.self)
})

t.test('a silent node turns stale after 2.5 of its intervals and leaves after removeAfter', async t => {
  const view = new ClusterView(id('a'), { removeAfter: 10_000 })
  hear(view, 'a', summary(1, ['b']), 0)
  hear(view, 'b', summary(1, ['a']), 0)
  // a keeps talking and keeps naming b: only time can tell that b is gone.
  for (let now = 1000; now <= 12_000; now += 1000) hear(view, 'a', summary(1 + now / 1000, ['b']), now)
  t.equal(stateOf(view, 'b', 2400), 'live', 'within 2.5 intervals')
  t.equal(stateOf(view, 'b', 2600), 'stale', 'past 2.5 intervals')
  t.equal(view.snapshot(2600).nodes.find(n => n.id === id('b'))!.staleReason, 'silent')
  t.equal(view.snapshot(2600).nodes.find(n => n.id === id('b'))!.health, 'gone')
  t.equal(stateOf(view, 'b', 9_900), 'stale')
  const after = view.snapshot(10_100).nodes
  t.notOk(after.some(n => n.id === id('b')), 'gone from the view')
  t.equal(after.find(n => n.id === id('b').slice(0, 16))?.state, 'unknown', 'a names it still: a node without summary, known by its prefix')
  t.equal(stateOf(view, 'a', 12_000), 'live', 'this node itself never fades')
  t.equal(view.size, 1)
})

t.test('a node whose peers all spoke since without naming it is stale at once (killed, or cut off)', async t => {
  const view = new ClusterView(id('a'), { removeAfter: 10_000 })
  hear(view, 'a', summary(1, ['b', 'c']), 0)
  hear(view, 'b', summary(1, ['a', 'c']), 0)
  hear(view, 'c', summary(1, ['a', 'b']), 0)
  hear(view, 'a', summary(2, ['b']), 100)
  t.equal(stateOf(view, 'c', 100), 'live', 'one peer lost it, the other has not spoken yet')
  hear(view, 'b', summary(2, ['a']), 200)
  t.equal(stateOf(view, 'c', 200), 'stale')
  t.equal(view.snapshot(200).nodes.find(n => n.id === id('c'))!.staleReason, 'cut off')
  t.equal(view.snapshot(200).links.length, 3, 'its own last summary still names its links (the page greys them)')
  hear(view, 'c', summary(2, ['a']), 300)
  t.equal(stateOf(view, 'c', 300), 'live', 'once it speaks again with a link, it is back')
  hear(view, 'a', summary(3, ['b', 'c']), 400)
  t.equal(stateOf(view, 'c', 400), 'live')
})

t.test('a peer that lists only part of its links, or publishes no summary, is no evidence', async t => {
  const view = new ClusterView(id('a'))
  hear(view, 'b', summary(1, ['a', 'x']), 0)
  hear(view, 'a', summary(1, ['c'], { linkCount: 5 }), 10)
  t.equal(stateOf(view, 'b', 20), 'live', 'x publishes nothing')
  t.equal(view.snapshot(20).nodes.find(n => n.id === id('x').slice(0, 16))?.state, 'unknown', 'x is drawn as a node without summary')
  const view2 = new ClusterView(id('a'))
  hear(view2, 'b', summary(1, ['a']), 0)
  hear(view2, 'a', summary(1, ['c'], { linkCount: 5 }), 10)
  t.equal(stateOf(view2, 'b', 20), 'live', 'a listed 1 of its 5 links')
})

t.test('late copies are ignored; a restart (uptime back) is taken', async t => {
  const view = new ClusterView()
  t.ok(hear(view, 'b', summary(5, []), 0))
  t.notOk(hear(view, 'b', summary(4, [], { uptime: 99_000 }), 1), 'older sequence, later uptime: a late copy')
  t.ok(hear(view, 'b', summary(1, [], { uptime: 10 }), 2), 'restarted')
  t.notOk(view.receive(id('b'), new Uint8Array([1, 2, 3]), 3), 'garbage is refused')
  t.equal(view.size, 1)
})

t.test('bounded: past maxNodes the node silent the longest makes room', async t => {
  const view = new ClusterView(id('self'), { maxNodes: 3 })
  hear(view, 'self', summary(1, []), 0)
  hear(view, 'n1', summary(1, []), 1)
  hear(view, 'n2', summary(1, []), 2)
  hear(view, 'n3', summary(1, []), 3)
  t.equal(view.size, 3)
  t.same(view.snapshot(4).nodes.map(n => n.id).sort(), [id('self'), id('n2'), id('n3')].sort())
})

t.test('health: a topic without neighbour or deep queues warn; no link at all in a cluster is bad', async t => {
  const view = new ClusterView(id('a'))
  hear(view, 'a', summary(1, ['b']), 0)
  hear(view, 'b', summary(1, [], { topics: [{ id: TOPIC, name: undefined, neighbours: [], ...zero, queued: 0 }], linkCount: 0 }), 0)
  hear(view, 'c', summary(1, ['a'], { queues: { linkBuffered: 5e6, dialQueued: 0, pendingPublishes: 0, subscriberBuffered: 0 } }), 0)
  const health = Object.fromEntries(view.snapshot(1).nodes.map(n => [n.id, n.health]))
  t.equal(health[id('a')], 'ok')
  t.equal(health[id('b')], 'bad')
  t.equal(health[id('c')], 'warn')
})
