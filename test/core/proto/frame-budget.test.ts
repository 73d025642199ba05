/**
 * Every frame the protocol emits can be sent: each control message (everything but GOSSIP, whose
 * payload the runtime bounds by its message size) encodes, with the real codec, to at most the
 * configured `maxFrameBytes`, and every message, GOSSIP included, stays within the wire limits
 * the decoder enforces, whatever the peers send and however the lists are configured.
 */
import t from 'tap'
import fc from 'fast-check'
import { encodeFrame } from '../../../src/core/net/codec.js'
import { resolveConfig } from '../../../src/core/proto/config.js'
import type { PartialProtoConfig, ProtoConfig } from '../../../src/core/proto/config.js'
import { peersWithin, wireLimits } from '../../../src/core/proto/limits.js'
import { seededRng } from '../../../src/core/proto/random.js'
import { State } from '../../../src/core/proto/state.js'
import type { InEvent, Message, OutEvent, PeerInfo, Timer, TopicMessage } from '../../../src/core/proto/types.js'

const ME = 'e'.repeat(64)
const TOPIC = 'ab'.repeat(32)
const POOL = 300
const peer = (i: number): string => (i + 1).toString(16).padStart(64, '0')
const data = (bytes: number): Uint8Array => new Uint8Array(bytes).fill(0x61)

type Kind = TopicMessage<string>['type']

/** The largest encoded frame of each kind seen so far, across all runs of a test. */
class Largest {
  readonly bytes = new Map<Kind, number>()
  /** Largest size / budget, per kind. */
  readonly share = new Map<Kind, number>()

  note (kind: Kind, bytes: number, budget: number): void {
    if (bytes > (this.bytes.get(kind) ?? 0)) this.bytes.set(kind, bytes)
    if (bytes / budget > (this.share.get(kind) ?? 0)) this.share.set(kind, bytes / budget)
  }

  report (): string {
    return [...this.bytes].map(([kind, bytes]) => `${kind} ${bytes} B (${Math.round(100 * (this.share.get(kind) ?? 0))}% of its budget)`).join(', ')
  }
}

/** What is wrong with one step's outputs: a frame that does not encode, or a control frame over the budget. */
function frameViolations (out: OutEvent<string>[], config: ProtoConfig, largest: Largest): string[] {
  const bad: string[] = []
  for (const o of out) {
    if (o.type === 'peerData' && (o.data.byteLength < wireLimits.minPeerDataBytes || o.data.byteLength > wireLimits.maxPeerDataBytes)) {
      bad.push(`peerData of ${o.data.byteLength} bytes`)
    }
    if (o.type !== 'send') continue
    const kind = o.message.body.type
    let bytes: number
    try {
      bytes = encodeFrame({ type: 'proto', message: o.message }).byteLength
    } catch (err) {
      bad.push(`${kind} does not encode: ${(err as Error).message}`)
      continue
    }
    largest.note(kind, bytes, config.maxFrameBytes)
    if (kind !== 'gossip' && bytes > config.maxFrameBytes) bad.push(`${kind} of ${bytes} bytes over the budget of ${config.maxFrameBytes}`)
  }
  return bad
}

/** A node in TOPIC with `lazy` neighbours that pruned it, so every publish is announced to them by IHAVE. */
function withLazyPeers (config: ProtoConfig, lazy: number): State<string> {
  const s = new State<string>(ME, config, seededRng(1), data(300))
  s.handle({ type: 'command', topic: TOPIC, command: { type: 'join', peers: [] } }, 0)
  for (let i = 0; i < lazy; i++) {
    s.handle(recv(peer(i), { type: 'neighbor', priority: 'high', data: data(300) }), 0)
    s.handle(recv(peer(i), { type: 'prune' }), 0)
  }
  return s
}

const recv = (from: string, body: TopicMessage<string>): InEvent<string> => ({ type: 'recv', from, message: { topic: TOPIC, body } })
const dispatch: InEvent<string> = { type: 'timer', timer: { type: 'dispatchIHave', topic: TOPIC } }

/** A message id of exactly `length` UTF-16 units; `wide` ones are 3 bytes a unit in UTF-8. */
function messageId (n: number, length: number, wide: boolean): string {
  const seq = `.${n.toString(16)}`
  return (wide ? '\u20ac' : 'x').repeat(Math.max(0, length - seq.length)) + seq
}

t.test('a burst of publishes to lazy peers is announced in IHAVE frames within the budget, every id once', async t => {
  const largest = new Largest()
  let frames = 0
  fc.assert(fc.property(
    fc.integer({ min: 1024, max: 16 * 1024 }),
    fc.integer({ min: 1, max: 12 }),
    fc.integer({ min: 500, max: 3000 }),
    fc.integer({ min: 8, max: wireLimits.maxIdLength }),
    fc.boolean(),
    (budget, lazy, publishes, idLength, wide) => {
      const config = resolveConfig({ maxFrameBytes: budget, membership: { activeViewCapacity: lazy }, broadcast: { maxPendingIHaves: lazy * publishes } })
      const s = withLazyPeers(config, lazy)
      for (let n = 0; n < publishes; n++) {
        s.handle({ type: 'command', topic: TOPIC, command: { type: 'broadcast', content: data(10), id: messageId(n, idLength, wide) } }, 1)
      }
      const out = s.handle(dispatch, 6)
      const bad = frameViolations(out, config, largest)
      if (bad.length > 0) throw new Error(bad[0])
      const announced = new Map<string, number>()
      for (const o of out) {
        if (o.type !== 'send' || o.message.body.type !== 'ihave') continue
        frames++
        announced.set(o.to, (announced.get(o.to) ?? 0) + o.message.body.entries.length)
      }
      if (announced.size !== lazy) throw new Error(`IHAVEs went to ${announced.size} of ${lazy} lazy peers`)
      for (const [to, count] of announced) if (count !== publishes) throw new Error(`${to} heard of ${count} of ${publishes} ids`)
    }
  ), { numRuns: 40 })
  t.comment(`${frames} IHAVE frames; largest ${largest.report()}`)
  t.ok((largest.share.get('ihave') ?? 0) > 0.9, 'the batches were cut close to the budget, not far below it')
})

t.test('2,000 publishes at the default budget: no IHAVE frame is over 16 KiB (one of 19,772 bytes crashed a node)', async t => {
  const config = resolveConfig({ broadcast: { maxPendingIHaves: 100_000 } })
  const s = withLazyPeers(config, 1)
  for (let n = 0; n < 2000; n++) s.handle({ type: 'command', topic: TOPIC, command: { type: 'broadcast', content: data(10) } }, 1)
  const out = s.handle(dispatch, 6)
  const sizes = out.flatMap(o => o.type === 'send' ? [encodeFrame({ type: 'proto', message: o.message }).byteLength] : [])
  t.ok(sizes.length > 1, `${sizes.length} frames`)
  t.ok(Math.max(...sizes) <= 16 * 1024, `largest ${Math.max(...sizes)} bytes`)
})

t.test('a GOSSIP at the largest round is delivered, forwarded, announced and re-sent at that round', async t => {
  const [a, b, c] = [peer(0), peer(1), peer(2)]
  const s = withLazyPeers(resolveConfig(), 0)
  for (const p of [a, b, c]) s.handle(recv(p, { type: 'neighbor', priority: 'high' }), 0)
  s.handle(recv(c, { type: 'prune' }), 0)
  const out = s.handle(recv(a, { type: 'gossip', id: 'm', origin: a, content: data(5), round: wireLimits.maxRound }), 1)
  const delivered = out.flatMap(o => o.type === 'emit' && o.event.type === 'received' ? [o.event.hops] : [])
  t.same(delivered, [wireLimits.maxRound], 'delivered once, its hop count saturated')
  const sent: Message<string>[] = []
  const keep = (events: OutEvent<string>[]): void => { for (const o of events) if (o.type === 'send') sent.push(o.message) }
  keep(out)
  keep(s.handle(dispatch, 6))
  keep(s.handle(recv(c, { type: 'graft', id: 'm', round: 0 }), 7))
  t.same(sent.map(m => m.body.type), ['gossip', 'ihave', 'gossip'], 'forwarded to b, announced to c, re-sent to c on its GRAFT')
  for (const m of sent) {
    const round = m.body.type === 'ihave' ? [...m.body.entries][0]?.round : (m.body as { round: number }).round
    t.equal(round, wireLimits.maxRound, `${m.body.type} carries the largest round`)
    t.doesNotThrow(() => encodeFrame({ type: 'proto', message: m }), `${m.body.type} encodes`)
  }
})

t.test('SHUFFLE, SHUFFLE_REPLY and DISCONNECT lists are cut to what fits in the budget, whatever the counts configured', async t => {
  for (const budget of [1024, 4096, 16 * 1024]) {
    const cap = peersWithin(budget)
    const cfg = resolveConfig({
      maxFrameBytes: budget,
      membership: { activeViewCapacity: 3, passiveViewCapacity: 300, shuffleActiveViewCount: 1000, shufflePassiveViewCount: 1000, disconnectSampleSize: 1000, shuffleInterval: 100 }
    })
    const s = new State<string>(ME, cfg, seededRng(2), data(300))
    s.handle({ type: 'command', topic: TOPIC, command: { type: 'join', peers: [] } }, 0)
    // Shuffles of the most peers the decoder takes: the first fills the passive view, the answer to
    // the second is cut.
    const many = (first: number): PeerInfo<string>[] => Array.from({ length: wireLimits.maxPeers }, (_, i) => ({ id: peer(first + i), data: data(300) }))
    s.handle(recv(peer(1), { type: 'shuffle', origin: { id: peer(1) }, nodes: many(300), ttl: 0 }), 1)
    const reply = s.handle(recv(peer(0), { type: 'shuffle', origin: { id: peer(0) }, nodes: many(10), ttl: 0 }), 1)
    for (const p of [peer(2), peer(3), peer(4)]) s.handle(recv(p, { type: 'neighbor', priority: 'high' }), 2)
    const forwarded = s.handle(recv(peer(2), { type: 'shuffle', origin: { id: peer(5) }, nodes: many(10), ttl: 3 }), 3)
    const evicting = s.handle(recv(peer(6), { type: 'neighbor', priority: 'high' }), 4)
    const shuffling = s.handle({ type: 'timer', timer: { type: 'shuffle', topic: TOPIC } }, 1000)
    const lists: Array<[string, OutEvent<string>[]]> = [['shuffleReply', reply], ['forwarded shuffle', forwarded], ['disconnect sample', evicting], ['own shuffle', shuffling]]
    for (const [what, out] of lists) {
      const sent = out.flatMap(o => o.type === 'send' && ['shuffle', 'shuffleReply', 'disconnect'].includes(o.message.body.type) ? [o.message] : [])
      t.equal(sent.length, 1, `${what}: one message`)
      const b = sent[0]?.body
      const list = b?.type === 'shuffle' || b?.type === 'shuffleReply' ? b.nodes : b?.type === 'disconnect' ? b.sample : undefined
      const size = sent[0] === undefined ? 0 : encodeFrame({ type: 'proto', message: sent[0] }).byteLength
      t.equal(list?.length, cap, `${what} at a budget of ${budget}: ${cap} peers, ${size} bytes`)
      t.ok(size <= budget, 'within the budget')
    }
  }
})

t.test('walk lengths configured beyond what the wire carries go out at its largest TTL', async t => {
  const cfg = resolveConfig({ membership: { activeRandomWalkLength: 1000, shuffleRandomWalkLength: 1000, shuffleInterval: 100 } })
  const s = new State<string>(ME, cfg, seededRng(3))
  s.handle({ type: 'command', topic: TOPIC, command: { type: 'join', peers: [] } }, 0)
  for (const p of [peer(0), peer(1)]) s.handle(recv(p, { type: 'neighbor', priority: 'high' }), 0)
  const out = [...s.handle(recv(peer(2), { type: 'join' }), 1), ...s.handle({ type: 'timer', timer: { type: 'shuffle', topic: TOPIC } }, 1000)]
  const ttls = out.flatMap(o => o.type === 'send' && (o.message.body.type === 'forwardJoin' || o.message.body.type === 'shuffle') ? [[o.message.body.type, o.message.body.ttl]] : [])
  t.same(ttls, [['forwardJoin', wireLimits.maxTtl], ['forwardJoin', wireLimits.maxTtl], ['shuffle', wireLimits.maxTtl]])
})

t.test('peer data the decoder would refuse is neither sent on nor reported as an address', async t => {
  const s = new State<string>(ME, resolveConfig(), seededRng(4), data(301))
  const out = [
    ...s.handle({ type: 'command', topic: TOPIC, command: { type: 'join', peers: [{ id: peer(0) }] } }, 0),
    ...s.handle(recv(peer(1), { type: 'neighbor', priority: 'high', data: new Uint8Array(0) }), 0),
    ...s.handle(recv(peer(2), { type: 'join', data: data(1024) }), 0)
  ]
  t.same(out.filter(o => o.type === 'peerData'), [], 'no address learnt')
  for (const o of out) {
    if (o.type !== 'send') continue
    t.doesNotThrow(() => encodeFrame({ type: 'proto', message: o.message }), `${o.message.body.type} encodes`)
  }
})

// -------------------------------------------------------------------------------------------
// One node, arbitrary inputs and configurations
// -------------------------------------------------------------------------------------------

const peerIx = fc.nat({ max: POOL - 1 })
/** Mostly a dozen peers, so that the same ones become neighbours, then lazy, then leave. */
const sender = fc.oneof({ weight: 4, arbitrary: fc.nat({ max: 11 }) }, { weight: 1, arbitrary: peerIx }).map(peer)
const peerData = fc.option(fc.oneof(fc.constant(wireLimits.maxPeerDataBytes), fc.integer({ min: 1, max: wireLimits.maxPeerDataBytes })).map(data), { nil: undefined })
const info: fc.Arbitrary<PeerInfo<string>> = fc.record({ id: peerIx.map(peer), data: peerData })
/** A few peers, or up to the most the decoder takes, all with the largest peer data. */
const infos: fc.Arbitrary<PeerInfo<string>[]> = fc.oneof(
  { weight: 3, arbitrary: fc.array(info, { maxLength: 6 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(peerIx, fc.integer({ min: 0, max: wireLimits.maxPeers })).map(([first, n]) =>
      Array.from({ length: n }, (_, i) => ({ id: peer((first + i) % POOL), data: data(wireLimits.maxPeerDataBytes) })))
  }
)
/** Ids repeat (a small pool, so IHAVEs and duplicates meet seen ids), up to the longest and widest the decoder takes. */
const msgId = fc.oneof(
  fc.constantFrom('m0', 'm1', 'x'.repeat(wireLimits.maxIdLength), '\u20ac'.repeat(wireLimits.maxIdLength)),
  fc.string({ minLength: 1, maxLength: wireLimits.maxIdLength }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: wireLimits.maxIdLength / 2 })
)
const round = fc.oneof(fc.nat({ max: 10 }), fc.constant(wireLimits.maxRound), fc.nat({ max: wireLimits.maxRound }))
const ttl = fc.nat({ max: wireLimits.maxTtl })

const body: fc.Arbitrary<TopicMessage<string>> = fc.oneof(
  fc.record({ type: fc.constant('join' as const), data: peerData }),
  fc.record({ type: fc.constant('forwardJoin' as const), peer: info, ttl }),
  { weight: 3, arbitrary: fc.record({ type: fc.constant('neighbor' as const), priority: fc.constantFrom('high' as const, 'low' as const), data: peerData }) },
  fc.record({ type: fc.constant('neighborReply' as const), accepted: fc.boolean() }),
  { weight: 3, arbitrary: fc.record({ type: fc.constant('shuffle' as const), origin: info, nodes: infos, ttl }) },
  fc.record({ type: fc.constant('shuffleReply' as const), nodes: infos }),
  fc.record({ type: fc.constant('disconnect' as const), alive: fc.boolean(), sample: fc.option(infos, { nil: undefined }) }),
  { weight: 2, arbitrary: fc.record({ type: fc.constant('gossip' as const), id: msgId, origin: peerIx.map(peer), content: fc.constant(data(3)), round }) },
  fc.record({ type: fc.constant('ihave' as const), entries: fc.array(fc.record({ id: msgId, round }), { maxLength: 20, size: 'max' }) }),
  fc.record({ type: fc.constant('graft' as const), id: fc.option(msgId, { nil: undefined }), round }),
  fc.record({ type: fc.constant('graft' as const), id: msgId, round, pull: fc.constant(true) }),
  { weight: 3, arbitrary: fc.constant({ type: 'prune' as const }) }
)

type Step =
  | { step: 'input', input: InEvent<string> }
  /** Fire the k-th pending timer (mod their number), at its due time. */
  | { step: 'fire', k: number }
  | { step: 'burst', count: number, idLength: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ from: sender, body }).map(({ from, body }) => ({ step: 'input' as const, input: recv(from, body) })) },
  { weight: 1, arbitrary: fc.array(info, { maxLength: 3 }).map(peers => ({ step: 'input' as const, input: { type: 'command' as const, topic: TOPIC, command: { type: 'join' as const, peers } } })) },
  { weight: 2, arbitrary: fc.option(msgId, { nil: undefined }).map(id => ({ step: 'input' as const, input: { type: 'command' as const, topic: TOPIC, command: { type: 'broadcast' as const, content: data(3), id } } })) },
  { weight: 1, arbitrary: sender.map(p => ({ step: 'input' as const, input: { type: 'peerDisconnected' as const, peer: p } })) },
  { weight: 6, arbitrary: fc.nat().map(k => ({ step: 'fire' as const, k })) },
  { weight: 1, arbitrary: fc.record({ step: fc.constant('burst' as const), count: fc.integer({ min: 100, max: 2000 }), idLength: fc.integer({ min: 8, max: wireLimits.maxIdLength }) }) }
)

/** Budgets from the smallest allowed up, and list sizes and walk lengths far beyond what fits. */
const config: fc.Arbitrary<PartialProtoConfig> = fc.record({
  maxFrameBytes: fc.oneof(fc.constant(1024), fc.integer({ min: 1024, max: 16 * 1024 }), fc.constant(16 * 1024)),
  membership: fc.record({
    activeViewCapacity: fc.integer({ min: 1, max: 30 }),
    passiveViewCapacity: fc.integer({ min: 0, max: 300 }),
    shuffleActiveViewCount: fc.integer({ min: 0, max: 1000 }),
    shufflePassiveViewCount: fc.integer({ min: 0, max: 1000 }),
    disconnectSampleSize: fc.integer({ min: 0, max: 1000 }),
    activeRandomWalkLength: fc.integer({ min: 0, max: 1000 }),
    passiveRandomWalkLength: fc.integer({ min: 0, max: 6 }),
    shuffleRandomWalkLength: fc.integer({ min: 0, max: 1000 }),
    shuffleInterval: fc.constant(100)
  }),
  broadcast: fc.record({ maxPendingIHaves: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(50_000)) })
})

t.test('whatever a node is sent and however its lists are configured, every frame it emits encodes, control frames within the budget', async t => {
  const largest = new Largest()
  /** SHUFFLE, SHUFFLE_REPLY and DISCONNECT lists that reached the most the budget allows. */
  let fullLists = 0
  // A fixed seed: with a fresh one per run the coverage guards below failed about once in dozens
  // of runs (no IHAVE batch near the budget), a failure of the generator, not of the code.
  fc.assert(fc.property(fc.integer(), config, fc.array(step, { minLength: 20, maxLength: 120, size: 'max' }), (seed, partial, steps) => {
    const cfg = resolveConfig(partial)
    const s = new State<string>(ME, cfg, seededRng(seed), data(wireLimits.maxPeerDataBytes))
    const timers: Array<{ due: number, timer: Timer<string> }> = []
    let now = 0
    let published = 0
    const run = (input: InEvent<string>): void => {
      const out = s.handle(input, now)
      const bad = frameViolations(out, cfg, largest)
      if (bad.length > 0) throw new Error(`after ${input.type}: ${bad.join('; ')}`)
      for (const o of out) {
        if (o.type === 'schedule') timers.push({ due: now + o.after, timer: o.timer })
        if (o.type !== 'send') continue
        const b = o.message.body
        const list = b.type === 'shuffle' || b.type === 'shuffleReply' ? b.nodes : b.type === 'disconnect' ? b.sample : undefined
        if (list !== undefined && list.length === peersWithin(cfg.maxFrameBytes)) fullLists++
      }
    }
    run({ type: 'command', topic: TOPIC, command: { type: 'join', peers: [{ id: peer(0), data: data(300) }] } })
    for (const st of steps) {
      if (st.step === 'input') {
        run(st.input)
      } else if (st.step === 'fire') {
        if (timers.length === 0) continue
        const [fired] = timers.splice(st.k % timers.length, 1)
        if (fired === undefined) continue
        now = Math.max(now, fired.due)
        run({ type: 'timer', timer: fired.timer })
      } else {
        for (let n = 0; n < st.count; n++, published++) {
          run({ type: 'command', topic: TOPIC, command: { type: 'broadcast', content: data(3), id: messageId(published, st.idLength, n % 2 === 0) } })
        }
      }
    }
  }), { numRuns: 150, seed: 20261130 })
  t.comment(`largest frames: ${largest.report()}`)
  // Guards against generators that never reach the limits (the property would then hold vacuously).
  t.ok(fullLists > 50, `${fullLists} peer lists were cut to the most the budget allows`)
  t.ok((largest.share.get('ihave') ?? 0) > 0.5, 'IHAVE batches came close to the budget')
  t.ok((largest.share.get('shuffle') ?? 0) > 0.5, 'SHUFFLE frames came close to the budget')
})
