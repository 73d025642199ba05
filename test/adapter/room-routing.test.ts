/**
 * Room routing (`roomRouting: true`): real Socket.IO servers on real TCP gossip nodes, with
 * socket.io-client clients. A room broadcast reaches exactly its members, and servers without one
 * receive no payload for it (`adapter.routingStats()`); joins racing broadcasts, leaves, socket-id
 * rooms, `except`, a remote `socketsJoin`, a server that restarts; on the direct path and, with
 * `directFanout: 1`, partly on the overlay path (messages for both other servers go through the
 * overlay, those for one go directly, and receivers must not wait for what was not sent to them).
 *
 * Clients join through an event whose ack the server sends once `await socket.join(room)` has
 * resolved: a join is complete then, and every broadcast emitted after it must reach the client.
 */
import t from 'tap'
import type { Test } from 'tap'
import type { AdapterOptions } from '../../src/adapter/index.js'
import { adapterOf, connectClient, routedCluster, settle, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import type { TestClient, TestServer } from '../fixtures/socketio-cluster.js'

async function join (client: TestClient, room: string): Promise<void> {
  await client.socket.timeout(10_000).emitWithAck('join', room)
}

async function leave (client: TestClient, room: string): Promise<void> {
  await client.socket.timeout(10_000).emitWithAck('leave', room)
}

const names = (list: TestClient[], event: string): string[] => list.filter(c => c.got(event).length > 0).map(c => c.name).sort()

async function scenario (t: Test, options: AdapterOptions): Promise<void> {
  const { servers, make: start, seed } = await routedCluster(t, options)
  const [s0, s1, s2] = servers as [TestServer, TestServer, TestServer]
  const a = await connectClient(s0.url, 'a')
  const b = await connectClient(s1.url, 'b')
  const c = await connectClient(s2.url, 'c')
  const clients = [a, b, c]
  t.teardown(() => { for (const x of clients) x.socket.disconnect() })
  await join(a, 'alpha')
  await join(b, 'alpha')
  await join(c, 'beta')

  await t.test('a room broadcast reaches exactly its members; a server without one gets no payload', async t => {
    const before = adapterOf(s2).routingStats()
    for (let i = 0; i < 20; i++) s0.io.to('alpha').emit('to-alpha', i)
    await settle(s0.io, clients)
    t.same(names(clients, 'to-alpha'), ['a', 'b'])
    t.same(b.got('to-alpha'), Array.from({ length: 20 }, (_, i) => [i]), 'b got the 20 in order')
    const after = adapterOf(s2).routingStats()
    t.equal(after.unwanted - before.unwanted, 0, 's2 received no broadcast for alpha')
    t.equal(after.unwantedBytes - before.unwantedBytes, 0)
    t.equal(after.received - before.received, 1, 'only the marker')
    t.ok(adapterOf(s0).routingStats().routed >= 20, 'the sender counts them routed')
    t.ok(adapterOf(s0).routingStats().serversSkipped >= 20)
  })

  await t.test('a join racing broadcasts: once the join has resolved, every later emit reaches it', async t => {
    for (let i = 0; i < 5; i++) {
      const room = `race${i}`
      await join(a, room)              // the room is known at s0 ...
      const late = await connectClient(s2.url, `late${i}`)
      clients.push(late)
      await join(late, room)           // ... and now at s2 too
      s1.io.to(room).emit('raced', i)  // emitted by a third server at once
      await waitFor(`late${i} got it`, () => late.got('raced').length === 1)
    }
    // A join not awaited, to a room no other server has, races too: it goes everywhere.
    const eager = await connectClient(s2.url, 'eager')
    clients.push(eager)
    eager.socket.emit('join', 'fresh-eager', () => {})
    await waitFor('joined on s2', () => s2.io.of('/').adapter.rooms.has('fresh-eager'))
    s0.io.to('fresh-eager').emit('eager')
    await waitFor('eager got it', () => eager.got('eager').length === 1)
    t.pass('every racing join got its broadcast')
  })

  await t.test('leave then broadcast: the one who left gets nothing, and its server soon no payload', async t => {
    // alpha stays listed by s2 (a room listed by no other server goes everywhere: it may be a socket id).
    await join(c, 'alpha')
    await leave(b, 'alpha')
    s0.io.to('alpha').emit('after-leave')
    // s1's leave announcement, then a marker from s1: once seen, s0 has applied the leave.
    await new Promise(resolve => setImmediate(resolve))
    await settle(s1.io, clients)
    const before = adapterOf(s1).routingStats()
    s0.io.to('alpha').emit('after-leave')
    await settle(s0.io, clients)
    t.same(names(clients, 'after-leave'), ['a', 'c'])
    t.equal(a.got('after-leave').length, 2)
    t.equal(adapterOf(s1).routingStats().unwantedBytes - before.unwantedBytes, 0, 's1 got no payload after the leave was known')
  })

  await t.test('socket-id rooms and except', async t => {
    s0.io.to(c.socket.id!).emit('private', 'c only')
    await settle(s0.io, clients)
    t.same(names(clients, 'private'), ['c'])
    await join(a, 'gamma')
    s1.io.to('alpha').except('gamma').emit('not-gamma')
    await settle(s1.io, clients)
    t.same(names(clients, 'not-gamma'), ['c'])
    s2.io.to('alpha').except(a.socket.id!).emit('not-a')
    await settle(s2.io, clients)
    t.same(names(clients, 'not-a'), ['c'])
  })

  await t.test('socketsJoin from a server, then an emit to that room, reaches the sockets it just joined', async t => {
    // delta is known at s1 only; s0 makes beta's sockets (on s2) join it and emits at once.
    await join(b, 'delta')
    s0.io.in('beta').socketsJoin('delta')
    s0.io.to('delta').emit('to-delta')
    await settle(s0.io, clients)
    t.same(names(clients, 'to-delta'), ['b', 'c'])
  })

  await t.test('socketsJoin from one server: a third server that emits to the room as soon as it applied the join reaches every socket it joined', async t => {
    // epsilon is listed by s0 only: without the join's confirmations s1 would route to s0 alone.
    await join(a, 'epsilon')
    await join(b, 'kappa')
    await join(c, 'kappa')
    s0.io.in('kappa').socketsJoin('epsilon')
    // The moment s1 has applied the join (before s2's announcement of it can have reached s1).
    await new Promise<void>(resolve => {
      const poll = (): void => { if (s1.io.of('/').adapter.rooms.has('epsilon')) resolve(); else setImmediate(poll) }
      poll()
    })
    s1.io.to('epsilon').emit('to-epsilon')
    await settle(s1.io, clients)
    t.same(names(clients, 'to-epsilon'), ['a', 'b', 'c'])
    await waitFor('the join confirmed everywhere', () => servers.every(s => adapterOf(s).routingStats().joinsPending === 0))
    const before = adapterOf(s2).routingStats()
    s1.io.to('alpha').emit('after-confirmed')
    await settle(s1.io, clients)
    t.equal(adapterOf(s2).routingStats().unwanted - before.unwanted, 0, 'once confirmed, routing is exact again: s2 gets nothing for alpha')
  })

  await t.test('a server that restarts is sent its rooms\' broadcasts', async t => {
    await s2.close()
    servers.splice(2, 1)
    const s3 = await start([seed])
    servers.push(s3)
    await waitForServerCount(servers, 3)
    const back = await connectClient(s3.url, 'back')
    clients.splice(clients.indexOf(c), 1)
    clients.push(back)
    await join(back, 'alpha')
    s1.io.to('alpha').emit('after-restart')
    await settle(s1.io, clients.filter(x => x.socket.connected))
    t.same(names(clients, 'after-restart'), ['a', 'back'])
    await waitFor('rooms known again', () => servers.every(s => adapterOf(s).routingStats().serversKnown === 2))
    const before = adapterOf(s1).routingStats()
    s0.io.to('beta').emit('nobody')   // beta left with s2: known nowhere, goes everywhere
    s3.io.to('gamma').emit('to-gamma')
    // Two senders: a marker from each, since a sender's order says nothing of the other's.
    await settle(s0.io, clients.filter(x => x.socket.connected))
    await settle(s3.io, clients.filter(x => x.socket.connected))
    t.same(names(clients, 'to-gamma'), ['a'])
    t.equal(adapterOf(s1).routingStats().unwanted - before.unwanted, 1, 's1 got the broadcast to a room nobody lists, not gamma\'s')
  })

  await t.test('receivers never waited for numbers that were not sent to them', async t => {
    // beforeStart may count the restarted server's first messages, overtaken by later direct ones.
    for (const server of servers) t.same({ ...adapterOf(server).orderStats, held: 0, beforeStart: 0 }, { skipped: 0, late: 0, lateDelivered: 0, held: 0, outOfWindow: 0, resyncs: 0, beforeStart: 0 })
  })
}

t.test('direct path', async t => { await scenario(t, {}) })
t.test('overlay and direct paths mixed (directFanout 1)', async t => { await scenario(t, { directFanout: 1 }) })
