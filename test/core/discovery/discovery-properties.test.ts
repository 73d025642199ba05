/**
 * Properties of topic discovery over random histories of five nodes (../../fixtures/discovery-net.ts):
 * links come up and go, nodes join and leave topics (a few, or bursts of hundreds), time passes
 * with messages in flight, extra ticks arrive, and peers (or strangers) send valid but arbitrary
 * messages, large lists included.
 *
 * - `handle` never throws;
 * - every message sent encodes with the real codec to at most `maxFrameBytes`, for budgets from
 *   1,024 bytes to 64 KiB, and every `schedule` is non-negative;
 * - the address book stays within its bounds and never records the node itself;
 * - on a lossless network with in-order links and nobody lying, once quiet, every node holds each
 *   linked peer's topics exactly as the peer has them, and nobody had to ask for a resync except
 *   over a link that closed and came back (what was in flight when it closed is lost; the digest
 *   that opens the new link finds that out).
 */
import t from 'tap'
import fc from 'fast-check'
import type { DiscoveryConfig } from '../../../src/core/discovery/types.js'
import { wireLimits } from '../../../src/core/proto/limits.js'
import { seededRng } from '../../../src/core/proto/random.js'
import { DiscoveryNet, addrOf, declared, nodeId, sameSet, topicKey, topicKeys } from '../../fixtures/discovery-net.js'
import type { Msg } from '../../fixtures/discovery-net.js'

const NODES = 5
const ids = Array.from({ length: NODES }, (_, i) => nodeId(i))
/** Senders of hostile messages: the nodes themselves, or a stranger that is not on the network. */
const STRANGER = nodeId(4095)
const POOL = 12
/** Bursts of topics come from here, apart from the pool. */
const BURST_BASE = 10_000

type Step =
  | { k: 'link', a: number, b: number }
  | { k: 'unlink', a: number, b: number }
  | { k: 'join' | 'leave', n: number, topics: number[] }
  | { k: 'burst', n: number, join: boolean, count: number, offset: number }
  | { k: 'run', ms: number }
  | { k: 'tick', n: number }
  | { k: 'seed', n: number, seed: number }
  /** One message, or a few (a crowd of nodes too many for one), built for the receiver. */
  | { k: 'hostile', from: number, to: number, messages: (to: string) => Msg[] }

const node = fc.nat({ max: NODES - 1 })
const pooled = fc.array(fc.nat({ max: POOL - 1 }), { minLength: 1, maxLength: 4 })

const honest: Array<fc.WeightedArbitrary<Step>> = [
  { weight: 4, arbitrary: fc.record({ k: fc.constant('link' as const), a: node, b: node }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unlink' as const), a: node, b: node }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('join' as const), n: node, topics: pooled }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('leave' as const), n: node, topics: pooled }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('burst' as const), n: node, join: fc.boolean(), count: fc.integer({ min: 50, max: 1500 }), offset: fc.nat({ max: 500 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('run' as const), ms: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 3000 })) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), n: node }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('seed' as const), n: node, seed: node }) }
]

/** A message builder that a counterexample prints as what it was built from. */
function builder (spec: unknown, build: (to: string) => Msg[]): (to: string) => Msg[] {
  return Object.assign(build, { [fc.toStringMethod]: () => fc.stringify(spec) })
}

// Valid messages (what the decoder accepts), from small to the largest lists the wire carries.
const version = fc.oneof(fc.nat({ max: 10 }), fc.constant(wireLimits.maxDiscoveryVersion), fc.nat({ max: wireLimits.maxDiscoveryVersion }))
const topicList = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.nat({ max: POOL - 1 }), { maxLength: 6 }).map(xs => xs.map(topicKey)) },
  { weight: 1, arbitrary: fc.record({ count: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.constant(wireLimits.maxTopics)), offset: fc.nat({ max: 2000 }) }).map(({ count, offset }) => topicKeys(count, offset)) }
)
/** `members` messages naming nodes in `topics` topics from `topicOffset` on. */
const membersIn = (topics: fc.Arbitrary<number>, topicOffset: fc.Arbitrary<number>): fc.Arbitrary<(to: string) => Msg[]> => fc.record({
  nodes: fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 8 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: wireLimits.maxDiscoveryNodes }) },
    { weight: 1, arbitrary: fc.constant(wireLimits.maxDiscoveryNodes) }
  ),
  /** Small offsets name the nodes of the network; the receiver itself is named at `self` sometimes. */
  offset: fc.oneof(fc.nat({ max: NODES }), fc.nat({ max: 3000 })),
  self: fc.option(fc.nat(), { nil: undefined }),
  addrLength: fc.oneof(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: wireLimits.maxAddrLength }), fc.constant(wireLimits.maxAddrLength)),
  wide: fc.boolean(),
  topics,
  topicOffset,
  perTopic: fc.oneof(
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: wireLimits.maxHolders }) },
    { weight: 2, arbitrary: fc.constant(wireLimits.maxHolders) }
  ),
  stride: fc.oneof(fc.constant(wireLimits.maxHolders), fc.nat({ max: 1000 })),
  /** The same topics again with as many other nodes: more holders of a topic than one message names. */
  copies: fc.integer({ min: 1, max: 3 })
}).map(m => builder({ members: m }, (to: string): Msg[] => {
  const host = (m.wide ? '\u20ac' : 'h').repeat(m.addrLength - 1)
  const topics = topicKeys(m.topics, m.topicOffset)
  const holders = topics.map((_, j) => m.nodes === 0 ? [] : Array.from({ length: m.perTopic }, (_, k) => (j * m.stride + k * 7) % m.nodes))
  return Array.from({ length: m.copies }, (_, copy) => {
    const nodes = Array.from({ length: m.nodes }, (_, i) => ({
      id: m.self !== undefined && i === m.self % m.nodes ? to : nodeId(m.offset + copy * m.nodes + i),
      addr: host + String(i % 10)
    }))
    return { type: 'members' as const, nodes, topics, holders }
  })
}))
/** Mostly a few topics of the pool the nodes join, sometimes hundreds of others. */
const members = membersIn(
  fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }) }),
  fc.oneof({ weight: 3, arbitrary: fc.nat({ max: POOL - 1 }) }, { weight: 1, arbitrary: fc.nat({ max: 3000 }) })
)
const messages: fc.Arbitrary<(to: string) => Msg[]> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ reset: fc.boolean(), base: version, version, joined: topicList, left: topicList }).map(m => builder({ topics: m }, () => [{ type: 'topics' as const, ...m }])) },
  { weight: 2, arbitrary: fc.record({ version, count: version }).map(m => builder({ digest: m }, () => [{ type: 'digest' as const, ...m }])) },
  { weight: 1, arbitrary: fc.constant(builder('resync', () => [{ type: 'resync' as const }])) },
  { weight: 2, arbitrary: topicList.map(topics => builder({ query: topics.length }, () => [{ type: 'query' as const, topics }])) },
  { weight: 3, arbitrary: members }
)
const hostile: fc.WeightedArbitrary<Step> = {
  weight: 6,
  arbitrary: fc.record({ k: fc.constant('hostile' as const), from: fc.nat({ max: NODES }), to: node, messages })
}

const budget = fc.oneof(fc.constant(1024), fc.integer({ min: 1024, max: 64 * 1024 }), fc.constant(64 * 1024))

/** Any configuration, limits far below and beyond what fits the wire. */
const anyConfig: fc.Arbitrary<Partial<DiscoveryConfig>> = fc.record({
  maxFrameBytes: budget,
  announceDelay: fc.integer({ min: 0, max: 50 }),
  digestInterval: fc.integer({ min: 500, max: 10_000 }),
  answerPerTopic: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: wireLimits.maxHolders, max: 1000 })),
  maxAnswerBytes: fc.integer({ min: 1024, max: 256 * 1024 }),
  queryBackoffMin: fc.integer({ min: 1, max: 1000 }),
  queryBackoffMax: fc.integer({ min: 1000, max: 30_000 }),
  queryFanout: fc.integer({ min: 0, max: 5 }),
  interestTtl: fc.integer({ min: 100, max: 60_000 }),
  maxLog: fc.integer({ min: 1, max: 200 }),
  maxNodes: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(10_000)),
  maxTopicsPerNode: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(4096)),
  maxInterests: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(200_000))
}).map(c => ({ ...c, queryBackoffMax: Math.max(c.queryBackoffMin, c.queryBackoffMax) }))

/** Limits that never cut what honest nodes declare, so that convergence is exact. */
const roomyConfig: fc.Arbitrary<Partial<DiscoveryConfig>> = fc.record({
  maxFrameBytes: budget,
  announceDelay: fc.integer({ min: 0, max: 50 }),
  digestInterval: fc.integer({ min: 200, max: 30_000 }),
  maxLog: fc.integer({ min: 1, max: 5000 }),
  queryBackoffMin: fc.integer({ min: 10, max: 1000 })
})

function apply (net: DiscoveryNet, st: Step): void {
  switch (st.k) {
    case 'link': net.link(ids[st.a] as string, ids[st.b] as string); break
    case 'unlink': net.unlink(ids[st.a] as string, ids[st.b] as string); break
    case 'join':
    case 'leave':
      for (const topic of st.topics) net.input(ids[st.n] as string, { type: st.k === 'join' ? 'joinTopic' : 'leaveTopic', topic: topicKey(topic) })
      break
    case 'burst':
      for (const topic of topicKeys(st.count, BURST_BASE + st.offset)) net.input(ids[st.n] as string, { type: st.join ? 'joinTopic' : 'leaveTopic', topic })
      break
    case 'run': net.run(st.ms); break
    case 'tick': net.input(ids[st.n] as string, { type: 'tick' }); break
    case 'seed': net.input(ids[st.n] as string, { type: 'seed', peer: ids[st.seed] as string, addr: addrOf(ids[st.seed] as string) }); break
    case 'hostile': {
      const to = ids[st.to] as string
      for (const m of st.messages(to)) net.inject(st.from === NODES ? STRANGER : ids[st.from] as string, to, m)
      break
    }
  }
}

/** What is wrong with the network now: messages over budget, negative schedules, books out of bounds. */
function problems (net: DiscoveryNet): string[] {
  const bad = [...net.violations]
  for (const [id, n] of net.nodes) {
    const c = n.d.config
    const book = n.d.book
    // Linked nodes are never evicted (links are bounded elsewhere); the rest stays within maxNodes.
    const linked = [...net.nodes.keys()].filter(other => book.get(other)?.linked === true).length
    if (book.size > c.maxNodes + linked) bad.push(`${id.slice(-2)} knows ${book.size} nodes, more than ${c.maxNodes} + ${linked} linked`)
    if (book.interestCount > c.maxInterests) bad.push(`${id.slice(-2)} records ${book.interestCount} interests, more than ${c.maxInterests}`)
    if (book.get(id) !== undefined) bad.push(`${id.slice(-2)} has a record of itself`)
    for (const other of [...ids, STRANGER]) {
      const topics = book.topicCount(other)
      if (topics > c.maxTopicsPerNode) bad.push(`${id.slice(-2)} records ${topics} topics of ${other.slice(-2)}, more than ${c.maxTopicsPerNode}`)
    }
  }
  return bad
}

/** A network of five nodes whose messages take `latency` ms, 0 to `maxLatency`, drawn from `seed`. */
function network (config: Partial<DiscoveryConfig>, seed: number, maxLatency: number): DiscoveryNet {
  const net = new DiscoveryNet(config)
  ids.forEach((id, i) => net.add(id, {}, seed + i))
  const rng = seededRng(seed)
  net.latency = () => Math.floor(rng.next() * (maxLatency + 1))
  return net
}

t.test('whatever happens and whatever peers send, handle never throws, every message fits its budget, schedules are non-negative and books stay bounded', async t => {
  let sent = 0
  let largest = 0
  /** The most nodes named for one topic in an answer. */
  let holders = 0
  let kinds = new Set<string>()
  fc.assert(fc.property(
    anyConfig, fc.integer(), fc.constantFrom(0, 0, 3, 50),
    fc.array(fc.oneof(...honest, hostile), { minLength: 10, maxLength: 40, size: 'max' }),
    (config, seed, maxLatency, steps) => {
      const net = network(config, seed, maxLatency)
      for (const st of steps) {
        apply(net, st)
        const bad = problems(net)
        if (bad.length > 0) throw new Error(`after ${st.k}: ${bad.slice(0, 3).join('; ')}`)
      }
      net.run(5000)
      const bad = problems(net)
      if (bad.length > 0) throw new Error(`at the end: ${bad.slice(0, 3).join('; ')}`)
      sent += net.sent.length
      for (const s of net.sent) {
        kinds.add(s.message.type)
        largest = Math.max(largest, s.bytes / (net.get(s.from).config.maxFrameBytes))
        if (s.message.type === 'members' && net.nodes.has(s.from)) for (const h of s.message.holders) holders = Math.max(holders, h.length)
      }
    }
  ), { numRuns: 200 })
  t.comment(`${sent} messages sent; the largest filled ${Math.round(100 * largest)}% of its budget; answers named up to ${holders} nodes for a topic`)
  // Guards against generators that never reach the limits (the property would hold vacuously).
  t.ok(largest > 0.9, 'some messages were cut close to their budget')
  t.same([...kinds].sort(), ['digest', 'members', 'query', 'resync', 'topics'], 'every kind of message was sent')
  kinds = new Set()
})

t.test('an answer, whatever the book holds and whatever is asked, names at most answerPerTopic (and the wire\'s most) nodes per topic, never the asker, in pages within the budget and maxAnswerBytes in all', async t => {
  let pages = 0
  let fullTopics = 0
  fc.assert(fc.property(
    budget, fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1024, max: 256 * 1024 }), fc.integer(),
    fc.array(membersIn(fc.integer({ min: 0, max: POOL }), fc.constant(0)), { minLength: 1, maxLength: 4 }), topicList,
    (maxFrameBytes, answerPerTopic, maxAnswerBytes, seed, heard, asked) => {
      const net = network({ maxFrameBytes, answerPerTopic, maxAnswerBytes }, seed, 0)
      const [me, asker] = ids as [string, string]
      for (const build of heard) for (const m of build(me)) net.inject(STRANGER, me, m)
      // The asker is named in what was heard too: it must be left out of the answer.
      net.inject(STRANGER, me, { type: 'members', nodes: [{ id: asker, addr: addrOf(asker) }], topics: asked.slice(0, wireLimits.maxTopics), holders: asked.map(() => [0]) })
      const before = net.sent.length
      net.inject(asker, me, { type: 'query', topics: asked })
      const answer = net.sends('members', { since: before })
      let total = 0
      for (const a of answer) {
        pages++
        total += a.bytes
        if (a.to !== asker) throw new Error('an answer to someone else')
        if (a.message.nodes.some(n => n.id === asker || n.id === me)) throw new Error('the answer names the asker or the node itself')
        for (const h of a.message.holders) {
          if (h.length > Math.min(answerPerTopic, wireLimits.maxHolders)) throw new Error(`${h.length} nodes named for a topic`)
          if (h.length === wireLimits.maxHolders) fullTopics++
        }
      }
      if (total > maxAnswerBytes) throw new Error(`an answer of ${total} bytes, more than ${maxAnswerBytes}`)
      if (net.violations.length > 0) throw new Error(net.violations[0])
    }
  ), { numRuns: 200 })
  t.comment(`${pages} pages, ${fullTopics} topics named with the wire's most holders`)
  t.ok(fullTopics > 0, 'some topics were named with as many holders as the wire carries')
})

/**
 * Found by a random run: node 4, alone in topic 0, queries (backed off) late in the quiet time;
 * the query dials node 0, and node 4's snapshot over that new link is still on the way when
 * the quiet time ends.
 */
const lateLink: [Partial<DiscoveryConfig>, number, number, Step[]] = [
  { maxFrameBytes: 1024, announceDelay: 0, digestInterval: 200, maxLog: 1, queryBackoffMin: 581 },
  682183289, 50,
  [
    { k: 'run', ms: 0 }, { k: 'leave', n: 0, topics: [0] }, { k: 'join', n: 4, topics: [0] }, { k: 'join', n: 0, topics: [0] },
    { k: 'run', ms: 2094 }, { k: 'seed', n: 4, seed: 0 }, { k: 'leave', n: 0, topics: [0] }, { k: 'leave', n: 0, topics: [0] },
    { k: 'tick', n: 0 }, { k: 'run', ms: 0 }
  ]
]

t.test('on a lossless network with in-order links and nobody lying, once quiet, every node holds exactly the topics of each linked peer, without a resync on a link that never closed', async t => {
  let linkedPairs = 0
  let heldTopics = 0
  let relinkResyncs = 0
  fc.assert(fc.property(
    roomyConfig, fc.integer(), fc.constantFrom(0, 0, 3, 50),
    fc.array(fc.oneof(...honest), { minLength: 10, maxLength: 60, size: 'max' }),
    (config, seed, maxLatency, steps) => {
      const net = network(config, seed, maxLatency)
      /** Pairs whose link closed at some point. */
      const closed = new Set<string>()
      const pairKey = (x: string, y: string): string => x < y ? x + y : y + x
      for (const st of steps) {
        if (st.k === 'unlink' && net.linked(ids[st.a] as string, ids[st.b] as string)) closed.add(pairKey(ids[st.a] as string, ids[st.b] as string))
        apply(net, st)
      }
      // Quiet: what is in flight arrives, announcements go out, and a snapshot put off by the
      // once-a-second limit is sent; well before any digest could repair anything.
      net.run(2000 + 2 * maxLatency + (config.announceDelay ?? 0))
      // A lonely node's query, backed off, may dial a new link late in that time: its snapshots
      // are still on the way then (a node's own word is only wrong once it has arrived).
      for (let i = 0; i < 100 && net.inFlightOf('topics') > 0; i++) net.run(maxLatency + 1)
      for (const x of ids) {
        for (const y of ids) {
          if (x === y || !net.linked(x, y)) continue
          const held = declared(net.get(x), y)
          const actual = net.get(y).topics()
          if (!sameSet(held, actual)) {
            throw new Error(`${x.slice(-2)} holds ${held.size} topics of ${y.slice(-2)}, which has ${actual.size}`)
          }
          linkedPairs++
          heldTopics += held.size
        }
      }
      const all = net.sends('resync')
      const resyncs = all.filter(r => !closed.has(pairKey(r.from, r.to)))
      relinkResyncs += all.length - resyncs.length
      if (resyncs.length > 0) throw new Error(`${resyncs.length} resyncs on links that never closed, the first at ${resyncs[0]?.at} ms`)
      if (net.violations.length > 0) throw new Error(net.violations[0])
    }
  ), { numRuns: 200, examples: [lateLink] })
  t.comment(`${linkedPairs} linked pairs compared, ${heldTopics} topics held, ${relinkResyncs} resyncs over links that came back`)
  t.ok(linkedPairs > 500, 'most runs ended with links to compare')
  t.ok(heldTopics > 10_000, 'bursts of topics were compared too')
})
