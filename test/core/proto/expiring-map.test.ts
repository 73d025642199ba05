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

t.test('any sequence of sets, deletes and evictions leaves what a plain list of entries would', async t => {
  const fc = (await import('fast-check')).default
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), ttl: fc.integer({ min: 0, max: 50 }) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('evict' as const) }),
    fc.record({ kind: fc.constant('burst' as const), from: fc.integer({ min: 100, max: 5_000 }), count: fc.integer({ min: 1, max: 3_000 }) })
  )
  fc.assert(fc.property(fc.integer({ min: 0, max: 64 }), fc.array(op, { maxLength: 60 }), (capacity, ops) => {
    const m = new ExpiringMap<number, number>(capacity)
    // The reference: entries oldest first; every key once.
    let model: Array<{ key: number, value: number, expires: number }> = []
    let now = 0
    let value = 0
    const set = (key: number, expires: number): void => {
      value++
      m.set(key, value, expires)
      if (capacity === 0) return
      model = model.filter(e => e.key !== key)
      model.push({ key, value, expires })
      while (model.length > capacity) model.shift()
    }
    for (const o of ops) {
      now += 1
      if (o.kind === 'set') set(o.key, now + o.ttl)
      else if (o.kind === 'burst') for (let k = o.from; k < o.from + o.count; k++) set(k, now + 100)
      else if (o.kind === 'delete') {
        const had = model.some(e => e.key === o.key)
        if (m.delete(o.key) !== had) return false
        model = model.filter(e => e.key !== o.key)
      } else {
        // Expiries are in insertion order only when lifetimes are equal: evict from the front as the map does.
        let n = 0
        while (model.length > 0 && model[0]!.expires <= now) { model.shift(); n++ }
        if (m.evictExpired(now) !== n) return false
      }
      if (m.size !== model.length) return false
      if (m.oldestExpiry() !== model[0]?.expires) return false
    }
    for (const e of model) if (m.get(e.key) !== e.value) return false
    return JSON.stringify([...m.keys()].sort((a, b) => a - b)) === JSON.stringify(model.map(e => e.key).sort((a, b) => a - b))
  }), { numRuns: 400 })
})
