/**
 * Room routing with many rooms and long room names, on real Socket.IO servers over real TCP gossip
 * nodes, with socket.io-client clients. A server lists every room it has a member in, however many
 * (one private room per user is a common layout: thousands per server), in pages that fit the
 * node's `maxMessageSize`; a broadcast still reaches exactly its rooms' servers. Only a room whose
 * name is too long for a page is not listed, and its server is then sent every broadcast.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { AdapterOptions } from '../../src/adapter/index.js'
import type { GossipOptions } from '../../src/core/api.js'
import { adapterOf, connectClient, routedCluster, settle, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import type { TestClient, TestServer } from '../fixtures/socketio-cluster.js'

async function join (client: TestClient, rooms: string[]): Promise<void> {
  await client.socket.timeout(30_000).emitWithAck('join', rooms)
}

/** routedCluster, and `start()`: one more server, once every server counts it and has its rooms. */
async function cluster (t: Test, options: AdapterOptions & Partial<GossipOptions>): Promise<{ servers: TestServer[], start: () => Promise<TestServer> }> {
  const { servers, make, seed } = await routedCluster(t, options)
  const start = async (): Promise<TestServer> => {
    const server = await make([seed])
    servers.push(server)
    await waitForServerCount(servers, servers.length)
    await waitFor('rooms known everywhere', () => servers.every(s => adapterOf(s).routingStats().serversKnown === servers.length - 1))
    return server
  }
  return { servers, start }
}

function connected (t: Test, clients: TestClient[]): void {
  t.teardown(() => { for (const c of clients) c.socket.disconnect() })
}

const users = (n: number): string[] => Array.from({ length: n }, (_, i) => `user:${i}`)

t.test('a server in 10,000 rooms lists them all: broadcasts go only where their rooms are, a server started later included', async t => {
  const { servers, start } = await cluster(t, {})
  const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]
  const u = await connectClient(s1.url, 'u')
  const v = await connectClient(s2.url, 'v')
  const clients = [u, v]
  connected(t, clients)
  await join(u, users(10_000))
  await join(v, ['user:5000', 'lobby'])
  t.equal(adapterOf(s1).routingStats().roomsAnnounced, 10_000)

  const s2Before = adapterOf(s2).routingStats()
  for (let i = 0; i < 10; i++) s0.io.to('user:9999').emit('dm', i)
  s0.io.to('user:5000').emit('shared')
  await settle(s0.io, clients)
  t.same(u.got('dm'), Array.from({ length: 10 }, (_, i) => [i]), 'the member got all ten, in order')
  t.equal(v.got('dm').length, 0)
  t.equal(u.got('shared').length + v.got('shared').length, 2, 'a room on two servers reaches both')
  const s2After = adapterOf(s2).routingStats()
  t.equal(s2After.unwanted - s2Before.unwanted, 0, 's2, in none of those rooms but user:5000, received no payload for them')
  t.equal(s2After.received - s2Before.received, 2, 'user:5000 and the marker only')

  // A server that starts now is sent s1's 10,000 rooms as a snapshot in pages.
  const s3 = await start()
  const w = await connectClient(s3.url, 'w')
  clients.push(w)
  const s2Later = adapterOf(s2).routingStats()
  s3.io.to('user:1234').emit('from-s3')
  await settle(s3.io, clients)
  t.same(u.got('from-s3'), [[]])
  t.equal(adapterOf(s2).routingStats().unwanted - s2Later.unwanted, 0, 'the new server routes by the whole list too')
  t.ok(adapterOf(s3).routingStats().routed >= 1)
})

t.test('with a small maxMessageSize, a long list is cut by bytes and nothing is lost; a room too long to list makes its server take everything', async t => {
  // 8 KiB messages: a page carries 3 KiB of names.
  const { servers } = await cluster(t, { maxMessageSize: 8 * 1024 })
  const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]
  const u = await connectClient(s1.url, 'u')
  const v = await connectClient(s2.url, 'v')
  const clients = [u, v]
  connected(t, clients)
  // 300 names of 80 characters: 24 KiB of names, three times what one message may carry.
  const rooms = Array.from({ length: 300 }, (_, i) => `${i}:`.padEnd(80, 'r'))
  await join(u, rooms)
  await join(v, [rooms[299] as string])
  s0.io.to(rooms[299] as string).emit('last-room')
  s0.io.to(rooms[0] as string).emit('first-room')
  await settle(s0.io, clients)
  t.same(u.got('last-room'), [[]], 'u, whose rooms took several pages, got it')
  t.same(v.got('last-room'), [[]])
  t.same(u.got('first-room'), [[]])
  t.equal(v.got('first-room').length, 0)

  // 5,000 characters: under the message limit (a broadcast to it fits) but over a page.
  await join(v, ['v-only'])
  let s1Before = adapterOf(s1).routingStats()
  s0.io.to('v-only').emit('v-only')
  await settle(s0.io, clients)
  t.equal(adapterOf(s1).routingStats().unwanted - s1Before.unwanted, 0, 'before: s1 is not sent v\'s room')
  const long = 'L'.repeat(5_000)
  const s2Before = adapterOf(s2).routingStats()
  await join(u, [long])
  s0.io.to(long).emit('long')
  s0.io.to(rooms[1] as string).emit('routed-anyway')
  await settle(s0.io, clients)
  t.same(u.got('long'), [[]])
  t.same(u.got('routed-anyway'), [[]])
  t.equal(adapterOf(s2).routingStats().unwanted - s2Before.unwanted, 1, 'a room listed nowhere goes to every server (as a socket id does); the other was routed')
  s1Before = adapterOf(s1).routingStats()
  s0.io.to('v-only').emit('v-only')
  await settle(s0.io, clients)
  t.same(v.got('v-only'), [[], []])
  t.equal(u.got('v-only').length, 0)
  t.equal(adapterOf(s1).routingStats().unwanted - s1Before.unwanted, 1, 'now s1 may have any room: it is sent v\'s room too')
})

t.test('a server listing more rooms than maxRoomsPerServer: the others drop its list, warn once, send it every broadcast, and nothing is lost', async t => {
  const warnings: string[] = []
  const quiet = (): void => {}
  const logger = { trace: quiet, debug: quiet, info: quiet, error: quiet, warn: (_: unknown, msg?: string) => { if (msg?.includes('maxRoomsPerServer') === true) warnings.push(msg) } }
  const { servers, start } = await cluster(t, { maxRoomsPerServer: 100, logger })
  const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]
  const u = await connectClient(s1.url, 'u')
  const v = await connectClient(s2.url, 'v')
  const clients = [u, v]
  connected(t, clients)
  await join(v, ['user:5', 'lobby'])
  await join(u, users(150))
  await waitFor('s0 and s2 warned', () => warnings.length === 2)

  const s1Before = adapterOf(s1).routingStats()
  const s2Before = adapterOf(s2).routingStats()
  s0.io.to('lobby').emit('lobby')
  s0.io.to('user:149').emit('dm')
  s0.io.to('user:5').emit('shared')
  await settle(s0.io, clients)
  t.same(v.got('lobby'), [[]])
  t.same(u.got('dm'), [[]], 'a room of the server past the bound still reaches it')
  t.equal(u.got('shared').length + v.got('shared').length, 2)
  t.equal(adapterOf(s1).routingStats().unwanted - s1Before.unwanted, 1, 's1 is sent lobby, which it is not in: it is sent everything')
  t.equal(adapterOf(s2).routingStats().unwanted - s2Before.unwanted, 1, 'user:149, now listed by no known server, goes to every server; lobby and user:5 are s2\'s')

  await join(u, users(300).slice(150))
  await settle(s0.io, clients)
  t.equal(warnings.length, 2, 'more rooms from s1 are not reported again')

  // s1 back under the bound: a server started now is sent its snapshot and routes exactly; the
  // others send it everything until they get a snapshot of it again.
  u.socket.disconnect()
  await waitFor('s1 has no room left', () => adapterOf(s1).routingStats().roomsAnnounced === 0)
  const s3 = await start()
  const s1Later = adapterOf(s1).routingStats()
  s3.io.to('lobby').emit('from-s3')
  await settle(s3.io, [v])
  t.same(v.got('from-s3'), [[]])
  t.equal(adapterOf(s1).routingStats().unwanted - s1Later.unwanted, 0, 's3 knows s1 is in no room')
  t.equal(warnings.length, 2)
})
