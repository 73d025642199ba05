/**
 * When Socket.IO's connection state cannot be recovered with the gossip adapter, the client gets a
 * new session (`socket.recovered` false, a new id), promptly, as with Socket.IO's own adapters: the
 * server it was on is gone, the session expired, it was already restored, or it was evicted to keep
 * memory bounded. Real servers on real gossip nodes, real clients, through a load balancer.
 */
import t from 'tap'
import { balancer } from '../fixtures/balancer.js'
import { recoveringClient, recoveryCluster, waitForConnects } from '../fixtures/recovery-cluster.js'
import type { RecoveryServer } from '../fixtures/recovery-cluster.js'
import { connectClient, waitFor } from '../fixtures/socketio-cluster.js'
import type { TestClient } from '../fixtures/socketio-cluster.js'
import { io as connect } from 'socket.io-client'
import { createAdapter } from '../../src/adapter/index.js'

/** A private session id and offset, as the client holds them (private fields of socket.io-client). */
interface Held { _pid?: string, _lastOffset?: string }

t.test('recovery options out of range throw from createAdapter, naming the option', async t => {
  for (const [name, value] of [['recoveryMaxSessions', -1], ['recoveryMaxPackets', 1.5], ['recoveryMaxBytes', Number.NaN], ['recoveryTimeout', 0]] as const) {
    t.throws(() => createAdapter({ secret: 'x', [name]: value }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: new RegExp(`option "${name}"`) })
  }
})

t.test('after the server it was on crashed, the client gets a new session on another server at once', async t => {
  const servers = await recoveryCluster(3, { shaped: [0] })
  const [a, b] = servers as [RecoveryServer, RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(servers.map(s => s.close())) })
  const lb = await balancer(a.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'orphan', ['red'])
  t.teardown(() => { client.socket.disconnect() })
  a.io.to('red').emit('hello')
  await waitFor('hello', () => client.values('hello').length === 1)
  lb.refuse()
  lb.dropAll()
  await waitFor('a keeps the session', () => a.adapter().recoveryStats!.sessions === 1)
  // A crash: a's node goes silent and its leaving is seen (as when its process dies and its links close).
  a.shaped!.cut = true
  await a.shaped!.inner.close()
  await waitFor('b no longer counts a', async () => (await b.io.of('/').adapter.serverCount()) === 2)
  lb.moveTo(b.url)
  lb.accept()
  await waitForConnects(client, 2)
  t.equal(client.connects[1]!.recovered, false, 'not recovered: the session went with its server')
  t.not(client.connects[1]!.id, client.connects[0]!.id, 'a new id')
  t.match(b.adapter().recoveryStats, { notFound: 1, timedOut: 0, restoredFromPeer: 0 }, 'every server left said "not here"; nobody waited for a timeout')
})

t.test('a server without connectionStateRecovery in the cluster says "not here" at once: a client whose session is gone gets a new one without waiting', async t => {
  const servers = await recoveryCluster(3, { withoutRecovery: [2] })
  const [a, b] = servers as [RecoveryServer, RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(servers.map(s => s.close())) })
  const lb = await balancer(a.url)
  t.teardown(() => lb.close())
  const client = await recoveringClient(lb.url, 'unknown', ['red'])
  t.teardown(() => { client.socket.disconnect() })
  a.io.to('red').emit('hello')
  await waitFor('hello', () => client.values('hello').length === 1)
  lb.refuse()
  lb.dropAll()
  await waitFor('a keeps the session', () => a.adapter().recoveryStats!.sessions === 1)
  // The client presents a private id nobody keeps (as after a restart of its server).
  ;(client.socket as unknown as Held)._pid = 'nobody-keeps-this-id'
  lb.moveTo(b.url)
  lb.accept()
  await waitForConnects(client, 2)
  t.equal(client.connects[1]!.recovered, false)
  t.match(b.adapter().recoveryStats, { notFound: 1, timedOut: 0 }, 'a and the server without recovery both answered')
  t.equal(servers[2]!.adapter().recoveryStats, undefined, 'no recovery stats where recovery is off')
})

t.test('a session whose missed packets exceed one gossip message is restored on its own server; elsewhere the client gets a new one at once', async t => {
  const servers = await recoveryCluster(2)
  const [a, b] = servers as [RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(servers.map(s => s.close())) })
  for (const back of [b, a]) {
    const lb = await balancer(a.url)
    const client = await recoveringClient(lb.url, 'big', ['big'])
    a.io.to('big').emit('hello')
    await waitFor('hello', () => client.values('hello').length === 1)
    lb.refuse()
    lb.dropAll()
    await waitFor('the session is kept', () => a.adapter().recoveryStats!.sessions === 1)
    // Three events of 100 KB each: together more than the node's 256 KiB message limit.
    for (let i = 0; i < 3; i++) a.io.to('big').emit('large', i, 'x'.repeat(100_000))
    lb.moveTo(back.url)
    lb.accept()
    await waitForConnects(client, 2)
    if (back === a) {
      t.equal(client.connects[1]!.recovered, true, 'on its own server: recovered')
      await waitFor('the three large events', () => client.values('large').length === 3)
      t.same(client.values('large'), [0, 1, 2])
    } else {
      t.equal(client.connects[1]!.recovered, false, 'on another server: a new session')
      t.match(a.adapter().recoveryStats, { tooLarge: 1, handedOver: 0 })
      t.match(b.adapter().recoveryStats, { timedOut: 0, notFound: 1 }, 'the keeper said so: no timeout')
    }
    client.socket.disconnect()
    await lb.close()
  }
})

t.test('expiry, once-only and memory bounds', async t => {
  const servers = await recoveryCluster(2, {
    maxDisconnectionDuration: 1_000,
    adapter: { recoveryMaxSessions: 20, recoveryMaxPackets: 50, recoveryMaxBytes: 64 * 1024 }
  })
  const [a, b] = servers as [RecoveryServer, RecoveryServer]
  t.teardown(async () => { await Promise.all(servers.map(s => s.close())) })

  t.test('a session is not restored after maxDisconnectionDuration, on the same server or another', async t => {
    for (const back of [a, b]) {
      const lb = await balancer(a.url)
      const client = await recoveringClient(lb.url, 'late', ['red'])
      a.io.to('red').emit('hello')
      await waitFor('hello', () => client.values('hello').length === 1)
      lb.refuse()
      lb.dropAll()
      await waitFor('the session is kept', () => a.adapter().recoveryStats!.sessions === 1)
      await waitFor('the session expired', () => a.adapter().recoveryStats!.sessions === 0)
      lb.moveTo(back.url)
      lb.accept()
      await waitForConnects(client, 2)
      t.equal(client.connects[1]!.recovered, false, `back on ${back === a ? 'the same server' : 'another server'}: a new session`)
      client.socket.disconnect()
      await lb.close()
    }
  })

  t.test('a session is restored once: a stale copy of the client presenting the same private id and offset gets a new session', async t => {
    const lb = await balancer(a.url)
    t.teardown(() => lb.close())
    const client = await recoveringClient(lb.url, 'original', ['red'])
    t.teardown(() => { client.socket.disconnect() })
    a.io.to('red').emit('hello')
    await waitFor('hello', () => client.values('hello').length === 1)
    const { _pid: pid, _lastOffset: offset } = client.socket as unknown as Held
    t.ok(pid !== undefined && offset !== undefined, 'the client holds a private id and an offset')
    lb.dropAll()
    await waitForConnects(client, 2)
    t.equal(client.connects[1]!.recovered, true, 'the client is recovered')
    for (const server of [a, b]) {
      const copy = connect(server.url, { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, auth: { name: 'copy' } })
      Object.assign(copy as unknown as Held, { _pid: pid, _lastOffset: offset })
      copy.connect()
      await new Promise<void>(resolve => copy.once('connect', resolve))
      t.equal(copy.recovered, false, `the copy is not recovered (connecting to ${server === a ? 'the keeper' : 'another server'})`)
      t.not(copy.id, client.socket.id)
      copy.disconnect()
    }
  })

  t.test('under many disconnects, the sessions and packets kept stay within the bounds, oldest evicted first', async t => {
    const lb = await balancer(a.url)
    t.teardown(() => lb.close())
    const clients: TestClient[] = []
    for (let i = 0; i < 60; i++) clients.push(await connectClient(lb.url, `many-${i}`, ['crowd']))
    a.io.to('crowd').emit('hello')
    await waitFor('every client has hello', () => clients.every(c => c.got('hello').length === 1))
    lb.dropAll()
    await waitFor('every socket gone', () => a.io.of('/').sockets.size === 0)
    for (let i = 0; i < 200; i++) b.io.to('crowd').emit('while-away', i, 'x'.repeat(100))
    await waitFor('a logged up to its bound', () => a.adapter().recoveryStats!.evictedPackets >= 150)
    const stats = a.adapter().recoveryStats!
    t.ok(stats.sessions <= 20, `sessions kept: ${stats.sessions} <= 20`)
    t.ok(stats.packets <= 50, `packets kept: ${stats.packets} <= 50`)
    t.ok(stats.bytes <= 64 * 1024, `estimated memory: ${stats.bytes} <= 64 KiB`)
    t.ok(stats.evictedSessions >= 40, `sessions evicted: ${stats.evictedSessions}`)
    // Every kept session's offset ("hello") was evicted: none can be restored with a hole, so none is.
    const back = await Promise.all(clients.slice(-3).map(async c => {
      const held = c.socket as unknown as Held
      const copy = connect(b.url, { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, auth: { name: c.name } })
      Object.assign(copy as unknown as Held, { _pid: held._pid, _lastOffset: held._lastOffset })
      copy.connect()
      await new Promise<void>(resolve => copy.once('connect', resolve))
      copy.disconnect()
      return copy.recovered
    }))
    t.same(back, [false, false, false], 'kept sessions whose last packet was evicted are not restored')
  })
})
