/**
 * Socket.IO connection state recovery with the gossip adapter: three real Socket.IO servers on
 * real gossip nodes (TCP on 127.0.0.1), real socket.io-client clients that reconnect on their own
 * through a load balancer, which decides whether they come back to the same server or another.
 *
 * Nothing here sleeps to decide an outcome: "the client has everything" is checked with a marker
 * emitted after the events under test (each server's messages keep their order).
 */
import t from 'tap'
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
