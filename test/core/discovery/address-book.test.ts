import t from 'tap'
import { AddressBook } from '../../src/core/address-book.js'

t.test('a node learned with topics is found by interest, and never the book owner itself', async t => {
  const book = new AddressBook('me')
  book.learn('me', '127.0.0.1:1', ['a'], 0)
  book.learn('x', '127.0.0.1:2', ['a', 'b'], 0)
  book.learn('y', '127.0.0.1:3', ['b'], 0)
  t.same(book.interestedIn('a'), ['x'])
  t.same(book.interestedIn('b').sort(), ['x', 'y'])
  t.equal(book.get('me'), undefined)
})

t.test('a node is not recorded before its address is known', async t => {
  const book = new AddressBook('me')
  book.learn('x', null, ['a'], 0)
  t.equal(book.size, 0)
})

t.test('what a node says of its own topics replaces what we knew; hearsay only adds', async t => {
  const book = new AddressBook('me')
  book.learn('x', 'h:1', ['a', 'b'], 0)
  book.learn('x', undefined, ['c'], 1)
  t.same([...book.get('x')!.topics], ['c'])
  book.addTopics('x', ['d'])
  t.same([...book.get('x')!.topics].sort(), ['c', 'd'])
})

t.test('failures are counted until a success, and failing nodes are not handed to others', async t => {
  const book = new AddressBook('me')
  book.learn('x', 'h:1', [], 0)
  book.learn('y', 'h:2', [], 5)
  book.failure('x', 1)
  book.failure('x', 2)
  t.equal(book.get('x')!.failures, 2)
  t.same(book.sample(10).map(r => r.id), ['y'])
  book.success('x', 3)
  t.equal(book.get('x')!.failures, 0)
  t.same(book.sample(10).map(r => r.id), ['y', 'x'], 'most recently heard of first')
})

t.test('the book is bounded: past capacity the failing, least recently heard of node goes', async t => {
  const book = new AddressBook('me', 3)
  book.learn('a', 'h:1', [], 1)
  book.learn('b', 'h:2', [], 2)
  book.learn('c', 'h:3', [], 3)
  book.failure('c', 4)
  book.learn('d', 'h:4', [], 5)
  t.equal(book.size, 3)
  t.equal(book.get('c'), undefined)
  book.learn('e', 'h:5', [], 6)
  t.equal(book.get('a'), undefined, 'then the oldest')
})
