/**
 * The plugin's `dashboard` without a browser: options checked and named, authorize guarding the
 * page and its data, the snapshot of two instances, the health route unmoved by the summary
 * topic, a shared node's publisher started and stopped with the app. The page itself runs in
 * test/browser/dashboard.test.ts.
 */
import { test, type Test } from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import grapevine, { type GrapevineOptions } from '../../src/plugin/index.js'
import { CLUSTER_TOPIC_ID } from '../../src/core/cluster-summary.js'
import { spawnNode, waitFor } from '../fixtures/cluster.js'

const secret = 'plugin-dashboard-secret'
const fast = { interval: 100, bytesPerSecond: 1e9 }

async function app (t: Test, options: Partial<GrapevineOptions> = {}): Promise<FastifyInstance> {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { secret, ...options } as GrapevineOptions)
  await fastify.ready()
  return fastify
}

test('invalid dashboard and clusterSummary options reject register() naming the option', async t => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ dashboard: 'yes' }, /"dashboard": must be true, false or/],
    [{ dashboard: { path: 'dash' } }, /"dashboard.path": must be a route path/],
    [{ dashboard: { path: '/dash/' } }, /"dashboard.path"/],
    [{ dashboard: { authorize: true } }, /"dashboard.authorize": must be a function/],
    [{ dashboard: { removeAfter: 0 } }, /"dashboard.removeAfter": must be a positive integer/],
    [{ dashboard: { colour: 'red' } }, /"dashboard.colour": is not a dashboard option/],
    [{ clusterSummary: { interval: 5 } }, /"clusterSummary.interval": must be an integer from 100/],
    [{ clusterSummary: { maxBytes: 100 } }, /"clusterSummary.maxBytes"/],
    [{ clusterSummary: { topicNames: [1] } }, /"clusterSummary.topicNames"/],
    [{ clusterSummary: { every: 1 } }, /"clusterSummary.every": is not a cluster summary option/]
  ]
  for (const [options, message] of cases) {
    const fastify = Fastify()
    await t.rejects(async () => { await fastify.register(grapevine, { secret, ...options } as GrapevineOptions) }, { code: 'FST_GRAPEVINE_INVALID_OPTION', message }, JSON.stringify(options))
    await fastify.close()
  }
})

test('the snapshot shows both instances, their link and the topic a name was given for', async t => {
  const a = await app(t, { clusterSummary: { ...fast, topicNames: ['room:1'] }, dashboard: true, health: true })
  const b = await app(t, { seeds: [a.gossip.address], clusterSummary: { ...fast, topicNames: ['room:1'] } })
  await a.gossip.stream('room:1')
  await b.gossip.stream('room:1')
  await b.gossip.stream('room:unnamed')
  let snapshot: any
  await waitFor(async () => {
    snapshot = (await a.inject({ method: 'GET', url: '/gossip/dashboard/snapshot' })).json()
    return snapshot.nodes.filter((n: any) => n.state === 'live').length === 2 && snapshot.links.length === 1 && snapshot.topics.length === 3
  }, 'both nodes, their link and three topics')
  t.same(snapshot.nodes.map((n: any) => n.id).sort(), [a.gossip.nodeId, b.gossip.nodeId].sort())
  t.same(snapshot.topics.map((topic: any) => topic.name ?? null).sort(), ['(cluster summaries)', 'room:1', null].sort(), 'names only where given')
  t.equal(snapshot.self, a.gossip.nodeId)

  const page = await a.inject({ method: 'GET', url: '/gossip/dashboard' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  for (const script of ['d3-dispatch', 'd3-quadtree', 'd3-timer', 'd3-force', 'page']) {
    t.match(page.body, `/gossip/dashboard/${script}.js`, `the page loads ${script}`)
    t.equal((await a.inject({ method: 'GET', url: `/gossip/dashboard/${script}.js` })).statusCode, 200, `${script}.js is served from the package`)
  }
  const health = await a.inject({ method: 'GET', url: '/gossip/health' })
  t.equal(health.json().topics, 1, 'the summary topic is not one of the app\'s topics')
  t.ok(a.gossip.stats().topics.some(topic => topic.topic === CLUSTER_TOPIC_ID), 'though the node is in it')
})

test('authorize guards the page, its scripts and its data; a throw refuses', async t => {
  const a = await app(t, {
    dashboard: {
      path: '/ops/cluster',
      authorize: request => {
        if (request.headers['x-boom'] !== undefined) throw new Error('boom')
        return request.headers.authorization === 'Bearer ops'
      }
    }
  })
  for (const url of ['/ops/cluster', '/ops/cluster/page.js', '/ops/cluster/snapshot', '/ops/cluster/events']) {
    t.equal((await a.inject({ method: 'GET', url })).statusCode, 403, `${url} refused`)
    t.equal((await a.inject({ method: 'GET', url, headers: { authorization: 'Bearer ops', 'x-boom': '1' } })).statusCode, 403, `${url} refused when authorize throws`)
  }
  t.equal((await a.inject({ method: 'GET', url: '/ops/cluster', headers: { authorization: 'Bearer ops' } })).statusCode, 200)
  t.equal((await a.inject({ method: 'GET', url: '/gossip/dashboard' })).statusCode, 404, 'nothing at the default path')
})

test('a shared node: the dashboard publishes its summary while the app runs, and app.close() ends open streams', async t => {
  const node = await spawnNode()
  t.teardown(() => node.close())
  const a = Fastify()
  t.teardown(() => a.close())
  await a.register(grapevine, { gossip: node, dashboard: { refresh: 50 } })
  await waitFor(() => node.stats().topics.some(topic => topic.topic === CLUSTER_TOPIC_ID), 'the node in the summary topic')
  const address = await a.listen({ host: '127.0.0.1', port: 0 })
  const response = await fetch(`${address}/gossip/dashboard/events`)
  t.match(response.headers.get('content-type'), /text\/event-stream/)
  const reader = response.body!.getReader()
  let text = ''
  while (!text.includes('"self"')) text += new TextDecoder().decode((await reader.read()).value)
  t.match(text, `"self":"${node.nodeId}"`)
  await a.close()
  t.notOk(node.stats().topics.some(topic => topic.topic === CLUSTER_TOPIC_ID), 'a shared node leaves the summary topic with the app')
  t.equal((await reader.read()).done, true, 'the stream ended')
})
