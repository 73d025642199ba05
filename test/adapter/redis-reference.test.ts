/**
 * The Redis adapter is the reference users compare against: the same broadcast scenario run on
 * @socket.io/redis-adapter (over ioredis-mock) and on ours gives every client exactly the same
 * events from each server, in the same order. Only broadcasts: ioredis-mock cannot serve the Redis
 * adapter's request path (server count, fetchSockets). Volatile events are left out: whether one is
 * dropped depends on the client's transport being busy at that instant, with either adapter.
 */
import t from 'tap'
import RedisMock from 'ioredis-mock'
import { createAdapter as createRedisAdapter } from '@socket.io/redis-adapter'
import { createAdapter } from '../../src/adapter/index.js'
import { memoryNodes } from '../fixtures/adapter-nodes.js'
import { connectClient, startServer, waitFor } from '../fixtures/socketio-cluster.js'
import type { AdapterFactory, TestClient, TestServer } from '../fixtures/socketio-cluster.js'

type Observed = Record<string, string[]>

function describe (args: unknown[]): string {
  return JSON.stringify(args, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && (value as { type?: string }).type === 'Buffer') {
      return `<bytes ${Buffer.from((value as { data: number[] }).data).toString('hex')}>`
    }
    return value
  })
}

/** Runs the scenario on three servers built with `factories` and returns what each client saw. */
async function scenario (factories: AdapterFactory[], ready: (servers: TestServer[]) => Promise<void>): Promise<Observed> {
  const servers: TestServer[] = []
  const clients: TestClient[] = []
  try {
    for (const factory of factories) servers.push(await startServer(factory))
    await ready(servers)
    for (const [i, server] of servers.entries()) {
      clients.push(await connectClient(server.url, `s${i}c0`, ['red', 42]))
      clients.push(await connectClient(server.url, `s${i}c1`, ['blue']))
    }
    const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]
    // Event names start with the sending server: order is promised per sender, not across senders.
    s0.io.emit('s0:all', 1, 'two', { three: [3] })
    s1.io.to('red').emit('s1:red', 'r')
    s2.io.to('blue').to('red').emit('s2:blue-or-red')
    s0.io.except('blue').emit('s0:not-blue')
    s1.io.to('red').except('blue').emit('s1:red-not-blue')
    s2.io.to(42 as unknown as string).emit('s2:forty-two')
    s0.io.local.emit('s0:local')
    s1.io.emit('s1:binary', Buffer.from([0, 255, 7]), { inner: Buffer.from('in') })
    s0.io.compress(false).emit('s0:uncompressed')
    s0.io.emit('s0:last')
    clients[3]!.socket.emit('shout', 'from s1c1')
    await waitFor('the shout', () => clients.filter(c => c.got('shouted').length > 0).length === 5)
    for (const [i, server] of servers.entries()) server.io.emit('marker', i)
    await waitFor('every marker at every client', () => clients.every(c => c.got('marker').length === 3))
    const observed: Observed = {}
    for (const c of clients) {
      for (const sender of ['s0', 's1', 's2']) {
        observed[`${c.name} from ${sender}`] = c.received
          .filter(r => r.event.startsWith(`${sender}:`) || (r.event === 'shouted' && sender === 's1'))
          .map(r => `${r.event} ${describe(r.args)}`)
      }
    }
    return observed
  } finally {
    for (const c of clients) c.socket.disconnect()
    await Promise.all(servers.map(s => s.close()))
  }
}

t.test('the broadcast scenario gives the same observable result on the Redis adapter and on ours', async t => {
  const redisClients: Array<InstanceType<typeof RedisMock>> = []
  const redisFactories = [0, 1, 2].map(() => {
    const pub = new RedisMock()
    const sub = pub.duplicate()
    redisClients.push(pub, sub)
    return createRedisAdapter(pub, sub) as unknown as AdapterFactory
  })
  t.teardown(() => { for (const c of redisClients) c.disconnect() })
  // No server count on ioredis-mock: subscriptions are in place once every adapter has subscribed.
  const redis = await scenario(redisFactories, async () => { await new Promise(resolve => setImmediate(resolve)) })

  const set = memoryNodes(3)
  t.teardown(() => set.close())
  const ours = await scenario(set.nodes.map(node => createAdapter({ gossip: node })), async (servers) => {
    await waitFor('three servers', async () => (await Promise.all(servers.map(s => s.io.of('/').adapter.serverCount()))).every(n => n === 3))
  })

  t.ok(Object.values(redis).every(events => events.length > 0), 'the reference run delivered events')
  t.same(ours, redis)
})
