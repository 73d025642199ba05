import t from 'tap'
import { AddressBook } from '../../../src/core/discovery/address-book.js'
import type { TopicKey } from '../../../src/core/discovery/topic-key.js'

/** Topics by name: the book takes any key. */
const key = (name: string): TopicKey => name as TopicKey

const limits = { maxNodes: 100, maxTopicsPerNode: 100, maxInterests: 1000 }

t.test('a node is found by the topics it wants, and never the book owner itself', async t => {
  const book = new AddressBook('me', limits)
  book.learn('me', 'h:1', 0)
  book.addInterest('me', key('a'), Infinity)
  book.learn('x', 'h:2', 0)
  book.learn('y', 'h:3', 0)
  book.addInterest('x', key('a'), Infinity)
  book.addInterest('x', key('b'), Infinity)
  book.addInterest('y', key('b'), 10)
  t.same(book.interestedIn(key('a')), ['x'])
  t.same(book.interestedIn(key('b')).sort(), ['x', 'y'])
  t.equal(book.get('me'), undefined)
})

t.test('a topic\'s holders read the same whether one node, several or none want it, in the order first heard of', async t => {
  const book = new AddressBook('me', limits)
  for (const id of ['x', 'y', 'z']) book.learn(id, `h:${id}`, 0)
  const a = key('a')
  const seen = (): unknown => ({ list: book.interestedIn(a), view: [...book.holdersOf(a)], count: book.interestCountOf(a) })
  t.same(seen(), { list: [], view: [], count: 0 }, 'nobody')
  t.equal(book.declare('x', a), 'new')
  t.same(seen(), { list: ['x'], view: ['x'], count: 1 }, 'one')
  t.equal(book.declare('x', a), 'declared', 'a second declaration is the same one')
  t.ok(book.addInterest('y', a, Infinity))
  t.equal(book.declare('z', a), 'new')
  t.same(seen(), { list: ['x', 'y', 'z'], view: ['x', 'y', 'z'], count: 3 }, 'several')
  book.removeInterest('x', a)
  book.removeInterest('z', a)
  t.same(seen(), { list: ['y'], view: ['y'], count: 1 }, 'back to one')
  t.notOk(book.hasDeclared('y', a), 'y was only heard of')
  t.equal(book.declare('y', a), 'heard', 'until it declares the topic itself')
  t.ok(book.hasDeclared('y', a))
  book.removeInterest('x', a)
  t.same(seen(), { list: ['y'], view: ['y'], count: 1 }, 'removing a node not there changes nothing')
  book.removeInterest('y', a)
  t.same(seen(), { list: [], view: [], count: 0 }, 'none again')
  t.equal(book.interestCount, 0)
})

t.test('an interest is recorded only for a node the book knows', async t => {
  const book = new AddressBook('me', limits)
  t.equal(book.addInterest('x', key('a'), Infinity), false)
  t.equal(book.interestCount, 0)
})

t.test('hearsay expires; what a linked node declared lasts until its link goes, then ages too', async t => {
  const book = new AddressBook('me', limits)
  book.learn('x', 'h:1', 0)
  book.learn('y', 'h:2', 0)
  t.equal(book.declare('x', key('a')), 'new', 'x says it is in a: new')
  book.addInterest('y', key('a'), 100)
  book.evictExpired(100)
  t.same(book.interestedIn(key('a')), ['x'], 'the hearsay about y expired')
  book.unpin('x', 200)
  book.evictExpired(199)
  t.same(book.interestedIn(key('a')), ['x'])
  book.evictExpired(200)
  t.same(book.interestedIn(key('a')), [], 'x aged out once its link was gone')
  t.equal(book.interestCount, 0)
})

t.test('what a node declared stands over hearsay about it, and moves hearsay it repeats into its declaration', async t => {
  const book = new AddressBook('me', limits)
  book.learn('x', 'h:1', 0)
  t.equal(book.addInterest('x', key('a'), 100), true, 'heard that x is in a')
  t.equal(book.declare('x', key('a')), 'heard', 'x says so itself: not new, it was hearsay')
  t.ok(book.hasDeclared('x', key('a')))
  t.equal(book.get('x')!.heard?.size ?? 0, 0, 'no longer hearsay')
  t.equal(book.declare('x', key('a')), 'declared', 'said again: nothing changes')
  t.equal(book.addInterest('x', key('a'), 50), false, 'hearsay about a declared topic changes nothing')
  book.evictExpired(10_000)
  t.same(book.interestedIn(key('a')), ['x'], 'and it does not expire while the link is up')
  t.equal(book.interestCount, 1)
})

t.test('a link that comes back keeps what the node declared and drops what others said of it meanwhile; a new link drops an old declaration', async t => {
  const book = new AddressBook('me', limits)
  book.learn('x', 'h:1', 0)
  book.declare('x', key('a'))
  book.unpin('x', 1000)
  book.addInterest('x', key('b'), 2000)
  book.pin('x', true)
  t.same([book.hasDeclared('x', key('a')), book.interestedIn(key('b'))], [true, []], 'resumed: a stands, the hearsay about b goes')
  book.evictExpired(5000)
  t.same(book.interestedIn(key('a')), ['x'], 'pinned again: a lasts while the link does')
  book.addInterest('x', key('c'), 9000)
  book.pin('x', false)
  t.same([book.declaredCount('x'), book.interestedIn(key('c'))], [0, ['x']], 'a fresh link: the old declaration goes, hearsay waits for the snapshot')
  t.equal(book.interestCount, 1)
})

t.test('a longer-lived claim replaces a shorter one, never the other way round', async t => {
  const book = new AddressBook('me', limits)
  book.learn('x', 'h:1', 0)
  t.equal(book.addInterest('x', key('a'), 100), true, 'new')
  t.equal(book.addInterest('x', key('a'), Infinity), false, 'not new')
  book.addInterest('x', key('a'), 50)
  t.equal(book.get('x')!.heard?.get(key('a')), Infinity)
})

t.test('topics per node and interests in all are bounded', async t => {
  const book = new AddressBook('me', { maxNodes: 100, maxTopicsPerNode: 3, maxInterests: 5 })
  book.learn('x', 'h:1', 0)
  book.learn('y', 'h:2', 0)
  for (let i = 0; i < 10; i++) book.addInterest('x', key(`t${i}`), Infinity)
  t.equal(book.topicCount('x'), 3, 'x keeps 3 topics')
  for (let i = 0; i < 10; i++) book.addInterest('y', key(`t${i}`), Infinity)
  t.equal(book.interestCount, 5, '5 interests in all')
  t.equal(book.declare('y', key('t9')), 'full', 'a declaration finds no room either')
  book.forget('x')
  t.equal(book.interestCount, 2, 'forgetting a node releases its interests')
  t.same(book.interestedIn(key('t0')), ['y'])
})

t.test('failures are counted until a success', async t => {
  const book = new AddressBook('me', limits)
  book.learn('x', 'h:1', 0)
  book.failure('x')
  book.failure('x')
  t.equal(book.get('x')!.failures, 2)
  book.success('x', 3)
  t.equal(book.get('x')!.failures, 0)
})

t.test('the book is bounded: past capacity the failing, least recently heard of node goes', async t => {
  const book = new AddressBook('me', { ...limits, maxNodes: 3 })
  book.learn('a', 'h:1', 1)
  book.learn('b', 'h:2', 2)
  book.learn('c', 'h:3', 3)
  book.addInterest('c', key('topic'), Infinity)
  book.failure('c')
  book.learn('d', 'h:4', 5)
  t.equal(book.size, 3)
  t.equal(book.get('c'), undefined)
  t.same(book.interestedIn(key('topic')), [], 'with its interests')
  book.learn('e', 'h:5', 6)
  t.equal(book.get('a'), undefined, 'then the oldest')
  t.ok(book.get('e'), 'the newcomer stays')
})

t.test('linked nodes may hold the book past capacity; once their links go, it is brought back within it', async t => {
  const book = new AddressBook('me', { ...limits, maxNodes: 2 })
  for (const [i, id] of ['a', 'b'].entries()) {
    book.learn(id, `h:${i}`, i)
    book.setLinked(id, true)
  }
  book.learn('c', 'h:2', 5)
  t.equal(book.size, 3, 'nothing evictable: both others are linked')
  book.setLinked('a', false)
  t.equal(book.size, 2, 'one over the bound, one evicted')
  t.ok(book.get('b'), 'never the node still linked')
  book.setLinked('b', false)
  t.equal(book.size, 2, 'within the bound: nothing more goes')
})
