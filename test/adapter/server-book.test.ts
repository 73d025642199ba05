import t from 'tap'
import { ServerBook } from '../../src/adapter/server-book.js'

t.test('a uid is bound to the first node that claims it; another node is refused', async t => {
  const book = new ServerBook(10, () => {})
  t.ok(book.claim('u1', 'nodeA'))
  t.equal(book.state('u1'), 'pending', 'it waits for its node to answer')
  t.ok(book.claim('u1', 'nodeA'), 'the same node again')
  t.notOk(book.claim('u1', 'nodeB'), 'another node')
  t.equal(book.nodeOf('u1'), 'nodeA')
})

t.test('a node may host several servers', async t => {
  const book = new ServerBook(10, () => {})
  t.ok(book.claim('u1', 'nodeA'))
  t.ok(book.claim('u2', 'nodeA'))
  t.ok(book.claim('u3', 'nodeB'))
  t.same(book.uidsOf('nodeA'), ['u1', 'u2'])
  book.set('u1', 'live')
  book.set('u3', 'live')
  t.same([...book.liveNodes()].sort(), ['nodeA', 'nodeB'])
  t.equal(book.count('live'), 2)
  t.equal(book.count('pending'), 1)
})

t.test('the binding outlives the server\'s time in the count', async t => {
  const book = new ServerBook(10, () => {})
  book.claim('u1', 'nodeA')
  book.set('u1', 'live')
  book.set('u1', 'pending')
  book.set('u1', 'departed')
  t.notOk(book.claim('u1', 'nodeB'), 'a departed server cannot be taken over')
  t.equal(book.count('live'), 0)
})

t.test('past capacity the oldest servers that do not count are forgotten, never live ones', async t => {
  const evicted: string[] = []
  const book = new ServerBook(2, uid => { evicted.push(uid) })
  book.claim('live1', 'nodeA')
  book.set('live1', 'live')
  for (let i = 0; i < 5; i++) book.claim(`ghost${i}`, 'nodeX')
  t.same(evicted, ['ghost0', 'ghost1', 'ghost2'])
  t.equal(book.state('live1'), 'live')
  t.equal(book.nodeOf('ghost0'), undefined)
  t.ok(book.claim('ghost4', 'nodeX'), 'a claim refreshes a binding')
  book.claim('ghost5', 'nodeX')
  t.same(evicted, ['ghost0', 'ghost1', 'ghost2', 'ghost3'], 'so the least recently heard goes first')
})

t.test('an emitter is bound to its node as an emitter: never pending, never live, refused as a server', async t => {
  const book = new ServerBook(10, () => {})
  t.ok(book.claim('e1', 'nodeA', 'emitter'))
  t.equal(book.state('e1'), 'emitter')
  t.equal(book.count('pending'), 0, 'not a server waiting to answer')
  t.ok(book.claim('e1', 'nodeA', 'emitter'), 'the same emitter again')
  t.notOk(book.claim('e1', 'nodeA'), 'its uid cannot speak as a server')
  t.notOk(book.claim('e1', 'nodeB', 'emitter'), 'nor from another node')
  t.ok(book.claim('u1', 'nodeA'))
  t.notOk(book.claim('u1', 'nodeA', 'emitter'), 'a server cannot speak as an emitter')
  t.same(book.uidsOf('nodeA'), ['e1', 'u1'], 'both are bound to the node, so its leaving drops both')
  book.set('e1', 'departed')
  t.notOk(book.claim('e1', 'nodeA'), 'a departed emitter stays one')
})

t.test('a server that stops counting is the most recently heard of the others; the live nodes follow every change', async t => {
  const evicted: string[] = []
  const book = new ServerBook(2, uid => { evicted.push(uid) })
  book.claim('u1', 'nodeA')
  book.set('u1', 'live')
  book.claim('ghost0', 'nodeX')
  t.same([...book.liveNodes()], ['nodeA'])
  t.equal(book.liveNodes(), book.liveNodes(), 'the same set while nothing changes')
  book.set('u1', 'pending')
  t.same([...book.liveNodes()], [], 'a server that stops counting leaves the live nodes')
  book.claim('ghost1', 'nodeX')
  t.same(evicted, ['ghost0'], 'the ghost bound after it, but before it stopped counting, went first')
  t.equal(book.state('u1'), 'pending')
  book.set('u1', 'live')
  t.same([...book.liveNodes()], ['nodeA'])
})
