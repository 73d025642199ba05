import t from 'tap'
import { RoomRouting, type RoutingHost } from '../../src/adapter/room-routing.js'
import { ROOMS_RESYNC } from '../../src/adapter/envelope.js'
import { waitFor } from '../fixtures/socketio-cluster.js'

/** A routing unit with no other server on the wire (`live`: server -> node): what it asks of others is recorded. */
function routing (live: Array<[string, string]> = [['s2', 'n2']], heartbeatInterval = 5_000): { routing: RoomRouting, asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = []
  const host: RoutingHost = {
    live: () => new Map(live),
    liveNodes: () => new Set(live.map(([, node]) => node)),
    announceable: () => true,
    publish: () => undefined,
    pageBytes: () => 4096,
    respond: (to, response) => { asked.push([to, response.type]) },
    position: () => undefined,
    maxRooms: 100,
    overflow: () => {}
  }
  return { routing: new RoomRouting(host, 16, heartbeatInterval, 5_000), asked }
}

t.test('a gap in a server\'s messages forgets its rooms and asks it for them again', async t => {
  const { routing: r, asked } = routing()
  t.teardown(() => { r.close() })
  r.rooms('s2', { full: true, any: false, add: ['room'], remove: [], ack: false })
  t.ok(r.directory.knows('s2'))
  r.gap('s2')
  t.notOk(r.directory.knows('s2'), 'sent every broadcast until its next snapshot')
  t.same(asked, [['s2', ROOMS_RESYNC]])
})

t.test('a gap in the messages of a server whose snapshot never came asks for it too: the snapshot may be what was given up', async t => {
  const { routing: r, asked } = routing()
  t.teardown(() => { r.close() })
  r.gap('s2')
  t.same(asked, [['s2', ROOMS_RESYNC]])
  r.rooms('s2', { full: true, any: false, add: ['room'], remove: [], ack: false })
  t.ok(r.directory.knows('s2'), 'the snapshot it sends makes it known')
})

t.test('a live server whose rooms are still unknown two heartbeat intervals on is asked for them, again every two intervals, until its snapshot comes', async t => {
  const { routing: r, asked } = routing([['s2', 'n2'], ['s3', 'n3']], 20)
  t.teardown(() => { r.close() })
  // s3's snapshot came; s2's was lost on the way (nothing else will ever say so).
  r.rooms('s3', { full: true, any: false, add: ['room'], remove: [], ack: false })
  const askedOf = (uid: string): number => asked.filter(([to, type]) => to === uid && type === ROOMS_RESYNC).length
  await waitFor('s2 asked twice', () => askedOf('s2') >= 2)
  t.equal(askedOf('s3'), 0, 'a known server is not asked')
  t.equal(r.stats().roomsAsked, askedOf('s2'), 'counted in routingStats().roomsAsked')
  r.rooms('s2', { full: true, any: false, add: ['other'], remove: [], ack: false })
  const after = askedOf('s2')
  // Two more asking periods: a known server is asked no more.
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(askedOf('s2'), after, 'asked no more once its snapshot is applied')
  t.ok(r.directory.knows('s2'))
})
