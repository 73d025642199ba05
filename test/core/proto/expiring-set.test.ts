import t from 'tap'
import { ExpiringSet } from '../../../src/core/proto/expiring-set.js'

t.test('the seen-id set expires and bounds its members like the map', async t => {
  const s = new ExpiringSet<string>(2)
  s.add('a', 10)
  s.add('b', 20)
  s.add('c', 30)
  t.notOk(s.has('a'), 'the oldest went for the bound')
  t.equal(s.size, 2)
  t.equal(s.oldestExpiry(), 20)
  t.equal(s.evictExpired(25), 1)
  t.ok(s.has('c'))
  t.equal(new ExpiringSet<string>(0).oldestExpiry(), undefined)
})

t.test('a refreshed member moves to the back and keeps one slot', async t => {
  const s = new ExpiringSet<string>(2)
  s.add('a', 1)
  s.add('b', 2)
  s.add('a', 3)
  s.add('c', 4)
  t.notOk(s.has('b'), 'b is now the oldest and goes for the bound')
  t.ok(s.has('a') && s.has('c'))
  t.equal(s.oldestExpiry(), 3)
})

t.test('a long run of adds and evictions stays correct across queue compactions', async t => {
  const s = new ExpiringSet<number>(5000)
  let now = 0
  for (let i = 0; i < 50_000; i++) {
    now++
    s.add(i, now + 100)
    if (i % 7 === 0) s.evictExpired(now)
  }
  s.evictExpired(now)
  t.equal(s.size, 100, 'exactly the members younger than their lifetime are left')
  t.ok(s.has(49_999) && s.has(49_900) && !s.has(49_899))
  t.equal(s.oldestExpiry(), 49_901 + 100)
})
