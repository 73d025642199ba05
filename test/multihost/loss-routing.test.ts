/**
 * Issue 10's multi-host bed with room routing on (`roomRouting`): 2 % packet loss on every link and
 * 20 ms +- 10 ms delay each way through a relay in front of every node, as loss-socketio.test.ts.
 * Five hosts, each a Socket.IO server whose one client is in two rooms, its own and the next
 * server's, so each room has members on two servers and a broadcast to it is routed to those only.
 * Every server broadcasts to every room; every client must get each broadcast to its rooms once,
 * and servers must not be sent what they have no member for. Needs root, `ip` and `iptables`
 * (skipped otherwise, failed under CI=true).
 */
import { bed, multihost, waitFor, waitForInboxes, waitForServerCount } from '../fixtures/netns.js'

const N = 5
const PER_ROOM = 200
const LOSS = 0.02
const RELAY = { delay: 20, jitter: 10 }
const INBOX = 'io:m'

const roomsOf = (k: number): string[] => [`room${k}`, `room${(k % N) + 1}`]

interface RoutingStats { routed: number, toAll: number, received: number, unwanted: number, serversKnown: number, roomsAsked: number }

multihost('Socket.IO adapter with roomRouting, 2 % loss and 20 +- 10 ms delay on every link: room broadcasts reach exactly their rooms\' servers, each once', async t => {
  const b = await bed(t, N)
  await b.loss(LOSS)
  const servers = Array.from({ length: N }, (_, k) => b.start(k + 1))
  await Promise.all(servers.map(async (s, k) => {
    await s.socketio({ name: `s${s.index}`, seeds: k === 0 ? [] : [b.address(1)], relay: RELAY, heartbeatInterval: 1_000, heartbeatTimeout: 5_000, roomRouting: true })
  }))
  await Promise.all(servers.map(async s => await s.call('ioClient', { name: `c${s.index}`, rooms: roomsOf(s.index) })))
  const started = Date.now()
  await waitForServerCount(t, servers, N, 'serverCount() === 5 everywhere', 45_000, started)
  const stats = async (): Promise<RoutingStats[]> => await Promise.all(servers.map(async s => (await s.call('routingStats')).stats as RoutingStats))
  try {
    await waitFor('every server knows every other\'s rooms', async () => (await stats()).every(x => x.serversKnown === N - 1), 45_000, 250)
  } catch (err) {
    // Seen once in a full run (2026-12-02, two test files at a time), never alone: say what each server knew.
    for (const s of servers) {
      const logs = (await s.logs()).filter(l => l.level !== 'info')
      t.comment(`server ${s.index}: routing ${JSON.stringify((await s.call('routingStats')).stats)}`)
      t.comment(logs.slice(-30).map(l => `  +${l.at - started}ms ${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join('\n'))
    }
    // Last, on one line: CI repeats only the comments just before a failure.
    const summary = await Promise.all(servers.map(async s => {
      const r = await s.call('routingStats')
      const x = r.stats as RoutingStats
      return `s${s.index}: known ${x.serversKnown}, asked ${x.roomsAsked}, order ${JSON.stringify(r.order)}`
    }))
    t.comment(summary.join('; '))
    throw err
  }
  const before = await stats()
  t.comment(`servers asked again for rooms still unknown two heartbeat intervals after they were live: ${before.reduce((sum, x) => sum + x.roomsAsked, 0)} times`)

  const sending = Date.now()
  await Promise.all(servers.map(async s => {
    for (let k = 1; k <= N; k++) await s.call('ioEmit', { room: `room${k}`, event: 'm', prefix: `from${s.index}-room${k}`, count: PER_ROOM })
  }))
  // Each client is in two rooms: from each of the N servers, PER_ROOM broadcasts to each.
  const expected = 2 * N * PER_ROOM
  const complete = await waitForInboxes(t, servers, INBOX, expected, sending)
  t.ok(complete, 'every client got every broadcast to its rooms')
  if (!complete) {
    for (const s of servers) {
      const logs = (await s.logs()).filter(l => l.level !== 'info')
      const kinds = new Map<string, number>()
      for (const l of logs) kinds.set(l.msg, (kinds.get(l.msg) ?? 0) + 1)
      t.comment(`server ${s.index}: routing ${JSON.stringify((await s.call('routingStats')).stats)}; warnings ${JSON.stringify([...kinds])}`)
      t.comment(logs.slice(0, 30).map(l => `  +${l.at - sending}ms ${l.msg} ${JSON.stringify(l.fields)}`).join('\n'))
    }
  }
  for (const s of servers) {
    for (const o of servers) {
      for (const room of roomsOf(s.index)) {
        t.equal(await s.has(INBOX, `from${o.index}-${room}`, PER_ROOM), PER_ROOM, `client of server ${s.index}: all of server ${o.index}'s broadcasts to ${room}`)
      }
    }
    const r = await s.received(INBOX)
    t.equal(r.duplicateCount, 0, `client of server ${s.index}: none twice (${r.total} deliveries)`)
  }
  const after = await stats()
  const routed = after.reduce((sum, x, i) => sum + x.routed - before[i]!.routed, 0)
  const unwanted = after.reduce((sum, x, i) => sum + x.unwanted - before[i]!.unwanted, 0)
  const received = after.reduce((sum, x, i) => sum + x.received - before[i]!.received, 0)
  t.comment(`routed ${routed}, to all ${after.reduce((sum, x, i) => sum + x.toAll - before[i]!.toAll, 0)}, received ${received}, of which for no member ${unwanted}`)
  t.equal(routed, N * N * PER_ROOM, 'every broadcast was routed')
  t.equal(unwanted, 0, 'no server was sent a broadcast for rooms it has no member in')
  // A room has members on two servers: a broadcast reaches those of them that are not its sender.
  t.equal(received, N * PER_ROOM * N * 2 - N * PER_ROOM * 2, 'each broadcast was received by its room\'s other servers only')
})
