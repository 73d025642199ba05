import { test, type Test } from 'tap'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { WebSocket } from 'ws'
import grapevine, { type BridgeOptions } from '../../src/plugin/index.js'
import { connect, type BridgeMessage, type GrapevineClient, type WebSocketConstructor } from '../../src/browser/index.js'
import { MemoryNetwork, type MemoryGossip } from '../fixtures/memory-gossip.js'
import { waitFor } from '../fixtures/bridge-client.js'

async function server (t: Test, node: MemoryGossip, bridge: BridgeOptions | true = true): Promise<{ url: string, close (): void }> {
  const fastify = Fastify()
  await fastify.register(grapevine, { gossip: node, bridge })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => fastify.close())
  return {
    url: `ws://127.0.0.1:${(fastify.server.address() as AddressInfo).port}/gossip`,
    // Drops every bridge connection as a network failure would.
    close: () => { for (const ws of fastify.websocketServer.clients) ws.terminate() }
  }
}

function client (t: Test, url: string): GrapevineClient {
  const c = connect(url, { WebSocket: WebSocket as unknown as WebSocketConstructor, reconnect: { minDelay: 10, maxDelay: 100 } })
  t.teardown(() => c.close())
  return c
}

test('subscribe with a callback or an async iterator, publish resolves once the bridge accepted it', async t => {
  const net = new MemoryNetwork()
  const a = await server(t, net.node())
  const b = await server(t, net.node())
  const alice = client(t, a.url)
  const bob = client(t, b.url)

  const received: BridgeMessage[] = []
  const withCallback = bob.subscribe('room', m => received.push(m))
  const iterated = bob.subscribe('room')
  await withCallback.ready
  await iterated.ready

  await alice.publish('room', 'hello')
  await alice.publish('room', new Uint8Array([0xff, 0x00]))
  const seen: BridgeMessage[] = []
  for await (const m of iterated) {
    seen.push(m)
    if (seen.length === 2) break
  }
  t.match(seen[0], { topic: 'room', data: 'hello', origin: String })
  t.same(seen[1]!.data, new Uint8Array([0xff, 0x00]), 'bytes that are not UTF-8 arrive as bytes')
  await waitFor(() => received.length === 2, 'the callback to see both messages')
  t.same(received.map(m => m.data), ['hello', new Uint8Array([0xff, 0x00])])
})

test('refusals reject: a forbidden subscribe rejects ready, a forbidden publish rejects with its code', async t => {
  const a = await server(t, new MemoryNetwork().node(), { authorize: (_request, topic) => topic !== 'secret' })
  const c = client(t, a.url)
  const sub = c.subscribe('secret')
  await t.rejects(sub.ready, { name: 'BridgeError', code: 'FORBIDDEN' })
  await t.rejects(c.publish('secret', 'x'), { name: 'BridgeError', code: 'FORBIDDEN', topic: 'secret' })
  await c.subscribe('open').ready
})

test('after the connection drops, the client reconnects, re-subscribes and sends what was queued', async t => {
  const net = new MemoryNetwork()
  const a = await server(t, net.node())
  const b = await server(t, net.node())
  const listener = client(t, a.url)
  const talker = client(t, b.url)
  const received: string[] = []
  await listener.subscribe('room', m => received.push(m.data as string)).ready
  await talker.publish('room', 'before')
  await waitFor(() => received.length === 1, 'the first message')

  let opens = 0
  listener.on('open', () => { opens++ })
  const closed = new Promise(resolve => listener.on('close', resolve))
  a.close()
  await closed
  t.notOk(listener.connected)
  // Queued while disconnected; the bridge handles a connection's frames in order, so once this
  // is acknowledged the re-subscription is in place too.
  await listener.publish('elsewhere', 'queued while offline')
  t.equal(opens, 1, 'reconnected once')
  await talker.publish('room', 'after')
  await waitFor(() => received.length === 2, 'the message sent after the reconnection')
  t.same(received, ['before', 'after'])
})

test('the last unsubscribe of a topic stops its messages', async t => {
  const net = new MemoryNetwork()
  const a = await server(t, net.node())
  const listener = client(t, a.url)
  const talker = client(t, a.url)
  const room: string[] = []
  const fence: string[] = []
  const one = listener.subscribe('room', m => room.push(m.data as string))
  const two = listener.subscribe('room', m => room.push(m.data as string))
  await listener.subscribe('fence', m => fence.push(m.data as string)).ready
  await one.ready
  await two.ready
  one.unsubscribe()
  await talker.publish('room', 'still subscribed once')
  await waitFor(() => room.length === 1, 'the message for the remaining subscription')
  two.unsubscribe()
  await listener.publish('fence', 'sync') // in order after the unsubscribe frame
  await talker.publish('room', 'nobody listens')
  await talker.publish('fence', 'fence')
  await waitFor(() => fence.length === 1, 'the fence message')
  t.same(room, ['still subscribed once'])
})

test('close() ends iterations and rejects later publishes', async t => {
  const a = await server(t, new MemoryNetwork().node())
  const c = client(t, a.url)
  const sub = c.subscribe('room')
  await sub.ready
  const next = sub[Symbol.asyncIterator]().next()
  c.close()
  t.same(await next, { value: undefined, done: true })
  await t.rejects(c.publish('room', 'x'), { code: 'CLOSED' })
})
