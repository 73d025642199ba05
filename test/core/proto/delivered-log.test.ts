import t from 'tap'
import fc from 'fast-check'
import { DeliveredLog } from '../../../src/core/proto/delivered-log.js'

const limits = { maxIds: 4, idRetention: 100, maxPayloads: 2, payloadTimeout: 30 }

t.test('ids are remembered longer than their payloads are kept', async t => {
  const log = new DeliveredLog<string>(limits)
  log.add('a', 'A', 0)
  log.add('b', 'B', 10)
  log.add('c', 'C', 20)
  t.ok(log.has('a'), 'a is still known as delivered')
  t.equal(log.get('a'), undefined, 'but its payload went for the payload bound')
  t.equal(log.get('c'), 'C')
  t.same([log.size, log.payloads], [3, 2])
  t.equal(log.nextExpiry(), 10 + 30, 'the next thing to expire is b\'s payload')
  log.evictExpired(45)
  t.same([log.has('b'), log.get('b'), log.get('c')], [true, undefined, 'C'])
  log.evictExpired(110)
  t.same([log.has('a'), log.has('b'), log.has('c')], [false, false, true], 'ids go after idRetention')
  t.equal(log.nextExpiry(), 20 + 100)
  log.evictExpired(200)
  t.equal(log.nextExpiry(), undefined, 'nothing held, nothing to wake up for')
})

t.test('past maxIds the oldest ids are forgotten, their payloads with them', async t => {
  const log = new DeliveredLog<number>({ ...limits, maxPayloads: 10 })
  for (let i = 0; i < 12; i++) log.add(String(i), i, i)
  t.same([log.size, log.payloads], [10, 10], 'no payload is kept without its id: the id bound rises to the payload bound')
  t.notOk(log.has('1'))
  t.equal(log.get('2'), 2)
})

t.test('with no room for payloads, ids are still remembered', async t => {
  const log = new DeliveredLog<string>({ ...limits, maxPayloads: 0 })
  log.add('a', 'A', 0)
  t.same([log.has('a'), log.get('a'), log.payloads], [true, undefined, 0])
})

t.test('an id added twice is forgotten with its first copy and breaks no bound', async t => {
  const log = new DeliveredLog<string>(limits)
  log.add('a', 'A1', 0)
  log.add('a', 'A2', 1)
  t.equal(log.get('a'), 'A2')
  for (const id of ['b', 'c', 'd']) log.add(id, id, 2)
  t.notOk(log.has('a'), 'its first copy aged out')
  t.ok(log.size <= limits.maxIds)
})

t.test('agrees with a plain list over long random runs (positions survive the front being cut off)', async t => {
  type Op = { kind: 'add', count: number } | { kind: 'wait', ms: number } | { kind: 'look', back: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), count: fc.integer({ min: 1, max: 3_000 }) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 200 }) }),
    fc.record({ kind: fc.constant('look' as const), back: fc.integer({ min: 0, max: 5_000 }) })
  )
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 150 }),
    fc.array(op, { maxLength: 40 }),
    (maxIds, maxPayloads, idRetention, payloadTimeout, ops) => {
      const log = new DeliveredLog<number>({ maxIds, idRetention, maxPayloads, payloadTimeout })
      // The model: every delivery ever made, in order; ids before `idFront` and payloads before
      // `payloadFront` are forgotten. No positions, no cutting: just indexes into one list.
      const times: number[] = []
      let idFront = 0
      let payloadFront = 0
      const idBound = Math.max(maxIds, maxPayloads)
      let now = 0
      const check = (i: number): void => {
        const known = i >= idFront && i < times.length
        if (log.has(String(i)) !== known) throw new Error(`has(${i}) is ${String(!known)}`)
        const payload = i >= payloadFront && i < times.length ? i : undefined
        if (log.get(String(i)) !== payload) throw new Error(`get(${i}) is ${String(log.get(String(i)))}, not ${String(payload)}`)
      }
      for (const o of ops) {
        if (o.kind === 'add') {
          for (let k = 0; k < o.count; k++) {
            log.add(String(times.length), times.length, now)
            times.push(now)
            idFront = Math.max(idFront, times.length - idBound)
            payloadFront = Math.max(payloadFront, idFront, times.length - maxPayloads)
          }
        } else if (o.kind === 'wait') {
          now += o.ms
          log.evictExpired(now)
          while (idFront < times.length && (times[idFront] as number) <= now - idRetention) idFront++
          payloadFront = Math.max(payloadFront, idFront)
          while (payloadFront < times.length && (times[payloadFront] as number) <= now - payloadTimeout) payloadFront++
        } else {
          check(Math.max(0, times.length - 1 - o.back))
        }
        if (log.size !== times.length - idFront || log.payloads !== times.length - payloadFront) {
          throw new Error(`sizes ${log.size}/${log.payloads}, model ${times.length - idFront}/${times.length - payloadFront}`)
        }
        const expiries: number[] = []
        if (idFront < times.length) expiries.push((times[idFront] as number) + idRetention)
        if (payloadFront < times.length) expiries.push((times[payloadFront] as number) + payloadTimeout)
        const expected = expiries.length === 0 ? undefined : Math.min(...expiries)
        if (log.nextExpiry() !== expected) throw new Error(`nextExpiry ${String(log.nextExpiry())}, model ${String(expected)}`)
      }
      for (let i = Math.max(0, times.length - 200); i < times.length; i++) check(i)
    }
  ), { numRuns: 60 })
  t.pass('every run agreed with the model')
})
