import { test, type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import grapevine, { type BridgeOptions } from '../../src/plugin/index.js'
import { MemoryNetwork, type MemoryGossip } from '../fixtures/memory-gossip.js'
import { connect, encodeBinaryPublish, FrameReader, waitFor } from '../fixtures/bridge-client.js'
import type { AddressInfo } from 'node:net'

/**
 * injectWS sockets are in-memory streams that never report the end of a closing handshake, so
 * ws would keep a 30 s close timer alive: tests drop the server side of their sockets first.
 */
async function shutdown (fastify: FastifyInstance): Promise<void> {
  for (const ws of fastify.websocketServer?.clients ?? []) ws.terminate()
  await fastify.close()
}

async function app (t: Test, node: MemoryGossip, bridge: BridgeOptions | true = true): Promise<FastifyInstance> {
  const fastify = Fastify()
  t.teardown(() => shutdown(fastify))
  await fastify.register(grapevine, { gossip: node, bridge })
  await fastify.ready()
  return fastify
}

async function client (t: Test, fastify: FastifyInstance, path = '/gossip', headers: Record<string, string> = {}): Promise<FrameReader> {
  const ws = await fastify.injectWS(path, { headers })
  t.teardown(() => ws.terminate())
  return new FrameReader(ws)
}

test('a publish reaches subscribers on the same instance and on other instances, but not its sender', async t => {
  const net = new MemoryNetwork()
  const nodeA = net.node()
  const a = await app(t, nodeA)
  const b = await app(t, net.node())
  const alice = await client(t, a)
  const carol = await client(t, a)
  const bob = await client(t, b)

  t.same(await alice.request({ op: 'subscribe', topic: 'room' }, 1), { op: 'ack', id: 1 })
  t.same(await carol.request({ op: 'subscribe', topic: 'room' }, 2), { op: 'ack', id: 2 })
  t.same(await bob.request({ op: 'subscribe', topic: 'room' }, 3), { op: 'ack', id: 3 })

  t.same(await alice.request({ op: 'publish', topic: 'room', data: 'hello' }, 4), { op: 'ack', id: 4 })
  t.same(await carol.next(), { op: 'message', topic: 'room', data: 'hello', origin: nodeA.nodeId })
  t.same(await bob.next(), { op: 'message', topic: 'room', data: 'hello', origin: nodeA.nodeId })

  // Alice gets Bob's answer and never her own message back.
  bob.send({ op: 'publish', topic: 'room', data: 'hi alice' })
  const answer = await alice.next()
  t.match(answer, { op: 'message', topic: 'room', data: 'hi alice' })
})

test('a publish without an id is not acknowledged, and publishing does not require a subscription', async t => {
  const net = new MemoryNetwork()
  const a = await app(t, net.node())
  const b = await app(t, net.node())
  const sender = await client(t, a)
  const receiver = await client(t, b)
  await receiver.request({ op: 'subscribe', topic: 'news' }, 'sub')
  sender.send({ op: 'publish', topic: 'news', data: 'one' })
  sender.send({ op: 'publish', topic: 'news', data: 'two' })
  t.match(await receiver.next(), { data: 'one' })
  t.match(await receiver.next(), { data: 'two' })
  t.same(await sender.request({ op: 'unsubscribe', topic: 'news' }, 'u'), { op: 'ack', id: 'u' })
  t.equal(sender.pending, 0, 'the sender received neither an ack nor its own messages')
})

test('after unsubscribe a client receives nothing more on that topic', async t => {
  const node = new MemoryNetwork().node()
  const a = await app(t, node)
  const listener = await client(t, a)
  const talker = await client(t, a)
  await listener.request({ op: 'subscribe', topic: 'room' }, 1)
  await listener.request({ op: 'subscribe', topic: 'fence' }, 2)
  talker.send({ op: 'publish', topic: 'room', data: 'before' })
  t.match(await listener.next(), { topic: 'room', data: 'before' })

  t.same(await listener.request({ op: 'unsubscribe', topic: 'room' }, 3), { op: 'ack', id: 3 })
  talker.send({ op: 'publish', topic: 'room', data: 'after' })
  talker.send({ op: 'publish', topic: 'fence', data: 'fence' })
  // Local fan-out keeps each sender's order, so "after" would have come before the fence.
  t.same(await listener.next(), { op: 'message', topic: 'fence', data: 'fence', origin: node.nodeId })
})

test('the bridge leaves a topic on the node when its last local user goes', async t => {
  const node = new MemoryNetwork().node()
  const events = node.events()
  t.teardown(() => events.close())
  const a = await app(t, node)
  await a.listen({ host: '127.0.0.1', port: 0 })
  const url = `ws://127.0.0.1:${(a.server.address() as AddressInfo).port}/gossip`
  const one = await connect(t, url)
  const two = await connect(t, url)
  await one.request({ op: 'subscribe', topic: 'room' }, 1)
  await two.request({ op: 'subscribe', topic: 'room' }, 1)
  await one.request({ op: 'unsubscribe', topic: 'room' }, 2)
  two.ws.close()
  const seen: string[] = []
  for await (const event of events) {
    seen.push(event.type)
    if (event.type === 'left') break
  }
  t.same(seen, ['joined', 'left'], 'joined once for both clients, left once when both were gone')
})

test('every malformed frame gets an error frame and the connection stays usable', async t => {
  const a = await app(t, new MemoryNetwork().node())
  const c = await client(t, a)
  const cases: Array<[string, unknown, string]> = [
    ['not JSON', 'hello', 'BAD_FRAME'],
    ['a JSON array', '[1,2]', 'BAD_FRAME'],
    ['JSON null', 'null', 'BAD_FRAME'],
    ['no op', { topic: 'x' }, 'UNKNOWN_OP'],
    ['an unknown op', { op: 'shout', topic: 'x' }, 'UNKNOWN_OP'],
    ['no topic', { op: 'subscribe' }, 'BAD_TOPIC'],
    ['an empty topic', { op: 'subscribe', topic: '' }, 'BAD_TOPIC'],
    ['a topic that is not a string', { op: 'subscribe', topic: 42 }, 'BAD_TOPIC'],
    ['a topic too long', { op: 'subscribe', topic: 'x'.repeat(257) }, 'BAD_TOPIC'],
    ['an unknown field', { op: 'subscribe', topic: 'x', extra: true }, 'BAD_FRAME'],
    ['data that is not a string', { op: 'publish', topic: 'x', data: { a: 1 } }, 'BAD_DATA'],
    ['a publish without data', { op: 'publish', topic: 'x' }, 'BAD_DATA'],
    ['an unknown format', { op: 'subscribe', topic: 'x', format: 'xml' }, 'BAD_FRAME'],
    ['a negative id', { op: 'subscribe', topic: 'x', id: -1 }, 'BAD_ID'],
    ['an id too long', { op: 'subscribe', topic: 'x', id: 'i'.repeat(65) }, 'BAD_ID']
  ]
  for (const [what, frame, code] of cases) {
    c.send(frame)
    const reply = await c.next()
    t.match(reply, { op: 'error', code, reason: String }, `${what} is answered with ${code}`)
  }
  c.ws.send(Buffer.from([0x09, 0, 1, 0x41, 0]))
  t.match(await c.next(), { op: 'error', code: 'BAD_FRAME' }, 'a binary frame of an unknown type')
  c.ws.send(Buffer.from([0x01, 0, 50, 0x41, 0]))
  t.match(await c.next(), { op: 'error', code: 'BAD_FRAME' }, 'a binary frame shorter than its header')
  c.ws.send(Buffer.from([0x01, 0, 1, 0xff, 0]))
  t.match(await c.next(), { op: 'error', code: 'BAD_TOPIC' }, 'a binary frame whose topic is not UTF-8')

  t.match(await c.request({ op: 'publish', topic: 'x', data: 1 }, 'p'), { op: 'error', code: 'BAD_DATA', id: 'p', topic: 'x' }, 'errors carry the id and topic of the frame')
  t.same(await c.request({ op: 'subscribe', topic: 'x' }, 'ok'), { op: 'ack', id: 'ok' }, 'the connection still works')
})

test('binary payloads travel in binary frames; text subscribers get non-UTF-8 content as binary', async t => {
  const net = new MemoryNetwork()
  const nodeA = net.node()
  const a = await app(t, nodeA)
  const b = await app(t, net.node())
  const sender = await client(t, a)
  const textReader = await client(t, b)
  const binaryReader = await client(t, b)
  await textReader.request({ op: 'subscribe', topic: 'bin' }, 1)
  await binaryReader.request({ op: 'subscribe', topic: 'bin', format: 'binary' }, 1)

  sender.ws.send(encodeBinaryPublish('bin', Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'b1'))
  t.same(await sender.next(), { op: 'ack', id: 'b1' })
  t.same(await textReader.next(), { op: 'binary', topic: 'bin', origin: nodeA.nodeId, data: Buffer.from([0xde, 0xad, 0xbe, 0xef]) })
  t.same(await binaryReader.next(), { op: 'binary', topic: 'bin', origin: nodeA.nodeId, data: Buffer.from([0xde, 0xad, 0xbe, 0xef]) })

  sender.send({ op: 'publish', topic: 'bin', data: 'héllo' })
  t.same(await textReader.next(), { op: 'message', topic: 'bin', data: 'héllo', origin: nodeA.nodeId })
  t.same(await binaryReader.next(), { op: 'binary', topic: 'bin', origin: nodeA.nodeId, data: Buffer.from('héllo') })
})

test('authorize decides subscribe and publish per topic, sync or async, and a throwing hook refuses', async t => {
  const calls: string[] = []
  const a = await app(t, new MemoryNetwork().node(), {
    authorize: async (request, topic, action) => {
      calls.push(`${action} ${topic}`)
      if (topic === 'boom') throw new Error('hook failed')
      if (topic === 'private') return request.headers['x-user'] === 'admin'
      if (topic === 'announcements') return action === 'subscribe'
      return true
    }
  })
  const guest = await client(t, a, '/gossip', { 'x-user': 'guest' })
  const admin = await client(t, a, '/gossip', { 'x-user': 'admin' })

  t.match(await guest.request({ op: 'subscribe', topic: 'private' }, 1), { op: 'error', code: 'FORBIDDEN', id: 1, topic: 'private' })
  t.same(await admin.request({ op: 'subscribe', topic: 'private' }, 1), { op: 'ack', id: 1 })
  t.same(await guest.request({ op: 'subscribe', topic: 'announcements' }, 2), { op: 'ack', id: 2 })
  t.match(await guest.request({ op: 'publish', topic: 'announcements', data: 'x' }, 3), { op: 'error', code: 'FORBIDDEN' })
  t.match(await guest.request({ op: 'subscribe', topic: 'boom' }, 4), { op: 'error', code: 'FORBIDDEN' })
  guest.send({ op: 'publish', topic: 'private', data: 'sneaky' })
  t.match(await guest.next(), { op: 'error', code: 'FORBIDDEN', topic: 'private' })
  t.equal(admin.pending, 0, 'a refused publish reaches nobody')
  t.same(calls, ['subscribe private', 'subscribe private', 'subscribe announcements', 'publish announcements', 'subscribe boom', 'publish private'])
})

test('a sync authorize works too', async t => {
  const a = await app(t, new MemoryNetwork().node(), { authorize: (_request, topic) => topic.startsWith('public:') })
  const c = await client(t, a)
  t.same(await c.request({ op: 'subscribe', topic: 'public:lobby' }, 1), { op: 'ack', id: 1 })
  t.match(await c.request({ op: 'subscribe', topic: 'admin' }, 2), { op: 'error', code: 'FORBIDDEN' })
})

test('an onRequest hook that replies 401 refuses the upgrade', async t => {
  const fastify = Fastify()
  t.teardown(() => shutdown(fastify))
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'unauthorized' })
  })
  await fastify.register(grapevine, { gossip: new MemoryNetwork().node(), bridge: true })
  await fastify.ready()
  await t.rejects(fastify.injectWS('/gossip'), /401/)
  const ws = await fastify.injectWS('/gossip', { headers: { authorization: 'Bearer ok' } })
  t.teardown(() => ws.terminate())
  t.same(await new FrameReader(ws).request({ op: 'subscribe', topic: 'x' }, 1), { op: 'ack', id: 1 })
})

test('a preValidation hook can refuse the upgrade too, for the bridge route only', async t => {
  const fastify = Fastify()
  t.teardown(() => shutdown(fastify))
  fastify.addHook('preValidation', async (request, reply) => {
    if (request.routeOptions.url === '/gossip' && request.headers['x-token'] !== 'secret') await reply.code(401).send()
  })
  fastify.get('/health', async () => ({ ok: true }))
  await fastify.register(grapevine, { gossip: new MemoryNetwork().node(), bridge: true })
  await fastify.ready()
  await t.rejects(fastify.injectWS('/gossip'), /401/)
  t.equal((await fastify.inject('/health')).statusCode, 200, 'other routes are not affected')
  const ws = await fastify.injectWS('/gossip', { headers: { 'x-token': 'secret' } })
  t.same(await new FrameReader(ws).request({ op: 'subscribe', topic: 'x' }, 1), { op: 'ack', id: 1 })
})

test('a message larger than maxPayload closes the connection with 1009', async t => {
  const a = await app(t, new MemoryNetwork().node(), { maxPayload: 1024 })
  const c = await client(t, a)
  c.send({ op: 'publish', topic: 'x', data: 'y'.repeat(2000) })
  t.equal((await c.closed).code, 1009)
})

test('maxPayload is enforced even when the app registered @fastify/websocket with a larger limit', async t => {
  const fastify = Fastify()
  t.teardown(() => shutdown(fastify))
  const { default: websocket } = await import('@fastify/websocket')
  await fastify.register(websocket, { options: { maxPayload: 1024 * 1024 } })
  await fastify.register(grapevine, { gossip: new MemoryNetwork().node(), bridge: { maxPayload: 1024 } })
  await fastify.ready()
  const ws = await fastify.injectWS('/gossip')
  t.teardown(() => ws.terminate())
  const c = new FrameReader(ws)
  t.same(await c.request({ op: 'subscribe', topic: 'x' }, 1), { op: 'ack', id: 1 }, 'the app\'s own @fastify/websocket serves the bridge')
  c.send({ op: 'publish', topic: 'x', data: 'y'.repeat(2000) })
  t.equal((await c.closed).code, 1009)
})

test('publishes over the rate are refused with an error, and far over it close the connection with 1008', async t => {
  const a = await app(t, new MemoryNetwork().node(), { publishRate: { max: 2, timeWindow: 3_600_000 } })
  const c = await client(t, a)
  t.same(await c.request({ op: 'publish', topic: 'x', data: '1' }, 1), { op: 'ack', id: 1 })
  t.same(await c.request({ op: 'publish', topic: 'x', data: '2' }, 2), { op: 'ack', id: 2 })
  t.match(await c.request({ op: 'publish', topic: 'x', data: '3' }, 3), { op: 'error', code: 'RATE_LIMITED', id: 3 })
  t.same(await c.request({ op: 'subscribe', topic: 'y' }, 4), { op: 'ack', id: 4 }, 'subscribing is not rate limited')
  t.match(await c.request({ op: 'publish', topic: 'x', data: '4' }, 5), { op: 'error', code: 'RATE_LIMITED' })
  c.send({ op: 'publish', topic: 'x', data: '5' })
  t.equal((await c.closed).code, 1008)
})

test('a connection may hold at most maxTopicsPerConnection topics', async t => {
  const a = await app(t, new MemoryNetwork().node(), { maxTopicsPerConnection: 2 })
  const c = await client(t, a)
  t.same(await c.request({ op: 'subscribe', topic: 'a' }, 1), { op: 'ack', id: 1 })
  t.same(await c.request({ op: 'publish', topic: 'b', data: 'x' }, 2), { op: 'ack', id: 2 })
  t.match(await c.request({ op: 'subscribe', topic: 'c' }, 3), { op: 'error', code: 'TOO_MANY_TOPICS' })
  t.match(await c.request({ op: 'publish', topic: 'c', data: 'x' }, 4), { op: 'error', code: 'TOO_MANY_TOPICS' })
  t.same(await c.request({ op: 'subscribe', topic: 'a' }, 5), { op: 'ack', id: 5 }, 'a topic already held does not count twice')
  await c.request({ op: 'unsubscribe', topic: 'b' }, 6)
  t.same(await c.request({ op: 'subscribe', topic: 'c' }, 7), { op: 'ack', id: 7 }, 'unsubscribing frees a slot')
})

test('a client that stops reading is closed with 1013 once its send buffer is full', async t => {
  const a = await app(t, new MemoryNetwork().node(), { sendBufferBytes: 64 * 1024 })
  const slow = await client(t, a)
  const fast = await client(t, a)
  await slow.request({ op: 'subscribe', topic: 'flood' }, 1)
  // The test client's socket stops reading, so the server's writes back up.
  const socket = (slow.ws as unknown as { _socket: { pause (): void, resume (): void } })._socket
  socket.pause()
  const closing = (): boolean => [...a.websocketServer.clients].some(ws => ws.readyState === ws.CLOSING)
  const chunk = 'z'.repeat(16 * 1024)
  let sent = 0
  await waitFor(() => {
    if (sent < 1000) {
      fast.send({ op: 'publish', topic: 'flood', data: chunk })
      sent++
    }
    return closing()
  }, 'the server to give up on the slow client')
  t.ok(sent < 1000, `given up after ${sent} messages of 16 KiB`)
  socket.resume()
  t.equal((await slow.closed).code, 1013, 'once it reads again, the client finds the 1013 close behind the buffered messages')
})

test('fastify.close() closes open bridge clients with 1001 and leaves the bridge topics', async t => {
  const node = new MemoryNetwork().node()
  const events = node.events()
  const fastify = Fastify()
  await fastify.register(grapevine, { gossip: node, bridge: true })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  const url = `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/gossip`
  const one = await connect(t, url)
  const two = await connect(t, url)
  await one.request({ op: 'subscribe', topic: 'room' }, 1)
  await fastify.close()
  t.equal((await one.closed).code, 1001)
  t.equal((await two.closed).code, 1001)
  const seen: string[] = []
  events.close()
  for await (const event of events) seen.push(event.type)
  t.same(seen, ['joined', 'left'], 'the bridge left its topic')
  t.notOk(node.isClosed, 'a node that was passed in is not closed by the plugin')
  const h = await node.stream('still-works')
  await h.close()
  await node.close()
})

test('the bridge path is configurable', async t => {
  const a = await app(t, new MemoryNetwork().node(), { path: '/ws/pubsub' })
  const c = await client(t, a, '/ws/pubsub')
  t.same(await c.request({ op: 'subscribe', topic: 'x' }, 1), { op: 'ack', id: 1 })
  await t.rejects(a.injectWS('/gossip'), /404/)
})

test('fastify.gossipBridge.publish reaches browsers on this instance and on the others', async t => {
  const net = new MemoryNetwork()
  const nodeA = net.node()
  const a = await app(t, nodeA)
  const b = await app(t, net.node())
  const local = await client(t, a)
  const remote = await client(t, b)
  await local.request({ op: 'subscribe', topic: 'news' }, 1)
  await remote.request({ op: 'subscribe', topic: 'news' }, 1)
  t.equal(a.gossipBridge.connections, 1)
  await a.gossipBridge.publish('news', 'from a route')
  t.same(await local.next(), { op: 'message', topic: 'news', data: 'from a route', origin: nodeA.nodeId })
  t.same(await remote.next(), { op: 'message', topic: 'news', data: 'from a route', origin: nodeA.nodeId })
  await a.gossipBridge.publish('quiet', new Uint8Array([1, 2, 3]))
  await t.rejects(a.gossipBridge.publish('', 'x'), TypeError)
})

test('without the bridge option there is no route and no gossipBridge', async t => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { gossip: new MemoryNetwork().node() })
  await fastify.ready()
  t.notOk(fastify.hasDecorator('gossipBridge'))
  t.notOk(fastify.hasDecorator('websocketServer'), '@fastify/websocket is not registered')
  t.equal((await fastify.inject('/gossip')).statusCode, 404)
})
