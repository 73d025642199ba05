/**
 * An insider that holds the cluster secret lies to the adapter: three Socket.IO servers over real
 * gossip nodes on 127.0.0.1, clients on each, and an attacker node in the adapter's topic that
 * publishes (and sends directly) envelopes made with the adapter's own encoder. After each forgery,
 * `serverCount()`, `fetchSockets()` and cross-server delivery are exactly what they were before,
 * one heartbeat interval after the servers have received it.
 *
 * The attacker's messages carry its own node id as their origin. Forging the origin of an overlay
 * message (which the gossip layer does not authenticate yet) is staged in the last test with the
 * in-process stand-in: the sequence window still keeps a forged number from silencing a server.
 */
import t from 'tap'
import type { Test } from 'tap'
import { MessageType } from 'socket.io-adapter'
import { adapterTopic, createAdapter } from '../../src/adapter/index.js'
import type { AdapterOptions, GossipAdapter, OrderStats, TrustStats } from '../../src/adapter/index.js'
import { encodeMessage } from '../../src/adapter/envelope.js'
import { memoryNodes } from '../fixtures/adapter-nodes.js'
import { forgedBroadcast, hostileCluster, malformedEnvelopes, sleep } from '../fixtures/adapter-hostile.js'
import type { HostileCluster, Snapshot } from '../fixtures/adapter-hostile.js'
import { ShapedGossip } from '../fixtures/shaped-gossip.js'
import { serverPair, startServer, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import { Gossip } from '../../src/core/gossip.js'

const HEARTBEAT: AdapterOptions = { heartbeatInterval: 1_000, heartbeatTimeout: 5_000 }

function comparable (s: Snapshot): Snapshot {
  return { serverCounts: s.serverCounts, fetched: s.fetched, delivered: s.delivered, expected: s.expected }
}

interface Before extends Snapshot {
  /**
   * Each server's order counters before the attack, which must add nothing to them. They may not be
   * zero (one full run in about fifteen saw a late 1): a server's sequence starts at the first
   * number it hears from a peer, and while the cluster forms a heartbeat published by the overlay
   * just before a direct message can come after it.
   */
  order: OrderStats[]
}

/** The cluster, and what users see before the attack (every server counted, found and reached). */
async function scene (t: Test): Promise<{ c: HostileCluster, before: Before }> {
  const c = await hostileCluster(t, HEARTBEAT)
  const before = comparable(await c.snapshot())
  const everyone = 's0c0,s0c1,s1c0,s1c1,s2c0,s2c1'
  t.same(before, { serverCounts: [3, 3, 3], fetched: [everyone, everyone, everyone], delivered: 18, expected: 18 }, 'the cluster works before the attack')
  return { c, before: { ...before, order: c.adapters.map(a => ({ ...a.orderStats, held: 0 })) } }
}

/** Waits until every server has received what it was sent, then one heartbeat interval more. */
async function received (c: HostileCluster, what: string, enough: (stats: TrustStats, i: number) => boolean): Promise<void> {
  await waitFor(what, () => c.adapters.every((a, i) => enough(a.trustStats, i)), 60_000)
  await sleep(HEARTBEAT.heartbeatInterval!)
}

async function sameAsBefore (t: Test, c: HostileCluster, before: Before, order = true): Promise<void> {
  const after = await c.snapshot()
  t.same(comparable(after), comparable(before), 'serverCount, fetchSockets and delivery are as before')
  t.same(c.clients.map(x => x.got('forged')), c.clients.map(() => []), 'no client received a forged event')
  if (!order) return
  t.same(c.adapters.map(a => ({ ...a.orderStats, held: 0 })), before.order, 'no server\'s order was touched')
}

/** Publishes through the overlay and sends to every node directly: each server receives `envelopes` twice. */
async function everywhere (c: HostileCluster, envelopes: Uint8Array[]): Promise<void> {
  await c.publish(envelopes)
  for (const node of c.nodes) await c.direct(node, envelopes)
}

t.test('a forged ADAPTER_CLOSE with a real server\'s uid and its next sequence number silences nobody', async t => {
  const { c, before } = await scene(t)
  const close = encodeMessage(c.nextSeq(1), { uid: c.uid(1), nsp: '/', type: MessageType.ADAPTER_CLOSE })
  await everywhere(c, [close])
  await received(c, 'the forged close at every server', s => s.wrongNode >= 2)
  await sameAsBefore(t, c, before)
})

t.test('a sequence number of MAX_SAFE_INTEGER with a real server\'s uid silences nobody', async t => {
  const { c, before } = await scene(t)
  await everywhere(c, [encodeMessage(Number.MAX_SAFE_INTEGER, forgedBroadcast(c.uid(1), 'forged'))])
  await received(c, 'the forged number at every server', s => s.wrongNode >= 2)
  await sameAsBefore(t, c, before)
  // Several heartbeat intervals later, still nothing: the forged number never became the server's.
  await sleep(3 * HEARTBEAT.heartbeatInterval!)
  await sameAsBefore(t, c, before)
})

t.test('heartbeats from servers that do not exist never count and fetchSockets does not wait for them', async t => {
  const { c, before } = await scene(t)
  const ghost = (uid: string, seq: number, type: MessageType.HEARTBEAT | MessageType.INITIAL_HEARTBEAT): Uint8Array =>
    encodeMessage(seq, { uid, nsp: '/', type })
  await everywhere(c, [ghost('ab12cd34ef56ab78', 0, MessageType.HEARTBEAT), ghost('0123456789abcdef', 0, MessageType.INITIAL_HEARTBEAT)])
  await received(c, 'the ghosts heard of at every server', s => s.unanswered >= 2)
  // The ghosts keep beating while users look: their node never answers for them.
  let seq = 1
  const beating = setInterval(() => {
    c.publish([ghost('ab12cd34ef56ab78', seq, MessageType.HEARTBEAT), ghost('0123456789abcdef', seq, MessageType.HEARTBEAT)]).catch(() => {})
    seq++
  }, 100)
  t.teardown(() => { clearInterval(beating) })
  // (The ghosts' own numbers arrive twice, by the overlay and directly: their order is theirs.)
  await sameAsBefore(t, c, before, false)
  clearInterval(beating)
  for (const a of c.adapters) t.equal(a.trustStats.unanswered, 2, 'both ghosts are known and wait for an answer')
})

t.test('a node announcing invented servers draws a burst of answers from each server, and a real newcomer is still counted at once', async t => {
  // Nothing is published but announcements and their answers: every number a server stamps is one.
  const quiet: AdapterOptions = { heartbeatInterval: 600_000, heartbeatTimeout: 1_200_000, announceInterval: 600_000 }
  const c = await hostileCluster(t, quiet)
  const stamped = (): number[] => c.adapters.map((_, i) => c.nextSeq(i))
  await sleep(2_000)   // the servers' own announcements as the attacker's links come up
  const start = stamped()
  for (let i = 0; i < 40; i++) {
    await c.publish([encodeMessage(0, { uid: `feed${String(i).padStart(12, '0')}`, nsp: '/', type: MessageType.INITIAL_HEARTBEAT })])
    await sleep(10)   // one announcement per turn: each could draw its own answer
  }
  await waitFor('the 40 announcements heard at every server', () => c.adapters.every(a => a.trustStats.unanswered >= 40), 60_000)
  await sleep(500)
  const answers = stamped().map((n, i) => n - start[i]!)
  // A burst of 4 answers; the overlay's own changes as the attacker's links settle may add a few
  // announcements and their answers.
  t.ok(answers.every(n => n >= 1 && n <= 8), `each server published 1 to 8 messages, not 40 (${answers.join(', ')})`)

  // The attacker spent only its own node's answers.
  const node = await Gossip.spawn({ secret: c.secret, host: '127.0.0.1', port: 0, seeds: [c.nodes[0]!.address] })
  const late = await startServer(createAdapter({ gossip: node, ...quiet }))
  t.teardown(async () => { await late.close(); await node.close() })
  await waitForServerCount([...c.servers, late], 4)
  t.pass('all four count 4, an announce interval of ten minutes notwithstanding')
})

t.test('20,000 malformed envelopes change nothing', async t => {
  const { c, before } = await scene(t)
  const expected = [0, 0, 0]
  let sent = 0
  for (let round = 0; sent < 20_000; round++) {
    const batch: Uint8Array[] = []
    for (let i = 0; i < 3; i++) batch.push(...malformedEnvelopes(c.uid(i), c.nextSeq(i) + (round % 5)))
    const overlay = batch.slice(0, batch.length >> 1)
    const direct = batch.slice(overlay.length)
    const target = round % 3
    await c.publish(overlay)
    await c.direct(c.nodes[target]!, direct)
    for (let i = 0; i < 3; i++) expected[i]! += overlay.length + (i === target ? direct.length : 0)
    sent += batch.length
    // Paced so the flood measures the adapter's checks, not the receive buffer of the node.
    await sleep(5)
  }
  t.ok(sent >= 20_000, `${sent} malformed envelopes sent`)
  // The overlay may lose a few of a flood (it is the attacker's flood): wait until the counts settle.
  let last = ''
  await waitFor('the flood to settle', async () => {
    const now = JSON.stringify(c.adapters.map(a => a.trustStats.malformed))
    const settled = now === last
    last = now
    if (!settled) await sleep(1_000)
    return settled
  }, 120_000)
  const counted = c.adapters.map(a => a.trustStats.malformed)
  t.comment(`malformed envelopes counted per server: ${counted.join(', ')} (sent to each: ${expected.join(', ')})`)
  t.ok(counted.every((n, i) => n <= expected[i]!), 'none was counted twice')
  t.ok(counted.reduce((a, b) => a + b, 0) >= 20_000, 'the servers received at least 20,000 of them')
  for (const a of c.adapters) t.same({ ...a.trustStats, malformed: 0 }, { malformed: 0, wrongNode: 0, notDirect: 0, unanswered: 0 }, 'and refused them as malformed, nothing else')
  // Slowed by the flood, an honest node may answer GRAFTs late; none may be taken for a liar.
  t.same(c.nodes.map(n => n.stats().peersDropped), [0, 0, 0], 'no node dropped a peer')
  await sleep(HEARTBEAT.heartbeatInterval!)
  await sameAsBefore(t, c, before)
})

t.test('with a forged origin (not authenticated yet), a number beyond the window still silences nobody', async t => {
  const set = memoryNodes(3)
  const [a, b, attacker] = set.nodes as [typeof set.nodes[0], typeof set.nodes[0], typeof set.nodes[0]]
  const shaped = new ShapedGossip(b)
  // What an insider forging the origin field of GOSSIP frames achieves: its messages look like a's.
  shaped.inbound = (m, deliver) => { deliver(m.origin === attacker.nodeId ? { ...m, origin: a.nodeId } : m) }
  const options: AdapterOptions = { heartbeatInterval: 200, heartbeatTimeout: 1_000 }
  const { sender, receiver, client } = await serverPair(t, createAdapter({ gossip: a, ...options }), createAdapter({ gossip: shaped, ...options }), () => set.close())
  const uid = (sender.io.of('/').adapter as unknown as { uid: string }).uid
  const adapter = receiver.io.of('/').adapter as GossipAdapter

  const handle = await attacker.stream(adapterTopic('socket.io', '/'))
  t.teardown(() => handle.close())
  await handle.publish(encodeMessage(Number.MAX_SAFE_INTEGER, forgedBroadcast(uid, 'forged')))
  await waitFor('the forged number at the receiver', () => adapter.orderStats.outOfWindow === 1)
  // Past the time after which a persistent jump would be believed: the real server kept talking.
  await sleep(2 * options.heartbeatTimeout!)
  for (let i = 0; i < 10; i++) sender.io.emit('seq', i)
  await waitFor('ten events', () => client.got('seq').length === 10)
  t.same(client.got('seq').map(args => args[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.same(client.got('forged'), [])
  t.equal(await receiver.io.of('/').adapter.serverCount(), 2)
  t.same({ ...adapter.orderStats, held: 0 }, { skipped: 0, late: 0, lateDelivered: 0, held: 0, outOfWindow: 1, resyncs: 0, beforeStart: 0 })
})
