import { test, type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import grapevine, { type BridgeOptions } from '../../src/plugin/index.js'
import { connect, type FrameReader } from '../fixtures/bridge-client.js'

const secret = 'plugin cluster test secret'

async function instance (t: Test, seeds: string[] = [], bridge: BridgeOptions | true = true): Promise<{ app: FastifyInstance, url: string }> {
  const app = Fastify()
  await app.register(grapevine, { secret, host: '127.0.0.1', port: 0, seeds, bridge })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  return { app, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/gossip` }
}

test('two real instances: browser messages cross both ways; a third instance that never subscribed gets nothing', async t => {
  const a = await instance(t)
  const b = await instance(t, [a.app.gossip.address])
  const c = await instance(t, [a.app.gossip.address, b.app.gossip.address])
  const alice = await connect(t, a.url)
  const bob = await connect(t, b.url)
  const carol = await connect(t, c.url)

  t.same(await alice.request({ op: 'subscribe', topic: 'room' }, 1), { op: 'ack', id: 1 })
  t.same(await bob.request({ op: 'subscribe', topic: 'room' }, 1), { op: 'ack', id: 1 })
  t.same(await carol.request({ op: 'subscribe', topic: 'fence' }, 1), { op: 'ack', id: 1 })

  t.same(await alice.request({ op: 'publish', topic: 'room', data: 'from a' }, 2), { op: 'ack', id: 2 })
  t.same(await bob.next(), { op: 'message', topic: 'room', data: 'from a', origin: a.app.gossip.nodeId }, 'a to b')

  bob.send({ op: 'publish', topic: 'room', data: 'from b' })
  t.same(await alice.next(), { op: 'message', topic: 'room', data: 'from b', origin: b.app.gossip.nodeId }, 'b to a')

  // Carol's instance never joined "room": once a later message on her own topic arrives, the
  // room messages would have had ample time, and none came.
  alice.send({ op: 'publish', topic: 'fence', data: 'fence' })
  t.match(await carol.next(), { op: 'message', topic: 'fence', data: 'fence' })
  t.equal(carol.pending, 0, 'nothing of "room" reached the third instance')
  t.equal(alice.pending + bob.pending, 0, 'no echo to the senders')
})

test('many messages keep their order from one browser to a browser on another instance', async t => {
  const a = await instance(t)
  const b = await instance(t, [a.app.gossip.address])
  const sender = await connect(t, a.url)
  const receiver = await connect(t, b.url)
  await receiver.request({ op: 'subscribe', topic: 'stream' }, 1)
  for (let i = 0; i < 50; i++) sender.send({ op: 'publish', topic: 'stream', data: `m${i}` })
  const got: string[] = []
  while (got.length < 50) {
    const frame = await receiver.next()
    if (frame.op === 'message') got.push(frame.data)
  }
  t.same(got, Array.from({ length: 50 }, (_, i) => `m${i}`))
})

test('a burst of publishes is read with backpressure, not refused, and all of it arrives in order', async t => {
  const a = await instance(t, [], { publishRate: { max: 100_000 } })
  const b = await instance(t, [a.app.gossip.address])
  const sender = await connect(t, a.url)
  const receiver = await connect(t, b.url)
  await receiver.request({ op: 'subscribe', topic: 'burst' }, 1)
  await sender.request({ op: 'publish', topic: 'burst', data: 'first' }, 1)
  t.match(await receiver.next(), { data: 'first' })
  const count = 3000
  // One write: the server parses all frames of a chunk at once.
  const frames = Array.from({ length: count }, (_, i) => JSON.stringify({ op: 'publish', topic: 'burst', data: `b${i}` }))
  for (const frame of frames) sender.ws.send(frame)
  const got: string[] = []
  while (got.length < count) {
    const frame = await receiver.next()
    if (frame.op !== 'message') {
      t.fail(`expected only messages, got ${JSON.stringify(frame)}`)
      break
    }
    got.push(frame.data)
  }
  t.same(got, frames.map((_, i) => `b${i}`))
  t.equal(sender.pending, 0, 'the sender got no error')
})

test('a topic nobody else joined still fans out locally past the node\'s queue of pending publishes', async t => {
  const app = Fastify()
  // A node with no neighbour in a topic queues its publishes; past the limit the overlay drops them.
  await app.register(grapevine, { secret, port: 0, pendingPublishLimit: 10, bridge: true })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/gossip`
  const sender = await connect(t, url)
  const receiver = await connect(t, url)
  await receiver.request({ op: 'subscribe', topic: 'local-only' }, 1)
  for (let i = 0; i < 30; i++) t.same(await sender.request({ op: 'publish', topic: 'local-only', data: `l${i}` }, i), { op: 'ack', id: i })
  for (let i = 0; i < 30; i++) t.match(await receiver.next(), { op: 'message', data: `l${i}` })
})

test('fastify.close() closes the node the plugin created and its clients get 1001', async t => {
  const a = await instance(t)
  const client: FrameReader = await connect(t, a.url)
  await client.request({ op: 'subscribe', topic: 'room' }, 1)
  const node = a.app.gossip
  await a.app.close()
  t.equal((await client.closed).code, 1001)
  await t.rejects(node.stream('after-close'), { code: 'ERR_GOSSIP_CLOSED' })
})

test('the plugin logs through a child of fastify.log', async t => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.register(grapevine, { secret, port: 0 })
  await app.ready()
  const saying = lines.filter(line => line.nodeId === app.gossip.nodeId && line.address === app.gossip.address)
  t.equal(saying.length, 1, 'who the node is and where it listens is said once')
  t.match(saying[0], { level: 30, plugin: 'grapevine', msg: `gossip node listening on ${app.gossip.address}` })
})

test('a node that cannot start rejects register() with FST_GRAPEVINE_NODE_START', async t => {
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const taken = (blocker.address() as AddressInfo).port
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(grapevine, { secret, host: '127.0.0.1', port: taken }) }, {
    code: 'FST_GRAPEVINE_NODE_START',
    cause: { code: 'ERR_GOSSIP_LISTEN', cause: { code: 'EADDRINUSE' } }
  })
})
