import t from 'tap'
import { T, T2, bytes, disconnects, emits, join, node, publish, recv, sends, withNeighbors } from '../../fixtures/proto-io.js'

t.test('setMyData changes what later JOIN, NEIGHBOR and SHUFFLE messages advertise', async t => {
  const s = node('me', {}, 1, bytes('old'))
  t.same(sends(s.handle(join(['a']), 0), 'join')[0]?.body.data, bytes('old'))
  s.setMyData(bytes('new'))
  t.same(sends(s.handle(join(['b'], T2), 1), 'join')[0]?.body.data, bytes('new'))
  const n = sends(s.handle(recv('x', { type: 'join' }), 2), 'neighbor')
  t.same(n[0]?.body.data, bytes('new'))
})

t.test('messages that claim to come from ourselves are ignored', async t => {
  const s = node()
  withNeighbors(s, ['a'])
  t.same(s.handle(recv('me', { type: 'join' }), 1), [])
  t.same(s.handle(recv('me', { type: 'gossip', id: 'x', origin: 'a', content: bytes('x'), round: 0 }), 1), [])
  t.notOk(s.view(T)?.active.includes('me'))
})

t.test('a payload from a peer outside the active view is delivered but changes no link', async t => {
  const s = node()
  withNeighbors(s, ['a'])
  const out = s.handle(recv('x', { type: 'gossip', id: 'm1', origin: 'o', content: bytes('m'), round: 0 }), 1)
  t.equal(emits(out, 'received').length, 1)
  t.notOk(s.view(T)?.eager.includes('x'))
  const dup = s.handle(recv('x', { type: 'gossip', id: 'm1', origin: 'o', content: bytes('m'), round: 0 }), 2)
  t.same(sends(dup), [], 'no PRUNE to a peer that is not a neighbour')
})

t.test('a GRAFT from outside the active view is answered once and its link released', async t => {
  const s = node()
  withNeighbors(s, ['a'])
  s.handle(recv('a', { type: 'gossip', id: 'm1', origin: 'o', content: bytes('m'), round: 0 }), 1)
  const out = s.handle(recv('x', { type: 'graft', id: 'm1', round: 0 }), 2)
  t.same(sends(out, 'gossip').map(m => m.to), ['x'])
  t.same(disconnects(out), ['x'])
  t.notOk(s.view(T)?.eager.includes('x'))
})

t.test('a broadcast to a topic we are not in does nothing', async t => {
  const s = node()
  t.same(s.handle(publish(bytes('x'), T2), 0), [])
})

t.test('peerData is output for every peer a message teaches us to reach, never for ourselves', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  const out = s.handle(recv('a', {
    type: 'shuffle', origin: { id: 'o', data: bytes('o') }, nodes: [{ id: 'n1', data: bytes('n1') }, { id: 'me', data: bytes('me') }, { id: 'n2' }], ttl: 0
  }), 1)
  const learnt = out.filter(o => o.type === 'peerData').map(o => o.type === 'peerData' ? o.peer : '')
  t.same(learnt.sort(), ['n1', 'o'])
})

t.test('the same seed and the same inputs give the same outputs', async t => {
  const run = (): string => {
    const s = node('me', {}, 99)
    const outs = [
      s.handle(join(['a', 'b']), 0),
      s.handle(recv('a', { type: 'neighbor', priority: 'high' }), 1),
      s.handle(recv('c', { type: 'join' }), 2),
      s.handle(publish(bytes('x')), 3),
      s.handle(recv('a', { type: 'disconnect', alive: true, sample: [{ id: 'p' }, { id: 'q' }] }), 4)
    ]
    return JSON.stringify(outs, (_k, v: unknown) => v instanceof Uint8Array ? [...v] : v)
  }
  t.equal(run(), run())
})

t.test('a link is needed while any topic needs it: the topic that needed it last leaving, or quitting, releases it only when no other topic does', async t => {
  const s = node()
  withNeighbors(s, ['a'], 0, T)
  withNeighbors(s, ['a'], 0, T2)
  t.ok(s.needsLink('a'), 'active in both topics')
  // T2 was the last to need 'a' (asked just now); 'a' leaves T2's view and T still needs the link.
  t.ok(s.needsLink('a'))
  t.same(disconnects(s.handle(recv('a', { type: 'disconnect', alive: true }, T2), 1)), [], 'no disconnect: T still needs a')
  t.ok(s.needsLink('a'), 'still needed by T')
  t.ok(s.handle({ type: 'command', topic: T, command: { type: 'quit' } }, 2).length > 0, 'quitting T tells a')
  t.notOk(s.needsLink('a'), 'a topic that was quit needs nothing, even if it needed the link last')
  withNeighbors(s, ['b'], 3, T2)
  t.ok(s.needsLink('b'))
  s.handle({ type: 'peerDisconnected', peer: 'b' }, 4)
  t.notOk(s.needsLink('b'), 'a peer whose link closed is needed by nobody')
})
