/**
 * Issue 10, multi-host bed: five hosts (network namespaces on a bridge, 10.77.x.1-5), one seed,
 * all started at once. Core nodes form one overlay and deliver everything; Socket.IO servers with
 * the gossip adapter count five servers everywhere. Needs root, `ip` and `iptables` (skipped
 * with the reason otherwise, failed under CI=true).
 */
import { bed, components, multihost, oneOverlay, waitFor, waitForServerCount } from '../fixtures/netns.js'

const N = 5
const TOPIC = 'overlay'
const PER_SENDER = 20

multihost('5 hosts, 1 seed, all started at once: one overlay, every message from each node reaches all others', async t => {
  const b = await bed(t, N)
  const nodes = Array.from({ length: N }, (_, k) => b.start(k + 1))
  const started = Date.now()
  // All at once: the seed is not necessarily listening when the others first dial it.
  await Promise.all(nodes.map(async (n, k) => { await n.spawn({ seeds: k === 0 ? [] : [b.address(1)] }) }))
  const spawned = Date.now()
  for (const n of nodes) t.equal(n.address, b.address(n.index), `node ${n.index} advertises its own address (listening on 0.0.0.0)`)
  await Promise.all(nodes.map(async n => await n.call('stream', { topic: TOPIC })))
  await waitFor('one overlay with a neighbour at every node', async () => await oneOverlay(nodes, TOPIC), 30_000)
  t.comment(`processes up and nodes listening after ${spawned - started} ms; one overlay ${Date.now() - started} ms after the start; components ${JSON.stringify(await components(nodes, TOPIC))}`)
  t.pass('every node has a neighbour and the overlay is connected')

  await Promise.all(nodes.map(async n => await n.call('publish', { topic: TOPIC, prefix: `from${n.index}`, count: PER_SENDER })))
  const expected = (N - 1) * PER_SENDER
  await waitFor(`${expected} messages at every node`, async () =>
    (await Promise.all(nodes.map(async n => (await n.received(TOPIC)).unique))).every(u => u === expected), 30_000)
  for (const n of nodes) {
    const r = await n.received(TOPIC)
    for (const o of nodes) {
      if (o === n) continue
      t.equal(await n.has(TOPIC, `from${o.index}`, PER_SENDER), PER_SENDER, `node ${n.index} got all ${PER_SENDER} of node ${o.index}`)
    }
    t.equal(r.duplicateCount, 0, `node ${n.index}: no message delivered twice (${r.total} deliveries)`)
    t.equal(await n.has(TOPIC, `from${n.index}`, PER_SENDER), 0, `node ${n.index} does not receive its own messages`)
  }
})

multihost('5 Socket.IO servers with the gossip adapter on 5 hosts, 1 seed, all started at once: serverCount() is 5 on every one', async t => {
  const b = await bed(t, N)
  const servers = Array.from({ length: N }, (_, k) => b.start(k + 1))
  const started = Date.now()
  await Promise.all(servers.map(async (s, k) => {
    await s.socketio({ seeds: k === 0 ? [] : [b.address(1)], heartbeatInterval: 1_000, heartbeatTimeout: 5_000 })
  }))
  for (const s of servers) t.equal(s.address, b.address(s.index), `server ${s.index}'s node advertises its own address`)
  const counts = await waitForServerCount(t, servers, N, 'serverCount() === 5 everywhere', 30_000, started)
  t.comment(`every server counts ${N} ${Date.now() - started} ms after the start`)
  t.same(counts, Array(N).fill(N), 'serverCount() is 5 on every server')
})
