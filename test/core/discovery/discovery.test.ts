/**
 * Topic discovery, specified by what a few nodes see of each other over a tiny in-test network
 * (../../fixtures/discovery-net.ts): links come up and go, `send` outputs are delivered in order,
 * `schedule` outputs advance a fake clock. Every message any node sends in these tests is encoded
 * with the real codec and must fit its sender's `maxFrameBytes` (the network collects what does
 * not in `violations`).
 */
import t from 'tap'
import type { Test } from 'tap'
import type { Discovery } from '../../../src/core/discovery/discovery.js'
import { defaultDiscoveryConfig } from '../../../src/core/discovery/types.js'
import type { DiscoveryConfig } from '../../../src/core/discovery/types.js'
import { TIMER_SLACK as SLACK } from '../../../src/core/proto/deadline.js'
import { wireLimits } from '../../../src/core/proto/limits.js'
import { TOPIC_KEY_BYTES, type TopicKey } from '../../../src/core/discovery/topic-key.js'
import { DiscoveryNet, addrOf, declared, nodeId, topicKey, topicKeys } from '../../fixtures/discovery-net.js'
import type { Sent } from '../../fixtures/discovery-net.js'

const A = nodeId('a')
const B = nodeId('b')
const C = nodeId('c')
/** A newcomer, a seed, members of a topic, a peer that knows nobody. */
const N = nodeId('d')
const S = nodeId('e')
const M1 = nodeId('1')
const M2 = nodeId('2')
const P = nodeId('3')
const T = topicKey(1)
const U = topicKey(2)
const { announceDelay, interestTtl } = defaultDiscoveryConfig
/** How often expired interests are swept (a private constant of discovery.ts). */
const SWEEP = 10_000

/** Topic keys in one message of `budget` bytes: 64 bytes of overhead, then 8 bytes a key. */
const perPage = (budget: number): number => Math.floor((budget - 64) / TOPIC_KEY_BYTES)

function join (net: DiscoveryNet, id: string, topics: TopicKey[]): void {
  for (const topic of topics) net.input(id, { type: 'joinTopic', topic })
}

function leave (net: DiscoveryNet, id: string, topics: TopicKey[]): void {
  for (const topic of topics) net.input(id, { type: 'leaveTopic', topic })
}

function pair (config: Partial<DiscoveryConfig> = {}): DiscoveryNet {
  const net = new DiscoveryNet(config)
  net.add(A)
  net.add(B)
  return net
}

const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort()
const snapshots = (sent: Sent[]): Sent[] => sent.filter(s => s.message.type === 'topics' && s.message.reset)

t.test('two linked nodes exchange their topics at link-up: one snapshot each way', async t => {
  const net = pair()
  join(net, A, [T, U])
  join(net, B, [topicKey(3)])
  net.run(1000)
  const before = net.sent.length
  net.link(A, B)
  net.flush()
  t.same(net.get(B).interestedIn(T), [A])
  t.same(net.get(B).interestedIn(U), [A])
  t.same(net.get(A).interestedIn(topicKey(3)), [B])
  const fromA = net.sends('topics', { from: A, since: before })
  t.equal(fromA.length, 1, 'one topics message from A')
  t.match(fromA[0]?.message, { reset: true, base: 0, left: [] })
  t.same(sorted(fromA[0]?.message.joined ?? []), sorted([T, U]), 'carrying all of its topics')
  t.same(net.violations, [])
})

t.test('a topic joined after link-up reaches the peer once announceDelay has passed', async t => {
  const net = pair()
  net.link(A, B)
  net.run(1000)
  join(net, A, [T])
  net.run(announceDelay - SLACK - 1)
  t.same(net.get(B).interestedIn(T), [], 'gathered for announceDelay first')
  net.run(SLACK + 1)
  t.same(net.get(B).interestedIn(T), [A])
  t.same(declared(net.get(B), A), new Set([T]), 'as a declaration that lasts while the link does')
  t.same(net.violations, [])
})

t.test('found fires on a node in a topic when it learns a peer is in it too, once, and for no other topic', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T])
  net.run(1000)
  t.same(net.node(A).found, [], 'nobody else is in T yet')
  join(net, B, [T, U])
  net.run(1000)
  t.same(net.node(A).found.map(f => f.topic), [T], 'A hears B is in T too; U is not a topic of A')
  t.same(net.node(B).found, [], 'B joined T knowing A was in it: nobody new')
  t.same(net.get(A).interestedIn(U), [B], 'A still records B in U')
})

t.test('leaving a topic is announced as left, and the peer forgets the interest', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T, U])
  net.run(1000)
  const before = net.sent.length
  leave(net, A, [T])
  net.run(1000)
  const deltas = net.sends('topics', { from: A, since: before })
  t.equal(deltas.length, 1)
  t.match(deltas[0]?.message, { reset: false, joined: [], left: [T] })
  t.same(net.get(B).interestedIn(T), [], 'B forgot A in T')
  t.same(net.get(B).interestedIn(U), [A], 'and kept A in U')
})

t.test('changes made within announceDelay go out as one delta, and a join undone before it is sent is not announced', async t => {
  const net = pair()
  net.link(A, B)
  net.run(1000)
  const before = net.sent.length
  join(net, A, [T, U, topicKey(3)])
  leave(net, A, [topicKey(3)])
  net.run(1000)
  const deltas = net.sends('topics', { from: A, since: before })
  t.equal(deltas.length, 1, 'one message')
  t.same(sorted(deltas[0]?.message.joined ?? []), sorted([T, U]))
  t.same(deltas[0]?.message.left, [])
})

t.test('announcements are deltas: holding 1,000 topics, joining or leaving one more sends one topics message carrying exactly that topic', async t => {
  const net = pair()
  join(net, A, topicKeys(1000, 100))
  net.link(A, B)
  net.run(1000)
  t.equal(declared(net.get(B), A).size, 1000, 'the snapshot at link-up carried all 1,000')
  for (const [what, step] of [['join', () => join(net, A, [T])], ['leave', () => leave(net, A, [T])]] as const) {
    const before = net.sent.length
    step()
    net.run(1000)
    const deltas = net.sends('topics', { from: A, since: before })
    t.equal(deltas.length, 1, `${what}: one message`)
    t.same(what === 'join' ? deltas[0]?.message.joined : deltas[0]?.message.left, [T], `${what}: that topic alone`)
    t.same(what === 'join' ? deltas[0]?.message.left : deltas[0]?.message.joined, [])
    t.equal(deltas[0]?.message.reset, false)
    t.ok((deltas[0]?.bytes ?? Infinity) < 100, `${what}: ${deltas[0]?.bytes} bytes`)
    t.equal(declared(net.get(B), A).size, what === 'join' ? 1001 : 1000)
  }
  t.same(net.violations, [])
})

for (const budget of [1024, 2048, 16 * 1024, 64 * 1024]) {
  t.test(`joining 1,000 topics in one go is announced in pages within a budget of ${budget} bytes, and the receiver ends with all 1,000`, async t => {
    const net = pair({ maxFrameBytes: budget })
    net.link(A, B)
    net.run(1000)
    const before = net.sent.length
    const topics = topicKeys(1000, 100)
    join(net, A, topics)
    net.run(1000)
    const pages = net.sends('topics', { from: A, since: before })
    t.equal(pages.length, Math.ceil(1000 / perPage(budget)), `${pages.length} pages`)
    const largest = Math.max(...pages.map(p => p.bytes))
    t.ok(largest <= budget, `the largest page is ${largest} bytes`)
    if (pages.length > 1) t.ok(largest > budget * 0.9, 'pages are cut close to the budget')
    t.same(sorted(pages.flatMap(p => p.message.joined)), sorted(topics), 'every topic once')
    const last = pages[pages.length - 1]?.message
    t.ok(pages.slice(0, -1).every(p => p.message.version === p.message.base), 'pages before the last do not move the version')
    t.equal(last?.version, 1000, 'the last page does')
    t.same(sorted(declared(net.get(B), A)), sorted(topics))
    t.same(net.violations, [], 'every message (the queries for 1,000 topics too) within the budget')
  })
}

t.test('a snapshot of 1,000 topics at link-up is paged within the budget too, and the receiver ends with all 1,000', async t => {
  const net = pair({ maxFrameBytes: 1024 })
  const topics = topicKeys(1000, 100)
  join(net, A, topics)
  net.run(1000)
  const before = net.sent.length
  net.link(A, B)
  net.flush()
  const pages = net.sends('topics', { from: A, since: before })
  t.equal(pages.length, Math.ceil(1000 / perPage(1024)), `${pages.length} pages`)
  t.equal(pages.filter(p => p.message.reset).length, 1, 'only the first page resets')
  t.same(sorted(declared(net.get(B), A)), sorted(topics))
  t.same(net.violations, [])
})

t.test('a lost delta is repaired: the next delta shows the gap, the receiver asks for a snapshot and ends with the exact set', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T, U])
  net.run(2000)
  let lost = 0
  net.lose = s => s.from === A && s.message.type === 'topics' && lost++ === 0
  leave(net, A, [U])
  join(net, A, [topicKey(3)])
  net.run(1000)
  t.equal(lost, 1, 'the delta was lost')
  t.same(declared(net.get(B), A), new Set([T, U]), 'B missed it')
  const before = net.sent.length
  join(net, A, [topicKey(4)])
  net.run(1000)
  t.equal(net.sends('resync', { from: B, since: before }).length, 1, 'B asked once')
  t.equal(snapshots(net.sends('topics', { from: A, since: before })).length, 1, 'A sent a snapshot')
  t.same(sorted(declared(net.get(B), A)), sorted(net.get(A).topics()))
  t.same(net.get(B).interestedIn(U), [], 'U is forgotten')
})

t.test('a lost delta with no change after it is repaired by the digest', async t => {
  const net = pair({ digestInterval: 5000 })
  net.link(A, B)
  join(net, A, [T])
  net.run(1000)
  net.lose = s => s.from === A && s.message.type === 'topics'
  join(net, A, [U])
  net.run(1000)
  net.lose = () => false
  t.same(declared(net.get(B), A), new Set([T]))
  net.run(5000)
  t.ok(net.sends('resync', { from: B }).length >= 1, 'the digest showed the gap')
  t.same(sorted(declared(net.get(B), A)), sorted([T, U]))
})

t.test('a lost page in the middle of a snapshot is repaired by the digest, which compares counts too', async t => {
  const net = pair({ maxFrameBytes: 1024, digestInterval: 5000 })
  const topics = topicKeys(3 * perPage(1024), 100)
  join(net, A, topics)
  net.run(1000)
  let page = 0
  net.lose = s => s.from === A && s.message.type === 'topics' && page++ === 1
  net.link(A, B)
  net.run(1000)
  net.lose = () => false
  t.ok(declared(net.get(B), A).size < topics.length, 'B missed a page')
  net.run(5000)
  t.same(sorted(declared(net.get(B), A)), sorted(topics))
})

t.test('in the steady state a link carries one digest per interval each way, and no resync', async t => {
  const net = pair({ digestInterval: 1000 })
  net.link(A, B)
  join(net, A, [T])
  join(net, B, [T])
  net.run(10_500)
  const sent = net.sent.filter(s => s.at > 500)
  t.equal(sent.filter(s => s.message.type === 'digest').length, 20)
  t.same(sent.filter(s => s.message.type !== 'digest').map(s => s.message.type), [], 'nothing else')
})

t.test('a change made just before the digest is due goes out as a delta, not as a resync and a snapshot', async t => {
  const net = pair({ digestInterval: 1000 })
  join(net, A, topicKeys(1000, 100))
  net.link(A, B)
  net.run(1000 - announceDelay / 2)
  const before = net.sent.length
  join(net, A, [T])
  net.run(2000)
  const topics = net.sends('topics', { from: A, since: before })
  t.same(net.sends('resync', { since: before }).map(s => s.at), [], 'no resync')
  t.equal(topics.length, 1, 'one delta')
  t.same(topics[0]?.message.joined, [T])
  t.equal(declared(net.get(B), A).size, 1001)
})

t.test('a snapshot is not answered with members; a change after it is, for the change only', async t => {
  const net = new DiscoveryNet()
  for (const id of [N, S, M1]) net.add(id)
  join(net, M1, [T, U])
  net.link(S, M1)
  join(net, N, [T, U])
  net.run(1000)
  const before = net.sent.length
  net.link(N, S)
  net.flush()
  // (Before N's query about the topics in which it knows nobody goes out, announceDelay later.)
  t.same(net.sends('members', { from: S, to: N, since: before }).filter(m => m.message.topics.includes(U)).length, 0, 'S does not answer N\'s snapshot')
  leave(net, N, [U])
  join(net, N, [topicKey(3)])
  net.input(M1, { type: 'joinTopic', topic: topicKey(3) })
  net.run(1000)
  const since = net.sent.length
  net.input(N, { type: 'leaveTopic', topic: topicKey(3) })
  join(net, N, [U])
  net.run(1000)
  const answers = net.sends('members', { from: S, to: N, since })
  t.ok(answers.length >= 1, 'S answers the change')
  for (const a of answers) t.same(a.message.topics, [U], 'for the topic joined only')
  t.same(net.violations, [])
})

t.test('a change is answered by about changeAnswerers of the peers, not by every one; with that many links or fewer, by all', async t => {
  const net = new DiscoveryNet()
  const peers = Array.from({ length: 40 }, (_, i) => nodeId(200 + i))
  for (const id of [N, M1, ...peers]) net.add(id)
  join(net, M1, topicKeys(100, 500))
  // Each peer has 41 links (every other peer, M1, N): it answers with probability 4 / 41.
  for (const p of peers) {
    net.link(p, M1)
    net.link(p, N)
    for (const q of peers) net.link(p, q)
  }
  net.run(1000)
  let answered = 0
  for (let i = 0; i < 100; i++) {
    const since = net.sent.length
    join(net, N, [topicKey(500 + i)])
    net.run(1000)
    answered += new Set(net.sends('members', { to: N, since }).map(m => m.from)).size
  }
  const perChange = answered / 100
  // N knows nobody in those topics, so it also asks queryFanout (3) peers, who always answer.
  t.ok(perChange >= 3 + 1 && perChange <= 3 + 8, `${perChange} peers answered a change on average, 3 of them asked (40 linked, changeAnswerers ${defaultDiscoveryConfig.changeAnswerers})`)
  const small = new DiscoveryNet()
  for (const id of [N, M1, ...peers.slice(0, 3)]) small.add(id)
  join(small, M1, [T])
  for (const p of peers.slice(0, 3)) {
    small.link(p, M1)
    small.link(p, N)
  }
  small.run(1000)
  join(small, N, [T])
  small.run(1000)
  t.equal(new Set(small.sends('members', { to: N }).map(m => m.from)).size, 3, 'all 3 peers answer')
  t.same(net.violations, [])
})

t.test('a link that comes back within interestTtl opens with the change since and a digest, not a snapshot, and is answered for the change only', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T, U])
  join(net, B, topicKeys(50, 100))
  net.run(1000)
  net.unlink(A, B)
  leave(net, A, [T])
  join(net, A, [topicKey(3)])
  net.run(1000)
  t.same(net.get(B).interestedIn(T), [A], 'while unlinked, B still remembers A in T (for interestTtl)')
  const before = net.sent.length
  net.link(A, B)
  net.flush()
  t.same(sorted(declared(net.get(B), A)), sorted([U, topicKey(3)]), 'B holds exactly A\'s topics')
  t.same(net.get(B).interestedIn(T), [], 'A\'s delta says it left T')
  t.equal(declared(net.get(A), B).size, 50, 'A still holds B\'s 50 topics')
  t.same(snapshots(net.sent.slice(before)), [], 'no snapshot either way')
  t.same(net.sends('resync', { since: before }), [], 'no resync')
  const fromA = net.sends('topics', { from: A, since: before })
  t.equal(fromA.length, 1, 'A sends the change')
  t.same([fromA[0]?.message.joined, fromA[0]?.message.left], [[topicKey(3)], [T]])
  t.same(net.sends('topics', { from: B, since: before }), [], 'B, unchanged, sends no topics')
  t.equal(net.sends('digest', { from: A, since: before }).length, 1, 'a digest from A')
  t.equal(net.sends('digest', { from: B, since: before }).length, 1, 'a digest from B')
  for (const m of net.sends('members', { since: before })) t.same(m.message.topics.filter(x => x !== topicKey(3)), [], 'answers are about the change only')
  t.same(net.violations, [])
})

t.test('a link that comes back after interestTtl gets a fresh snapshot, which replaces what the old link declared', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T, U])
  net.run(1000)
  net.unlink(A, B)
  leave(net, A, [T])
  join(net, A, [topicKey(3)])
  net.run(interestTtl + SWEEP + 1)
  const before = net.sent.length
  net.link(A, B)
  net.flush()
  t.same(sorted(declared(net.get(B), A)), sorted([U, topicKey(3)]))
  t.equal(snapshots(net.sends('topics', { from: A, since: before })).length, 1, 'a snapshot from A')
})

t.test('a peer that forgot the link (it restarted) ignores the delta, asks on the digest, and gets a snapshot', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T, U])
  join(net, B, [topicKey(3)])
  net.run(1000)
  net.unlink(A, B)
  join(net, A, [topicKey(4)])
  net.add(B)
  join(net, B, [topicKey(5)])
  net.run(1000)
  const before = net.sent.length
  net.link(A, B)
  net.flush()
  net.run(1000)
  t.same(sorted(declared(net.get(B), A)), sorted([T, U, topicKey(4)]), 'the restarted B holds all of A\'s topics')
  t.same(sorted(declared(net.get(A), B)), [topicKey(5)], 'A holds what the restarted B declared')
  t.equal(net.sends('resync', { from: B, since: before }).length, 1, 'B asked once')
  t.equal(snapshots(net.sends('topics', { from: A, since: before })).length, 1, 'A sent one snapshot')
  t.same(net.violations, [])
})

t.test('messages lost when a link closed are repaired when it comes back: the digest shows the gap', async t => {
  const net = pair()
  net.link(A, B)
  join(net, A, [T])
  net.run(1000)
  join(net, A, [U])
  net.run(announceDelay + SLACK)
  // The delta carrying U is in flight when the link goes.
  net.unlink(A, B)
  net.link(A, B)
  net.flush()
  net.run(2000)
  t.same(sorted(declared(net.get(B), A)), sorted([T, U]))
  t.same(net.violations, [])
})

t.test('a newcomer linked only to a seed gets a members answer naming the members of its topic, not the seed, not itself', async t => {
  const net = new DiscoveryNet()
  for (const id of [N, S, M1, M2]) net.add(id)
  join(net, M1, [T])
  join(net, M2, [T])
  net.link(S, M1)
  net.link(S, M2)
  net.link(N, S)
  net.run(1000)
  t.same(net.get(N).interestedIn(T), [], 'nobody is in T as far as N knows')
  join(net, N, [T])
  net.run(100)
  const answers = net.sends('members', { from: S, to: N })
  t.ok(answers.length >= 1, 'the seed answered')
  for (const a of answers) {
    t.same(a.message.topics, [T])
    t.same(sorted(a.message.nodes.map(n => n.id)), sorted([M1, M2]), 'naming M1 and M2')
    t.same(a.message.nodes.find(n => n.id === M1)?.addr, addrOf(M1), 'with their addresses')
  }
  t.same(sorted(net.get(N).interestedIn(T)), sorted([M1, M2]))
  t.equal(net.get(N).addressOf(M2), addrOf(M2))
  t.same(net.node(N).found.map(f => f.topic), [T], 'found fired on N')
  t.notOk(net.linked(N, M1), 'N learnt of M1 without a link to it')
  t.same(net.violations, [])
})

t.test('two members that join one after the other through the same node both hear of each other: the answer to the second introduces it to the first', async t => {
  const net = new DiscoveryNet()
  for (const id of [S, M1, M2]) net.add(id)
  net.link(S, M1)
  net.link(S, M2)
  net.run(1000)
  join(net, M1, [T])
  net.run(announceDelay + 100)
  t.same(net.get(M1).interestedIn(T), [], 'M1 joined first: the answer to its change named nobody')
  const before = net.sent.length
  join(net, M2, [T])
  net.run(announceDelay + 100)
  t.same(net.get(M2).interestedIn(T), [M1], 'M2 heard of M1 from S\'s answer')
  t.same(net.get(M1).interestedIn(T), [M2], 'and M1 of M2, introduced by S')
  // (Once for M2's change and once for its query: M2 knew nobody in T when it joined.)
  const intros = net.sends('members', { from: S, to: M1, since: before })
  t.ok(intros.length >= 1, `introduced in ${intros.length} page(s)`)
  for (const m of intros) t.same(m.message, { type: 'members', nodes: [{ id: M2, addr: addrOf(M2) }], topics: [T], holders: [[0]] }, 'each naming M2 only')
  t.notOk(net.linked(M1, M2), 'without a link between them')
  t.same(net.violations, [])
})

t.test('a newcomer without any link asks its seed, and the answer names the members', async t => {
  const net = new DiscoveryNet()
  for (const id of [N, S, M1]) net.add(id)
  join(net, M1, [T])
  net.link(S, M1)
  net.run(1000)
  net.input(N, { type: 'seed', peer: S, addr: addrOf(S) })
  join(net, N, [T])
  net.run(100)
  const queries = net.sends('query', { from: N, to: S })
  t.equal(queries.length, 1)
  t.same(queries[0]?.message.topics, [T])
  t.same(net.get(N).interestedIn(T), [M1])
})

t.test('a node that knows nobody in a topic queries its linked peers and seeds, backing off, and stops once someone is known', async t => {
  const net = new DiscoveryNet()
  net.autoDial = false
  for (const id of [N, P, M1]) net.add(id)
  net.link(N, P)
  net.input(N, { type: 'seed', peer: S, addr: addrOf(S) })
  net.run(1000)
  join(net, N, [T])
  const joinedAt = net.now
  net.run(20_000)
  const toP = net.sends('query', { from: N, to: P }).map(s => s.at - joinedAt)
  const toS = net.sends('query', { from: N, to: S }).map(s => s.at - joinedAt)
  t.ok(toP.length >= 4, `queries to the linked peer at ${toP.join(', ')} ms`)
  t.same(toS, toP, 'and to the seed, at the same times')
  t.equal(toP[0], announceDelay, 'the first after announceDelay')
  const gaps = toP.slice(1).map((at, i) => at - (toP[i] as number))
  for (let i = 1; i < gaps.length; i++) t.ok((gaps[i] as number) > (gaps[i - 1] as number), `the wait grows: ${gaps.join(', ')}`)
  t.ok(net.sends('query', { from: N }).every(s => s.message.type === 'query' && s.message.topics.length === 1 && s.message.topics[0] === T))
  join(net, M1, [T])
  net.link(N, M1)
  net.flush()
  const knownAt = net.now
  t.same(net.get(N).interestedIn(T), [M1])
  net.run(120_000)
  t.same(net.sends('query', { from: N }).filter(s => s.at > knownAt).map(s => s.at), [], 'no query once M1 is known')
})

t.test('the wait between queries stops growing at queryBackoffMax', async t => {
  const net = new DiscoveryNet({ queryBackoffMin: 100, queryBackoffMax: 1000 })
  net.add(N)
  net.input(N, { type: 'seed', peer: S, addr: addrOf(S) })
  join(net, N, [T])
  net.run(30_000)
  const at = net.sends('query', { from: N }).map(s => s.at)
  const gaps = at.slice(1).map((x, i) => x - (at[i] as number))
  t.ok(gaps.length > 20)
  t.ok(Math.max(...gaps) <= 1250, `gaps up to ${Math.max(...gaps)} ms`)
  t.ok(Math.min(...gaps.slice(-5)) >= 750, 'and settles near the ceiling')
})

t.test('1,000 topics in which nobody is known are asked about together: a round of queries is a few pages, not a query per topic', async t => {
  const net = pair()
  net.autoDial = false
  net.link(A, B)
  net.run(1000)
  const topics = topicKeys(1000, 100)
  join(net, A, topics)
  net.run(120_000)
  const queries = net.sends('query', { from: A })
  const rounds = new Map<number, Set<TopicKey>>()
  for (const q of queries) {
    const round = rounds.get(q.at) ?? new Set()
    for (const topic of q.message.topics) round.add(topic)
    rounds.set(q.at, round)
  }
  t.ok(rounds.size >= 5 && rounds.size <= 12, `${rounds.size} rounds in two minutes`)
  t.equal(queries.length, rounds.size * Math.ceil(1000 / perPage(defaultDiscoveryConfig.maxFrameBytes)), `${queries.length} queries`)
  t.ok([...rounds.values()].every(r => r.size === 1000), 'every round asks about all 1,000')
  t.same(net.violations, [])
})

t.test('a topic whose members listen at long addresses is still named at the smallest budget, by as many as fit', async t => {
  const net = new DiscoveryNet({ maxFrameBytes: 1024 })
  net.add(S)
  net.add(N)
  net.link(S, N)
  const nodes = Array.from({ length: 4 }, (_, i) => ({ id: nodeId(100 + i), addr: `${'h'.repeat(290)}.test:${i}` }))
  net.inject(C, S, { type: 'members', nodes, topics: [T], holders: [[0, 1, 2, 3]] })
  const before = net.sent.length
  net.inject(N, S, { type: 'query', topics: [T] })
  t.ok(net.sends('members', { from: S, since: before }).length > 0, 'N hears of someone in T')
  t.same(net.violations, [])
})

t.test('a query is answered with the members known, never the asker; a query for a topic nobody is known in gets no answer', async t => {
  const net = new DiscoveryNet()
  for (const id of [N, S, M1]) net.add(id)
  join(net, M1, [T])
  join(net, N, [T])
  net.link(S, M1)
  net.link(S, N)
  net.run(1000)
  const before = net.sent.length
  net.inject(N, S, { type: 'query', topics: [T, U] })
  net.flush()
  const answers = net.sends('members', { from: S, to: N, since: before })
  t.equal(answers.length, 1)
  t.same(answers[0]?.message, { type: 'members', nodes: [{ id: M1, addr: addrOf(M1) }], topics: [T], holders: [[0]] }, 'M1 in T; N is in T too but asked; nothing on U')
  // N declared T in its snapshot (not answered): M1, named to N, hears of N in turn, for T only.
  t.same(net.sends('members', { from: S, to: M1, since: before }).map(m => m.message), [{ type: 'members', nodes: [{ id: N, addr: addrOf(N) }], topics: [T], holders: [[0]] }], 'M1 is introduced to N')
})

t.test('answers are capped: answerPerTopic nodes per topic, every page within the budget, all pages within maxAnswerBytes', async t => {
  for (const budget of [1024, 4096, 16 * 1024]) {
    const maxAnswerBytes = 30_000
    const net = new DiscoveryNet({ maxFrameBytes: budget, maxAnswerBytes })
    net.add(S)
    net.add(N)
    net.link(S, N)
    // S hears of 20 nodes in each of 1,000 topics, with addresses of every length, some of them
    // 3 bytes a character in UTF-8.
    const topics = topicKeys(1000, 100)
    const nodes = Array.from({ length: 20 }, (_, i) => ({ id: nodeId(100 + i), addr: `${(i % 2 === 0 ? 'h' : '\u20ac').repeat(i * 14)}.test:${4000 + i}` }))
    for (let i = 0; i < topics.length; i += 50) {
      net.inject(C, S, { type: 'members', nodes, topics: topics.slice(i, i + 50), holders: topics.slice(i, i + 50).map(() => nodes.map((_, j) => j)) })
    }
    const before = net.sent.length
    net.inject(N, S, { type: 'query', topics })
    const pages = net.sends('members', { from: S, since: before })
    const total = pages.reduce((sum, p) => sum + p.bytes, 0)
    const named = pages.flatMap(p => p.message.topics)
    t.ok(pages.length > 1, `budget ${budget}: ${pages.length} pages, ${total} bytes, ${named.length} of 1,000 topics`)
    t.ok(pages.every(p => p.bytes <= budget), 'every page within the budget')
    t.ok(total <= maxAnswerBytes, 'all pages within maxAnswerBytes')
    t.ok(total > maxAnswerBytes * 0.6, 'and not far below it')
    t.ok(named.length < 1000, 'the answer was cut')
    t.equal(new Set(named).size, named.length, 'every topic once')
    t.ok(pages.every(p => p.message.holders.every(h => h.length >= 1 && h.length <= defaultDiscoveryConfig.answerPerTopic)), 'at most answerPerTopic nodes per topic, at least one')
    t.ok(pages.every(p => p.message.nodes.every(n => n.id !== N)), 'never the asker')
    t.same(net.violations, [])
  }
})

t.test('answerPerTopic beyond what the wire carries is cut to the wire\'s most holders', async t => {
  const net = new DiscoveryNet({ answerPerTopic: 1000 })
  net.add(S)
  net.add(N)
  net.link(S, N)
  const nodes = Array.from({ length: 100 }, (_, i) => ({ id: nodeId(100 + i), addr: `h${i}.test:1` }))
  net.inject(C, S, { type: 'members', nodes: nodes.slice(0, 50), topics: [T], holders: [nodes.slice(0, 50).map((_, j) => j)] })
  net.inject(C, S, { type: 'members', nodes: nodes.slice(50), topics: [T], holders: [nodes.slice(50).map((_, j) => j)] })
  const before = net.sent.length
  net.inject(N, S, { type: 'query', topics: [T] })
  const pages = net.sends('members', { from: S, since: before })
  t.same(pages.map(p => p.message.holders[0]?.length), [wireLimits.maxHolders])
  t.same(net.violations, [], 'the answer encodes')
})

// -------------------------------------------------------------------------------------------
// Bounds on what peers claim
// -------------------------------------------------------------------------------------------

t.test('a linked peer\'s topics are recorded up to maxTopicsPerNode, and holding more does not make every digest a resync', async t => {
  const net = new DiscoveryNet({ digestInterval: 1000 })
  net.add(A, { maxTopicsPerNode: 10 })
  net.add(B)
  net.link(A, B)
  join(net, B, topicKeys(50, 100))
  net.run(10_000)
  t.equal(net.get(A).book.topicCount(B), 10)
  t.same(net.sends('resync').map(s => s.at), [], 'A is in step with B at the cap')
})

t.test('hearsay that fills maxInterests does not make an honest linked peer\'s digests ask for snapshots', async t => {
  const net = new DiscoveryNet({ digestInterval: 1000 })
  net.add(A, { maxInterests: 20 })
  net.add(B)
  // A stranger names 20 made-up nodes, one topic each: A's book is full of hearsay.
  const nodes = Array.from({ length: 20 }, (_, i) => ({ id: nodeId(100 + i), addr: addrOf(nodeId(100 + i)) }))
  const topics = topicKeys(20, 500)
  net.inject(C, A, { type: 'members', nodes, topics, holders: topics.map((_, i) => [i]) })
  t.equal(net.get(A).book.interestCount, 20, 'the book is full')
  net.link(A, B)
  join(net, B, topicKeys(5, 100))
  net.run(10_000)
  t.equal(net.get(A).book.declaredCount(B), 0, 'B\'s topics did not fit the book')
  t.same(net.sends('resync').map(s => s.at), [], 'yet A counts them, and B\'s digests find A in step')
})

t.test('hearsay about one node is recorded up to maxTopicsPerNode', async t => {
  const net = new DiscoveryNet()
  net.add(A, { maxTopicsPerNode: 10 })
  const topics = topicKeys(50, 100)
  net.inject(C, A, { type: 'members', nodes: [{ id: M1, addr: addrOf(M1) }], topics, holders: topics.map(() => [0]) })
  t.equal(net.get(A).book.topicCount(M1), 10)
})

t.test('interests in all are bounded by maxInterests, and nodes in the book by maxNodes', async t => {
  const net = new DiscoveryNet()
  const a = net.add(A, { maxInterests: 100, maxNodes: 50 })
  const nodes = Array.from({ length: 256 }, (_, i) => ({ id: nodeId(100 + i), addr: `h${i}.test:1` }))
  const topics = topicKeys(100, 100)
  for (let i = 0; i < nodes.length; i += wireLimits.maxHolders) {
    const holders = nodes.slice(i, i + wireLimits.maxHolders).map((_, j) => i + j)
    net.inject(C, A, { type: 'members', nodes, topics, holders: topics.map(() => holders) })
  }
  t.equal(a.book.size, 50)
  t.ok(a.book.interestCount <= 100, `${a.book.interestCount} interests`)
  let recorded = 0
  for (const topic of topics) recorded += a.interestedIn(topic).length
  t.equal(recorded, a.book.interestCount, 'the index agrees with the count')
})

t.test('hearsay expires interestTtl after it was heard, and a topic of ours left with nobody known is queried again', async t => {
  const net = new DiscoveryNet()
  for (const id of [N, S]) net.add(id)
  net.link(N, S)
  join(net, N, [T])
  net.run(1000)
  net.inject(S, N, { type: 'members', nodes: [{ id: M1, addr: addrOf(M1) }], topics: [T], holders: [[0]] })
  const heardAt = net.now
  t.same(net.get(N).interestedIn(T), [M1])
  net.run(interestTtl - 1)
  t.same(net.get(N).interestedIn(T), [M1], 'kept until interestTtl')
  const before = net.sent.length
  net.run(SWEEP + 1)
  t.same(net.get(N).interestedIn(T), [], `gone by interestTtl + ${SWEEP} ms (the sweep)`)
  t.ok(net.now - heardAt <= interestTtl + SWEEP + 1)
  net.run(1000)
  t.ok(net.sends('query', { from: N, since: before }).length >= 1, 'N asks about T again')
})

t.test('what a linked peer declared lasts while the link does, and expires interestTtl after linkDown', async t => {
  const net = pair()
  net.link(A, B)
  join(net, B, [T])
  net.run(3 * interestTtl)
  t.same(net.get(A).interestedIn(T), [B], 'kept through three interestTtl while linked')
  net.unlink(A, B)
  net.run(interestTtl - 1)
  t.same(net.get(A).interestedIn(T), [B], 'kept until interestTtl after the link went')
  net.run(SWEEP + 1)
  t.same(net.get(A).interestedIn(T), [])
})

t.test('hearsay cannot evict what a linked peer declared', async t => {
  const net = new DiscoveryNet({ digestInterval: 1000 })
  net.add(A, { maxNodes: 50 })
  net.add(B)
  net.link(A, B)
  join(net, B, [T])
  net.run(5000)
  const nodes = Array.from({ length: 60 }, (_, i) => ({ id: nodeId(100 + i), addr: `h${i}.test:1` }))
  net.inject(C, A, { type: 'members', nodes, topics: [U], holders: [nodes.map((_, j) => j)] })
  net.run(10_000)
  t.same(net.get(A).interestedIn(T), [B])
})

t.test('a peer asking for a snapshot in a loop gets at most one a second, and still gets them', async t => {
  const net = pair()
  join(net, A, topicKeys(10, 100))
  net.link(A, B)
  net.run(1000)
  const before = net.sent.length
  for (let i = 0; i < 1000; i++) {
    net.inject(B, A, { type: 'resync' })
    net.run(10)
  }
  const at = snapshots(net.sends('topics', { from: A, since: before })).map(s => s.at)
  t.ok(at.length >= 9 && at.length <= 11, `${at.length} snapshots in 10 s`)
  const gaps = at.slice(1).map((x, i) => x - (at[i] as number))
  t.ok(gaps.every(g => g >= 1000 - SLACK), `${Math.min(...gaps)} ms apart at least`)
  t.same(sorted(declared(net.get(B), A)), sorted(net.get(A).topics()))
})

// -------------------------------------------------------------------------------------------
// Hostile-looking but valid input
// -------------------------------------------------------------------------------------------

/** The book's bounds hold and nothing in it is about the node itself. */
function bounded (t: Test, d: Discovery<string>, me: string): void {
  const c = d.config
  t.ok(d.book.size <= c.maxNodes, 'nodes within maxNodes')
  t.ok(d.book.interestCount <= c.maxInterests, 'interests within maxInterests')
  t.equal(d.book.get(me), undefined, 'nothing recorded about itself')
}

t.test('a members message naming the receiver, or holder indexes pointing at it, records nothing about it', async t => {
  const net = new DiscoveryNet()
  for (const id of [A, C]) net.add(id)
  net.link(A, C)
  join(net, A, [T])
  net.run(1000)
  t.doesNotThrow(() => net.inject(C, A, {
    type: 'members',
    nodes: [{ id: A, addr: 'evil.test:1' }, { id: M1, addr: addrOf(M1) }, { id: A, addr: 'evil.test:2' }],
    topics: [T, U, topicKey(3)],
    holders: [[0, 1, 2], [0, 0, 2], []]
  }))
  t.same(net.get(A).interestedIn(T), [M1])
  t.same(net.get(A).interestedIn(U), [])
  t.equal(net.get(A).addressOf(A), undefined)
  bounded(t, net.get(A), A)
  // What A answers about T does not name A either.
  net.add(N)
  net.link(A, N)
  const before = net.sent.length
  net.inject(N, A, { type: 'query', topics: [T] })
  t.ok(net.sends('members', { from: A, since: before }).every(s => s.message.nodes.every(n => n.id !== A)))
})

t.test('inputs about the node itself (link, address, seed, a message from itself) are ignored', async t => {
  const net = new DiscoveryNet()
  const a = net.add(A)
  for (const input of [
    { type: 'linkUp' as const, peer: A, addr: 'x.test:1' },
    { type: 'learn' as const, peer: A, addr: 'x.test:1' },
    { type: 'seed' as const, peer: A, addr: 'x.test:1' },
    { type: 'recv' as const, from: A, message: { type: 'topics' as const, reset: true, base: 0, version: 1, joined: [T], left: [] } },
    { type: 'dialFailed' as const, peer: A },
    { type: 'linkDown' as const, peer: A }
  ]) {
    t.doesNotThrow(() => net.input(A, input), input.type)
  }
  join(net, A, [T])
  net.run(1000)
  t.same(net.sends('query').map(s => s.to), [], 'A is not its own seed nor its own peer')
  t.same(a.interestedIn(T), [])
  bounded(t, a, A)
})

t.test('a topics delta with a base from the future is not applied, and asks for a snapshot that puts the copy right', async t => {
  const net = pair()
  net.link(A, B)
  join(net, B, [U])
  net.run(2000)
  const before = net.sent.length
  t.doesNotThrow(() => net.inject(B, A, { type: 'topics', reset: false, base: 1000, version: 1001, joined: [T], left: [] }))
  t.same(net.get(A).interestedIn(T), [], 'not applied')
  t.equal(net.sends('resync', { from: A, since: before }).length, 1, 'A asks for a snapshot')
  net.run(1000)
  t.same(declared(net.get(A), B), new Set([U]))
})

t.test('old news (a delta replayed) is ignored without a resync', async t => {
  const net = pair()
  net.link(A, B)
  join(net, B, [U])
  net.run(2000)
  const replay = net.sends('topics', { from: B }).find(s => !s.message.reset)?.message
  t.ok(replay)
  leave(net, B, [U])
  net.run(1000)
  const before = net.sent.length
  net.inject(B, A, replay as Sent['message'])
  t.same(net.get(A).interestedIn(U), [], 'still gone')
  t.same(net.sent.slice(before), [], 'nothing sent')
})

t.test('a version going backwards, or a digest with a wrong count, never throws and the copy is put right', async t => {
  const net = pair({ digestInterval: 1000 })
  net.link(A, B)
  join(net, B, [U])
  net.run(2000)
  const known = net.sends('topics', { from: B }).at(-1)?.message as { version: number }
  t.doesNotThrow(() => net.inject(B, A, { type: 'topics', reset: false, base: known.version, version: 0, joined: [T], left: [U] }))
  t.doesNotThrow(() => net.inject(B, A, { type: 'topics', reset: true, base: 2 ** 52, version: 2 ** 52, joined: [], left: [T] }))
  const before = net.sent.length
  t.doesNotThrow(() => net.inject(B, A, { type: 'digest', version: 2 ** 52, count: 2 ** 52 }))
  t.doesNotThrow(() => net.inject(B, A, { type: 'digest', version: 0, count: 7 }))
  t.equal(net.sends('resync', { from: A, since: before }).length, 1, 'a wrong digest asks for a snapshot, another right after does not ask again')
  net.run(1500)
  t.doesNotThrow(() => net.inject(B, A, { type: 'digest', version: 0, count: 7 }))
  t.equal(net.sends('resync', { from: A, since: before }).length, 2, 'a second later, a wrong digest asks again')
  net.run(3000)
  t.same(declared(net.get(A), B), new Set([U]), 'the snapshot B sends puts A right')
  bounded(t, net.get(A), A)
  t.same(net.violations, [])
})

t.test('topics, digests and resyncs from a node without a link are ignored; its query is answered', async t => {
  const net = new DiscoveryNet()
  net.autoDial = false
  const a = net.add(A)
  net.add(M1)
  net.link(A, M1)
  join(net, M1, [T])
  net.run(1000)
  const before = net.sent.length
  net.inject(C, A, { type: 'topics', reset: true, base: 0, version: 1, joined: [U], left: [] })
  net.inject(C, A, { type: 'digest', version: 5, count: 5 })
  net.inject(C, A, { type: 'resync' })
  t.same(a.interestedIn(U), [])
  t.same(net.sent.slice(before), [], 'nothing sent')
  net.inject(C, A, { type: 'query', topics: [T] })
  t.same(net.sends('members', { from: A, since: before }).map(s => [s.to, s.message.topics]), [[C, [T]]])
})

t.test('a tick asked for is asked once; an extra tick is harmless', async t => {
  const net = pair()
  const first = net.input(A, { type: 'joinTopic', topic: T })
  t.same(first.filter(o => o.type === 'schedule'), [{ type: 'schedule', after: announceDelay }])
  const second = net.input(A, { type: 'joinTopic', topic: U })
  t.same(second.filter(o => o.type === 'schedule'), [], 'the tick already asked for covers it')
  t.doesNotThrow(() => net.input(A, { type: 'tick' }))
  net.run(1000)
  t.same(net.violations, [])
})

t.test('contacts for a topic: members we talked to first, but not those we failed to reach since (a partition cut us off from them)', async t => {
  const net = pair()
  net.add(S)
  join(net, A, [T])
  join(net, B, [T])
  net.link(A, B)
  net.flush()
  // B also hears of M1 in T, second-hand, from S.
  net.input(B, { type: 'recv', from: S, message: { type: 'members', nodes: [{ id: M1, addr: addrOf(M1) }], topics: [T], holders: [[0]] } })
  t.same(sorted(net.get(B).contactsFor(T)), [A], 'A, whom B talked to, before M1 it only heard of')
  net.unlink(A, B)
  net.input(B, { type: 'dialFailed', peer: A })
  t.same(sorted(net.get(B).contactsFor(T)), [M1], 'once A cannot be reached, the hearsay member is the way out')
  net.input(B, { type: 'dialFailed', peer: M1 })
  t.same(net.get(B).contactsFor(T), [A], 'hearsay that could not be dialled is forgotten, and A is tried again')
})

t.test('a node the membership protocol names in a topic (JOIN, FORWARD_JOIN, SHUFFLE) is heard of as a member, unless linked', async t => {
  const net = pair()
  join(net, A, [T])
  join(net, B, [U])
  net.link(A, B)
  net.flush()
  net.input(A, { type: 'learn', peer: M1, addr: addrOf(M1), topic: T })
  t.same(net.get(A).interestedIn(T), [M1], 'M1, named in T, is known to want T')
  net.input(A, { type: 'learn', peer: B, addr: addrOf(B), topic: T })
  t.notOk(net.get(A).interestedIn(T).includes(B), 'a linked node says its topics itself: hearsay about it adds nothing')
  net.input(A, { type: 'learn', peer: M2, addr: addrOf(M2) })
  t.same(net.get(A).interestedIn(T), [M1], 'an address alone says nothing about topics')
  net.run(interestTtl + SWEEP + 1_000)
  t.same(net.get(A).interestedIn(T), [], 'and it is hearsay: it expires')
})
