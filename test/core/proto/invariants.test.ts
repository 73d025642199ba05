/**
 * Property tests: random input sequences never break the invariants of the views and caches, for
 * one node fed arbitrary (even nonsensical) inputs, and for a small cluster driven by random
 * operations.
 */
import t from 'tap'
import fc from 'fast-check'
import { resolveConfig } from '../../../src/core/proto/config.js'
import type { PartialProtoConfig, ProtoConfig } from '../../../src/core/proto/config.js'
import { seededRng } from '../../../src/core/proto/random.js'
import { State } from '../../../src/core/proto/state.js'
import type { InEvent, OutEvent, PeerInfo, TopicMessage } from '../../../src/core/proto/types.js'
import { Cluster } from '../../fixtures/proto-cluster.js'

const SMALL: PartialProtoConfig = {
  membership: {
    activeViewCapacity: 3,
    passiveViewCapacity: 4,
    activeRandomWalkLength: 3,
    passiveRandomWalkLength: 1,
    shuffleRandomWalkLength: 2,
    shuffleActiveViewCount: 2,
    shufflePassiveViewCount: 2,
    shuffleInterval: 1_000,
    disconnectSampleSize: 2
  },
  broadcast: {
    maxCachedMessages: 3,
    maxSeenIds: 5,
    maxPendingIHaves: 4,
    maxMissingMessages: 2,
    messageCacheTimeout: 300,
    messageIdRetention: 600,
    cacheEvictInterval: 100
  },
  maxTopics: 2
}

const TOPICS = ['aa'.repeat(32), 'bb'.repeat(32), 'cc'.repeat(32)]
const PEERS = ['me', 'p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']

/** Every peer a node may have heard of: the fixed ones and the cluster's nodes. */
function peersOf (s: State<string>): string[] {
  const seen = new Set(PEERS)
  for (let i = 0; i < 16; i++) seen.add(`n${i}`)
  for (const topic of s.topics()) for (const p of [...(s.view(topic)?.active ?? []), ...(s.view(topic)?.passive ?? [])]) seen.add(p)
  return [...seen]
}

/** Every invariant of one node; returns the violations (empty when all hold). */
function violations (s: State<string>, config: ProtoConfig): string[] {
  const bad: string[] = []
  const { membership: hv, broadcast: pt } = config
  if (s.topics().length > config.maxTopics) bad.push('too many topics')
  for (const p of peersOf(s)) {
    if (s.needsLink(p) !== s.needsLinkByAnyTopic(p)) bad.push(`needsLink(${String(p)}) is ${String(s.needsLink(p))}, its topics say otherwise`)
  }
  for (const topic of s.topics()) {
    const v = s.view(topic)
    if (v === undefined) { bad.push('listed topic has no view'); continue }
    const tag = `${String(s.me)}/${topic.slice(0, 4)}`
    if (v.active.length > hv.activeViewCapacity) bad.push(`${tag}: active over capacity ${v.active.length}`)
    if (v.active.includes(s.me)) bad.push(`${tag}: active contains self`)
    if (new Set(v.active).size !== v.active.length) bad.push(`${tag}: active has duplicates`)
    if (v.passive.length > hv.passiveViewCapacity) bad.push(`${tag}: passive over capacity ${v.passive.length}`)
    if (v.passive.includes(s.me)) bad.push(`${tag}: passive contains self`)
    if (new Set(v.passive).size !== v.passive.length) bad.push(`${tag}: passive has duplicates`)
    for (const p of v.passive) if (v.active.includes(p)) bad.push(`${tag}: ${String(p)} active and passive`)
    for (const p of v.eager) if (v.lazy.includes(p)) bad.push(`${tag}: ${String(p)} eager and lazy`)
    for (const p of [...v.eager, ...v.lazy]) if (!v.active.includes(p)) bad.push(`${tag}: ${String(p)} in eager/lazy, not active`)
    for (const p of v.active) if (!v.eager.includes(p) && !v.lazy.includes(p)) bad.push(`${tag}: active ${String(p)} neither eager nor lazy`)
    const st = s.stats(topic)
    if (st === undefined) continue
    if (st.cached > pt.maxCachedMessages) bad.push(`${tag}: cache over bound`)
    if (st.seen > pt.maxSeenIds) bad.push(`${tag}: seen ids over bound`)
    if (st.missing > pt.maxMissingMessages) bad.push(`${tag}: missing over bound`)
    if (st.pendingIHaves > pt.maxPendingIHaves) bad.push(`${tag}: pending IHAVEs over bound`)
    if (st.pendingRequests > hv.activeViewCapacity + PEERS.length) bad.push(`${tag}: pending requests unbounded`)
  }
  return bad
}

/** Invariants of one step's outputs. */
function outputViolations (s: State<string>, out: OutEvent<string>[]): string[] {
  const bad: string[] = []
  for (const o of out) {
    if (o.type === 'send' && o.to === s.me) bad.push('sends to itself')
    if (o.type === 'disconnect' && s.needsLink(o.peer)) bad.push(`disconnects ${String(o.peer)} which it still needs`)
    if (o.type === 'schedule' && !(o.after >= 0)) bad.push(`schedules a timer ${o.after} ms away`)
  }
  return bad
}

// -------------------------------------------------------------------------------------------
// One node, arbitrary inputs
// -------------------------------------------------------------------------------------------

const peer = fc.constantFrom(...PEERS)
// Mostly the two topics the node may be in, sometimes a third it can never join (maxTopics 2).
const topic = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(TOPICS[0] as string, TOPICS[1] as string) }, { weight: 1, arbitrary: fc.constant(TOPICS[2] as string) })
const id = fc.constantFrom('m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7')
const info: fc.Arbitrary<PeerInfo<string>> = peer.map(p => ({ id: p }))
const infos = fc.array(info, { maxLength: 6 })
const small = fc.integer({ min: 0, max: 8 })

const body: fc.Arbitrary<TopicMessage<string>> = fc.oneof(
  fc.constant({ type: 'join' as const }),
  fc.record({ type: fc.constant('forwardJoin' as const), peer: info, ttl: small }),
  fc.record({ type: fc.constant('neighbor' as const), priority: fc.constantFrom('high' as const, 'low' as const) }),
  fc.record({ type: fc.constant('neighborReply' as const), accepted: fc.boolean() }),
  fc.record({ type: fc.constant('shuffle' as const), origin: info, nodes: infos, ttl: small }),
  fc.record({ type: fc.constant('shuffleReply' as const), nodes: infos }),
  fc.record({ type: fc.constant('disconnect' as const), alive: fc.boolean(), sample: infos }),
  fc.record({ type: fc.constant('gossip' as const), id, origin: peer, content: fc.constant(new Uint8Array([1])), round: small }),
  fc.record({ type: fc.constant('ihave' as const), entries: fc.array(fc.record({ id, round: small }), { maxLength: 5 }) }),
  fc.record({ type: fc.constant('graft' as const), id: fc.option(id, { nil: undefined }), round: small }),
  fc.constant({ type: 'prune' as const })
)

const input: fc.Arbitrary<InEvent<string>> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ type: fc.constant('recv' as const), from: peer, message: fc.record({ topic, body }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('command' as const), topic, command: fc.record({ type: fc.constant('join' as const), peers: infos }) }) },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('command' as const), topic, command: fc.record({ type: fc.constant('broadcast' as const), content: fc.constant(new Uint8Array([2])) }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('command' as const), topic, command: fc.constant({ type: 'quit' as const }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('peerDisconnected' as const), peer }) },
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('timer' as const),
      timer: fc.oneof(
        fc.record({ type: fc.constant('shuffle' as const), topic }),
        fc.record({ type: fc.constant('neighborTimeout' as const), topic, peer }),
        fc.record({ type: fc.constant('joinTimeout' as const), topic }),
        fc.record({ type: fc.constant('dispatchIHave' as const), topic }),
        fc.record({ type: fc.constant('graftTimeout' as const), topic, id }),
        fc.record({ type: fc.constant('evictCache' as const), topic })
      )
    })
  }
)

t.test('arbitrary inputs to one node never break the view and cache invariants', async t => {
  const config = resolveConfig(SMALL)
  fc.assert(fc.property(
    fc.integer(),
    fc.array(fc.tuple(input, fc.integer({ min: 0, max: 400 })), { minLength: 50, maxLength: 250, size: 'max' }),
    (seed, steps) => {
      const s = new State<string>('me', config, seededRng(seed))
      const delivered = new Set<string>()
      let now = 0
      for (const [inp, dt] of steps) {
        now += dt
        const out = s.handle(inp, now)
        const bad = [...violations(s, config), ...outputViolations(s, out)]
        for (const o of out) {
          if (o.type === 'emit' && o.event.type === 'received') {
            // Redelivery is only possible once the id has left the seen window.
            const key = `${o.topic}/${o.event.id}/${now}`
            if (delivered.has(key)) bad.push('delivered twice in one step')
            delivered.add(key)
          }
        }
        if (bad.length > 0) throw new Error(`after ${JSON.stringify(inp)}: ${bad.join('; ')}`)
      }
    }
  ), { numRuns: 1000 })
  t.pass('1000 random runs kept every invariant')
})

// -------------------------------------------------------------------------------------------
// A small cluster, random operations
// -------------------------------------------------------------------------------------------

type Op =
  | { op: 'join', node: number, contacts: number[], topic: number }
  | { op: 'broadcast', node: number, topic: number }
  | { op: 'quit', node: number, topic: number }
  | { op: 'kill', node: number }
  | { op: 'advance', ms: number }

const N = 8
const nodeIx = fc.integer({ min: 0, max: N - 1 })
const topicIx = fc.integer({ min: 0, max: 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('join' as const), node: nodeIx, contacts: fc.array(nodeIx, { minLength: 1, maxLength: 2 }), topic: topicIx }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('broadcast' as const), node: nodeIx, topic: topicIx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('quit' as const), node: nodeIx, topic: topicIx }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('kill' as const), node: nodeIx }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 3_000 }) }) }
)

t.test('random joins, broadcasts, quits, crashes and time in a cluster keep every node\'s invariants, and the views settle symmetric', async t => {
  let formed = 0
  let delivered = 0
  fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.array(op, { minLength: 20, maxLength: 60, size: 'max' }), (seed, ops) => {
    const c = new Cluster(seed, SMALL)
    for (let i = 0; i < N; i++) c.add(`n${i}`)
    // n0 starts both topics so that joins have somewhere to go.
    c.join('n0', [], TOPICS[0])
    c.join('n0', [], TOPICS[1])
    c.onStep = (node, inp, out) => {
      const s = c.state(node)
      const bad = [...violations(s, c.config), ...outputViolations(s, out)]
      if (bad.length > 0) throw new Error(`${node} after ${JSON.stringify(inp)}: ${bad.join('; ')}`)
    }
    for (const o of ops) {
      switch (o.op) {
        case 'join': c.join(`n${o.node}`, o.contacts.map(i => `n${i}`), TOPICS[o.topic]); break
        case 'broadcast': c.broadcast(`n${o.node}`, new Uint8Array([3]), TOPICS[o.topic]); break
        case 'quit': c.input(`n${o.node}`, { type: 'command', topic: TOPICS[o.topic] as string, command: { type: 'quit' } }); break
        case 'kill': c.kill(`n${o.node}`); break
        case 'advance': c.advance(o.ms); break
      }
      c.drain()
    }
    c.advance(10_000)
    formed += [...c.nodes].filter(([id, s]) => !c.dead.has(id) && s.topics().some(tp => (s.view(tp)?.active.length ?? 0) > 0)).length
    delivered += c.emitted.filter(e => e.event.type === 'received').length
    for (const [id, s] of c.nodes) {
      if (c.dead.has(id)) continue
      for (const topic of s.topics()) {
        for (const p of s.view(topic)?.active ?? []) {
          if (c.dead.has(p)) throw new Error(`${id} keeps dead ${p} active`)
          if (!(c.state(p).view(topic)?.active.includes(id) ?? false)) throw new Error(`${id} has ${p} active in ${topic.slice(0, 4)} but not the reverse`)
        }
      }
    }
  }), { numRuns: 200 })
  t.pass('200 random cluster runs kept every invariant')
  // Guard against a generator that never builds an overlay (the property would then hold vacuously).
  t.ok(formed > 200, `nodes had neighbours at the end (${formed} node-runs)`)
  t.ok(delivered > 200, `broadcasts were delivered (${delivered} deliveries)`)
})

t.test('nodes asking each other to be neighbours at once settle instead of bouncing forever', async t => {
  // The counterexample fast-check found (1 run in ~2,500): three nodes with room sent NEIGHBOR(low)
  // around a cycle, each accepted, each found itself full when its reply came back, each undid it.
  const ops: Op[] = [{ op: 'join', node: 3, contacts: [0], topic: 1 }, { op: 'join', node: 6, contacts: [0], topic: 0 }, { op: 'join', node: 1, contacts: [0], topic: 1 }, { op: 'join', node: 4, contacts: [1], topic: 1 }, { op: 'join', node: 2, contacts: [0], topic: 1 }, { op: 'join', node: 2, contacts: [1], topic: 0 }, { op: 'join', node: 5, contacts: [1], topic: 1 }, { op: 'advance', ms: 2866 }, { op: 'advance', ms: 1 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'quit', node: 0, topic: 0 }, { op: 'advance', ms: 1 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'advance', ms: 47 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'broadcast', node: 0, topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'quit', node: 0, topic: 1 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'advance', ms: 1 }, { op: 'advance', ms: 1 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'broadcast', node: 0, topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }]
  const c = new Cluster(4, SMALL)
  for (let i = 0; i < N; i++) c.add(`n${i}`)
  c.join('n0', [], TOPICS[0])
  c.join('n0', [], TOPICS[1])
  let steps = 0
  c.onStep = () => { if (++steps > 20_000) throw new Error('livelock: over 20,000 protocol steps') }
  for (const o of ops) {
    switch (o.op) {
      case 'join': c.join(`n${o.node}`, o.contacts.map((i: number) => `n${i}`), TOPICS[o.topic]); break
      case 'broadcast': c.broadcast(`n${o.node}`, new Uint8Array([3]), TOPICS[o.topic]); break
      case 'quit': c.input(`n${o.node}`, { type: 'command', topic: TOPICS[o.topic] as string, command: { type: 'quit' } }); break
      case 'advance': c.advance(o.ms); break
    }
    c.drain()
  }
  c.advance(10_000)
  t.ok(steps < 20_000, `the whole run took ${steps} protocol steps`)
})

t.test('a request read from a link its receiver had closed is not answered: views end symmetric', async t => {
  // A counterexample fast-check found (about 1 run in 100 of this file): n2 evicted n6 and asked
  // it again; n6 refused the first request although it had closed that link, then accepted the
  // copy resent on a new link, and n2, which had closed its end on the refusal, took the accept
  // that came over the closed link: n2 kept n6 active, n6 did not keep n2. The runtime reads
  // nothing from a link it closed; the driver now models that.
  const ops: Op[] = [{ op: 'join', node: 2, contacts: [1], topic: 0 }, { op: 'join', node: 1, contacts: [3], topic: 0 }, { op: 'join', node: 2, contacts: [1], topic: 1 }, { op: 'join', node: 5, contacts: [2, 1], topic: 1 }, { op: 'advance', ms: 2624 }, { op: 'join', node: 1, contacts: [5, 1], topic: 1 }, { op: 'advance', ms: 3 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 7, contacts: [1, 2], topic: 0 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 6, contacts: [5], topic: 1 }, { op: 'join', node: 7, contacts: [0], topic: 1 }, { op: 'broadcast', node: 0, topic: 0 }, { op: 'advance', ms: 2936 }, { op: 'advance', ms: 12 }, { op: 'advance', ms: 2648 }, { op: 'join', node: 0, contacts: [3], topic: 0 }, { op: 'join', node: 1, contacts: [7], topic: 1 }, { op: 'join', node: 5, contacts: [2], topic: 1 }, { op: 'join', node: 0, contacts: [2, 5], topic: 1 }, { op: 'join', node: 0, contacts: [0], topic: 0 }, { op: 'join', node: 0, contacts: [7], topic: 1 }, { op: 'broadcast', node: 0, topic: 0 }]
  const c = new Cluster(3, SMALL)
  for (let i = 0; i < N; i++) c.add(`n${i}`)
  c.join('n0', [], TOPICS[0])
  c.join('n0', [], TOPICS[1])
  for (const o of ops) {
    switch (o.op) {
      case 'join': c.join(`n${o.node}`, o.contacts.map((i: number) => `n${i}`), TOPICS[o.topic]); break
      case 'broadcast': c.broadcast(`n${o.node}`, new Uint8Array([3]), TOPICS[o.topic]); break
      case 'advance': c.advance(o.ms); break
    }
    c.drain()
  }
  c.advance(10_000)
  const asymmetric: string[] = []
  for (const [id, s] of c.nodes) {
    for (const topic of s.topics()) {
      for (const p of s.view(topic)?.active ?? []) if (!(c.state(p).view(topic)?.active.includes(id) ?? false)) asymmetric.push(`${id}→${p}`)
    }
  }
  t.same(asymmetric, [], 'every active link is known at both ends')
  t.ok(c.state('n2').view(TOPICS[1] as string)?.active.includes('n6'), 'n2 and n6 ended neighbours (the pair the counterexample split)')
})
