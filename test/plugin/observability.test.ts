/**
 * What the plugin shows an operator: `fastify.gossip.peers()` / `stats()`, the opt-in health
 * route, and Prometheus metrics. Real Fastify apps, each with its own node over TCP.
 */
import { test, type Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import grapevine, { type GrapevineOptions } from '../../src/plugin/index.js'
import { spawnNode, waitFor } from '../fixtures/cluster.js'

const secret = 'plugin-observability-secret'

async function app (t: Test, options: Partial<GrapevineOptions> = {}): Promise<FastifyInstance> {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { secret, ...options } as GrapevineOptions)
  await fastify.ready()
  return fastify
}

test('fastify.gossip exposes peers() and stats() of the node', async t => {
  const a = await app(t)
  const b = await app(t, { seeds: [a.gossip.address] })
  const [ha, hb] = [await a.gossip.stream('seen'), await b.gossip.stream('seen')]
  await waitFor(() => ha.neighbours().length === 1 && hb.neighbours().length === 1, 'neighbours')
  t.match(a.gossip.peers(), [{ nodeId: b.gossip.nodeId, address: b.gossip.address, topics: [ha.topic] }])
  t.match(b.gossip.stats(), { nodeId: b.gossip.nodeId, running: true, links: 1, topics: [{ topic: hb.topic, neighbours: 1 }] })
})

test('health: 200 with the summary while the node runs and every topic has a neighbour, 503 otherwise', async t => {
  const a = await app(t, { health: true })
  const fine = await a.inject({ method: 'GET', url: '/gossip/health' })
  t.equal(fine.statusCode, 200, 'no topic: nothing is missing')
  t.same(fine.json(), { status: 'ok', nodeId: a.gossip.nodeId, address: a.gossip.address, running: true, links: 0, topics: 0, topicsWithoutNeighbour: 0 })

  const handle = await a.gossip.stream('lonely')
  const alone = await a.inject({ method: 'GET', url: '/gossip/health' })
  t.equal(alone.statusCode, 503, 'a topic without a neighbour')
  t.match(alone.json(), { status: 'unavailable', running: true, topics: 1, topicsWithoutNeighbour: 1 })

  const b = await app(t, { seeds: [a.gossip.address] })
  await b.gossip.stream('lonely')
  await waitFor(() => handle.neighbours().length === 1, 'a neighbour in the topic')
  const joined = await a.inject({ method: 'GET', url: '/gossip/health' })
  t.equal(joined.statusCode, 200, 'every topic has a neighbour again')
  t.match(joined.json(), { status: 'ok', links: 1, topics: 1, topicsWithoutNeighbour: 0 })
})

test('health on a shared node that was closed: 503; the path can be changed; off by default', async t => {
  const node = await spawnNode()
  t.teardown(() => node.close())
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(grapevine, { gossip: node, health: { path: '/healthz' } })
  t.equal((await a.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  await node.close()
  const closed = await a.inject({ method: 'GET', url: '/healthz' })
  t.equal(closed.statusCode, 503)
  t.match(closed.json(), { status: 'unavailable', running: false })
  const plain = await app(t)
  t.equal((await plain.inject({ method: 'GET', url: '/gossip/health' })).statusCode, 404, 'no route unless asked for')
})

test('metrics: registered on the given registry, exposed by registry.metrics(), removed when the app closes', async t => {
  const registry = new Registry()
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { secret, metrics: { registry } })
  await fastify.ready()
  await fastify.gossip.stream('metered')
  const text = await registry.metrics()
  for (const name of ['grapevine_up', 'grapevine_links', 'grapevine_topics', 'grapevine_topics_without_neighbour', 'grapevine_neighbours',
    'grapevine_messages_published_total', 'grapevine_messages_delivered_total', 'grapevine_payload_frames_total', 'grapevine_payload_bytes_total',
    'grapevine_wire_bytes_total', 'grapevine_duplicates_total', 'grapevine_grafts_total', 'grapevine_pulls_total', 'grapevine_prunes_total', 'grapevine_lagged_total',
    'grapevine_queue_depth']) {
    t.match(text, new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'), name)
  }
  t.match(text, /^grapevine_topics_without_neighbour 1$/m, 'read from the node at scrape time')
  await fastify.close()
  t.equal((await registry.metrics()).trim(), '', 'removed on close')
})

test('metrics: a second app on a registry that already has grapevine metrics is refused like any invalid option, and the first keeps its metrics', async t => {
  const registry = new Registry()
  const first = Fastify()
  t.teardown(() => first.close())
  await first.register(grapevine, { secret, metrics: { registry } })
  await first.ready()
  const second = Fastify()
  t.teardown(() => second.close())
  await t.rejects(async () => { await second.register(grapevine, { secret, metrics: { registry } }) }, { code: 'FST_GRAPEVINE_INVALID_OPTION', message: /"metrics".*already has a metric named grapevine_/ })
  t.match(await registry.metrics(), /^grapevine_up 1$/m, 'the first app\'s metrics are untouched')
})

test('metrics: true registers on prom-client\'s default registry', async t => {
  const { register } = await import('prom-client')
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { secret, metrics: true })
  await fastify.ready()
  t.match(await register.metrics(), /^grapevine_up 1$/m)
  await fastify.close()
  t.notMatch(await register.metrics(), /grapevine_/, 'removed on close')
})

test('health and metrics options are checked, naming the option', async t => {
  for (const [options, option] of [
    [{ health: 'yes' }, 'health'],
    [{ health: { path: 'health' } }, 'health.path'],
    [{ health: { paht: '/h' } }, 'health.paht'],
    [{ metrics: 1 }, 'metrics'],
    [{ metrics: { registry: {} } }, 'metrics.registry']
  ] as const) {
    const fastify = Fastify()
    t.teardown(() => fastify.close())
    await t.rejects(async () => { await fastify.register(grapevine, { secret, ...options } as unknown as GrapevineOptions) }, {
      code: 'FST_GRAPEVINE_INVALID_OPTION',
      message: `Invalid grapevine option "${option}"`
    })
  }
})
