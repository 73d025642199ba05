/**
 * The emitter (`createEmitter`): a process that is not a Socket.IO server reaches the rooms of
 * every server. Three real Socket.IO servers, each on its own gossip node over TCP on 127.0.0.1,
 * with real socket.io-client clients; the emitter joins them as a fourth node that holds no sockets.
 *
 * "Did not receive" is checked without sleeping: the emitter sends a marker to everyone after the
 * message under test, and since each server delivers one emitter's messages in the order emitted,
 * a client that has the marker has everything the emitter sent it before.
 */
import { randomBytes } from 'node:crypto'
import { connect as tcpConnect } from 'node:net'
import t from 'tap'
import { createAdapter, createEmitter } from '../../src/adapter/index.js'
import type { Emitter, GossipAdapterConstructor } from '../../src/adapter/index.js'
import type { GossipAdapter } from '../../src/adapter/gossip-adapter.js'
import { Gossip } from '../../src/core/gossip.js'
import { connectClient, startServer, waitFor, waitForServerCount } from '../fixtures/socketio-cluster.js'
import type { TestClient, TestServer } from '../fixtures/socketio-cluster.js'

const secret = randomBytes(16).toString('hex')
const servers: TestServer[] = []
const first = createAdapter({ secret, host: '127.0.0.1', port: 0 })
servers.push(await startServer(first, ['/', '/other']))
const seed = (await first.node()).address
for (let i = 1; i < 3; i++) servers.push(await startServer(createAdapter({ secret, host: '127.0.0.1', port: 0, seeds: [seed] }), ['/', '/other']))

// Every server records what reaches its serverSideEmit listeners.
const serverSide: unknown[][][] = servers.map(() => [])
for (const [i, server] of servers.entries()) server.io.on('job', (...args: unknown[]) => { serverSide[i]!.push(args) })

// Two clients per server: c0 in room "red", c1 in room "blue"; and one client of /other.
const clients: TestClient[] = []
const others: TestClient[] = []
for (const [i, server] of servers.entries()) {
  clients.push(await connectClient(server.url, `s${i}c0`, ['red']))
  clients.push(await connectClient(server.url, `s${i}c1`, ['blue']))
  others.push(await connectClient(server.url, `s${i}other`, [], '/other'))
}
const reds = clients.filter(c => c.name.endsWith('c0'))
const blues = clients.filter(c => c.name.endsWith('c1'))

const emitters: Array<Emitter<any, any>> = []
t.teardown(async () => {
  await Promise.all(emitters.map(e => e.close()))
  for (const c of [...clients, ...others]) c.socket.disconnect()
  await Promise.all(servers.map(s => s.close()))
})

await waitForServerCount(servers, 3)
const countsBefore = await Promise.all(servers.map(s => s.io.of('/').adapter.serverCount()))

const emitter = createEmitter({ secret, host: '127.0.0.1', port: 0, seeds: [seed] })
emitters.push(emitter)

const names = (list: TestClient[]): string[] => list.map(c => c.name).sort()
const receivers = (event: string, list = clients): string[] => names(list.filter(c => c.got(event).length > 0))
let markers = 0

/** Sends a marker to every client of `nsp` from the emitter and waits until all of them have it. */
async function settle (list = clients, nsp = '/'): Promise<void> {
  const id = ++markers
  emitter.of(nsp).emit('marker', id)
  await waitFor(`marker ${id}`, () => list.every(c => c.got('marker').some(args => args[0] === id)))
}

t.test('emitter.emit reaches every client of every server, as soon as the emitter is created', async t => {
  // Emitted before the emitter's node has joined: held until it has, not lost.
  emitter.emit('everyone', 'hello', { n: 1 })
  await waitFor('all six clients', () => receivers('everyone').length === 6)
  t.same(clients.map(c => c.got('everyone')), clients.map(() => [['hello', { n: 1 }]]))
})

t.test('serverCount() is the same before and after the emitter joined: it is no server', async t => {
  const countsAfter = await Promise.all(servers.map(s => s.io.of('/').adapter.serverCount()))
  t.same(countsAfter, countsBefore)
  t.same(countsAfter, [3, 3, 3])
  for (const server of servers) {
    const adapter = server.io.of('/').adapter as unknown as GossipAdapter
    t.equal(adapter.trustStats.unanswered, 0, 'nor a server that has not answered yet')
    t.equal(adapter.trustStats.wrongNode + adapter.trustStats.malformed, 0, 'nothing it sent was refused')
  }
  // fetchSockets waits for the servers only: it answers at once with every socket of the cluster.
  t.equal((await servers[0]!.io.fetchSockets()).length, 6)
})

t.test('to(room).emit reaches the room on every server and nobody else; to() is immutable', async t => {
  const red = emitter.to('red')
  red.to('blue')
  red.emit('to-red', Buffer.from([1, 2, 3]))
  await settle()
  t.same(receivers('to-red'), names(reds))
  t.ok(reds.every(c => Buffer.isBuffer(c.got('to-red')[0]![0])), 'a Buffer arrives as binary')
  emitter.in(['red', 'blue']).emit('to-both')
  await settle()
  t.same(receivers('to-both'), names(clients), 'in() with several rooms reaches each socket once')
  t.ok(clients.every(c => c.got('to-both').length === 1))
})

t.test('except() leaves the excluded rooms out on every server', async t => {
  emitter.except('blue').emit('not-blue')
  emitter.to(['red', 'blue']).except('red').emit('blue-only')
  emitter.volatile.compress(false).except(['red', 'blue']).emit('nobody')
  await settle()
  t.same(receivers('not-blue'), names(reds))
  t.same(receivers('blue-only'), names(blues))
  t.same(receivers('nobody'), [])
})

t.test('of(nsp) emits to that namespace only', async t => {
  const other = emitter.of('other')
  t.equal(other.nsp, '/other', 'the leading slash may be left out')
  other.emit('in-other', 7)
  await settle(others, '/other')
  await settle()
  t.same(receivers('in-other', others), names(others))
  t.same(receivers('in-other'), [], 'no client of / got it')
  t.same(await Promise.all(servers.map(s => s.io.of('/other').adapter.serverCount())), [3, 3, 3])
})

t.test('socketsJoin and socketsLeave act on the matching sockets of every server, in order with emits', async t => {
  emitter.in('blue').socketsJoin('green')
  emitter.to('green').emit('to-green')
  await settle()
  t.same(receivers('to-green'), names(blues), 'the sockets that just joined got the emit that followed')
  t.equal((await servers[1]!.io.in('green').fetchSockets()).length, 3)
  emitter.in('green').socketsLeave(['green'])
  emitter.to('green').emit('to-green-again')
  await settle()
  t.same(receivers('to-green-again'), [])
  t.equal((await servers[2]!.io.in('green').fetchSockets()).length, 0)
})

t.test('disconnectSockets disconnects the matching sockets of every server, after what was emitted before', async t => {
  const doomed = await Promise.all(servers.map(async (s, i) => await connectClient(s.url, `doomed${i}`, ['doomed'])))
  const reasons = doomed.map(c => new Promise<string>(resolve => c.socket.once('disconnect', resolve)))
  emitter.to('doomed').emit('last-words')
  emitter.in('doomed').disconnectSockets(true)
  t.same(await Promise.all(reasons), ['io server disconnect', 'io server disconnect', 'io server disconnect'])
  t.same(doomed.map(c => c.got('last-words')), doomed.map(() => [[]]), 'the emit before it arrived first')
  await settle()
  t.ok(clients.every(c => c.socket.connected), 'the others stay connected')
})

t.test('serverSideEmit reaches the serverSideEmit listeners of every server', async t => {
  emitter.serverSideEmit('job', { id: 1 }, 'urgent')
  await waitFor('every server', () => serverSide.every(list => list.length === 1))
  t.same(serverSide, servers.map(() => [[{ id: 1 }, 'urgent']]))
})

t.test('one emitter\'s messages reach every client in the order emitted', async t => {
  for (let i = 0; i < 200; i++) emitter.emit('seq', i)
  await waitFor('200 messages each', () => clients.every(c => c.got('seq').length === 200))
  const expected = Array.from({ length: 200 }, (_, i) => [i])
  for (const c of clients) t.same(c.got('seq'), expected, c.name)
})

t.test('bad input throws a typed error and the emitter keeps working', async t => {
  const invalid = { code: 'ERR_GOSSIP_INVALID_MESSAGE' }
  t.throws(() => emitter.emit('disconnect'), { ...invalid, message: /"disconnect" is a reserved event name/ })
  t.throws(() => emitter.to('red').emit('connect'), invalid)
  t.throws(() => emitter.emit('with-ack', 1, () => {}), { ...invalid, message: /acknowledgements are not supported/ })
  t.throws(() => emitter.serverSideEmit('job', () => {}), { ...invalid, message: /acknowledgements are not supported/ })
  t.throws(() => emitter.serverSideEmit('connection'), invalid)
  t.throws(() => emitter.to({ room: 1 } as unknown as string), invalid)
  t.throws(() => emitter.socketsJoin([null as unknown as string]), invalid)
  t.throws(() => emitter.disconnectSockets('yes' as unknown as boolean), invalid)
  t.throws(() => emitter.emit('huge', Buffer.alloc(300 * 1024)), { code: 'ERR_GOSSIP_MESSAGE_TOO_LARGE' })
  emitter.emit('still-working')
  await settle()
  t.same(receivers('still-working'), names(clients))
  t.same(receivers('huge'), [])
})

t.test('invalid options are refused at once, naming the option', async t => {
  const option = (name: string): { code: string, message: RegExp } => ({ code: 'ERR_GOSSIP_INVALID_OPTION', message: new RegExp(`option "${name}"`) })
  t.throws(() => createEmitter({ secret: '' }), option('secret'))
  t.throws(() => createEmitter({ secret, key: '' }), option('key'))
  t.throws(() => createEmitter({ secret, closeTimeout: -1 }), option('closeTimeout'))
  t.throws(() => createEmitter({ secret, logger: console.log as never }), option('logger'))
  t.throws(() => createEmitter({ gossip: {} as never }), option('gossip'))
  t.throws(() => createEmitter({ secret, seeds: ['nowhere'] }), option('seeds'))
})

t.test('a node that cannot start: its error is logged, and emit throws it', async t => {
  const logged: unknown[] = []
  const log = (): void => {}
  const logger = { trace: log, debug: log, info: log, warn: log, error: (obj: unknown) => { logged.push(obj) } }
  const taken = Number(seed.split(':')[1])
  const broken = createEmitter({ secret, host: '127.0.0.1', port: taken, logger })
  await t.rejects(broken.node(), { code: 'ERR_GOSSIP_LISTEN' })
  t.equal(logged.length, 1, 'logged once, at error')
  t.throws(() => broken.emit('anything'), { code: 'ERR_GOSSIP_LISTEN' })
  await broken.close()
})

t.test('an emitter on a node of the application: the node is left open by close()', async t => {
  const node = await Gossip.spawn({ secret, host: '127.0.0.1', port: 0, seeds: [seed] })
  t.teardown(() => node.close())
  const shared = createEmitter({ gossip: node })
  t.equal(await shared.node(), node)
  shared.to('blue').emit('from-shared')
  await waitFor('every blue client', () => receivers('from-shared').length === 3)
  await shared.close()
  t.same(receivers('from-shared'), names(blues))
  t.ok(node.stats().running, 'the node is still running')
  t.throws(() => shared.emit('after-close'), { code: 'ERR_GOSSIP_CLOSED' })
})

t.test('a process that emits and closes at once: the message still arrives, and nothing is left open', async t => {
  // Every node of this process (the servers' and the shared emitter's) may replace links among
  // themselves at any time (the healer, shuffles). Each link end is one TCP socket, so what is
  // compared is the sockets that are not such a link end: the clients' and the emitter's.
  const inProcess = [...await Promise.all(servers.map(async s => await (s.factory as GossipAdapterConstructor).node())), await emitter.node()]
  const linkEnds = (): number => inProcess.reduce((sum, n) => sum + n.peers().length, 0)
  const handles = (): { servers: number, others: number } => {
    const active = process.getActiveResourcesInfo()
    return {
      servers: active.filter(r => r === 'TCPServerWrap').length,
      others: active.filter(r => r === 'TCPSocketWrap').length - linkEnds()
    }
  }
  // A link being dialled is a socket that is not a link end yet: take the fewest of a few looks.
  let before = handles()
  for (let i = 0; i < 5; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
    const now = handles()
    if (now.others < before.others) before = now
  }
  const cron = createEmitter({ secret, host: '127.0.0.1', port: 0, seeds: [seed] })
  const { address, nodeId } = await cron.node()
  cron.to('red').emit('from-cron', 'done')
  await cron.close()
  await waitFor('the reds', () => receivers('from-cron').length === 3)
  t.same(receivers('from-cron'), names(reds))
  t.throws(() => cron.emit('again'), { code: 'ERR_GOSSIP_CLOSED' })
  t.resolves(cron.close(), 'close() again is a no-op')
  // Its node is closed: nothing listens at its address, and its links are gone on both sides.
  const refused = await new Promise<string>(resolve => {
    const [host, port] = address.split(':') as [string, string]
    const socket = tcpConnect(Number(port), host)
    socket.once('connect', () => { socket.destroy(); resolve('connected') })
    socket.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? 'error') })
  })
  t.equal(refused, 'ECONNREFUSED')
  await waitFor('no node linked to the emitter\'s node', () => inProcess.every(n => !n.peers().some(p => p.nodeId === nodeId)))
  await waitFor('TCP handles other than link ends back to what they were', () => JSON.stringify(handles()) === JSON.stringify(before)).catch(() => {})
  t.same(handles(), before, 'listening sockets, and sockets other than links among this process\'s nodes, as before')
  t.same(await Promise.all(servers.map(s => s.io.of('/').adapter.serverCount())), [3, 3, 3], 'serverCount() unchanged')
})
