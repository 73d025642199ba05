import t from 'tap'
import { RoomRouting, type RoutingHost } from '../../src/adapter/room-routing.js'
import { ROOMS_RESYNC } from '../../src/adapter/envelope.js'

/** A routing unit with no other server on the wire: what it asks of others is recorded. */
function routing (): { routing: RoomRouting, asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = []
  const host: RoutingHost = {
    live: () => new Map([['s2', 'n2']]),
    liveNodes: () => new Set(['n2']),
    announceable: () => true,
    publish: () => undefined,
    pageBytes: () => 4096,
    respond: (to, response) => { asked.push([to, response.type]) },
    position: () => undefined,
    maxRooms: 100,
    overflow: () => {}
  }
  return { routing: new RoomRouting(host, 16, 5_000, 5_000), asked }
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
