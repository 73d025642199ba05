import t from 'tap'
import { topicsScenario, type TopicsSettings } from '../../../src/core/sim/topics.js'
import { Simulator } from '../../../src/core/sim/simulator.js'
import { discoveryFrameBytes, encodedDiscoveryFrameBytes, protoControlFrameBytes, protoFrameBytes, simAddr } from '../../../src/core/sim/wire-size.js'
import { topicKey, type TopicKey } from '../../../src/core/discovery/topic-key.js'
import type { DiscoveryMessage } from '../../../src/core/discovery/types.js'
import { ZipfTopics, zipfCounts } from '../../../src/core/sim/zipf.js'
import { seededRng } from '../../../src/core/proto/random.js'
import type { Message, PeerInfo, TopicMessage } from '../../../src/core/proto/types.js'

// Small but complete: 50 nodes knowing 3 seeds, 100 Zipf topics, subscription churn, broadcasts.
const small: TopicsSettings = { nodes: 50, seed: 5, topics: 100, meanTopics: 8, maxTopicsPerNode: 60, churnFor: 30_000, churnPerMinute: 0.2, broadcastRounds: 2 }

t.test('discovery-driven run: every shared topic is one overlay and every member gets the broadcasts', async t => {
  const r = topicsScenario(small)
  t.ok(r.sharedTopics >= 20, `${r.sharedTopics} topics with 2 members or more`)
  t.equal(r.oneOverlay, 1, 'every topic with 2 members or more is one overlay 10 s after the churn')
  t.equal(r.splitTopics, 0)
  t.equal(r.topicsFullyDelivered, 1, 'every member of every topic received every broadcast')
  t.equal(r.minReliability, 1)
  t.equal(r.firstNeighbourMissing, 0, 'no stream waits for a neighbour while others are in its topic')
  t.ok(r.firstNeighbourCount > 0, 'streams opened next to other members were measured')
  t.equal(r.framesOverBudget, 0, 'no discovery or protocol frame over its budget')
  t.ok(r.maxDiscoveryFrame > 0 && r.maxDiscoveryFrame <= 16 * 1024, `largest discovery frame ${r.maxDiscoveryFrame} B`)
  t.ok(r.discoveryBps > 0, 'discovery traffic was measured')
})

t.test('the same seed gives the same discovery run, figure for figure', async t => {
  const a = topicsScenario({ ...small, churnFor: 10_000, broadcastRounds: 1 })
  const b = topicsScenario({ ...small, churnFor: 10_000, broadcastRounds: 1 })
  t.same(a, b)
  t.not(JSON.stringify(a), JSON.stringify(topicsScenario({ ...small, churnFor: 10_000, broadcastRounds: 1, seed: 6 })))
})

t.test('a node that knows only a seed finds the other member of its topic and joins it', async t => {
  const topic = 'ab'.repeat(32)
  const sim = new Simulator({ seed: 3, discovery: { seeds: [0] } })
  for (let i = 0; i < 3; i++) sim.addNode()
  sim.stream(1, topic)
  sim.runFor(5_000)
  t.same(sim.view(1, topic)?.active, [], 'alone in the topic: no neighbour')
  sim.stream(2, topic)
  sim.runFor(3_000)
  t.same(sim.view(2, topic)?.active, [1], 'the newcomer learned of node 1 through the seed and joined it')
  t.equal(sim.firstNeighbourMs.length, 1)
  t.ok((sim.firstNeighbourMs[0] as number) < 1_000, `first neighbour after ${sim.firstNeighbourMs[0]} ms`)
  t.same(sim.discoveryOf(0)?.discovery.interestedIn(topicKey(topic)).sort(), [1, 2], 'the seed knows both members')
  sim.leave(1, topic)
  sim.runFor(3_000)
  t.same(sim.view(2, topic)?.active, [], 'node 1 left: node 2 has no neighbour')
  t.same(sim.discoveryOf(0)?.discovery.interestedIn(topicKey(topic)), [2], 'the seed, still linked to node 1, heard it left')
})

t.test('links: discovery sees a link up at both ends and down when the protocol closes it', async t => {
  const sim = new Simulator({ seed: 9, discovery: { seeds: [0] } })
  sim.addNode()
  sim.addNode()
  sim.runFor(1_000)
  t.equal(sim.discoveryOf(0)?.up.has(1), true, 'the seed accepted the link')
  t.equal(sim.discoveryOf(1)?.up.has(0), true, 'the dialler learned it is up')
  sim.kill([0])
  sim.runFor(1_000)
  t.equal(sim.discoveryOf(1)?.up.has(0), false, 'a dead seed: link down')
})

t.test('Zipf subscriptions: mean and cap as asked, popular topics first', async t => {
  const counts = zipfCounts(seededRng(1), 1000, 50, 1000, 10_000)
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length
  t.ok(Math.abs(mean - 50) < 1, `mean ${mean}`)
  t.ok(Math.max(...counts) <= 1000 && Math.min(...counts) >= 1)
  const zipf = new ZipfTopics(1000)
  const rng = seededRng(2)
  const hits = new Int32Array(1000)
  for (let i = 0; i < 100_000; i++) {
    const k = zipf.draw(rng)
    hits[k] = (hits[k] as number) + 1
  }
  t.ok((hits[0] as number) > 1.7 * (hits[1] as number) && (hits[1] as number) > (hits[9] as number) * 3, 'weights 1/k')
  const picked = zipf.drawDistinct(rng, 1000)
  t.equal(new Set(picked).size, 1000, 'asking for every topic gives every topic once')
})

t.test('discovery frame sizes are exactly what the codec writes', async t => {
  const rng = seededRng(4)
  const int = (n: number): number => Math.floor(rng.next() * n)
  const topic = (): TopicKey => int(2 ** 30).toString(16).padStart(16, 'c') as TopicKey
  const topics = (max: number): TopicKey[] => Array.from({ length: int(max) }, topic)
  const big = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 52]
  const uint = (): number => (rng.next() < 0.5 ? big[int(big.length)] as number : int(2 ** 20))
  const messages: Array<DiscoveryMessage<number>> = [{ type: 'resync' }]
  for (let i = 0; i < 300; i++) {
    messages.push({ type: 'topics', reset: rng.next() < 0.5, base: uint(), version: uint(), joined: topics(40), left: topics(20) })
    messages.push({ type: 'digest', version: uint(), count: uint() })
    messages.push({ type: 'query', topics: topics(300) })
    const nodes = Array.from({ length: int(40) }, () => { const id = int(70_000); return { id, addr: rng.next() < 0.9 ? simAddr(id) : 'h'.repeat(int(290) + 1) + ':1' } })
    const ts = topics(30)
    const holders = ts.map(() => nodes.length === 0 ? [] : Array.from({ length: int(20) }, () => int(nodes.length)))
    messages.push({ type: 'members', nodes, topics: ts, holders })
  }
  for (const m of messages) {
    if (discoveryFrameBytes(m) !== encodedDiscoveryFrameBytes(m)) t.fail(`${m.type}: counted ${discoveryFrameBytes(m)}, encoded ${encodedDiscoveryFrameBytes(m)}`)
  }
  t.pass(`${messages.length} messages counted exactly`)
  t.equal(discoveryFrameBytes({ type: 'resync' }), 3)
})

t.test('protocol control frame sizes are exactly what the codec writes', async t => {
  const rng = seededRng(5)
  const int = (n: number): number => Math.floor(rng.next() * n)
  const uint = (): number => [0, 1, 127, 128, 255, 256, 65_535][int(7)] as number
  const ttl = (): number => [0, 1, 127, 128, 255][int(5)] as number
  const data = (): Uint8Array | undefined => rng.next() < 0.2 ? undefined : new Uint8Array([1, 19, 255, 256, 300][int(5)] as number)
  const peer = (): PeerInfo<number> => { const d = data(); return d === undefined ? { id: int(70_000) } : { id: int(70_000), data: d } }
  const peers = (max: number): Array<PeerInfo<number>> => Array.from({ length: int(max) }, peer)
  // Ids of every string length class (1 to 128 characters), some with characters of 2 or 3 bytes.
  const id = (): string => ['z', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(20), '€'.repeat(42), 'y'.repeat(128)][int(7)] as string
  const bodies = (): Array<TopicMessage<number>> => [
    { type: 'join', data: data() },
    { type: 'forwardJoin', peer: peer(), ttl: ttl() },
    { type: 'neighbor', priority: rng.next() < 0.5 ? 'high' : 'low', data: data() },
    { type: 'neighborReply', accepted: rng.next() < 0.5 },
    { type: 'shuffle', origin: peer(), nodes: peers(40), ttl: ttl() },
    { type: 'shuffleReply', nodes: peers(40) },
    { type: 'disconnect', alive: rng.next() < 0.5, sample: rng.next() < 0.3 ? undefined : peers(20) },
    { type: 'ihave', entries: Array.from({ length: int(300) }, () => ({ id: id(), round: uint() })) },
    { type: 'graft', id: rng.next() < 0.3 ? undefined : id(), round: uint() },
    { type: 'prune' }
  ]
  let n = 0
  for (let i = 0; i < 200; i++) {
    for (const body of bodies()) {
      const m: Message<number> = { topic: 'a'.repeat(64), body }
      n++
      if (protoControlFrameBytes(m) !== protoFrameBytes(m)) t.fail(`${body.type}: counted ${protoControlFrameBytes(m)}, encoded ${protoFrameBytes(m)}`)
    }
  }
  t.pass(`${n} messages counted exactly`)
})
