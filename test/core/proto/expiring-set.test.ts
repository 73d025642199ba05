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
