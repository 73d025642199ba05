/**
 * `joinTimeout`: right after a server starts with seeds, new Socket.IO connections wait until it
 * counts another server, so that a client never sits on a server outside the cluster. Real
 * Socket.IO servers, each spawning its gossip node over TCP on 127.0.0.1, real clients.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { io as connect } from 'socket.io-client'
import { createAdapter } from '../../src/adapter/index.js'
import { Gossip } from '../../src/core/gossip.js'
import { freePort, recordingLogger } from '../fixtures/net.js'
import { startServer, waitFor } from '../fixtures/socketio-cluster.js'
import type { TestServer } from '../fixtures/socketio-cluster.js'

/** A client that starts connecting now; `outcome` settles on connect or connect_error. */
function dial (url: string) {
  const socket = connect(url, { transports: ['websocket'], reconnection: false, forceNew: true })
  const got: unknown[][] = []
  socket.on('news', (...args: unknown[]) => { got.push(args) })
  const outcome = new Promise<'connected' | Error>(resolve => {
    socket.once('connect', () => { resolve('connected') })
    socket.once('connect_error', err => { resolve(err) })
  })
  return { socket, got, outcome }
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('a client of a server whose seed is not up yet waits until the server counts another, then gets its broadcasts', async t => {
  const secret = randomBytes(16).toString('hex')
  const seedPort = await freePort()
  const servers: TestServer[] = []
  t.teardown(async () => { await Promise.all(servers.map(async s => { await s.close() })) })
  const late = await startServer(createAdapter({ secret, host: '127.0.0.1', port: 0, seeds: [`127.0.0.1:${seedPort}`] }))
  servers.push(late)
  const client = dial(late.url)
  t.teardown(() => { client.socket.disconnect() })
  await sleep(500)
  t.equal(client.socket.connected, false, 'not connected while the server is alone')

  const seed = await startServer(createAdapter({ secret, host: '127.0.0.1', port: seedPort }))
  servers.push(seed)
  t.equal(await client.outcome, 'connected', 'connected once the seed is up')
  t.equal(await late.io.of('/').adapter.serverCount(), 2, 'and by then its server counts the seed\'s')
  seed.io.emit('news', 'from the seed')
  await waitFor('the broadcast', () => client.got.length === 1)
  t.same(client.got, [['from the seed']])

  const next = dial(late.url)
  t.teardown(() => { next.socket.disconnect() })
  t.equal(await next.outcome, 'connected', 'later connections do not wait')
})

t.test('when no other server is counted within joinTimeout, connections are accepted anyway, with one warning', async t => {
  const { logger, entries } = recordingLogger()
  const server = await startServer(createAdapter({ secret: randomBytes(16).toString('hex'), host: '127.0.0.1', port: 0, seeds: [`127.0.0.1:${await freePort()}`], joinTimeout: 300, logger }))
  t.teardown(async () => { await server.close() })
  const clients = [dial(server.url), dial(server.url)]
  t.teardown(() => { for (const c of clients) c.socket.disconnect() })
  t.same(await Promise.all(clients.map(async c => await c.outcome)), ['connected', 'connected'])
  t.equal(entries.filter(e => e.level === 'warn' && /joinTimeout/.test(e.msg ?? '')).length, 1, 'one warning')
  t.equal(await server.io.of('/').adapter.serverCount(), 1)
})

t.test('io.close() refuses the connections still waiting, and leaves nothing running', async t => {
  const server = await startServer(createAdapter({ secret: randomBytes(16).toString('hex'), host: '127.0.0.1', port: 0, seeds: [`127.0.0.1:${await freePort()}`], joinTimeout: 600_000 }))
  const client = dial(server.url)
  t.teardown(() => { client.socket.disconnect() })
  await waitFor('the handshake to reach the server', () => server.io.engine.clientsCount === 1)
  await server.close()
  t.not(await client.outcome, 'connected', 'refused, not left hanging')
  // A timer of ten minutes left behind would keep this test's process alive: tap would time it out.
})

t.test('joinTimeout 0, or a node given to the adapter, never holds a connection', async t => {
  const server = await startServer(createAdapter({ secret: randomBytes(16).toString('hex'), host: '127.0.0.1', port: 0, seeds: [`127.0.0.1:${await freePort()}`], joinTimeout: 0 }))
  t.teardown(async () => { await server.close() })
  const client = dial(server.url)
  t.teardown(() => { client.socket.disconnect() })
  t.equal(await client.outcome, 'connected')
  t.equal(await server.io.of('/').adapter.serverCount(), 1, 'while the server is alone')

  const node = await Gossip.spawn({ secret: randomBytes(16).toString('hex'), host: '127.0.0.1', port: 0, seeds: [`127.0.0.1:${await freePort()}`] })
  const shared = await startServer(createAdapter({ gossip: node }))
  t.teardown(async () => { await shared.close(); await node.close() })
  const other = dial(shared.url)
  t.teardown(() => { other.socket.disconnect() })
  t.equal(await other.outcome, 'connected', 'a node given to the adapter: its owner decides')
})

t.test('joinTimeout must be a non-negative integer', async t => {
  t.throws(() => createAdapter({ secret: 'x'.repeat(32), joinTimeout: -1 }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /joinTimeout/ })
})
