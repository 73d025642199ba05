import Fastify from 'fastify'
import grapevine from 'grapevine-gossip/fastify'

const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

const app = Fastify({ logger: { level: 'warn' } })
await app.register(grapevine, {
  secret,                 // every instance of the cluster shares it
  port: 0,                // where this node accepts gossip links; 0 picks a free port
  seeds: [],              // the other instances, host:port (a DNS name resolves to all its addresses)
  health: true,           // GET /gossip/health
  bridge: {
    // Browsers may subscribe and publish to public topics only; the server may use any.
    authorize: (_request, topic) => topic.startsWith('public:')
  }
})

// The node itself: a topic the instances share, joined once at start.
const audit = await app.gossip.stream('audit')
void (async () => {
  for await (const item of audit.subscribe()) {
    if (item.type === 'message') app.log.info({ origin: item.origin }, Buffer.from(item.content).toString())
  }
})()

// Route generics type `request.params` and `request.body` (they are `unknown` otherwise).
app.post<{ Params: { room: string }, Body: { text: string } }>('/rooms/:room/announce', async (request) => {
  const { room } = request.params
  // Reaches the browsers subscribed to the topic, on this instance and on every other one.
  await app.gossipBridge.publish(`public:room:${room}`, request.body.text)
  await audit.publish(`announced in ${room}`)
  return { ok: true, connections: app.gossipBridge.connections }
})

const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening on ${url}, gossip node ${app.gossip.nodeId.slice(0, 8)} at ${app.gossip.address}`)

// One request to show the route at work; a real server would keep running.
const response = await fetch(`${url}/rooms/42/announce`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ text: 'the meeting starts at noon' })
})
console.log(response.status, await response.text())

// Closes the bridge's connections, leaves every topic, then closes the node.
await app.close()
