/**
 * RoomAnnouncer alone, with a scripted host: which rooms go to every server while a socketsJoin is
 * not confirmed everywhere, and the bounds that hold against a server that floods joins; rooms
 * listed in pages that fit a message however many there are, and what a RoomDirectory makes of
 * them page by page.
 */
import { Packr } from 'msgpackr'
import t from 'tap'
import { MAX_LISTED_ROOMS, type RoomsMessage } from '../../src/adapter/envelope.js'
import { RoomAnnouncer, joinKey, roomCost, roomsPages, type AnnouncerHost } from '../../src/adapter/room-announcer.js'
import { RoomDirectory } from '../../src/adapter/room-directory.js'

type RoomsData = RoomsMessage['data']

function announcer (servers: string[], positions = new Map<string, number>()): RoomAnnouncer {
  const host: AnnouncerHost = {
    announceable: () => false,
    publish: () => 1,
    servers: () => servers,
    routes: () => true,
    position: uid => positions.get(uid),
    pageBytes: () => 100_000
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

/** An announcer whose rooms are `here`, recording what it publishes; `pageBytes` as given. */
function recording (here: Set<string>, pageBytes: number): { a: RoomAnnouncer, sent: RoomsData[] } {
  const sent: RoomsData[] = []
  const host: AnnouncerHost = {
    announceable: room => typeof room === 'string' && here.has(room),
    publish: data => { sent.push(data); return sent.length },
    servers: () => [],
    routes: () => true,
    position: () => undefined,
    pageBytes: () => pageBytes
  }
  const a = new RoomAnnouncer(host, 60_000)
  t.teardown(() => { a.close() })
  return { a, sent }
}

const rooms = (n: number, prefix = 'user:'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

t.test('a room\'s cost is what MessagePack spends on it in a list', async t => {
  const packr = new Packr({ useRecords: false })
  for (const room of ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(200), 'x'.repeat(300), 'x'.repeat(70_000), 7, -1, 2 ** 40, 0.5]) {
    // A list of one item has a 1-byte header.
    const bytes = packr.pack([room]).length - 1
    t.ok(roomCost(room) >= bytes, `${typeof room === 'string' ? `${room.length} characters` : room}`)
    if (typeof room === 'string') t.equal(roomCost(room), bytes, 'exact for a string')
  }
})

t.test('pages: at most MAX_LISTED_ROOMS rooms and the budget each, additions first, every room once', async t => {
  const add = rooms(10_000)
  const remove = rooms(3_000, 'old:')
  for (const budget of [100, 5_000, 1_000_000]) {
    const pages = roomsPages(false, add, remove, false, budget)
    t.ok(pages.length >= Math.ceil(13_000 / MAX_LISTED_ROOMS))
    t.ok(pages.every(page => page.add.length + page.remove.length <= MAX_LISTED_ROOMS), `budget ${budget}: ${pages.length} pages, none over MAX_LISTED_ROOMS`)
    t.ok(pages.every(page => [...page.add, ...page.remove].reduce((sum: number, r) => sum + roomCost(r), 0) <= budget), 'none over the budget')
    t.ok(pages.every(page => !page.full && !page.any), 'a delta\'s pages each leave a superset of the rooms: none needs any')
    t.same(pages.flatMap(p => p.add), add)
    t.same(pages.flatMap(p => p.remove), remove)
    const firstRemove = pages.findIndex(p => p.remove.length > 0)
    t.ok(pages.slice(firstRemove + 1).every(p => p.add.length === 0), 'no addition after a removal')
  }
  const snapshot = roomsPages(true, add, [], false, 1_000_000)
  t.same(snapshot.map(p => [p.full, p.any]), [[true, true], [false, true], [false, false]], 'a snapshot says any until its last page')
  t.same(roomsPages(true, [], [], false, 10), [{ full: true, any: false, add: [], remove: [], ack: false }], 'no rooms: one empty page')
  t.same(roomsPages(true, ['x'], [], true, 10).map(p => p.any), [true], 'an unlisted room keeps any on the last page too')
})

t.test('ten thousand rooms joined at once: pages that fit, only the last asks for acks, and a directory routes exactly once all are in', async t => {
  const here = new Set(rooms(10_000))
  const { a, sent } = recording(here, 20_000)
  a.touched(here, true)
  a.flush()
  t.ok(sent.length >= 3, `${sent.length} pages`)
  t.same(sent.map(p => p.ack), [...sent.slice(1).map(() => false), true])
  const directory = new RoomDirectory()
  for (const data of a.snapshot()) directory.apply('s1', data)
  t.ok(directory.wants('s1', ['user:9999']), 'listed')
  t.notOk(directory.wants('s1', ['nobody']), 'a room it does not have')
  t.notOk(directory.everywhere(['user:0', 'user:9999']))

  // Page by page, a receiver never routes by a partial list.
  const pages = a.snapshot()
  const stepwise = new RoomDirectory()
  for (const [i, data] of pages.entries()) {
    stepwise.apply('s1', data)
    const last = i === pages.length - 1
    t.equal(stepwise.wants('s1', ['user:9999']), true)
    t.equal(stepwise.wants('s1', ['nobody']), !last, last ? 'whole: exact' : `after page ${i + 1}: sent everything`)
  }

  // Leaving 6,000 of them: a delta in pages again, and the directory follows.
  for (const room of rooms(6_000)) here.delete(room)
  sent.length = 0
  a.touched(rooms(6_000), false)
  a.flush()
  t.ok(sent.length >= 2)
  for (const data of sent) directory.apply('s1', data)
  t.notOk(directory.wants('s1', ['user:0']))
  t.ok(directory.wants('s1', ['user:6000']))
  t.equal(a.announcedCount, 4_000)
})

t.test('a room whose name alone is over a page: not listed, its server says any until it has none', async t => {
  const long = 'L'.repeat(500)
  const here = new Set(['short'])
  const { a, sent } = recording(here, 200)
  a.touched(here, true)
  a.flush()
  here.add(long)
  a.touched([long], true)
  a.flush()
  const directory = new RoomDirectory()
  for (const data of a.snapshot()) directory.apply('s1', data)
  t.same(sent.at(-1), { full: false, any: true, add: [], remove: [], ack: true }, 'the delta lists nothing and says any')
  t.ok(directory.wants('s1', ['anything']), 'sent every broadcast')
  here.delete(long)
  a.touched([long], false)
  a.flush()
  t.same(sent.at(-1), { full: false, any: false, add: [], remove: [], ack: false })
  directory.apply('s1', sent.at(-1) as RoomsData)
  t.notOk(directory.wants('s1', ['anything']), 'exact again')
  t.ok(directory.wants('s1', ['short']))
})

t.test('a server listing past the directory\'s bound: its list is dropped, it is sent everything until its next snapshot, and the others route exactly as before', async t => {
  const overflows: Array<[string, number, number]> = []
  const directory = new RoomDirectory(100, (uid, count, chars) => { overflows.push([uid, count, chars]) })
  const page = (full: boolean, add: string[], remove: string[] = []): RoomsData => ({ full, any: false, add, remove, ack: false })
  directory.apply('s1', page(true, rooms(60)))
  directory.apply('s2', page(true, ['lobby', 'user:0']))
  t.notOk(directory.wants('s1', ['lobby']), 'under the bound: exact')

  // Deltas of at most 4,096 rooms each, one after the other, used to grow it without end.
  directory.apply('s1', page(false, rooms(120).slice(60)))
  t.same(overflows, [['s1', 120, rooms(120).reduce((sum, r) => sum + roomCost(r), 0)]], 'reported once, with what it listed')
  t.ok(directory.wants('s1', ['lobby']), 's1 is now sent every broadcast')
  t.ok(directory.everywhere(['user:100']), 'a room only s1 listed is listed by nobody now: every server gets it')
  t.notOk(directory.everywhere(['user:0']), 'what s2 lists is still known')
  t.notOk(directory.wants('s2', ['user:5']), 's2 is routed exactly')
  directory.apply('s1', page(false, rooms(5_000)))
  directory.apply('s1', page(false, [], rooms(5_000)))
  t.equal(overflows.length, 1, 'what it says after the drop is not kept nor reported again')
  t.ok(directory.wants('s1', ['nothing']), 'not even a removal makes it exact again')

  // Names count too: 10 names of 1,000 bytes are more than 100 rooms' worth of 64.
  directory.apply('s3', page(true, Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(1_000, 'n'))))
  t.equal(overflows.at(-1)?.[0], 's3')
  t.equal(overflows.at(-1)?.[1], 10)
  // A peer may list numbers: they are sized too (a name's length alone made the total NaN, and
  // the byte bound never held again for that server).
  const numbers = new RoomDirectory(10, (uid, count, bytes) => { overflows.push([uid, count, bytes]) })
  numbers.apply('s4', page(true, [1, 2, 3] as unknown as string[]))
  numbers.apply('s4', page(false, Array.from({ length: 5 }, (_, i) => `${i}`.padEnd(130, 'x'))))
  t.equal(overflows.at(-1)?.[0], 's4', '8 rooms, numbers among them, past 10 rooms\' worth of bytes')
  t.ok(Number.isFinite(overflows.at(-1)?.[2]))

  // Its next snapshot, within the bound, makes it exact again.
  directory.apply('s1', page(true, ['kept']))
  t.notOk(directory.wants('s1', ['lobby']))
  t.ok(directory.wants('s1', ['kept']))
})

t.test('holdAll: every message says any until released, in force only once every server confirmed and was delivered from where it sends everything', async t => {
  const here = new Set<string>()
  const sent: RoomsData[] = []
  const positions = new Map([['s1', 0], ['s2', 0]])
  const a = new RoomAnnouncer({
    announceable: room => here.has(room),
    publish: data => { sent.push(data); return sent.length },
    servers: () => ['s1', 's2'],
    routes: () => true,
    position: uid => positions.get(uid),
    pageBytes: () => 200
  }, 60_000)
  t.teardown(() => { a.close() })
  let inForce = false
  const held = a.holdAll().then(release => { inForce = true; return release })
  await new Promise(resolve => setImmediate(resolve))
  t.same(sent, [{ full: false, any: true, add: [], remove: [], ack: true }], 'one delta says any and asks for acknowledgements')
  t.same(a.snapshot().map(p => p.any), [true], 'a server that starts now is told any too')
  a.acked('s1', '1', 40)
  positions.set('s1', 41)
  a.progressed('s1')
  a.acked('s2', '1', 12)
  a.progressed('s2')
  await new Promise(resolve => setImmediate(resolve))
  t.notOk(inForce, 's2 sends everything from its number 12 on, and 12 is not delivered here yet')
  positions.set('s2', 13)
  a.progressed('s2')
  const release = await held
  t.ok(inForce)
  t.equal(a.wildCount, 0, 'not counted as a join')

  // A second hold while the first is in force is in force at once.
  const second = await a.holdAll()
  t.equal(sent.length, 1, 'nothing more published')

  // Released with many rooms joined in the same turn: pages but the last still say any, so no
  // receiver routes by part of the list.
  here.clear()
  for (const room of rooms(100)) here.add(room)
  a.touched(here, true)
  release()
  second()
  a.flush()
  const pages = sent.slice(1)
  t.ok(pages.length > 1, `${pages.length} pages`)
  t.same(pages.map(p => p.any), [...pages.slice(1).map(() => true), false])
  t.same(pages.flatMap(p => p.add), rooms(100))
})

t.test('a server that never confirms holds a hold up for the acknowledgement timeout at most', async t => {
  const a = new RoomAnnouncer({
    announceable: () => false,
    publish: () => 1,
    servers: () => ['silent'],
    routes: () => true,
    position: () => undefined,
    pageBytes: () => 1_000
  }, 50)
  t.teardown(() => { a.close() })
  // The announcer's timers do not keep a process alive; this test's process needs to be.
  const alive = setTimeout(() => {}, 10_000)
  const release = await a.holdAll()
  clearTimeout(alive)
  t.type(release, 'function', 'in force (as far as it can be) after the timeout')
  release()
})
