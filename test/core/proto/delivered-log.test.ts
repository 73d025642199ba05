import t from 'tap'
import fc from 'fast-check'
import { DeliveredLog } from '../../../src/core/proto/delivered-log.js'
import type { DeliveredPayload } from '../../../src/core/proto/delivered-log.js'

const limits = { maxIds: 4, idRetention: 100, maxPayloads: 2, payloadTimeout: 30 }

/** A payload whose bytes say which it is; `n` sets the sizes, so that spans vary. */
function payload (n: number, text = String(n)): DeliveredPayload<string> {
  return {
    origin: `origin-${n % 3}`,
    content: new TextEncoder().encode(text.repeat(1 + (n % 5))),
    hops: n % 7,
    from: n % 2 === 0 ? `peer-${n % 4}` : undefined,
    sig: n % 3 === 0 ? Uint8Array.from({ length: n % 11 }, (_, i) => (n + i) & 255) : undefined
  }
}

/** The text a payload made by `payload` carries, or undefined. */
function contentOf (log: DeliveredLog<string>, id: string): string | undefined {
  const e = log.find(id)
  const p = e < 0 ? undefined : log.payloadOf(e)
  return p === undefined ? undefined : new TextDecoder().decode(p.content)
}

t.test('ids are remembered longer than their payloads are kept', async t => {
  const log = new DeliveredLog<string>(limits)
  log.add('a', payload(0, 'A'), 0)
  log.add('b', payload(0, 'B'), 10)
  log.add('c', payload(0, 'C'), 20)
  t.ok(log.has('a'), 'a is still known as delivered')
  t.equal(contentOf(log, 'a'), undefined, 'but its payload went for the payload bound')
  t.equal(contentOf(log, 'c'), 'C')
  t.same([log.size, log.payloads], [3, 2])
  t.equal(log.nextExpiry(), 10 + 30, 'the next thing to expire is b\'s payload')
  log.evictExpired(45)
  t.same([log.has('b'), contentOf(log, 'b'), contentOf(log, 'c')], [true, undefined, 'C'])
  log.evictExpired(110)
  t.same([log.has('a'), log.has('b'), log.has('c')], [false, false, true], 'ids go after idRetention')
  t.equal(log.nextExpiry(), 20 + 100)
  log.evictExpired(200)
  t.equal(log.nextExpiry(), undefined, 'nothing held, nothing to wake up for')
})

t.test('a payload comes back whole, as a copy, with its route; rerouting changes the route only', async t => {
  const log = new DeliveredLog<string>(limits)
  const given = { origin: 'o', content: Uint8Array.of(1, 2, 3), hops: 4, from: 'p', sig: Uint8Array.of(9, 8) }
  log.add('m', given, 0)
  given.content[0] = 7
  const e = log.find('m')
  t.same(log.payloadOf(e), { origin: 'o', content: Uint8Array.of(1, 2, 3), hops: 4, from: 'p', sig: Uint8Array.of(9, 8) }, 'what was given, as it was when given')
  log.reroute(e, 'q', 2)
  t.same([log.fromOf(e), log.hopsOf(e)], ['q', 2])
  t.same(log.payloadOf(e)?.content, Uint8Array.of(1, 2, 3))
  t.equal(log.find('never added'), -1)
})

t.test('past maxIds the oldest ids are forgotten, their payloads with them', async t => {
  const log = new DeliveredLog<string>({ ...limits, maxPayloads: 10 })
  for (let i = 0; i < 12; i++) log.add(String(i), payload(i), i)
  t.same([log.size, log.payloads], [10, 10], 'no payload is kept without its id: the id bound rises to the payload bound')
  t.notOk(log.has('1'))
  t.equal(contentOf(log, '2'), '2'.repeat(3))
})

t.test('with no room for payloads, ids are still remembered', async t => {
  const log = new DeliveredLog<string>({ ...limits, maxPayloads: 0 })
  log.add('a', payload(0, 'A'), 0)
  t.same([log.has('a'), contentOf(log, 'a'), log.payloads], [true, undefined, 0])
})

t.test('an id added twice is found as its latest copy until that one ages out, and breaks no bound', async t => {
  const log = new DeliveredLog<string>(limits)
  log.add('a', payload(0, 'A1'), 0)
  log.add('a', payload(0, 'A2'), 1)
  t.equal(contentOf(log, 'a'), 'A2')
  log.add('b', payload(0, 'B'), 2)
  log.add('c', payload(0, 'C'), 2)
  log.add('d', payload(0, 'D'), 2)
  t.ok(log.has('a'), 'its first copy aged out, the second is still remembered')
  log.add('e', payload(0, 'E'), 3)
  t.notOk(log.has('a'))
  t.ok(log.size <= limits.maxIds)
})

t.test('ids that differ in one unit, in length, or outside ASCII are told apart', async t => {
  const ids = ['x', 'xx', 'x\u0000', 'y', 'é', 'e\u0301', '\u{1F600}', '\u{1F601}', 'a.1', 'a.10', 'a.01', '']
  const log = new DeliveredLog<string>({ maxIds: 100, idRetention: 100, maxPayloads: 100, payloadTimeout: 100 })
  for (const [i, id] of ids.entries()) log.add(id, payload(i, `#${i}`), 0)
  for (const [i, id] of ids.entries()) t.equal(contentOf(log, id), `#${i}`.repeat(1 + (i % 5)), JSON.stringify(id))
  t.notOk(log.has('z'))
})

t.test('every hash seed finds the same ids', async t => {
  for (const seed of [0, 1, -1, 0x7fffffff, 123456789]) {
    const log = new DeliveredLog<string>({ maxIds: 500, idRetention: 1e9, maxPayloads: 50, payloadTimeout: 1e9 }, seed)
    for (let i = 0; i < 2_000; i++) log.add(`n.${i}`, payload(i), i)
    const known = Array.from({ length: 2_000 }, (_, i) => log.has(`n.${i}`))
    t.equal(known.indexOf(true), 1_500, `seed ${seed}: the last 500 are remembered`)
    t.equal(known.filter(Boolean).length, 500)
  }
})

t.test('agrees with a plain list over long random runs (ids of every length and alphabet, payloads of every size)', async t => {
  type Op = { kind: 'add', count: number } | { kind: 'wait', ms: number } | { kind: 'look', back: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('add' as const), count: fc.integer({ min: 1, max: 3_000 }) }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 200 }) }),
    fc.record({ kind: fc.constant('look' as const), back: fc.integer({ min: 0, max: 5_000 }) })
  )
  // Ids of 1 to about 60 units, some outside ASCII and outside the BMP, so that spans vary and wrap.
  const alphabet = ['a', '.', '7', 'é', '\u{1F600}', '\u0000']
  const idOf = (i: number): string => `${(alphabet[i % alphabet.length] as string).repeat(i % 29)}${i}`
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 1, max: 150 }), fc.integer({ min: 1, max: 150 }),
    fc.integer(), fc.array(op, { maxLength: 40, size: 'max' }),
    (maxIds, maxPayloads, idRetention, payloadTimeout, hashSeed, ops) => {
      const log = new DeliveredLog<string>({ maxIds, idRetention, maxPayloads, payloadTimeout }, hashSeed)
      // The model: every delivery ever made, in order; ids before `idFront` and payloads before
      // `payloadFront` are forgotten. No positions, no rings, no table: indexes into one list.
      const times: number[] = []
      let idFront = 0
      let payloadFront = 0
      const idBound = Math.max(maxIds, maxPayloads)
      let now = 0
      const check = (i: number): void => {
        const known = i >= idFront && i < times.length
        if (log.has(idOf(i)) !== known) throw new Error(`has(${i}) is ${String(!known)}`)
        if (log.has(`${idOf(i)}!`)) throw new Error(`an id never added is found (${i})`)
        const e = log.find(idOf(i))
        const got = e < 0 ? undefined : log.payloadOf(e)
        const want = i >= payloadFront && i < times.length ? payload(i) : undefined
        if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`payload of ${i} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}`)
      }
      for (const o of ops) {
        if (o.kind === 'add') {
          for (let k = 0; k < o.count; k++) {
            const i = times.length
            // Looked up just before (the log remembers its last look-up): absent, then present;
            // the oldest, looked up before an add that may push it out, is known exactly as the model says.
            const last = k === o.count - 1
            const oldest = idFront
            if (last && oldest < i && !log.has(idOf(oldest))) throw new Error(`the oldest, ${oldest}, is not found`)
            if (last && log.has(idOf(i))) throw new Error(`${i} is found before it is added`)
            log.add(idOf(i), payload(i), now)
            times.push(now)
            idFront = Math.max(idFront, times.length - idBound)
            payloadFront = Math.max(payloadFront, idFront, times.length - maxPayloads)
            if (last && log.has(idOf(i)) !== (idBound > 0)) throw new Error(`${i} is known wrongly right after it is added`)
            if (last && oldest < i && log.has(idOf(oldest)) !== (oldest >= idFront)) throw new Error(`the oldest, ${oldest}, is known wrongly after an add`)
          }
        } else if (o.kind === 'wait') {
          now += o.ms
          const oldest = idFront
          if (oldest < times.length && !log.has(idOf(oldest))) throw new Error(`the oldest, ${oldest}, is not found`)
          log.evictExpired(now)
          while (idFront < times.length && (times[idFront] as number) <= now - idRetention) idFront++
          payloadFront = Math.max(payloadFront, idFront)
          while (payloadFront < times.length && (times[payloadFront] as number) <= now - payloadTimeout) payloadFront++
          if (oldest < times.length && log.has(idOf(oldest)) !== (oldest >= idFront)) throw new Error(`the oldest, ${oldest}, is known wrongly after evicting`)
        } else {
          check(Math.max(0, times.length - 1 - o.back))
        }
        // The oldest id and payload (the spans a growing ring moves) and the newest, every time.
        for (const i of [idFront, payloadFront, times.length - 1]) if (i >= 0 && i < times.length) check(i)
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

t.test('ids and payloads stay whole when the log grows after its oldest entries went', async t => {
  const log = new DeliveredLog<string>({ maxIds: 10_000, idRetention: 100, maxPayloads: 10_000, payloadTimeout: 100 })
  const id = (i: number): string => `${'λ'.repeat(i % 13)}.${i}`
  for (let i = 0; i < 300; i++) log.add(id(i), payload(i), 0)
  for (let i = 300; i < 600; i++) log.add(id(i), payload(i), 50)
  log.evictExpired(100)
  t.same([log.size, log.has(id(299)), log.has(id(300))], [300, false, true], 'the first 300 went')
  for (let i = 600; i < 5_000; i++) log.add(id(i), payload(i), 60)
  const wrong: number[] = []
  for (let i = 300; i < 5_000; i++) {
    const e = log.find(id(i))
    if (e < 0 || JSON.stringify(log.payloadOf(e)) !== JSON.stringify(payload(i))) wrong.push(i)
  }
  t.same(wrong, [], 'every entry since is found with its payload')
})
