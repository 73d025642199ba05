import Fastify from 'fastify'
import { Registry } from 'prom-client'
import { Server } from 'socket.io'
import grapevine from 'grapevine-gossip/fastify'
import { createAdapter } from 'grapevine-gossip/socket.io'

const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

const registry = new Registry()
const app = Fastify({ logger: { level: 'warn' } })   // the node logs through a child of app.log
await app.register(grapevine, {
  secret,
  port: 0,
  health: true,            // GET /gossip/health: 200 while every topic has a neighbour, else 503
  metrics: { registry }    // grapevine_* metrics, read from gossip.stats() at each scrape
})
app.get('/metrics', async (_request, reply) => await reply.type(registry.contentType).send(await registry.metrics()))

// Socket.IO on the same HTTP server and the same node: one set of gossip links per process.
const io = new Server(app.server, { adapter: createAdapter({ gossip: app.gossip }) })

const url = await app.listen({ host: '127.0.0.1', port: 0 })
// 503 here: alone, the node has no neighbour in its one topic (the adapter's). With a second
// instance running it says 200.
const health = await fetch(`${url}/gossip/health`)
console.log('health', health.status, await health.text())
const metrics = await (await fetch(`${url}/metrics`)).text()
console.log(metrics.split('\n').filter(line => line.startsWith('grapevine_up') || line.startsWith('grapevine_links')).join('\n'))

// Shutdown order with a shared node: Socket.IO first, so its adapter says goodbye to the other
// servers while the node still runs; then Fastify, which closes the node the plugin created.
await io.close()
await app.close()
console.log('closed')
