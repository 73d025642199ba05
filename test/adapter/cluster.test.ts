/**
 * Every adapter feature across three Socket.IO servers, each on its own networked gossip node (TCP
 * on 127.0.0.1), each with socket.io-client clients. The servers are shared by all tests of this file; tests that disconnect
 * clients use their own.
 *
 * "Did not receive" is checked without sleeping: the sending server emits a marker after the event
 * under test, and per-sender order guarantees that once a client has the marker it has everything
 * that server sent before it.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createAdapter } from '../../src/adapter/index.js'
import { connectClient, startServer, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import type { TestClient, TestServer } from '../fixtures/socketio-cluster.js'

// Each server's adapter spawns and owns its node (TCP on 127.0.0.1); the first is the others' seed.
const secret = randomBytes(16).toString('hex')
const servers: TestServer[] = []
const first = createAdapter({ secret, host: '127.0.0.1', port: 0 })
servers.push(await startServer(first, ['/', '/admin']))
const seed = (await first.node()).address
for (let i = 1; i < 3; i++) {
  servers.push(await startServer(createAdapter({ secret, host: '127.0.0.1', port: 0, seeds: [seed] }), ['/', '/admin']))
}
const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]

// Two clients per server: c0 in rooms "red" and 42, c1 in room "blue".
const clients: TestClient[] = []
for (const [i, server] of servers.entries()) {
  clients.push(await connectClient(server.url, `s${i}c0`, ['red', 42]))
  clients.push(await connectClient(server.url, `s${i}c1`, ['blue']))
}
const admins: TestClient[] = []
for (const [i, server] of servers.entries()) admins.push(await connectClient(server.url, `s${i}admin`, [], '/admin'))

t.teardown(async () => {
  for (const c of [...clients, ...admins]) c.socket.disconnect()
  await Promise.all(servers.map(s => s.close()))
})

await waitForServerCount(servers, 3)
await waitForServerCount(servers, 3, '/admin')

const names = (list: TestClient[]): string[] => list.map(c => c.name).sort()
const receivers = (event: string, list = clients): string[] => names(list.filter(c => c.got(event).length > 0))
let markers = 0

/** Emits a marker to every client from `server` and waits until all of them have it. */
async function settle (server: TestServer, list = clients, nsp = '/'): Promise<void> {
  const id = ++markers
  server.io.of(nsp).emit('marker', id)
  await waitFor(`marker ${id}`, () => list.every(c => c.got('marker').some(args => args[0] === id)))
}

async function fresh (count: number, rooms: Array<string | number>, prefix: string): Promise<TestClient[]> {
  return await Promise.all(servers.map(async (server, i) => {
    const list: TestClient[] = []
    for (let j = 0; j < count; j++) list.push(await connectClient(server.url, `${prefix}-s${i}-${j}`, rooms))
    return list
  })).then(lists => lists.flat())
}

t.test('serverCount counts the three servers in each namespace', async t => {
  for (const server of servers) {
    t.equal(await server.io.of('/').adapter.serverCount(), 3)
    t.equal(await server.io.of('/admin').adapter.serverCount(), 3)
  }
})

t.test('io.emit reaches every client on every server', async t => {
  s0.io.emit('everyone', 'hello')
  await waitFor('all six clients', () => receivers('everyone').length === 6)
  t.same(clients.map(c => c.got('everyone')), clients.map(() => [['hello']]))
})

t.test('io.to(room).emit reaches the room members on every server and nobody else', async t => {
  s1.io.to('blue').emit('to-blue', 1)
  await settle(s1)
  t.same(receivers('to-blue'), ['s0c1', 's1c1', 's2c1'])
})

t.test('except(room) leaves the room members out', async t => {
  s2.io.except('blue').emit('not-blue')
  await settle(s2)
  t.same(receivers('not-blue'), ['s0c0', 's1c0', 's2c0'])
})

t.test('a room named by a number works across servers', async t => {
  s0.io.to(42 as unknown as string).emit('to-42')
  await settle(s0)
  t.same(receivers('to-42'), ['s0c0', 's1c0', 's2c0'])
})

t.test('local emits only to the clients of the emitting server', async t => {
  s0.io.local.emit('local-only')
  await settle(s0)
  t.same(receivers('local-only'), ['s0c0', 's0c1'])
})

t.test('socket.broadcast reaches every client but the sender, on every server', async t => {
  const sender = clients.find(c => c.name === 's1c0')!
  sender.socket.emit('shout', 'hey')
  await waitFor('five receivers', () => receivers('shouted').length === 5)
  await settle(s1)
  t.same(receivers('shouted'), names(clients.filter(c => c !== sender)))
})

t.test('binary payloads arrive as Buffers, to clients and to other servers', async t => {
  const payload = Buffer.from([0, 1, 2, 253, 254, 255])
  s0.io.emit('bin', payload, { nested: Buffer.from('nested') })
  await waitFor('binary at all clients', () => receivers('bin').length === 6)
  for (const c of clients) {
    const [first, second] = c.got('bin')[0] as [Buffer, { nested: Buffer }]
    t.ok(Buffer.isBuffer(first), `${c.name} got a Buffer`)
    t.same([...first], [...payload])
    t.equal(Buffer.from(second.nested).toString(), 'nested')
  }
  const seen: unknown[] = []
  s1.io.on('bin-server', (arg: unknown) => { seen.push(arg) })
  s0.io.serverSideEmit('bin-server', payload)
  await waitFor('server-side binary', () => seen.length === 1)
  t.ok(Buffer.isBuffer(seen[0]), 'a Buffer arrives as a Buffer on another server')
  t.same([...(seen[0] as Buffer)], [...payload])
})

t.test('volatile and compress flags are accepted and the events delivered', async t => {
  s2.io.volatile.emit('volatile', 1)
  s2.io.compress(false).emit('uncompressed', 2)
  await settle(s2)
  t.same(receivers('volatile'), names(clients))
  t.same(receivers('uncompressed'), names(clients))
})

t.test('timeout().emit collects exactly one ack per client in the cluster', async t => {
  const all = await s0.io.timeout(15_000).emitWithAck('ask') as string[]
  t.same([...all].sort(), names(clients))
  const blue = await s1.io.to('blue').timeout(15_000).emitWithAck('ask') as string[]
  t.same([...blue].sort(), ['s0c1', 's1c1', 's2c1'])
})

t.test('fetchSockets returns the sockets of every server, with rooms and data', async t => {
  const sockets = await s0.io.fetchSockets()
  t.same(sockets.map(s => (s.data as { name: string }).name).sort(), names(clients))
  const remote = sockets.find(s => (s.data as { name: string }).name === 's2c0')!
  t.ok(remote.rooms.has('red'))
  t.ok(remote.rooms.has(remote.id))
  const red = await s1.io.in('red').fetchSockets()
  t.same(red.map(s => (s.data as { name: string }).name).sort(), ['s0c0', 's1c0', 's2c0'])
})

t.test('fetchSockets honours timeout()', async t => {
  const sockets = await s2.io.timeout(15_000).fetchSockets()
  t.equal(sockets.length, clients.length)
})

t.test('socketsJoin and socketsLeave act on every server', async t => {
  s0.io.in('blue').socketsJoin('teal')
  await waitFor('teal on every server', () => servers.every(s => s.io.of('/').adapter.rooms.get('teal')?.size === 1))
  s1.io.to('teal').emit('to-teal')
  await settle(s1)
  t.same(receivers('to-teal'), ['s0c1', 's1c1', 's2c1'])
  s2.io.in('teal').socketsLeave('teal')
  await waitFor('teal gone everywhere', () => servers.every(s => s.io.of('/').adapter.rooms.get('teal') === undefined))
  t.pass('every server removed the room')
})

t.test('disconnectSockets disconnects the matching clients on every server', async t => {
  const doomed = await fresh(1, ['doomed'], 'doomed')
  const reasons = doomed.map(c => new Promise<string>(resolve => c.socket.once('disconnect', resolve)))
  s1.io.in('doomed').disconnectSockets(true)
  t.same(await Promise.all(reasons), doomed.map(() => 'io server disconnect'))
  t.ok(clients.every(c => c.socket.connected), 'the other clients stay connected')
})

t.test('RemoteSocket: emit, join, leave and disconnect act on the socket\'s own server', async t => {
  const target = await connectClient(s2.url, 'remote-target')
  const remote = (await s0.io.fetchSockets()).find(s => (s.data as { name: string }).name === target.name)!
  remote.emit('personal', 'just you')
  await waitFor('personal message', () => target.got('personal').length === 1)
  t.same(target.got('personal'), [['just you']])
  remote.join('violet')
  await waitFor('joined on its server', () => s2.io.of('/').adapter.rooms.get('violet')?.size === 1)
  remote.leave('violet')
  await waitFor('left on its server', () => s2.io.of('/').adapter.rooms.get('violet') === undefined)
  const gone = new Promise<string>(resolve => target.socket.once('disconnect', resolve))
  remote.disconnect(true)
  t.equal(await gone, 'io server disconnect')
})

t.test('serverSideEmit without ack reaches the other servers only', async t => {
  const seen: string[] = []
  for (const [i, s] of servers.entries()) s.io.on('sse', (arg: string) => { seen.push(`${i}:${arg}`) })
  s0.io.serverSideEmit('sse', 'x')
  await waitFor('two servers', () => seen.length === 2)
  await settle(s0)
  t.same(seen.sort(), ['1:x', '2:x'])
})

t.test('serverSideEmit with ack collects one answer per other server', async t => {
  for (const [i, s] of servers.entries()) {
    s.io.on('question', (n: number, ack: (answer: string) => void) => { ack(`${i}:${n + 1}`) })
  }
  const answers = await s1.io.serverSideEmitWithAck('question', 41) as string[]
  t.same([...answers].sort(), ['0:42', '2:42'])
})

t.test('two namespaces are separate: each broadcast stays in its namespace', async t => {
  s0.io.emit('main-only')
  s0.io.of('/admin').emit('admin-only')
  await settle(s0)
  await settle(s0, admins, '/admin')
  t.same(receivers('main-only'), names(clients))
  t.same(receivers('admin-only', admins), names(admins))
  t.same(receivers('main-only', admins), [])
  const adminSockets = await s1.io.of('/admin').fetchSockets()
  t.same(adminSockets.map(s => (s.data as { name: string }).name).sort(), names(admins))
})

t.test('a server\'s messages keep their order: emits then disconnectSockets', async t => {
  const ordered = await fresh(1, ['ordered'], 'ordered')
  const done = ordered.map(c => new Promise<void>(resolve => c.socket.once('disconnect', () => resolve())))
  for (let i = 0; i < 50; i++) s0.io.to('ordered').emit('seq', i)
  s0.io.in('ordered').disconnectSockets(true)
  await Promise.all(done)
  const expected = Array.from({ length: 50 }, (_, i) => [i])
  for (const c of ordered) t.same(c.got('seq'), expected, `${c.name} got all 50 in order before being disconnected`)
})

t.test('socketsJoin then an emit to that room reaches the sockets it just joined, on every server', async t => {
  s2.io.in('red').socketsJoin('fresh-room')
  s2.io.to('fresh-room').emit('to-fresh')
  await settle(s2)
  t.same(receivers('to-fresh'), ['s0c0', 's1c0', 's2c0'])
  s2.io.in('fresh-room').socketsLeave('fresh-room')
})

t.test('a server\'s own clients see its broadcasts and direct emits in program order', async t => {
  const local = clients.find(c => c.name === 's0c0')!
  const socket = s0.io.of('/').sockets.get(local.socket.id!)!
  s0.io.emit('program-order', 1)
  socket.emit('program-order', 2)
  s0.io.local.emit('program-order', 3)
  await waitFor('three events', () => local.got('program-order').length === 3)
  t.same(local.got('program-order'), [[1], [2], [3]])
})
