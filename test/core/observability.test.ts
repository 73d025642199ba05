/**
 * What an operator sees of a node: the errors it fails with, what it logs, `peers()`, `stats()`
 * and its Prometheus metrics. Real nodes over TCP on 127.0.0.1.
 */
import t from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { Gossip } from '../../src/core/gossip.js'
import { GossipError } from '../../src/core/errors.js'
import type { GossipStats, Logger } from '../../src/core/api.js'
import { LinkLog } from '../../src/core/link-log.js'
import { promClientLoader, registerMetrics } from '../../src/core/metrics.js'
import { SECRET, collect, spawnCluster, spawnNode, waitFor } from '../fixtures/cluster.js'

interface Line { level: string, obj: Record<string, unknown>, msg: string | undefined }

function recordingLogger (): Logger & { lines: Line[] } {
  const lines: Line[] = []
  const at = (level: string) => (obj: unknown, msg?: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

const sum = (stats: GossipStats[], key: 'published' | 'delivered' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'duplicates' | 'prunesSent' | 'prunesReceived' | 'graftsSent' | 'pullsSent'): number =>
  stats.reduce((n, s) => n + s[key], 0)

t.test('a port that is taken: spawn rejects with ERR_GOSSIP_LISTEN naming the address, with the socket error as its cause', async t => {
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as AddressInfo).port
  const err = await Gossip.spawn({ secret: SECRET, port }).catch((e: unknown) => e)
  t.ok(err instanceof GossipError, 'a GossipError')
  t.match(err, { code: 'ERR_GOSSIP_LISTEN', message: `cannot listen on 127.0.0.1:${port}: EADDRINUSE`, cause: { code: 'EADDRINUSE' } })
})

t.test('a node with the wrong secret: spawn rejects with ERR_GOSSIP_HANDSHAKE naming "secret", and leaves nothing open', async t => {
  const seed = await spawnNode()
  t.teardown(() => seed.close())
  await t.rejects(Gossip.spawn({ secret: 'not the cluster secret', seeds: [seed.address] }), {
    code: 'ERR_GOSSIP_HANDSHAKE',
    message: /option "secret"/
  })
  t.same(seed.peers(), [], 'the seed has no link to it')
})

t.test('info logs: the node says once who it is and where it listens, then links in summary', async t => {
  const log = recordingLogger()
  const first = await spawnNode()
  t.teardown(() => first.close())
  const node = await spawnNode({ seeds: [first.address], logger: log })
  t.teardown(() => node.close())
  const info = log.lines.filter(line => line.level === 'info')
  t.match(info[0], { obj: { nodeId: node.nodeId, address: node.address }, msg: `gossip node listening on ${node.address}` }, 'first: who and where')
  t.equal(info.filter(line => line.obj.address === node.address).length, 1, 'said once')
  await waitFor(() => log.lines.some(line => line.msg?.startsWith('links:') === true), 'a links summary')
  t.match(log.lines.find(line => line.msg?.startsWith('links:') === true), { level: 'info', obj: { linksUp: 1, linksDown: 0, links: 1 }, msg: 'links: 1 up, 0 down, 1 open' })
})

t.test('links are summarised at most once per interval: changes within it are told together when it ends', async t => {
  const log = recordingLogger()
  let now = 0
  const due: Array<{ at: number, fn: () => void }> = []
  const clock = { now: () => now, after: (ms: number, fn: () => void) => { const d = { at: now + ms, fn }; due.push(d); return () => { due.splice(due.indexOf(d), 1) } } }
  let open = 0
  const links = new LinkLog(log, () => open, 10_000, clock)
  const advance = (ms: number): void => {
    now += ms
    for (const d of due.filter(d => d.at <= now)) { due.splice(due.indexOf(d), 1); d.fn() }
  }
  open = 1
  links.linkUp()
  t.same(log.lines.map(l => l.msg), ['links: 1 up, 0 down, 1 open'], 'the first change after a quiet spell is told at once')
  for (let i = 0; i < 5; i++) { open++; links.linkUp(); advance(1_000) }
  open = 4
  links.linkDown(true)
  links.linkDown(false)
  t.equal(log.lines.length, 1, 'nothing more within the interval')
  advance(5_000)
  t.same(log.lines.map(l => l.msg), ['links: 1 up, 0 down, 1 open', 'links: 5 up, 2 down (1 failed), 4 open'], 'then one line for all of them')
  t.match(log.lines[1]!.obj, { linksUp: 5, linksDown: 2, linksFailed: 1, links: 4 })
  advance(60_000)
  t.equal(log.lines.length, 2, 'no change, no line')
  links.linkUp()
  links.close()
  t.equal(due.length, 0, 'close cancels what was pending')
})

t.test('peers() and stats() after one message between three nodes in one topic', async t => {
  const nodes = await spawnCluster(3, { keepaliveTimeout: 600 })
  t.teardown(async () => { await Promise.all(nodes.map(async n => await n.close())) })
  const a = nodes[0]!
  const handles = await Promise.all(nodes.map(async n => await n.stream('observed')))
  const topic = handles[0]!.topic
  await waitFor(() => handles.every(h => h.neighbours().length === 2), 'every node a neighbour of both others')
  const inboxes = handles.slice(1).map(h => collect(h))

  // peers(): who each node is linked to, where they listen, what they share.
  for (const node of nodes) {
    const peers = node.peers()
    const others = nodes.filter(n => n !== node)
    t.same(peers.map(p => p.nodeId).sort(), others.map(n => n.nodeId).sort(), 'linked to both others')
    for (const peer of peers) {
      t.equal(peer.address, others.find(n => n.nodeId === peer.nodeId)!.address, 'at the address it listens on')
      t.same(peer.topics, [topic], 'sharing the topic')
      t.ok(peer.linkAge >= 0, 'a link age')
      t.equal(typeof peer.outbound, 'boolean')
    }
  }
  await waitFor(() => a.peers().every(p => p.rtt !== undefined), 'keepalive pings measured the round trips')
  t.ok(a.peers().every(p => typeof p.rtt === 'number' && p.rtt >= 0), 'rtt in ms')

  await handles[0]!.publish('hello')
  await waitFor(() => inboxes.every(inbox => inbox.messages.length === 1), 'both others got it')
  // Full mesh, every link eager: a pushes to b and c, each of them forwards to the other, who has
  // it already (a duplicate) and prunes the link. Whichever copy wins, the sums are the same.
  const quiet = (): boolean => {
    const s = nodes.map(n => n.stats())
    return sum(s, 'messagesIn') === sum(s, 'messagesOut') && sum(s, 'prunesSent') === 2 && sum(s, 'prunesReceived') === 2
  }
  await waitFor(quiet, 'every frame sent was received')
  const stats = nodes.map(n => n.stats())
  t.equal(stats[0]!.published, 1, 'a published one message')
  t.same(stats.map(s => s.delivered), [0, 1, 1], 'b and c each delivered it once')
  t.equal(sum(stats, 'messagesOut'), 4, 'four payload frames: a to b and c, then b and c to each other')
  t.equal(sum(stats, 'bytesOut'), 4 * 'hello'.length, 'payload bytes out')
  t.equal(sum(stats, 'bytesIn'), 4 * 'hello'.length, 'payload bytes in')
  t.equal(sum(stats, 'duplicates'), 2, 'two copies arrived where the message was already delivered')
  t.equal(sum(stats, 'graftsSent'), 0, 'nothing was missing, nothing grafted')
  t.equal(sum(stats, 'pullsSent'), 0, 'nor pulled')
  for (const s of stats) {
    t.match(s, { running: true, links: 2, lagged: 0, forged: 0 })
    t.ok(s.wireBytesOut > 0 && s.wireBytesIn > 0, 'wire bytes counted')
    t.equal(s.topics.length, 1)
    const [one] = s.topics
    // One topic: its counters are the node's.
    t.match(one, { topic, neighbours: 2, published: s.published, delivered: s.delivered, messagesIn: s.messagesIn, messagesOut: s.messagesOut, duplicates: s.duplicates })
    t.match(one!.queues, { pendingPublishes: 0, missing: 0 })
  }
  t.equal(stats[0]!.topics[0]!.queues.cached, 1, 'the origin keeps its message to answer grafts')
})

t.test('stats() counts lagged drops and queue depths; a topic\'s counters end when it is left, the node\'s stay', async t => {
  const [a, b] = await spawnCluster(2) as [Gossip, Gossip]
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const alone = await spawnNode()
  t.teardown(() => alone.close())

  const waiting = await alone.stream('nobody else here')
  await waiting.publish('one')
  await waiting.publish('two')
  t.match(alone.stats().topics[0], { neighbours: 0, published: 0, queues: { pendingPublishes: 2 } }, 'publishes wait for a first neighbour')
  t.equal(alone.stats().queues.pendingPublishes, 2)

  const ha = await a.stream('lag')
  const hb = await b.stream('lag')
  await waitFor(() => ha.neighbours().length === 1, 'a neighbour')
  const slow = hb.subscribe({ bufferSize: 1 }) // never read
  const reader = collect(hb)
  for (const text of ['m1', 'm2', 'm3']) await ha.publish(text)
  await waitFor(() => reader.messages.length === 3, 'the reader got all three')
  t.equal(b.stats().lagged, 2, 'the unread subscription dropped two of three')
  t.match(b.stats().topics[0], { lagged: 2, delivered: 3, queues: { subscriberBuffered: 1 } })
  slow.close()

  await hb.close()
  t.same(b.stats().topics, [], 'the topic left has no counters')
  t.match(b.stats(), { delivered: 3, lagged: 2 }, 'the node keeps its totals')
  await b.close()
  t.equal(b.stats().running, false, 'a closed node says so')
})

t.test('Prometheus metrics: registered on the given registry, collected from stats() at scrape, removed on close', async t => {
  const [a, b] = await spawnCluster(2) as [Gossip, Gossip]
  t.teardown(async () => { await Promise.all([a.close(), b.close()]) })
  const ha = await a.stream('metered')
  const hb = await b.stream('metered')
  await waitFor(() => ha.neighbours().length === 1, 'a neighbour')
  const inbox = collect(hb)
  await ha.publish('counted')
  await waitFor(() => inbox.messages.length === 1, 'delivered')

  const registry = new Registry()
  const metrics = await registerMetrics(a, { registry })
  const text = await registry.metrics()
  for (const name of ['grapevine_up 1', 'grapevine_links 1', 'grapevine_topics 1', 'grapevine_topics_without_neighbour 0', 'grapevine_neighbours 1',
    'grapevine_messages_published_total 1', 'grapevine_payload_frames_total{direction="out"} 1', 'grapevine_payload_bytes_total{direction="out"} 7',
    'grapevine_duplicates_total 0', 'grapevine_lagged_total 0', 'grapevine_queue_depth{queue="pending_publishes"} 0']) {
    t.ok(text.includes(`\n${name}\n`), name)
  }
  t.match(text, /grapevine_wire_bytes_total\{direction="in"\} [1-9]/)
  t.notMatch(text, new RegExp(ha.topic), 'no topic names in labels')
  await t.rejects(registerMetrics(a, { registry }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /already has a metric named grapevine_/ }, 'one registry per node')

  metrics.close()
  t.equal((await registry.metrics()).trim(), '', 'close removes every metric')
})

t.test('metrics without prom-client installed: a GossipError naming the package', async t => {
  const load = promClientLoader.load
  t.teardown(() => { promClientLoader.load = load })
  promClientLoader.load = async () => { throw Object.assign(new Error("Cannot find package 'prom-client'"), { code: 'ERR_MODULE_NOT_FOUND' }) }
  const node = await spawnNode()
  t.teardown(() => node.close())
  await t.rejects(registerMetrics(node), { name: 'GossipError', code: 'ERR_GOSSIP_MISSING_DEPENDENCY', message: /"prom-client".*npm install prom-client/ })
})
