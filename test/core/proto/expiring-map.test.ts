import t from 'tap'
import { ExpiringMap } from '../../../src/core/proto/expiring-map.js'

t.test('entries expire in insertion order when their time comes', async t => {
  const m = new ExpiringMap<string, number>(10)
  m.set('a', 1, 100)
  m.set('b', 2, 200)
  t.equal(m.oldestExpiry(), 100)
  t.equal(m.evictExpired(99), 0)
  t.equal(m.evictExpired(100), 1)
  t.notOk(m.has('a'))
  t.equal(m.get('b'), 2)
  t.equal(m.oldestExpiry(), 200)
})

t.test('past capacity the oldest entries are dropped', async t => {
  const m = new ExpiringMap<number, number>(3)
  for (let i = 0; i < 5; i++) m.set(i, i, 1000 + i)
  t.equal(m.size, 3)
  t.same([...m.keys()], [2, 3, 4])
})

t.test('setting a key again moves it to the back', async t => {
  const m = new ExpiringMap<string, number>(2)
  m.set('a', 1, 1)
  m.set('b', 2, 2)
  m.set('a', 3, 3)
  m.set('c', 4, 4)
  t.same([...m.keys()], ['a', 'c'])
})

t.test('a zero capacity keeps nothing', async t => {
  const m = new ExpiringMap<string, number>(0)
  m.set('a', 1, 1)
  t.equal(m.size, 0)
  t.equal(m.oldestExpiry(), undefined)
})

t.test('refreshing and deleting many keys keeps the order of expiry and the bound', async t => {
  const m = new ExpiringMap<number, number>(100)
  for (let round = 0; round < 50; round++) {
    for (let k = 0; k < 100; k++) m.set(k, round, round * 1000 + k)
    for (let k = 0; k < 100; k += 3) m.delete(k)
  }
  t.equal(m.size, 66)
  t.equal(m.oldestExpiry(), 49_000 + 1, 'the oldest live key is the first refreshed one not deleted')
  t.equal(m.evictExpired(49_050), 34, 'the 34 keys of 1..50 not divisible by 3 expire')
  t.equal(m.size, 32)
  for (let k = 1000; k < 1200; k++) m.set(k, 0, 60_000 + k)
  t.equal(m.size, 100, 'inserting past capacity drops the oldest')
  t.equal(m.get(99), undefined)
  t.equal(m.get(1199), 0)
})
