import t from 'tap'
import { PACKET_OVERHEAD, SESSION_OVERHEAD, SessionLog, packetMatches } from '../../src/adapter/session-log.js'
import type { SessionLogLimits } from '../../src/adapter/session-log.js'

function log (limits: Partial<SessionLogLimits> = {}): { log: SessionLog, clock: { now: number } } {
  const clock = { now: 1_000 }
  return { clock, log: new SessionLog({ maxAge: 10_000, maxSessions: 100, maxPackets: 100, maxBytes: 1_000_000, now: () => clock.now, ...limits }) }
}

function packet (offset: string, rooms: string[] = [], except: string[] = [], bytes = 10): { offset: string, data: unknown[], rooms: string[], except: string[], bytes: number } {
  return { offset, data: ['ev', offset, offset], rooms, except, bytes }
}

function session (pid: string, rooms: string[] = [`sid-${pid}`], bytes = 10): { sid: string, pid: string, rooms: string[], data: unknown, bytes: number } {
  return { sid: `sid-${pid}`, pid, rooms, data: { pid }, bytes }
}

t.test('Socket.IO\'s rule: a packet is for a session if it went to all or to one of its rooms, and excluded none of them', async t => {
  t.ok(packetMatches(['s', 'red'], [], []), 'to all')
  t.ok(packetMatches(['s', 'red'], ['red', 'blue'], []), 'to one of its rooms')
  t.notOk(packetMatches(['s', 'red'], ['blue'], []), 'to another room')
  t.notOk(packetMatches(['s', 'red'], [], ['red']), 'one of its rooms excluded')
  t.notOk(packetMatches(['s', 'red'], ['red'], ['s']), 'itself excluded')
})

t.test('the packets after the offset that match the session\'s rooms, in order', async t => {
  const { log: l } = log()
  l.append(packet('o1', ['red']))
  l.append(packet('o2', ['red']))
  l.append(packet('o3', ['blue']))
  l.append(packet('o4', []))
  l.append(packet('o5', [], ['red']))
  t.same(l.after('o1', ['s', 'red']), [['ev', 'o2', 'o2'], ['ev', 'o4', 'o4']])
  t.same(l.after('o4', ['s', 'red']), [], 'nothing after the last one')
  t.equal(l.after('unknown', ['s', 'red']), undefined, 'an offset that is not logged: what was missed is unknown')
})

t.test('a session is handed out once, and not after maxAge', async t => {
  const { log: l, clock } = log()
  l.persist(session('p1'))
  l.persist(session('p2'))
  t.ok(l.has('p1'))
  t.match(l.take('p1'), { sid: 'sid-p1', pid: 'p1', data: { pid: 'p1' }, disconnectedAt: 1_000 })
  t.equal(l.take('p1'), undefined, 'not twice')
  clock.now += 10_001
  t.equal(l.take('p2'), undefined, 'expired')
  t.equal(l.stats.sessions, 0)
})

t.test('packets older than maxAge are dropped: an offset among them is no longer known', async t => {
  const { log: l, clock } = log()
  l.append(packet('old'))
  clock.now += 6_000
  l.append(packet('newer'))
  clock.now += 5_000
  t.equal(l.after('old', ['s']), undefined)
  t.same(l.after('newer', ['s']), [])
  t.equal(l.stats.packets, 1)
})

t.test('which packets may concern a kept session: its rooms, or any packet to all', async t => {
  const { log: l } = log()
  t.notOk(l.concernsSession(new Set()), 'no session: nothing')
  l.persist(session('p1', ['sid-p1', 'red']))
  t.ok(l.concernsSession(new Set()))
  t.ok(l.concernsSession(new Set(['red', 'blue'])))
  t.notOk(l.concernsSession(new Set(['blue'])))
  l.take('p1')
  t.notOk(l.concernsSession(new Set(['red'])), 'the room is forgotten with the session')
})

t.test('past the count bounds the oldest go first', async t => {
  const { log: l } = log({ maxSessions: 2, maxPackets: 3 })
  for (const pid of ['p1', 'p2', 'p3']) l.persist(session(pid))
  for (const offset of ['o1', 'o2', 'o3', 'o4', 'o5']) l.append(packet(offset))
  t.match(l.stats, { sessions: 2, packets: 3, evictedSessions: 1, evictedPackets: 2, bytes: 2 * (10 + SESSION_OVERHEAD) + 3 * (10 + PACKET_OVERHEAD) })
  t.notOk(l.has('p1'))
  t.ok(l.has('p3'))
  t.equal(l.after('o2', ['s']), undefined)
  t.same(l.after('o3', ['s'])?.length, 2)
})

t.test('past the byte bound the oldest entry goes first, session or packet; an entry counts its encoded size and its heap overhead', async t => {
  const both = (10 + SESSION_OVERHEAD) + (10 + PACKET_OVERHEAD)
  const { log: l, clock } = log({ maxBytes: both + 5 })
  l.append(packet('o1', [], [], 10))
  clock.now++
  l.persist(session('p1', ['s'], 10))
  clock.now++
  l.append(packet('o2', [], [], 10))
  t.match(l.stats, { packets: 1, sessions: 1, bytes: both, evictedPackets: 1 }, 'the first packet was the oldest')
  clock.now++
  l.persist(session('p2', ['s'], 10))
  t.match(l.stats, { packets: 1, sessions: 1, bytes: both, evictedSessions: 1 }, 'then the first session')
  t.ok(l.has('p2'))
})

t.test('a long log keeps finding offsets as its front is dropped and compacted', async t => {
  const { log: l } = log({ maxPackets: 1_500 })
  for (let i = 0; i < 10_000; i++) l.append(packet(`o${i}`, [], [], 1))
  t.equal(l.stats.packets, 1_500)
  t.same(l.after('o9997', ['s']), [['ev', 'o9998', 'o9998'], ['ev', 'o9999', 'o9999']])
  t.equal(l.after('o8499', ['s']), undefined)
  t.equal(l.after('o8500', ['s'])?.length, 1_499)
})

t.test('packets replayed to a socket restored from another server are found, for that socket, where it got them here', async t => {
  const { log: l } = log()
  l.append(packet('o1', ['r']))
  l.append(packet('o2', ['r']))
  // Socket S arrives from another server and is replayed o1 and o2 (delivered here earlier, before it came).
  l.append({ ...packet('o1', ['S']), replayedTo: 'S' })
  l.append({ ...packet('o2', ['S']), replayedTo: 'S' })
  l.append(packet('o3', ['r']))
  t.same(l.after('o1', ['S', 'r'], 'S')?.map(p => p[1]), ['o2', 'o3'], 'S: from its replay on, once')
  t.same(l.after('o1', ['Y', 'r'], 'Y')?.map(p => p[1]), ['o2', 'o3'], 'another socket: from where it got o1, without S\'s replay')
  l.append({ ...packet('o9', ['S']), replayedTo: 'S' })
  t.equal(l.after('o9', ['Y', 'r'], 'Y'), undefined, 'an offset known only from S\'s replay is not known to others')
  t.same(l.after('o9', ['S', 'r'], 'S'), [])
})

t.test('the last packet sent to a session\'s socket before it went away: the last one logged then that matches its rooms', async t => {
  const { log: l } = log()
  l.append(packet('o1', ['red']))
  l.append(packet('o2', ['blue']))
  l.persist(session('p1', ['sid-p1', 'red']))
  l.append(packet('o3', ['red']))
  t.equal(l.lastSent('p1'), 'o1', 'o2 went to another room, o3 came after it went away')
  l.persist(session('p2', ['sid-p2']))
  t.equal(l.lastSent('p2'), undefined, 'nothing was sent to it')
  t.same(l.pids(), ['p1', 'p2'])
})

t.test('sessions persisted, taken from the middle, persisted again and expiring: the oldest still go first, whatever the order of events', async t => {
  const fc = (await import('fast-check')).default
  const op = fc.oneof(
    fc.record({ kind: fc.constant('persist' as const), pid: fc.integer({ min: 0, max: 30 }) }),
    fc.record({ kind: fc.constant('take' as const), pid: fc.integer({ min: 0, max: 30 }) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
    fc.record({ kind: fc.constant('storm' as const), from: fc.integer({ min: 100, max: 3_000 }), count: fc.integer({ min: 1, max: 2_500 }) })
  )
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 50, size: 'max' }), (maxSessions, ops) => {
    const { log: l, clock } = log({ maxSessions, maxPackets: 10, maxAge: 10_000 })
    // The reference: pids oldest first, with when each went away.
    let model: Array<{ pid: string, at: number }> = []
    const persist = (pid: string): void => {
      l.persist(session(pid))
      model = model.filter(m => m.pid !== pid)
      model.push({ pid, at: clock.now })
      while (model.length > maxSessions) model.shift()
    }
    for (const o of ops) {
      if (o.kind === 'persist') persist(`p${o.pid}`)
      else if (o.kind === 'storm') for (let i = o.from; i < o.from + o.count; i++) persist(`p${i}`)
      else if (o.kind === 'take') {
        const had = model.some(m => m.pid === `p${o.pid}`)
        if ((l.take(`p${o.pid}`) !== undefined) !== had) return false
        model = model.filter(m => m.pid !== `p${o.pid}`)
      } else {
        clock.now += o.ms
        model = model.filter(m => m.at >= clock.now - 10_000)
      }
      if (l.stats.sessions !== model.length) return false
    }
    return JSON.stringify(l.pids()) === JSON.stringify(model.map(m => m.pid))
  }), { numRuns: 300 })
})
