import t from 'tap'
import type { GossipEvent } from '../../src/core/api.js'
import { collect, spawnNode, waitFor } from '../fixtures/cluster.js'
import { relay } from '../fixtures/relay.js'
import { recordingLogger } from '../fixtures/net.js'

t.test('a link cut silently (no RST, no FIN) is declared failed by keepalive on both ends; the topic repairs and delivers', async t => {
  const keepaliveTimeout = 1_500
  const a = recordingLogger()
  const b = recordingLogger()
  const nodeB = await spawnNode({ keepaliveTimeout, logger: b.logger })
  t.teardown(async () => await nodeB.close())
  // A reaches B only through the relay at first; B announces its own address, which A may dial later.
  const wire = await relay(nodeB.address)
  t.teardown(async () => await wire.close())
  const nodeA = await spawnNode({ keepaliveTimeout, logger: a.logger, seeds: [wire.address] })
  t.teardown(async () => await nodeA.close())
  const downs: GossipEvent[] = []
  for (const node of [nodeA, nodeB]) {
    void (async () => { for await (const e of node.events()) if (e.type === 'neighbourDown') downs.push(e) })()
  }
  const ha = await nodeA.stream('cut')
  const hb = await nodeB.stream('cut')
  const inbox = collect(hb)
  await waitFor(() => ha.neighbours().length > 0 && hb.neighbours().length > 0, 'neighbours through the relay')
  await ha.publish('before the cut')
  await waitFor(() => inbox.texts().includes('before the cut'), 'delivery before the cut')

  wire.cut()
  await waitFor(() => downs.filter(e => e.type === 'neighbourDown' && e.reason === 'failure').length >= 2, 'both ends see the neighbour fail', 30_000)
  for (const rec of [a, b]) {
    t.ok(rec.entries.some(l => l.level === 'warn' && /keepalive timeout/.test(l.msg ?? '')), 'the reason is logged at warn: keepalive timeout')
  }
  // B announced its real address: A can link again without the cut relay.
  await waitFor(() => ha.neighbours().length > 0 && hb.neighbours().length > 0, 'neighbours again after the cut', 30_000)
  await ha.publish('after the cut')
  await waitFor(() => inbox.texts().includes('after the cut'), 'delivery resumes')
  t.pass()
})

t.test('a quiet link stays up: pings keep it alive and measure its round-trip time', async t => {
  const keepaliveTimeout = 600
  const one = await spawnNode({ keepaliveTimeout })
  t.teardown(async () => await one.close())
  const two = await spawnNode({ keepaliveTimeout, seeds: [one.address] })
  t.teardown(async () => await two.close())
  const h1 = await one.stream('quiet')
  const h2 = await two.stream('quiet')
  const downs: GossipEvent[] = []
  void (async () => { for await (const e of one.events()) if (e.type === 'neighbourDown') downs.push(e) })()
  await waitFor(() => h1.neighbours().length > 0 && h2.neighbours().length > 0, 'neighbours')
  // Five timeouts of silence from the application.
  await new Promise(resolve => setTimeout(resolve, 5 * keepaliveTimeout))
  t.same(downs, [], 'no neighbour went down')
  const link = (one as any).transport.links.get(two.nodeId)
  t.ok(typeof link?.rtt === 'number' && link.rtt >= 0, `the link measured its round-trip time: ${String(link?.rtt)} ms`)
})
