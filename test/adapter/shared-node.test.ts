/**
 * The Fastify plugin and the Socket.IO adapter in one process on one node: the adapter is given
 * `fastify.gossip`, so an app has one node and one set of links for both. Two such apps over TCP on
 * 127.0.0.1.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { Server } from 'socket.io'
import { grapevine } from '../../src/plugin/index.js'
import { createAdapter } from '../../src/adapter/index.js'
import type { GossipAdapterConstructor } from '../../src/adapter/index.js'
import { realNodes } from '../fixtures/adapter-nodes.js'
import { connectClient, startServer, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import type { TestClient } from '../fixtures/socketio-cluster.js'

interface App {
  fastify: FastifyInstance
  io: Server
  factory: GossipAdapterConstructor
  url: string
}

const secret = randomBytes(16).toString('hex')

async function startApp (seeds: string[]): Promise<App> {
  const fastify = Fastify()
  await fastify.register(grapevine, { secret, host: '127.0.0.1', port: 0, seeds })
  const factory = createAdapter({ gossip: fastify.gossip })
  const io = new Server(fastify.server, { adapter: factory })
  io.on('connection', socket => { socket.join('room') })
  // Socket.IO goes first so clients are gone and the adapter has said goodbye before the node closes.
  fastify.addHook('preClose', async () => {
    io.disconnectSockets(true)
    await Promise.all([...io._nsps.values()].map(async nsp => { await nsp.adapter.close() }))
  })
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  const { port } = fastify.server.address() as AddressInfo
  return { fastify, io, factory, url: `http://127.0.0.1:${port}` }
}

const a = await startApp([])
const b = await startApp([a.fastify.gossip.address])
const clients: TestClient[] = [await connectClient(a.url, 'at-a'), await connectClient(b.url, 'at-b')]
t.teardown(async () => {
  for (const c of clients) c.socket.disconnect()
  await b.fastify.close()
  await a.fastify.close()
})

t.test('the adapter runs on the very node the plugin created', async t => {
  t.equal(await a.factory.node(), a.fastify.gossip)
  t.equal(await b.factory.node(), b.fastify.gossip)
})

t.test('Socket.IO broadcasts and plugin topics both flow between the two apps', async t => {
  await waitFor('both servers counted', async () => (await a.io.of('/').adapter.serverCount()) === 2 && (await b.io.of('/').adapter.serverCount()) === 2)
  a.io.to('room').emit('hello', 'from a')
  await waitFor('client at b', () => clients[1]!.got('hello').length === 1)
  t.same(clients[1]!.got('hello'), [['from a']])

  const news = await b.fastify.gossip.stream('news')
  const sub = news.subscribe()
  const atA = await a.fastify.gossip.stream('news')
  t.teardown(async () => { sub.close(); await news.close(); await atA.close() })
  await waitFor('news overlay formed', () => news.neighbours().length > 0 && atA.neighbours().length > 0)
  await atA.publish('extra')
  for await (const item of sub) {
    if (item.type === 'message') {
      t.equal(Buffer.from(item.content).toString(), 'extra')
      break
    }
  }
})

t.test('closing Socket.IO leaves the shared node to the plugin', async t => {
  const io = new Server(createServer(), { adapter: createAdapter({ gossip: a.fastify.gossip }) })
  await new Promise<void>(resolve => { io.close(() => { resolve() }).catch(() => { resolve() }) })
  const handle = await a.fastify.gossip.stream('still open')
  await handle.close()
  t.pass('the plugin\'s node still opens topics')
})

t.test('io.close() closes the node the adapter spawned for itself', async t => {
  const factory = createAdapter({ secret, host: '127.0.0.1', port: 0 })
  const io = new Server(createServer(), { adapter: factory })
  io.of('/second')
  const node = await factory.node()
  await new Promise<void>(resolve => { io.close(() => { resolve() }).catch(() => { resolve() }) })
  await t.rejects(node.stream('after close'), { code: 'ERR_GOSSIP_CLOSED' })
})

t.test('two Socket.IO servers on one node and a third elsewhere serve each other like any three', async t => {
  const set = await realNodes(2)
  const servers = [
    await startServer(createAdapter({ gossip: set.nodes[0]! })),
    await startServer(createAdapter({ gossip: set.nodes[0]! })),
    await startServer(createAdapter({ gossip: set.nodes[1]! }))
  ]
  const clients = await Promise.all(servers.map(async (s, i) => await connectClient(s.url, `s${i}`)))
  t.teardown(async () => {
    for (const c of clients) c.socket.disconnect()
    await Promise.all(servers.map(s => s.close()))
    await set.close()
  })
  await waitForServerCount(servers, 3)
  for (const [i, s] of servers.entries()) {
    const sockets = await s.io.fetchSockets()
    t.same(sockets.map(x => (x.data as { name: string }).name).sort(), ['s0', 's1', 's2'], `fetchSockets from s${i}`)
    s.io.emit('from', i)
  }
  await waitFor('every client has every server\'s event', () => clients.every(c => c.got('from').length === 3))
  for (const [i, s] of servers.entries()) s.io.on('q', (ack: (n: number) => void) => { ack(i) })
  const answers = await servers[0]!.io.serverSideEmitWithAck('q') as number[]
  t.same(answers.sort(), [1, 2])
  const acks = await servers[1]!.io.timeout(10_000).emitWithAck('ask') as string[]
  t.same(acks.sort(), ['s0', 's1', 's2'])
})
