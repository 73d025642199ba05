/**
 * Issue 10, multi-host bed: the Fastify plugin's WebSocket bridge under 2 % packet loss on every
 * link (iptables `statistic` at each receiving host) and 20 ms +- 10 ms delay each way through a
 * relay in front of every node (the kernel has no netem). Five hosts, each a Fastify app with the
 * bridge and one `ws` client of it (over the host's loopback, not a lossy link); every client
 * publishes 1,000 messages and must receive the 4,000 of the others, each once. Needs root, `ip`
 * and `iptables` (skipped otherwise, failed under CI=true).
 */
import { bed, multihost, oneOverlay, waitFor } from '../fixtures/netns.js'

const N = 5
const TOPIC = 'lossy-bridge'
const PER_SENDER = 1_000
const LOSS = 0.02
const RELAY = { delay: 20, jitter: 10 }

multihost(`bridge, 2 % loss and 20 +- 10 ms delay on every link: ${PER_SENDER} messages from a client of each of ${N} apps reach every other app's client exactly once`, async t => {
  const b = await bed(t, N)
  await b.loss(LOSS)
  const apps = Array.from({ length: N }, (_, k) => b.start(k + 1))
  await Promise.all(apps.map(async (a, k) => {
    // A high publish rate: the bridge's default (100/s per client) is abuse protection, not the subject.
    await a.bridge({ seeds: k === 0 ? [] : [b.address(1)], relay: RELAY, bridge: { publishRate: { max: 100_000, timeWindow: 1_000 } } })
  }))
  for (const a of apps) t.equal(a.address, b.address(a.index), `app ${a.index}'s node advertises its relay's address`)
  // A client subscribes (the app joins the topic); a subscribed handle of the node's own shows
  // the overlay, and on a failure whether what a client lacks reached its node at all.
  await Promise.all(apps.map(async a => {
    const r = await a.call('wsClient', { name: 'c', topic: TOPIC })
    t.same(r.errors, [], `app ${a.index}: its client subscribed`)
    await a.call('stream', { topic: TOPIC })
  }))
  const started = Date.now()
  await waitFor('one overlay under loss and delay', async () => await oneOverlay(apps, TOPIC), 45_000)
  t.comment(`one overlay ${Date.now() - started} ms after the clients subscribed`)

  const sending = Date.now()
  const sent = await Promise.all(apps.map(async a => await a.call('wsPublish', { name: 'c', topic: TOPIC, prefix: `from${a.index}`, count: PER_SENDER })))
  for (const [k, r] of sent.entries()) t.same(r.errors, [], `app ${k + 1}: every publish acknowledged, no error frame`)
  const expected = (N - 1) * PER_SENDER
  t.comment(`every publish acknowledged ${Date.now() - sending} ms after the first`)
  let last: number[] = []
  const complete = await waitFor(`${expected} messages at every client`, async () => {
    last = await Promise.all(apps.map(async a => (await a.received(`ws:${TOPIC}`)).unique))
    return last.every(u => u === expected)
  }, 45_000, 250).then(() => true, () => false)
  t.comment(`deliveries per client: ${JSON.stringify(last)} of ${expected}, ${Date.now() - sending} ms after the first publish`)
  if (!complete) {
    // Where the missing ones were lost: in the gossip layer (the node's own handle lacks them too) or in the bridge.
    for (const a of apps) {
      const per = await Promise.all(apps.map(async o => await a.has(`ws:${TOPIC}`, `from${o.index}`, PER_SENDER)))
      const node = await Promise.all(apps.map(async o => await a.has(TOPIC, `from${o.index}`, PER_SENDER)))
      t.comment(`app ${a.index}: client per sender ${JSON.stringify(per)}, node per sender ${JSON.stringify(node)}, client ${JSON.stringify(await a.call('wsState', { name: 'c' }))}`)
      const logs = (await a.logs()).filter(l => l.level !== 'info').slice(0, 10)
      t.comment(`app ${a.index} warnings: ${JSON.stringify(logs)}`)
    }
  }
  for (const a of apps) {
    const r = await a.received(`ws:${TOPIC}`)
    for (const o of apps) {
      if (o !== a) t.equal(await a.has(`ws:${TOPIC}`, `from${o.index}`, PER_SENDER), PER_SENDER, `app ${a.index}'s client got all ${PER_SENDER} of app ${o.index}'s client`)
    }
    t.equal(await a.has(`ws:${TOPIC}`, `from${a.index}`, PER_SENDER), 0, `app ${a.index}'s client does not get its own messages back`)
    t.equal(r.duplicateCount, 0, `app ${a.index}'s client: none twice (${r.total} deliveries)`)
  }
})
