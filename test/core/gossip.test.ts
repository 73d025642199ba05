import t from 'tap'
import { Gossip } from '../../src/core/gossip.js'
import { GossipError, MessageTooLargeError } from '../../src/core/errors.js'
import type { GossipEvent } from '../../src/core/api.js'
import { SECRET, collect, oneOverlay, spawnCluster, spawnNode, waitFor } from '../fixtures/cluster.js'
import { randomBytes } from 'node:crypto'
import { State } from '../../src/core/proto/state.js'
import { resolveConfig } from '../../src/core/proto/config.js'
import { seededRng } from '../../src/core/proto/random.js'
import { generateKeyPair, nodeIdOf } from '../../src/core/net/identity.js'
import { recordingLogger } from '../fixtures/net.js'
import type { LogEntry } from '../fixtures/net.js'
import { topicKey } from '../../src/core/discovery/topic-key.js'

t.test('five nodes: every node receives every message of the topics it joined, and none of the others', async t => {
  const nodes = await spawnCluster(5)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  // Nodes 0-3 want "chat"; nodes 1-4 want "presence".
  const chat = await Promise.all(nodes.slice(0, 4).map(async n => await n.stream('chat')))
  const presence = await Promise.all(nodes.slice(1, 5).map(async n => await n.stream('presence')))
  const chatIn = chat.map(h => collect(h))
  const presenceIn = presence.map(h => collect(h))
  // Once measured in a full run: one message lost for good, published while a topic's overlay was
  // still two parts (each with neighbours). The healer joins them; what was published before is gone.
  const chatOverlay = chat.map((handle, i) => ({ node: nodes[i]!, handle }))
  const presenceOverlay = presence.map((handle, i) => ({ node: nodes[i + 1]!, handle }))
  await waitFor(() => oneOverlay(chatOverlay) && oneOverlay(presenceOverlay), 'one overlay in each topic')

  for (const [i, h] of chat.entries()) await h.publish(`chat from ${i}`)
  for (const [i, h] of presence.entries()) await h.publish(`presence from ${i + 1}`)

  await waitFor(() => chatIn.every(inbox => inbox.messages.length >= 3) && presenceIn.every(inbox => inbox.messages.length >= 3), 'every message delivered')
  for (const [i, inbox] of chatIn.entries()) {
    t.same(inbox.texts().sort(), [0, 1, 2, 3].filter(j => j !== i).map(j => `chat from ${j}`), `chat node ${i} got the three others' messages only`)
  }
  for (const [i, inbox] of presenceIn.entries()) {
    t.same(inbox.texts().sort(), [1, 2, 3, 4].filter(j => j !== i + 1).map(j => `presence from ${j}`), `presence node ${i + 1} got the three others' messages only`)
  }
  t.equal(chatIn[0]!.messages[0]!.topic, chat[0]!.topic, 'messages carry their topic')
})

t.test('the same bytes published twice are delivered twice', async t => {
  const nodes = await spawnCluster(2)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const [a, b] = await Promise.all(nodes.map(async n => await n.stream('dup')))
  const inbox = collect(b!)
  await waitFor(() => a!.neighbours().length > 0, 'a neighbour')
  await a!.publish('same')
  await a!.publish('same')
  await waitFor(() => inbox.messages.length === 2, 'two deliveries')
  t.not(inbox.messages[0]!.id, inbox.messages[1]!.id, 'two ids')
  t.equal(inbox.messages[0]!.origin, nodes[0]!.nodeId)
  t.equal(inbox.messages[0]!.hops, 1, 'a direct neighbour of the origin receives at hop 1')
})

t.test('a publish before the first neighbour is queued and delivered once the topic has one', async t => {
  const first = await spawnNode()
  t.teardown(async () => await first.close())
  const lonely = await first.stream('early')
  await lonely.publish('sent before anyone was there')
  const second = await spawnNode({ seeds: [first.address] })
  t.teardown(async () => await second.close())
  const inbox = collect(await second.stream('early'))
  await waitFor(() => inbox.messages.length === 1, 'the queued message')
  t.same(inbox.texts(), ['sent before anyone was there'])
})

t.test('an oversized publish rejects with a typed error and sends nothing', async t => {
  const nodes = await spawnCluster(2, { maxMessageSize: 1024 })
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const [a, b] = await Promise.all(nodes.map(async n => await n.stream('big')))
  const inbox = collect(b!)
  await waitFor(() => a!.neighbours().length > 0, 'a neighbour')
  await t.rejects(a!.publish(new Uint8Array(1025)), { code: 'ERR_GOSSIP_MESSAGE_TOO_LARGE', size: 1025, limit: 1024 })
  t.ok(MessageTooLargeError.prototype instanceof GossipError)
  await a!.publish('small after big')
  await waitFor(() => inbox.messages.length >= 1, 'the small message')
  t.same(inbox.texts(), ['small after big'], 'only the small message arrived')
})

t.test('a slow subscriber is told how many messages it missed, and its buffer stays bounded', async t => {
  const nodes = await spawnCluster(2)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const [a, b] = await Promise.all(nodes.map(async n => await n.stream('lag')))
  const fast = collect(b!)
  const slow = b!.subscribe({ bufferSize: 10 })
  await waitFor(() => a!.neighbours().length > 0, 'a neighbour')
  for (let i = 0; i < 100; i++) await a!.publish(`m${i}`)
  await waitFor(() => fast.messages.length === 100, 'the fast subscriber got everything')
  const it = slow[Symbol.asyncIterator]()
  const first = await it.next()
  t.same(first.value, { type: 'lagged', dropped: 90 }, 'the slow one first reads how many it lost')
  const rest: string[] = []
  for (let i = 0; i < 10; i++) {
    const r = await it.next()
    if (r.value?.type === 'message') rest.push(Buffer.from(r.value.content).toString())
  }
  t.same(rest, Array.from({ length: 10 }, (_, i) => `m${90 + i}`), 'then the newest ten')
  slow.close()
})

t.test('a node with the wrong secret cannot join: it does not start, naming the option; the cluster keeps working', async t => {
  const nodes = await spawnCluster(2)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  await t.rejects(spawnNode({ secret: 'wrong', seeds: [nodes[0]!.address] }), { code: 'ERR_GOSSIP_HANDSHAKE', message: /option "secret"/ })
  const [a, b] = await Promise.all(nodes.map(async n => await n.stream('private')))
  const inbox = collect(b!)
  await waitFor(() => a!.neighbours().length > 0, 'a neighbour')
  await a!.publish('for members only')
  await waitFor(() => inbox.messages.length === 1, 'the member got it')
  t.equal(nodes[0]!.peers().length, 1, 'the first node is linked to the member only')
})

t.test('a refused handshake is logged on both sides naming the other\'s address and node id', async t => {
  const member = recordingLogger()
  const stranger = recordingLogger()
  const a = await spawnNode({ logger: member.logger })
  t.teardown(async () => await a.close())
  const keyPair = generateKeyPair()
  await t.rejects(spawnNode({ secret: 'wrong', seeds: [a.address], logger: stranger.logger, keyPair }), { code: 'ERR_GOSSIP_HANDSHAKE' })
  const refusals = (entries: LogEntry[]): Array<Record<string, unknown>> =>
    entries.filter(e => e.level === 'warn' && e.msg?.startsWith('link refused') === true).map(e => e.obj as Record<string, unknown>)
  await waitFor(() => refusals(member.entries).length > 0, 'the member to log the refusal')
  const byMember = refusals(member.entries)[0]!
  const byStranger = refusals(stranger.entries)[0]!
  t.match(byMember, { direction: 'inbound', remote: /^127\.0\.0\.1:\d+$/, peer: nodeIdOf(keyPair.publicKey) }, 'the refusing side names the stranger')
  t.match(byStranger, { direction: 'outbound', remote: a.address, peer: a.nodeId }, 'the refused side names the member it tried')
})

t.test('events: joined, neighbourUp, then neighbourDown(leave) and left on a graceful close', async t => {
  const a = await spawnNode()
  t.teardown(async () => await a.close())
  const events: GossipEvent[] = []
  const stream = a.events()
  void (async () => { for await (const e of stream) if (e.type !== 'lagged') events.push(e) })()
  const ha = await a.stream('ev')
  const b = await spawnNode({ seeds: [a.address] })
  await b.stream('ev')
  await waitFor(() => events.some(e => e.type === 'neighbourUp'), 'neighbourUp')
  t.ok(events.some(e => e.type === 'joined' && e.topic === ha.topic), 'joined')
  await b.close()
  await waitFor(() => events.some(e => e.type === 'neighbourDown'), 'neighbourDown')
  const down = events.find(e => e.type === 'neighbourDown')
  t.match(down, { type: 'neighbourDown', peer: b.nodeId, reason: 'leave' })
  await ha.close()
  await waitFor(() => events.some(e => e.type === 'left'), 'left')
  stream.close()
})

t.test('options are validated with a code that names the option', async t => {
  await t.rejects(Gossip.spawn({ secret: '' }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /secret/ })
  await t.rejects(Gossip.spawn({ secret: SECRET, port: 70000 }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /port/ })
  await t.rejects(Gossip.spawn({ secret: SECRET, seeds: ['nope'] }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /seeds/ })
  await t.rejects(Gossip.spawn({ secret: SECRET, protocol: { maxFrameBytes: 100 } }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /protocol.*maxFrameBytes/ })
})

t.test('after close, the API rejects with ERR_GOSSIP_CLOSED', async t => {
  const a = await spawnNode()
  const h = await a.stream('x')
  await a.close()
  await a.close()
  await t.rejects(a.stream('y'), { code: 'ERR_GOSSIP_CLOSED' })
  await t.rejects(h.publish('z'), { code: 'ERR_GOSSIP_CLOSED' })
})

t.test('a topic given as 32 bytes is used as it is; other lengths are refused', async t => {
  const a = await spawnNode()
  t.teardown(async () => await a.close())
  const h = await a.stream(new Uint8Array(32).fill(1))
  t.equal(h.topic, '01'.repeat(32))
  await t.rejects(a.stream(new Uint8Array(5)), { code: 'ERR_GOSSIP_INVALID_TOPIC' })
})

t.test("a publish reaches the node's other handles of the topic at once, never the publishing handle", async t => {
  const nodes = await spawnCluster(2)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const [route, bridge] = [await nodes[0]!.stream('local'), await nodes[0]!.stream('local')]
  const remote = await nodes[1]!.stream('local')
  const routeIn = collect(route!)
  const bridgeIn = collect(bridge!)
  const remoteIn = collect(remote)
  await route!.publish('before any neighbour')
  await waitFor(() => bridgeIn.messages.length === 1, 'the sibling handle got it')
  t.match(bridgeIn.messages[0], { origin: nodes[0]!.nodeId, hops: 0 })
  await waitFor(() => remoteIn.messages.length === 1, 'the remote node got it once the topic had a neighbour')
  await bridge!.publish('from the other handle')
  await waitFor(() => routeIn.messages.length === 1 && remoteIn.messages.length === 2, 'both ways')
  t.same(routeIn.texts(), ['from the other handle'])
  t.same(bridgeIn.texts(), ['before any neighbour'], 'a handle never gets its own publish')
  t.same(remoteIn.texts(), ['before any neighbour', 'from the other handle'], 'the network delivers each once')
})

t.test('sendDirect reaches one node only, and refuses a node it has no way to reach', async t => {
  const nodes = await spawnCluster(3)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const handles = await Promise.all(nodes.map(async n => await n.stream('direct')))
  const inboxes = handles.map(h => collect(h))
  await waitFor(() => handles.every(h => h.neighbours().length > 0), 'neighbours')
  await nodes[1]!.sendDirect(nodes[2]!.nodeId, 'direct', 'for node 2 only')
  await waitFor(() => inboxes[2]!.messages.length === 1, 'delivery to node 2')
  t.match(inboxes[2]!.messages[0], { origin: nodes[1]!.nodeId, hops: 0 })
  t.equal(inboxes[0]!.messages.length, 0, 'node 0 got nothing')
  await t.rejects(nodes[0]!.sendDirect('ab'.repeat(32), 'direct', 'x'), { code: 'ERR_GOSSIP_UNKNOWN_PEER' })
})

/** Closes `a`'s link to `b` (internal): `a`'s next frame for `b` dials it again. */
function dropLink (a: Gossip, b: Gossip): void {
  const transport = (a as unknown as { transport: { links: Map<string, { close: (reason: string) => void }> } }).transport
  transport.links.get(b.nodeId)!.close('gone for the test')
}

t.test('direct messages for a peer being dialled wait for the link, up to half a link\'s write budget in bytes: a burst of 3,000 small ones all arrive', async t => {
  const nodes = await spawnCluster(2)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const [a, b] = nodes as [Gossip, Gossip]
  const handles = await Promise.all(nodes.map(async n => await n.stream('burst')))
  // Room for the whole burst: it comes in one read, faster than a subscriber takes it.
  const inbox = collect(handles[1]!, 4096)
  await waitFor(() => handles.every(h => h.neighbours().length > 0), 'neighbours')
  // The link goes (as after a failure): the next direct message dials again, and the burst waits.
  dropLink(a, b)
  const BURST = 3_000
  for (let i = 0; i < BURST; i++) void a.sendDirect(b.nodeId, 'burst', `m${i}`)
  t.ok(a.stats().queues.dialQueued > 1024, `queued while dialling: ${a.stats().queues.dialQueued} frames`)
  await waitFor(() => inbox.messages.length >= BURST, `all ${BURST} at b`)
  t.same(inbox.texts(), Array.from({ length: BURST }, (_, i) => `m${i}`), 'each once, in order')
})

t.test('past that budget, frames for a peer being dialled are dropped with a warning that counts them; the ones that fit arrive in order', async t => {
  const log = recordingLogger()
  const LINK_BUDGET = 64 * 1024
  const a = await spawnNode({ logger: log.logger, linkWriteBufferBytes: LINK_BUDGET })
  const b = await spawnNode({ seeds: [a.address] })
  t.teardown(async () => { await Promise.all([a, b].map(async n => await n.close())) })
  const handles = await Promise.all([a, b].map(async n => await n.stream('burst')))
  const inbox = collect(handles[1]!, 4096)
  await waitFor(() => handles.every(h => h.neighbours().length > 0), 'neighbours')
  dropLink(a, b)
  const BURST = 3_000
  const text = (i: number): string => `m${i}`.padEnd(100, '.')
  for (let i = 0; i < BURST; i++) void a.sendDirect(b.nodeId, 'burst', text(i))
  await waitFor(() => log.entries.some(e => e.msg?.startsWith('frames for a peer being dialled dropped') === true), 'the warning')
  const warning = log.entries.find(e => e.msg?.startsWith('frames for a peer being dialled dropped') === true)!
  const dropped = (warning.obj as { dropped: number }).dropped
  // Sent on the same link after the queue: once it is in, everything the queue held is too.
  await handles[0]!.publish('and the link works')
  await waitFor(() => inbox.texts().includes('and the link works'), 'a publish after it')
  const arrived = inbox.texts().filter(x => x !== 'and the link works')
  t.ok(arrived.length > 0 && arrived.length < BURST, `${arrived.length} of ${BURST} arrived`)
  t.same(arrived, Array.from({ length: arrived.length }, (_, i) => text(i)), 'the first ones, in order, each once')
  // The count may include a protocol frame that came while the queue was full.
  t.ok(dropped >= BURST - arrived.length, `the warning counts ${dropped} dropped`)
  t.ok(arrived.length * 100 <= LINK_BUDGET / 2, 'no more than half the link\'s budget waited')
})

t.test('direct messages for a peer that cannot be dialled are counted in a warning, and the node goes on', async t => {
  const log = recordingLogger()
  const a = await spawnNode({ logger: log.logger })
  const b = await spawnNode({ seeds: [a.address] })
  const c = await spawnNode({ seeds: [a.address] })
  t.teardown(async () => { await Promise.all([a, b, c].map(async n => await n.close())) })
  const handles = await Promise.all([a, b, c].map(async n => await n.stream('gone')))
  await waitFor(() => handles.every(h => h.neighbours().length > 0), 'neighbours')
  const gone = b.nodeId
  await b.close()
  await waitFor(() => !handles[0]!.neighbours().includes(gone), 'a saw b go')
  // a still knows where b listened: the messages wait for a dial that is refused.
  for (let i = 0; i < 5; i++) await a.sendDirect(gone, 'gone', `m${i}`)
  await waitFor(() => log.entries.some(e => e.msg === 'direct messages not sent: the peer could not be dialled'), 'the warning')
  const warning = log.entries.find(e => e.msg === 'direct messages not sent: the peer could not be dialled')!
  t.match(warning, { level: 'warn', obj: { peer: gone, lost: 5 } })
  const inbox = collect(handles[2]!)
  await handles[0]!.publish('still here')
  await waitFor(() => inbox.texts().includes('still here'), 'a still publishes to c')
})

t.test('message ids carry a 128-bit prefix from crypto: nodes never share one, even with the same protocol seed', async t => {
  const nodes = await spawnCluster(3)
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const handles = await Promise.all(nodes.map(async n => await n.stream('ids')))
  const inbox = collect(handles[0]!)
  await waitFor(() => handles.every(h => h.neighbours().length > 0), 'neighbours')
  await handles[1]!.publish('from 1')
  await handles[2]!.publish('from 2')
  await waitFor(() => inbox.messages.length === 2, 'both messages')
  const prefixes = inbox.messages.map(m => m.id.split('.')[0]!)
  for (const p of prefixes) t.match(p, /^[A-Za-z0-9_-]{22}$/, '22 base64url characters: 128 bits')
  t.not(prefixes[0], prefixes[1], 'two nodes, two prefixes')
  // The protocol's own rng is seeded; the prefix must not come from it.
  const same = seededRng(42)
  const again = seededRng(42)
  const a = new State('a', resolveConfig(), same, undefined, randomBytes(16).toString('hex'))
  const b = new State('b', resolveConfig(), again, undefined, randomBytes(16).toString('hex'))
  t.not(a.messageIdPrefix(), b.messageIdPrefix(), 'the same seed with prefixes from crypto: different ids')
  t.equal(new State('a', resolveConfig(), seededRng(42)).messageIdPrefix(), new State('b', resolveConfig(), seededRng(42)).messageIdPrefix(),
    'whereas a prefix drawn from the seed repeats (the simulator relies on that for reproducible runs)')
})

t.test('leaving a topic tells the peers before the link it no longer needs closes: they stop naming us for it', async t => {
  // c is only the seed: a and b find each other through it, and keep their links to it, so
  // neither is ever alone and re-dials the other once their own link closes.
  const [c, a, b] = await spawnCluster(3)
  t.teardown(async () => { await Promise.all([a, b, c].map(async n => await n!.close())) })
  const ha = await a!.stream('leaving')
  const hb = await b!.stream('leaving')
  await waitFor(() => ha.neighbours().includes(b!.nodeId) && hb.neighbours().includes(a!.nodeId), 'a and b neighbours in the topic')
  const inside = (n: Gossip): { interestedIn: (topic: string) => string[], linked: (peer: string) => boolean } => {
    const internals = n as unknown as { discovery: { interestedIn: (topic: string) => string[] }, transport: { links: Map<string, unknown> } }
    return { interestedIn: topic => internals.discovery.interestedIn(topicKey(topic)), linked: peer => internals.transport.links.has(peer) }
  }
  t.ok(inside(b!).interestedIn(hb.topic).includes(a!.nodeId), 'b knows a wants the topic')

  await ha.close()
  // The topic was the a-b link's only reason: it closes. What b was told before is all it has.
  await waitFor(() => !inside(b!).linked(a!.nodeId), 'the link a no longer needs to close')
  t.notOk(inside(b!).interestedIn(hb.topic).includes(a!.nodeId), 'b no longer names a as interested in the topic')
})

t.test('an effect or a frame that fails is logged and costs only the link concerned; the node goes on', async t => {
  const log = recordingLogger()
  const a = await spawnNode({ logger: log.logger })
  const b = await spawnNode({ seeds: [a.address] })
  const c = await spawnNode({ seeds: [a.address] })
  t.teardown(async () => { await Promise.all([a, b, c].map(async n => await n.close())) })
  const [ha, hb, hc] = await Promise.all([a, b, c].map(async n => await n.stream('guarded')))
  await waitFor(() => ha!.neighbours().length === 2, 'a to have b and c as neighbours')
  const atB = collect(hb!)
  const atC = collect(hc!)
  const failures = (): LogEntry[] => log.entries.filter(e => e.level === 'error' && e.msg?.startsWith('gossip node failed on') === true)

  // Sending to b fails inside the node (as a bug would), once.
  const inner = a as unknown as { execute: (out: { type: string, to?: string }) => void, onFrame: (peer: string, frame: { type: string }) => void }
  const execute = inner.execute.bind(a)
  let failSend = true
  inner.execute = out => {
    if (failSend && out.type === 'send' && out.to === b.nodeId) {
      failSend = false
      throw new Error('injected send failure')
    }
    execute(out)
  }
  await ha!.publish('first')
  await waitFor(() => atC.texts().includes('first'), 'c to get the message all the same')
  await waitFor(() => failures().length === 1, 'the failure to be logged')
  t.match(failures()[0], { msg: 'gossip node failed on protocol send', obj: { peer: b.nodeId } })

  // Reading a frame from c fails, once.
  const onFrame = inner.onFrame.bind(a)
  let failFrame = true
  inner.onFrame = (peer, frame) => {
    if (failFrame && peer === c.nodeId) {
      failFrame = false
      throw new Error('injected frame failure')
    }
    onFrame(peer, frame)
  }
  await hc!.publish('from c')
  await waitFor(() => failures().length === 2, 'the second failure to be logged')
  t.match(failures()[1], { msg: /^gossip node failed on \w+ frame$/, obj: { peer: c.nodeId } })

  // Still a working node: everyone gets what it publishes once the overlay has mended.
  await waitFor(() => ha!.neighbours().length > 0, 'a to have a neighbour again')
  const atA = collect(ha!)
  await waitFor(async () => {
    await ha!.publish('after')
    await hb!.publish('to a')
    return atA.texts().includes('to a') && (atB.texts().includes('after') || atC.texts().includes('after'))
  }, 'a to publish and receive again')
  t.pass('the node survived both failures')
})
