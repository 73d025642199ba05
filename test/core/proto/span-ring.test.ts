import t from 'tap'
import fc from 'fast-check'
import { SpanRing } from '../../../src/core/proto/span-ring.js'

t.test('spans allocated and released first in, first out keep their contents through wraps and growth', async t => {
  type Op = { kind: 'alloc', n: number } | { kind: 'release', count: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), n: fc.integer({ min: 0, max: 70 }) }),
    fc.record({ kind: fc.constant('alloc' as const), n: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ kind: fc.constant('release' as const), count: fc.integer({ min: 1, max: 6 }) })
  )
  fc.assert(fc.property(fc.integer({ min: 0, max: 24 }), fc.array(op, { maxLength: 300, size: 'max' }), (initial, ops) => {
    const ring = new SpanRing(n => new Uint8Array(n), initial)
    // The model: live spans, oldest first, each with its offset and the bytes written into it.
    const live: Array<{ at: number, data: number[] }> = []
    let stamp = 0
    let peak = 0
    for (const o of ops) {
      if (o.kind === 'alloc') {
        const at = ring.alloc(o.n)
        if (ring.grew) for (const span of live) if (span.data.length > 0) span.at = ring.relocate(span.at)
        const data = Array.from({ length: o.n }, () => (++stamp) & 255)
        ring.buf.set(data, at)
        live.push({ at, data })
      } else {
        for (let k = 0; k < o.count && live.length > 0; k++) {
          const span = live.shift() as { at: number, data: number[] }
          ring.release(span.at, span.data.length)
        }
      }
      for (const span of live) {
        if (span.at < 0 || span.at + span.data.length > ring.buf.length) throw new Error(`span at ${span.at} outside the ring of ${ring.buf.length}`)
        const got = Array.from(ring.buf.subarray(span.at, span.at + span.data.length))
        if (got.join() !== span.data.join()) throw new Error(`span at ${span.at} holds ${got.join()}, not ${span.data.join()}`)
      }
      // Bounded by what was live at most: growth doubles, and a ring whose free room is split
      // round the wrap may double once more than the units alone need.
      peak = Math.max(peak, live.reduce((a, s) => a + s.data.length, 0))
      if (ring.buf.length > Math.max(initial, 4 * peak, 1)) throw new Error(`ring of ${ring.buf.length} for at most ${peak} live units`)
    }
  }), { numRuns: 300 })
  t.pass('every span read back as written')
})
