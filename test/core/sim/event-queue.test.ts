import t from 'tap'
import fc from 'fast-check'
import { EventQueue } from '../../../src/core/sim/event-queue.js'

function drain<E> (q: EventQueue<E>): Array<{ time: number, event: E }> {
  const out: Array<{ time: number, event: E }> = []
  for (let e = q.pop(); e !== undefined; e = q.pop()) out.push({ time: q.lastTime, event: e })
  return out
}

t.test('events come out by time, and in insertion order at equal times', async t => {
  const q = new EventQueue<string>()
  q.push(30, 'c')
  q.push(10, 'a1')
  q.push(20, 'b')
  q.push(10, 'a2')
  q.push(10, 'a3')
  t.equal(q.size, 5)
  t.equal(q.peekTime(), 10)
  t.same(drain(q).map(e => e.event), ['a1', 'a2', 'a3', 'b', 'c'])
  t.equal(q.pop(), undefined)
  t.equal(q.peekTime(), undefined)
  t.equal(q.size, 0)
})

t.test('any sequence of pushes pops as a stable sort by time', async t => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 300, size: 'max' }), times => {
    const q = new EventQueue<number>()
    times.forEach((time, i) => q.push(time, i))
    const expected = times.map((time, i) => ({ time, event: i })).sort((a, b) => a.time - b.time || a.event - b.event)
    t.same(drain(q), expected)
  }), { numRuns: 200 })
})

t.test('pushes interleaved with pops keep the order', async t => {
  const q = new EventQueue<number>()
  q.push(5, 1)
  q.push(1, 2)
  t.equal(q.pop(), 2)
  t.equal(q.lastTime, 1)
  q.push(5, 3)
  q.push(2, 4)
  t.same(drain(q).map(e => e.event), [4, 1, 3])
})

t.test('an event pushed at the time being drained runs after the ones already there', async t => {
  const q = new EventQueue<string>()
  q.push(10, 'a')
  q.push(10, 'b')
  t.equal(q.pop(), 'a')
  q.push(10, 'c')
  q.push(5, 'early')
  t.same(drain(q).map(e => e.event), ['early', 'b', 'c'])
})

t.test('any interleaving of pushes and pops matches a sorted reference', async t => {
  const op = fc.oneof(fc.record({ push: fc.integer({ min: 0, max: 10 }) }), fc.constant({ pop: true as const }))
  fc.assert(fc.property(fc.array(op, { maxLength: 200, size: 'max' }), ops => {
    const q = new EventQueue<number>()
    const ref: Array<{ time: number, event: number }> = []
    let n = 0
    for (const o of ops) {
      if ('push' in o) {
        q.push(o.push, n)
        ref.push({ time: o.push, event: n++ })
        ref.sort((a, b) => a.time - b.time || a.event - b.event)
      } else {
        const want = ref.shift()
        const got = q.pop()
        if (got !== want?.event || (want !== undefined && q.lastTime !== want.time)) return false
      }
      if (q.size !== ref.length || q.peekTime() !== ref[0]?.time) return false
    }
    return true
  }), { numRuns: 300 })
  t.pass('300 random interleavings agree')
})
