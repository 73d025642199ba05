import t from 'tap'
import { Healer, defaultHealerConfig } from '../../../src/core/discovery/healer.js'
import type { Rng } from '../../../src/core/proto/types.js'

function sequence (values: number[]): Rng {
  let i = 0
  return { next: () => values[i++ % values.length] as number }
}

t.test('an isolated topic joins a few interested nodes, backing off while it stays isolated', async t => {
  const healer = new Healer<string>(defaultHealerConfig, sequence([0.5]))
  const first = healer.tick({ now: 0, topic: 't', active: [], interested: ['a', 'b', 'c', 'd'] })
  t.equal(first.join.length, defaultHealerConfig.isolatedJoins)
  t.equal(new Set(first.join).size, first.join.length, 'distinct nodes')
  const second = healer.tick({ now: 0, topic: 't', active: [], interested: ['a', 'b', 'c', 'd'] })
  t.ok(second.next > first.next, 'waits longer the second time')
  let last = second
  for (let i = 0; i < 20; i++) last = healer.tick({ now: 0, topic: 't', active: [], interested: ['a'] })
  t.ok(last.next <= defaultHealerConfig.isolatedBackoffMax * 1.25, 'the backoff has a ceiling')
})

t.test('an isolated topic with nobody known joins nobody', async t => {
  const healer = new Healer<string>(defaultHealerConfig, sequence([0.1]))
  t.same(healer.tick({ now: 0, topic: 't', active: [], interested: [] }).join, [])
})

t.test('a connected topic joins at most one node outside its active view, rarely in a large overlay', async t => {
  const interested = Array.from({ length: 1000 }, (_, i) => `n${i}`)
  const active = interested.slice(0, 5)
  const rng = { state: 1, next () { this.state = (this.state * 48271) % 2147483647; return this.state / 2147483647 } }
  const healer = new Healer<string>(defaultHealerConfig, rng)
  let joins = 0
  let tooMany = 0
  let joinedActive = 0
  for (let i = 0; i < 10_000; i++) {
    const d = healer.tick({ now: 0, topic: 't', active, interested })
    if (d.join.length > 1) tooMany++
    joinedActive += d.join.filter(p => active.includes(p)).length
    joins += d.join.length
  }
  t.equal(tooMany, 0, 'never more than one join per tick')
  t.equal(joinedActive, 0, 'never an active neighbour')
  // Expected 2 per 1000 ticks (expectedJoins / interested): about 20 over 10,000 ticks.
  t.ok(joins > 5 && joins < 60, `made ${joins} healing joins in 10,000 ticks`)
})

t.test('in a small overlay the split check joins every interval', async t => {
  const healer = new Healer<string>(defaultHealerConfig, sequence([0.99]))
  const d = healer.tick({ now: 0, topic: 't', active: ['a'], interested: ['a', 'b'] })
  t.same(d.join, ['b'])
})

t.test('a node that just left isolation for a small island joins more nodes while on probation', async t => {
  const healer = new Healer<string>(defaultHealerConfig, sequence([0.99]))
  const interested = Array.from({ length: 1000 }, (_, i) => `n${i}`)
  t.equal(healer.tick({ now: 0, topic: 't', active: [], interested }).join.length, 1, 'isolated: one join')
  const joins: number[] = []
  for (let i = 0; i < defaultHealerConfig.probationJoins + 2; i++) {
    const d = healer.tick({ now: 0, topic: 't', active: ['n1'], interested })
    joins.push(d.join.length)
    if (i < defaultHealerConfig.probationJoins) t.ok(d.next <= defaultHealerConfig.isolatedBackoffMin * 1.25, 'probation ticks come soon')
  }
  const expected = [...Array(defaultHealerConfig.probationJoins).fill(1), 0, 0]
  t.same(joins, expected, 'one join per probation tick, then none (the split check draws 0.99)')
})

t.test('a node that left isolation into a large overlay makes no probation join', async t => {
  const healer = new Healer<string>(defaultHealerConfig, sequence([0.99]))
  const interested = Array.from({ length: 1000 }, (_, i) => `n${i}`)
  healer.tick({ now: 0, topic: 't', active: [], interested })
  const active = interested.slice(0, defaultHealerConfig.probationBelow)
  for (let i = 0; i < defaultHealerConfig.probationJoins; i++) {
    t.same(healer.tick({ now: 0, topic: 't', active, interested }).join, [])
  }
})

t.test('a calm overlay checks for splits less often; a failed neighbour or isolation makes the checks short again', async t => {
  const c = defaultHealerConfig
  const healer = new Healer<string>(c, sequence([0.5]))
  const interested = Array.from({ length: 1000 }, (_, i) => `n${i}`)
  const period = (now: number, active: string[]): number => healer.tick({ now, topic: 't', active, interested }).next
  const short = (ms: number): boolean => ms <= c.interval * 1.25
  t.ok(short(period(0, ['n1', 'n2'])), 'just joined: the short interval')
  t.ok(short(period(c.calmAfter - 1, ['n3'])), 'neighbours evicted and replaced are no trouble, but calm takes calmAfter')
  t.ok(period(c.calmAfter, ['n3']) >= c.calmInterval * 0.75, 'calm: the long interval')
  healer.failed('t', c.calmAfter + 1)
  t.ok(short(period(c.calmAfter + 2, ['n3'])), 'a neighbour failed: the short interval at once')
  t.ok(short(period(2 * c.calmAfter, ['n3'])), 'and for calmAfter from then')
  t.ok(period(2 * c.calmAfter + 1, ['n3']) >= c.calmInterval * 0.75, 'calm again')
  period(2 * c.calmAfter + 2, [])
  t.ok(short(period(2 * c.calmAfter + 3, ['n4'])), 'isolation is trouble too')
  healer.forget('t')
  t.ok(short(period(10 * c.calmAfter, ['n1'])), 'a topic joined again starts with short checks')
})
