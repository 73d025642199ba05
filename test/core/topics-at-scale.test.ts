/**
 * Many topics per node over real TCP links: the cases that used to take a cluster down (a
 * discovery reply over the frame limit, every link closed for write buffer overflow, an IHAVE
 * batch over a small node's frame limit). Behaviour only: every topic finds its members and
 * delivers, nothing is thrown, no link fails. No timing is asserted beyond generous waits.
 */
import t, { type Test } from 'tap'
import type { Gossip } from '../../src/core/gossip.js'
import type { GossipEvent, GossipHandle, Logger } from '../../src/core/api.js'
import { collect, spawnCluster, waitFor } from '../fixtures/cluster.js'
import { trapCrashes } from '../fixtures/crash-trap.js'

/** A logger that keeps warnings and errors, so a test can show that no link failed. */
function complaints (): { logger: Logger, lines: string[] } {
  const lines: string[] = []
  const keep = (level: string) => (obj: unknown, msg?: string): void => { lines.push(`${level}: ${msg ?? ''} ${JSON.stringify(obj, (_k, v) => v instanceof Error ? v.message : v)?.slice(0, 300) ?? ''}`) }
  const noop = (): void => {}
  return { lines, logger: { trace: noop, debug: noop, info: noop, warn: keep('warn'), error: keep('error') } }
}

async function shareTopics (t: Test, nodes: number, topics: number): Promise<{ cluster: Gossip[], handles: GossipHandle[][], lines: string[], failures: GossipEvent[] }> {
  const { logger, lines } = complaints()
  const cluster = await spawnCluster(nodes, { logger })
  t.teardown(async () => { await Promise.all(cluster.map(async n => await n.close())) })
  const failures: GossipEvent[] = []
  for (const node of cluster) {
    void (async () => {
      for await (const e of node.events()) if (e.type === 'neighbourDown' && e.reason === 'failure') failures.push(e)
    })()
  }
  const handles = await Promise.all(cluster.map(async node => {
    const hs: GossipHandle[] = []
    for (let i = 0; i < topics; i++) hs.push(await node.stream(`room:${i}`))
    return hs
  }))
  return { cluster, handles, lines, failures }
}

t.test('five nodes in one process sharing 300 topics: every topic finds its members, nothing throws, no link fails', async t => {
  trapCrashes(t)
  const { handles, lines, failures } = await shareTopics(t, 5, 300)
  await waitFor(() => handles.every(hs => hs.every(h => h.neighbours().length > 0)), 'a neighbour in every topic on every node', 60_000)
  // Delivery on a few topics spread over the range.
  for (const topic of [0, 150, 299]) {
    const inboxes = handles.slice(1).map(hs => collect(hs[topic]!))
    await handles[0]![topic]!.publish(`hello ${topic}`)
    await waitFor(() => inboxes.every(inbox => inbox.texts().includes(`hello ${topic}`)), `delivery on room:${topic}`, 60_000)
  }
  t.same(failures, [], 'no neighbour went down for a failure')
  t.same(lines, [], 'nothing was logged at warn or error')
})

t.test('three nodes sharing 1,000 topics (the default maxTopics) keep their links and deliver', async t => {
  trapCrashes(t)
  const { handles, lines, failures } = await shareTopics(t, 3, 1000)
  await waitFor(() => handles.every(hs => hs.every(h => h.neighbours().length > 0)), 'a neighbour in every topic on every node', 90_000)
  const inboxes = handles.slice(1).map(hs => collect(hs[0]!))
  await handles[0]![0]!.publish('room 0 works')
  await waitFor(() => inboxes.every(inbox => inbox.texts().includes('room 0 works')), 'delivery on room:0', 60_000)
  t.same(failures, [], 'no neighbour went down for a failure')
  t.same(lines, [], 'nothing was logged at warn or error')
})

t.test('a node with maxMessageSize 1024 publishing a burst of 2,000 keeps every control frame within its peers\' limit', async t => {
  trapCrashes(t)
  const { logger, lines } = complaints()
  // Three nodes so that one link is lazy and carries IHAVE batches.
  const cluster = await spawnCluster(3, { logger, maxMessageSize: 1024 })
  t.teardown(async () => { await Promise.all(cluster.map(async n => await n.close())) })
  const handles = await Promise.all(cluster.map(async n => await n.stream('burst')))
  await waitFor(() => handles.every(h => h.neighbours().length >= 2), 'a full mesh')
  const inboxes = handles.slice(1).map(h => collect(h, 4096))
  for (let i = 0; i < 2000; i++) await handles[0]!.publish(`m${i}`)
  await waitFor(() => inboxes.every(inbox => inbox.messages.length === 2000), 'all 2,000 on both receivers', 60_000)
  t.same(lines, [], 'nothing was logged at warn or error')
})
