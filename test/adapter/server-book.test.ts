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
