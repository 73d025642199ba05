/**
 * RoomAnnouncer alone, with a scripted host: which rooms go to every server while a socketsJoin is
 * not confirmed everywhere, and the bounds that hold against a server that floods joins.
 */
import t from 'tap'
import { RoomAnnouncer, joinKey, type AnnouncerHost } from '../../src/adapter/room-announcer.js'

function announcer (servers: string[], positions = new Map<string, number>()): RoomAnnouncer {
  const host: AnnouncerHost = {
    announceable: () => false,
    rooms: () => [],
    publish: () => 1,
    servers: () => servers,
    routes: () => true,
    position: uid => positions.get(uid)
  }
  const a = new RoomAnnouncer(host, 60_000)
  t.teardown(() => { a.close() })
  return a
}

t.test('a join\'s rooms go everywhere until every other server confirmed it and was delivered that far', async t => {
  const positions = new Map([['s1', 0], ['s2', 0]])
  const a = announcer(['s1', 's2'], positions)
  a.joinKnown(joinKey('s0', 7), ['teal', 'blue'])
  t.ok(a.isWild('teal') && a.isWild('blue'))
  t.notOk(a.isWild('red'))
  a.acked('s1', joinKey('s0', 7), 3)
  positions.set('s1', 4)
  a.progressed('s1')
  t.ok(a.isWild('teal'), 's2 has not confirmed')
  a.acked('s2', joinKey('s0', 7), 5)
  a.progressed('s2')
  t.ok(a.isWild('teal'), 's2 confirmed, but its messages up to 5 are not delivered here yet')
  positions.set('s2', 6)
  a.progressed('s2')
  t.notOk(a.isWild('teal'), 'confirmed everywhere')
  t.equal(a.wildCount, 0)
})

t.test('a confirmation that comes before the join is kept for it', async t => {
  const positions = new Map([['s1', 10], ['s2', 10]])
  const a = announcer(['s1', 's2'], positions)
  a.acked('s1', joinKey('s0', 1), 2)
  a.acked('s2', joinKey('s0', 1), 3)
  a.joinKnown(joinKey('s0', 1), ['teal'])
  t.notOk(a.isWild('teal'), 'both confirmed, and delivered that far, before the join arrived here')
})

t.test('a room named by two joins stays wild until both are confirmed', async t => {
  const positions = new Map([['s1', 10]])
  const a = announcer(['s1'], positions)
  a.joinKnown(joinKey('s0', 1), ['teal'])
  a.joinKnown(joinKey('s2', 1), ['teal'])
  a.acked('s1', joinKey('s0', 1), 1)
  t.ok(a.isWild('teal'), 'the second join is not confirmed')
  a.acked('s1', joinKey('s2', 1), 1)
  t.notOk(a.isWild('teal'))
})

t.test('a flood of joins never confirmed is bounded: the oldest go first, and their rooms are routed again', async t => {
  const a = announcer(['s1'])
  for (let i = 0; i < 5_000; i++) a.joinKnown(joinKey('flooder', i), [`room${i}`])
  t.equal(a.wildCount, 1_024)
  t.notOk(a.isWild('room0'), 'the oldest went')
  t.ok(a.isWild('room4999'), 'the newest stays')
  for (let i = 0; i < 5_000; i++) a.acked('s1', joinKey('other', i), 1)
  t.equal(a.wildCount, 1_024, 'confirmations of unknown joins change nothing here')
  a.serverGone('s1')
  t.equal(a.wildCount, 0, 'nobody left to wait for')
  t.notOk(a.isWild('room4999'))
})
