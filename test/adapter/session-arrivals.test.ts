import t from 'tap'
import { SessionArrivals } from '../../src/adapter/session-arrivals.js'
import type { DeliveredPacket, Frontier } from '../../src/adapter/session-arrivals.js'

function from (uid: string, seq: number, rooms: string[] = ['room']): DeliveredPacket {
  return { data: ['ev', `${uid}${seq}`, `${uid}-${seq}`], rooms, except: [], sender: { uid, seq } }
}

const frontier = (entries: Array<[string, number]>): Frontier => new Map(entries)
const names = (list: unknown[][] | undefined): unknown[] | undefined => list?.map(p => p[1])

t.test('what this server delivered past the keeper\'s point is added after the keeper\'s packets', async t => {
  const arrivals = new SessionArrivals(100)
  arrivals.open('r1')
  for (const seq of [5, 6, 7]) arrivals.delivered(from('x', seq))
  arrivals.delivered(from('x', 8, ['other']))
  const missed = arrivals.arrive('r1', 'sid', ['sid', 'room'], [['ev', 'x4', 'x-4'], ['ev', 'x5', 'x-5']], frontier([['x', 6]]), frontier([['x', 5]]))
  t.same(names(missed), ['x4', 'x5', 'x6', 'x7'], 'x5 came from the keeper, x6 and x7 from here, x8 is for another room')
})

t.test('until the socket joins its rooms, matching packets join the replay; after, it gets them live', async t => {
  const arrivals = new SessionArrivals(100)
  const missed = arrivals.arrive(undefined, 'sid', ['sid', 'room'], [], frontier([['x', 3]]))!
  arrivals.delivered(from('x', 3))
  arrivals.delivered({ data: ['ev', 'local', 'me~0'], rooms: [], except: [] })
  arrivals.joined('sid', () => frontier([['x', 4]]))
  arrivals.delivered(from('x', 4))
  t.same(names(missed), ['x3', 'local'])
  t.same(arrivals.size, { buffered: 0, arriving: 0, exclusions: 0 })
})

t.test('from a sender this server is behind the keeper on, the messages the replay had are left out when they come', async t => {
  const arrivals = new SessionArrivals(100)
  arrivals.open('r1')
  const missed = arrivals.arrive('r1', 'sid', ['sid', 'room'], [['ev', 'x5', 'x-5'], ['ev', 'x6', 'x-6']], frontier([['x', 7], ['y', 2]]), frontier([['x', 5]]))!
  arrivals.delivered(from('x', 5))
  t.same(names(missed), ['x5', 'x6'], 'x5 delivered here before the socket joined: already in the replay')
  arrivals.joined('sid', () => frontier([['x', 6], ['y', 2]]))
  t.same(arrivals.excluded('x', 6), ['sid'], 'x6: the replay had it')
  t.same(arrivals.excluded('x', 7), [], 'x7: new')
  t.same(arrivals.excluded('y', 2), [], 'no exclusion where this server was not behind')
  t.same(arrivals.size.exclusions, 0, 'nothing left once the sender is past the point')
})

t.test('an answer that cannot be complete fails: the keeper was behind where this server was when it asked', async t => {
  const arrivals = new SessionArrivals(100)
  arrivals.open('r1')
  t.equal(arrivals.arrive('r1', 'sid', ['sid'], [], frontier([['x', 4]]), frontier([['x', 5]])), undefined)
  t.same(arrivals.size, { buffered: 0, arriving: 0, exclusions: 0 })
})

t.test('an answer that cannot be complete fails: more was delivered while asking than the buffer holds', async t => {
  const arrivals = new SessionArrivals(2)
  arrivals.open('r1')
  for (const seq of [1, 2, 3, 4, 5]) arrivals.delivered(from('x', seq))
  t.ok(arrivals.size.buffered <= 4, 'at most twice the bound is held')
  arrivals.open('r2')
  arrivals.delivered(from('x', 6))
  t.equal(arrivals.arrive('r1', 'sid', ['sid', 'room'], [], frontier([['x', 1]]), frontier([['x', 1]])), undefined)
  t.same(names(arrivals.arrive('r2', 'sid2', ['sid2', 'room'], [], frontier([['x', 6]]), frontier([['x', 6]]))), ['x6'], 'a later request is still complete')
  t.same(arrivals.size.buffered, 0, 'nothing held once no request is out')
})

t.test('requests out together share what is delivered meanwhile, each from where it started', async t => {
  const arrivals = new SessionArrivals(100)
  arrivals.open('r1')
  arrivals.delivered(from('x', 1))
  arrivals.open('r2')
  arrivals.delivered(from('x', 2))
  t.same(arrivals.size.buffered, 2, 'one copy for both')
  t.same(names(arrivals.arrive('r2', 's2', ['s2', 'room'], [], frontier([['x', 0]]), frontier([]))), ['x2'])
  t.same(names(arrivals.arrive('r1', 's1', ['s1', 'room'], [], frontier([['x', 0]]), frontier([]))), ['x1', 'x2'])
})

t.test('a sender that leaves, or a socket that never joins, leaves nothing behind', async t => {
  const clock = { now: 0 }
  const arrivals = new SessionArrivals(100, () => clock.now)
  arrivals.arrive(undefined, 'never', ['never'], [], frontier([]))
  arrivals.arrive(undefined, 'sid', ['sid'], [], frontier([['x', 9], ['y', 9]]))
  arrivals.joined('sid', () => frontier([['x', 1], ['y', 1]]))
  arrivals.forgetSender('x')
  t.same(arrivals.size, { buffered: 0, arriving: 1, exclusions: 1 })
  clock.now = 61_000
  arrivals.sweep(60_000)
  t.same(arrivals.size, { buffered: 0, arriving: 0, exclusions: 0 })
})

t.test('a session that never joins its rooms stops collecting packets past the bound', async t => {
  const arrivals = new SessionArrivals(2)
  const missed = arrivals.arrive(undefined, 'sid', [], [], frontier([]))!
  for (let seq = 0; seq < 10; seq++) arrivals.delivered(from('x', seq, []))
  t.equal(missed.length, 5)
  t.same(arrivals.size.arriving, 0)
})

t.test('a session taken over without its socket is held, collecting, until its client comes back from where the hand-over started or from a packet collected since', async t => {
  const clock = { now: 0 }
  const arrivals = new SessionArrivals(100, () => clock.now)
  arrivals.arrive(undefined, 'sid', ['sid', 'room'], [['ev', 'a1', 'a-1']], frontier([['x', 1]]))
  arrivals.hold('sid', 120_000)
  clock.now = 90_000
  arrivals.delivered(from('x', 1))
  arrivals.sweep(60_000)
  t.same(arrivals.frontierOf('sid'), frontier([['x', 1]]), 'held past the usual wait, until its time')
  t.same(names(arrivals.resume('sid', 'a-1', 'a-0')), ['x1'], 'the client had a1: what came after it')
  arrivals.drop('sid')
  arrivals.arrive(undefined, 'sid2', ['sid2', 'room'], [['ev', 'a1', 'a-1']], frontier([]))
  arrivals.hold('sid2', 120_000)
  t.equal(arrivals.resume('sid2', 'unknown', 'a-0'), undefined, 'an offset from nowhere: not resumable')
  t.same(names(arrivals.resume('sid2', 'a-0', 'a-0')), ['a1'], 'from where the hand-over started: everything')
  clock.now = 200_000
  arrivals.sweep(60_000)
  t.same(arrivals.size.arriving, 0)
})

t.test('sessions held for their clients collect ten times the buffer bound at most, in all: past it the oldest held session goes', async t => {
  const clock = { now: 0 }
  const arrivals = new SessionArrivals(2, () => clock.now)
  for (const sid of ['old', 'new']) {
    arrivals.arrive(undefined, sid, [sid, 'room'], [], frontier([]))
    arrivals.hold(sid, 1_000_000)
    clock.now++
  }
  for (let seq = 0; seq < 10; seq++) arrivals.delivered(from('x', seq))
  t.equal(arrivals.heldPackets, 20)
  arrivals.delivered(from('x', 10))
  t.equal(arrivals.frontierOf('old'), undefined, 'the oldest held session was dropped')
  t.ok(arrivals.frontierOf('new') !== undefined)
  t.equal(arrivals.heldPackets, 11)
  t.same(names(arrivals.resume('new', 'start', 'start'))?.length, 11)
  t.equal(arrivals.heldPackets, 0, 'a resumed session is no longer held')
})
