/**
 * Socket.IO connection state recovery with the gossip adapter: three real Socket.IO servers on
 * real gossip nodes (TCP on 127.0.0.1), real socket.io-client clients that reconnect on their own
 * through a load balancer, which decides whether they come back to the same server or another.
 *
 * Nothing here sleeps to decide an outcome: "the client has everything" is checked with a marker
 * emitted after the events under test (each server's messages keep their order).
 */
import t from 'tap'
import type { GossipMessage } from '../../src/core/api.js'
import { balancer } from '../fixtures/balancer.js'
import { recoveringClient, recoveryCluster, waitForConnects } from '../fixtures/recovery-cluster.js'
import type { RecoveringClient, RecoveryServer } from '../fixtures/recovery-cluster.js'
import { waitFor } from '../fixtures/socketio-cluster.js'

const servers = await recoveryCluster(3)
const [a, b, c] = servers as [RecoveryServer, RecoveryServer, RecoveryServer]
t.teardown(async () => { await Promise.all(servers.map(s => s.close())) })

let markers = 0
/** Emits a marker to `client` from `server` (to its id: wherever it is) and waits until it has it. */
async function settle (server: RecoveryServer, client: RecoveringClient): Promise<void> {
  const id = `marker-${++markers}`
  server.io.to(client.socket.id!).emit('marker', id)
  await waitFor(id, () => client.values('marker').includes(id))
}

/** The server-side socket of `client`, wherever it is connected. */
function serverSocket (client: RecoveringClient): { server: RecoveryServer, rooms: Set<string>, data: unknown } | undefined {
  for (const server of servers) {
    const socket = server.io.of('/').sockets.get(client.socket.id!)
    if (socket !== undefined) return { server, rooms: socket.rooms, data: socket.data }
  }
  return undefined
}

t.test('a client that loses its connection and comes back to the same server is recovered: same id, rooms, data, missed events once', async t => {
  const lb = await balancer(a.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'same', ['red'])
  t.teardown(() => { client.socket.disconnect() })
  t.same(client.connects, [{ id: client.socket.id, recovered: false }])
  const id = client.socket.id!
  a.io.to('red').emit('before', 0)
  await settle(a, client)

  lb.refuse()
  lb.dropAll()
  await waitFor('the server saw it go', () => a.io.of('/').sockets.get(id) === undefined)
  a.io.to('red').emit('missed', 1)
  b.io.emit('missed', 2)
  c.io.to('red').emit('missed', 3)
  c.io.to('blue').emit('missed', 'not for red')
  b.io.except('red').emit('missed', 'red excluded')
  a.io.to(id).emit('missed', 4)
  lb.accept()

  await waitForConnects(client, 2)
  t.same(client.connects[1], { id, recovered: true }, 'the same id, recovered')
  a.io.to('red').emit('after', 5)
  for (const server of servers) await settle(server, client)
  const missed = client.values('missed')
  t.same(missed.filter(v => v === 1 || v === 4), [1, 4], 'the server\'s own events, in its order')
  t.same([...missed].sort(), [1, 2, 3, 4], 'every missed event for its rooms, once, none for other rooms')
  t.same(client.values('after'), [5], 'and live events after')
  const socket = serverSocket(client)!
  t.equal(socket.server, a)
  t.ok(socket.rooms.has('red'), 'back in its room')
  t.same(socket.data, { name: 'same', profile: { since: 0, tags: ['a', 'b'] } }, 'socket.data restored')
  t.same(a.connections.filter(c => c.id === id), [{ id, recovered: false }, { id, recovered: true }])
  t.match(a.adapter().recoveryStats, { restoredHere: 1, sessions: 0 })
})

t.test('a client the load balancer moves to another server is recovered there: same id, rooms, data, missed events in order, once', async t => {
  const lb = await balancer(a.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'mover', ['green', 'extra'])
  t.teardown(() => { client.socket.disconnect() })
  const id = client.socket.id!
  c.io.to('green').emit('before', 0)
  await settle(c, client)

  lb.refuse()
  lb.dropAll()
  await waitFor('a saw it go', () => a.io.of('/').sockets.get(id) === undefined)
  for (let i = 1; i <= 20; i++) c.io.to('green').emit('from-c', i)
  for (let i = 1; i <= 20; i++) a.io.to('extra').emit('from-a', i)
  b.io.to('elsewhere').emit('from-b', 'not its room')
  b.io.to(id).emit('from-b', 'to its id')
  // Every one of them has reached a (the keeper) before the client comes back.
  await waitFor('a logged them', () => a.adapter().recoveryStats!.packets >= 42)
  lb.moveTo(b.url)
  lb.accept()

  await waitForConnects(client, 2)
  t.same(client.connects[1], { id, recovered: true }, 'the same id, recovered')
  const socket = serverSocket(client)!
  t.equal(socket.server, b, 'now on b')
  t.same([...socket.rooms].sort(), [id, 'extra', 'green'].sort(), 'its rooms')
  t.same(socket.data, { name: 'mover', profile: { since: 0, tags: ['a', 'b'] } }, 'its data, as a set it')
  for (const server of servers) await settle(server, client)
  const numbers = Array.from({ length: 20 }, (_, i) => i + 1)
  t.same(client.values('from-c'), numbers, 'c\'s events in order, once')
  t.same(client.values('from-a'), numbers, 'a\'s events in order, once')
  t.same(client.values('from-b'), ['to its id'], 'what was sent to its id, nothing for other rooms')
  t.match(b.adapter().recoveryStats, { restoredFromPeer: 1 })
  t.match(a.adapter().recoveryStats, { handedOver: 1 })
  t.equal(a.io.of('/').sockets.get(id), undefined, 'a has no such socket')
})

t.test('events keep flowing while the client moves: it gets each one exactly once, in each sender\'s order', async t => {
  const lb = await balancer(b.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'stream', ['stream'])
  t.teardown(() => { client.socket.disconnect() })
  const id = client.socket.id!
  b.io.to('stream').emit('ready')
  await waitFor('ready', () => client.values('ready').length === 1)
  // Three senders emit numbered events to its room the whole time, one per event-loop turn each.
  const sent = new Map<string, number>()
  const pump = { running: true }
  const pumps = servers.map((server, i) => (async () => {
    const name = `s${i}`
    for (let n = 0; pump.running; n++) {
      server.io.to('stream').emit('n', name, n)
      sent.set(name, n + 1)
      await new Promise(resolve => setImmediate(resolve))
    }
  })())
  await waitFor('some events arrived', () => client.values('n').length >= 30)
  lb.moveTo(c.url)
  lb.dropAll()
  await waitForConnects(client, 2)
  await waitFor('more events after the move', () => client.received.length >= 2 && client.received.at(-1)!.event === 'n' && client.values('n').length >= 200)
  pump.running = false
  await Promise.all(pumps)
  for (const server of servers) await settle(server, client)
  t.same(client.connects[1], { id, recovered: true }, 'recovered on c')
  t.equal(serverSocket(client)?.server, c)
  for (const [name, count] of sent) {
    const got = client.received.filter(r => r.event === 'n' && r.args[0] === name).map(r => r.args[1])
    t.same(got, Array.from({ length: count }, (_, n) => n), `${name}: all ${count} events, each once, in order`)
  }
})

t.test('a server that is behind the keeper leaves the restored socket out of what the replay already had', async t => {
  // b's node holds back everything from c's node while the client moves to b: the keeper (a) has
  // c's events, b gets them only after the client is back on it.
  const cluster = await recoveryCluster(3, { shaped: [1] })
  const [keeper, behind, sender] = cluster as [RecoveryServer, RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(cluster.map(s => s.close())) })
  const senderNode = (await sender.factory.node()).nodeId
  const held: Array<() => void> = []
  const hold = { on: false }
  behind.shaped!.inbound = (m: GossipMessage, deliver) => {
    if (hold.on && m.origin === senderNode) held.push(() => { deliver(m) })
    else deliver(m)
  }

  const lb = await balancer(keeper.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'behind', ['r'])
  t.teardown(() => { client.socket.disconnect() })
  const id = client.socket.id!
  keeper.io.to('r').emit('hello')
  await waitFor('hello', () => client.values('hello').length === 1)
  hold.on = true
  lb.refuse()
  lb.dropAll()
  await waitFor('the keeper has the session', () => keeper.adapter().recoveryStats!.sessions === 1)
  const before = keeper.adapter().recoveryStats!.packets
  for (let i = 1; i <= 5; i++) sender.io.to('r').emit('c', i)
  await waitFor('the keeper logged them', () => keeper.adapter().recoveryStats!.packets === before + 5)
  t.ok(held.length >= 5, 'b has not got them')
  lb.moveTo(behind.url)
  lb.accept()
  await waitForConnects(client, 2)
  t.same(client.connects[1], { id, recovered: true }, 'recovered on b')
  hold.on = false
  for (const release of held.splice(0)) release()
  for (const server of cluster) {
    const marker = `m-${server.url}`
    server.io.to(id).emit('marker', marker)
    await waitFor(marker, () => client.values('marker').includes(marker))
  }
  t.same(client.values('c'), [1, 2, 3, 4, 5], 'each of c\'s events once, in order')
})

t.test('a keeper behind the server the client came back to answers once it has caught up: nothing the asker delivered is lost', async t => {
  // a's node (the keeper's) holds back a third server's events; b has them when it asks for the session.
  const cluster = await recoveryCluster(3, { shaped: [0] })
  const [keeper, asker, sender] = cluster as [RecoveryServer, RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(cluster.map(s => s.close())) })
  const senderNode = (await sender.factory.node()).nodeId
  const held: Array<() => void> = []
  const hold = { on: false }
  keeper.shaped!.inbound = (m: GossipMessage, deliver) => {
    if (hold.on && m.origin === senderNode) held.push(() => { deliver(m) })
    else deliver(m)
  }

  const lb = await balancer(keeper.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'ahead', ['r'])
  t.teardown(() => { client.socket.disconnect() })
  const id = client.socket.id!
  keeper.io.to('r').emit('hello')
  await waitFor('hello', () => client.values('hello').length === 1)
  lb.refuse()
  lb.dropAll()
  await waitFor('the keeper has the session', () => keeper.adapter().recoveryStats!.sessions === 1)
  hold.on = true
  // A local socket in the room on b, so b has surely delivered them (to it) before the client asks.
  const witness = await recoveringClient(asker.url, 'witness', ['r'])
  t.teardown(() => { witness.socket.disconnect() })
  for (let i = 1; i <= 5; i++) sender.io.to('r').emit('c', i)
  await waitFor('b delivered them', () => witness.values('c').length === 5)
  lb.moveTo(asker.url)
  lb.accept()
  await waitFor('the keeper waits to catch up', () => keeper.adapter().recoveryStats!.catchingUp === 1)
  hold.on = false
  for (const release of held.splice(0)) release()
  await waitForConnects(client, 2)
  t.same(client.connects[1], { id, recovered: true }, 'recovered on b')
  for (const server of cluster) {
    const marker = `m-${server.url}`
    server.io.to(id).emit('marker', marker)
    await waitFor(marker, () => client.values('marker').includes(marker))
  }
  t.same(client.values('c'), [1, 2, 3, 4, 5], 'each of c\'s events once, in order')
  t.match(keeper.adapter().recoveryStats, { handedOver: 1, catchingUp: 0 })
})

for (const member of [false, true]) {
  t.test(`a client restored on another server that loses its connection again at once is recovered again, from where it got its replay (${member ? 'that server had the events in its log already' : 'that server had not logged the events'})`, async t => {
    const room = `twice-${String(member)}`
    const lb = await balancer(a.url)
    t.teardown(() => lb.close())
    // A member of the room on b: b logs the events at the point it delivers them.
    const local = member ? await recoveringClient(b.url, 'b-member', [room]) : undefined
    t.teardown(() => { local?.socket.disconnect() })
    const client = await recoveringClient(lb.url, 'twice', [room])
    t.teardown(() => { client.socket.disconnect() })
    const id = client.socket.id!
    a.io.to(room).emit('hello')
    await waitFor('hello', () => client.values('hello').length === 1)
    lb.refuse()
    lb.dropAll()
    await waitFor('a keeps the session', () => a.io.of('/').sockets.get(id) === undefined)
    const before = a.adapter().recoveryStats!.packets
    for (let i = 1; i <= 3; i++) c.io.to(room).emit('e', i)
    await waitFor('a has them', () => a.adapter().recoveryStats!.packets >= before + 3)
    if (local !== undefined) await waitFor('b\'s member has them', () => local.values('e').length === 3)
    lb.moveTo(b.url)
    lb.accept()
    await waitForConnects(client, 2)
    t.same(client.connects[1], { id, recovered: true }, 'recovered on b')
    await waitFor('the replay', () => client.values('e').length === 3)
    // Gone again before any other packet: its last offset is the last replayed one.
    lb.refuse()
    lb.dropAll()
    await waitFor('b keeps the session', () => b.io.of('/').sockets.get(id) === undefined)
    b.io.to(room).emit('e', 4)
    lb.moveTo(c.url)
    lb.accept()
    await waitForConnects(client, 3)
    t.same(client.connects[2], { id, recovered: true }, 'recovered again, on c')
    for (const server of servers) await settle(server, client)
    t.same(client.values('e'), [1, 2, 3, 4], 'each event once, in order')
  })
}

t.test('a server that shuts down gracefully hands its sessions over: its clients, moved elsewhere, are recovered with what they missed, once', async t => {
  const cluster = await recoveryCluster(3)
  const [closing, next, other] = cluster as [RecoveryServer, RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(cluster.map(s => s.close())) })
  const lb = await balancer(closing.url)
  t.teardown(() => lb.close())
  const clients: RecoveringClient[] = []
  for (let i = 0; i < 10; i++) clients.push(await recoveringClient(lb.url, `moved-${i}`, ['deploy']))
  t.teardown(() => { for (const c of clients) c.socket.disconnect() })
  const ids = clients.map(c => c.socket.id)
  closing.io.to('deploy').emit('hello')
  await waitFor('hello', () => clients.every(c => c.values('hello').length === 1))
  lb.moveTo(next.url)
  lb.refuse()
  // Some events right before the shutdown, some after, from the servers that stay.
  for (let i = 1; i <= 3; i++) other.io.to('deploy').emit('e', `other-${i}`)
  await closing.close()
  for (let i = 4; i <= 6; i++) other.io.to('deploy').emit('e', `other-${i}`)
  next.io.to('deploy').emit('e', 'next-1')
  lb.accept()
  for (const c of clients) await waitForConnects(c, 2)
  t.same(clients.map(c => c.connects[1]), ids.map(id => ({ id, recovered: true })), 'every client recovered, with its id')
  for (const server of [next, other]) {
    for (const c of clients) {
      const marker = `m-${server.url}-${c.socket.id!}`
      server.io.to(c.socket.id!).emit('marker', marker)
      await waitFor(marker, () => c.values('marker').includes(marker))
    }
  }
  const expected = ['other-1', 'other-2', 'other-3', 'other-4', 'other-5', 'other-6']
  for (const c of clients) {
    const got = c.values('e')
    t.same(got.filter(v => String(v).startsWith('other')), expected, `${c.socket.id!}: the other server's events once, in order`)
    t.same(got.filter(v => v === 'next-1'), ['next-1'], 'and the next server\'s, once')
    const socket = next.io.of('/').sockets.get(c.socket.id!)
    t.same(socket?.data, { name: (c.socket.auth as { name: string }).name, profile: { since: 0, tags: ['a', 'b'] } }, 'on the next server, with its data')
    t.ok(socket?.rooms.has('deploy'), 'and its room')
  }
  const taken = (next.adapter().recoveryStats!.takenOver) + (other.adapter().recoveryStats!.takenOver)
  t.equal(taken, 10, 'all ten sessions were taken over')
})
