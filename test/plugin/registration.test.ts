import { test } from 'tap'
import Fastify from 'fastify'
import grapevine, { type GrapevineOptions } from '../../src/plugin/index.js'
import { MemoryNetwork } from '../fixtures/memory-gossip.js'

const invalid: Array<[string, unknown, string]> = [
  ['neither a secret nor a node', {}, 'secret'],
  ['an empty secret', { secret: '' }, 'secret'],
  ['a port out of range', { secret: 's', port: 70000 }, 'port'],
  ['a seed that is not host:port', { secret: 's', seeds: ['10.0.0.1:7000', 'nope'] }, 'seeds[1]'],
  ['seeds that are not an array', { secret: 's', seeds: '10.0.0.1:7000' }, 'seeds'],
  ['an advertise address without a port', { secret: 's', advertise: 'example.com' }, 'advertise'],
  ['a misspelt option', { secret: 's', sedes: [] }, 'sedes'],
  ['a zero maxMessageSize', { secret: 's', maxMessageSize: 0 }, 'maxMessageSize'],
  ['a logger without methods', { secret: 's', logger: {} }, 'logger'],
  ['a keyPair that is not bytes', { secret: 's', keyPair: { publicKey: 'a', secretKey: 'b' } }, 'keyPair'],
  ['a gossip node that is not one', { gossip: {} }, 'gossip'],
  ['node options next to a shared node', { gossip: 'node', port: 1234 }, 'port'],
  ['a bridge that is a string', { gossip: 'node', bridge: 'yes' }, 'bridge'],
  ['a bridge path without a slash', { gossip: 'node', bridge: { path: 'gossip' } }, 'bridge.path'],
  ['a bridge maxPayload of zero', { gossip: 'node', bridge: { maxPayload: 0 } }, 'bridge.maxPayload'],
  ['a fractional maxTopicsPerConnection', { gossip: 'node', bridge: { maxTopicsPerConnection: 1.5 } }, 'bridge.maxTopicsPerConnection'],
  ['a negative publish rate', { gossip: 'node', bridge: { publishRate: { max: -1 } } }, 'bridge.publishRate.max'],
  ['a publish rate window of zero', { gossip: 'node', bridge: { publishRate: { max: 1, timeWindow: 0 } } }, 'bridge.publishRate.timeWindow'],
  ['a sendBufferBytes that is a string', { gossip: 'node', bridge: { sendBufferBytes: '1mb' } }, 'bridge.sendBufferBytes'],
  ['an authorize that is not a function', { gossip: 'node', bridge: { authorize: true } }, 'bridge.authorize'],
  ['an unknown bridge option', { gossip: 'node', bridge: { maxPayLoad: 10 } }, 'bridge.maxPayLoad']
]

for (const [what, options, option] of invalid) {
  test(`register() rejects ${what}, naming "${option}"`, async t => {
    const node = new MemoryNetwork().node()
    t.teardown(() => node.close())
    const fastify = Fastify()
    t.teardown(() => fastify.close())
    const resolved = { ...(options as Record<string, unknown>) }
    if (resolved.gossip === 'node') resolved.gossip = node
    await t.rejects(async () => { await fastify.register(grapevine, resolved as unknown as GrapevineOptions) }, {
      code: 'FST_GRAPEVINE_INVALID_OPTION',
      message: `Invalid grapevine option "${option}"`
    })
  })
}

test('the app is decorated with the node, and routes use it', async t => {
  const net = new MemoryNetwork()
  const node = net.node()
  const other = net.node()
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { gossip: node })
  fastify.post<{ Params: { room: string }, Body: { text: string } }>('/rooms/:room/say', async (request) => {
    const handle = await fastify.gossip.stream(`room:${request.params.room}`)
    try {
      await handle.publish(request.body.text)
    } finally {
      await handle.close()
    }
    return { ok: true }
  })
  t.equal(fastify.gossip, node)

  const listening = await other.stream('room:42')
  const subscription = listening.subscribe()
  const response = await fastify.inject({ method: 'POST', url: '/rooms/42/say', payload: { text: 'hello' } })
  t.equal(response.statusCode, 200)
  const { value: item } = await subscription[Symbol.asyncIterator]().next()
  t.equal(item?.type === 'message' && Buffer.from(item.content).toString(), 'hello')
  await listening.close()
})

test('a shared node is not closed by the plugin, in any of the apps sharing it', async t => {
  const node = new MemoryNetwork().node()
  const one = Fastify()
  const two = Fastify()
  await one.register(grapevine, { gossip: node, bridge: true })
  await two.register(grapevine, { gossip: node })
  await one.ready()
  await two.ready()
  await one.close()
  await two.close()
  t.notOk(node.isClosed)
  await node.close()
  t.ok(node.isClosed)
})

test('the plugin is registered once per app under the name grapevine', async t => {
  const fastify = Fastify()
  t.teardown(() => fastify.close())
  await fastify.register(grapevine, { gossip: new MemoryNetwork().node() })
  await fastify.ready()
  t.ok(fastify.hasPlugin('grapevine'))
})
