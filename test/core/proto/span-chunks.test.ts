import t from 'tap'
import fc from 'fast-check'
import { SpanChunks } from '../../../src/core/proto/span-chunks.js'

t.test('spans allocated and released first in, first out keep their contents, and chunks go with their last span', async t => {
  type Op = { kind: 'alloc', n: number } | { kind: 'release', count: number }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), n: fc.integer({ min: 0, max: 70 }) }),
    fc.record({ kind: fc.constant('alloc' as const), n: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ kind: fc.constant('release' as const), count: fc.integer({ min: 1, max: 6 }) })
  )
  fc.assert(fc.property(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 64 }), fc.array(op, { maxLength: 300, size: 'max' }), (minChunk, maxExtra, ops) => {
    const maxChunk = minChunk + maxExtra
    const spans = new SpanChunks(n => new Uint8Array(n), new Uint8Array(0), minChunk, maxChunk)
    // The model: live spans, oldest first, each with its chunk, offset and the bytes written into it.
    const live: Array<{ chunk: number, at: number, data: number[] }> = []
    let stamp = 0
    for (const o of ops) {
      if (o.kind === 'alloc') {
        const at = spans.alloc(o.n)
        const data = Array.from({ length: o.n }, () => (++stamp) & 255)
        spans.chunk(spans.lastChunk).set(data, at)
        live.push({ chunk: spans.lastChunk, at, data })
      } else {
        for (let k = 0; k < o.count && live.length > 0; k++) {
          const span = live.shift() as { chunk: number, at: number, data: number[] }
          spans.release(span.chunk, span.data.length)
        }
      }
      for (const span of live) {
        const chunk = spans.chunk(span.chunk)
        if (span.at + span.data.length > chunk.length) throw new Error(`span at ${span.at} outside its chunk of ${chunk.length}`)
        const got = Array.from(chunk.subarray(span.at, span.at + span.data.length))
        if (got.join() !== span.data.join()) throw new Error(`span at ${span.at} holds ${got.join()}, not ${span.data.join()}`)
      }
      // Memory follows what is live: a chunk's unused end is shorter than the span that did not
      // fit there and opened the next chunk, so chunks and their successors are about half used
      // at worst; the newest (being filled) and the oldest (being released) add a chunk each.
      const held = live.reduce((a, s) => a + s.data.length, 0)
      const largest = Math.max(maxChunk, ...live.map(s => s.data.length))
      if (spans.units > 2 * held + 4 * largest) throw new Error(`${spans.units} units held for ${held} live`)
    }
  }), { numRuns: 300 })
  t.pass('every span read back as written')
})

t.test('a span never moves once placed, however many come after it', async t => {
  const spans = new SpanChunks(n => new Uint8Array(n), new Uint8Array(0), 4, 64)
  const first = spans.alloc(3)
  const chunk = spans.lastChunk
  spans.chunk(chunk).set([1, 2, 3], first)
  const before = spans.chunk(chunk)
  for (let i = 0; i < 1_000; i++) spans.alloc(1 + (i % 50))
  t.equal(spans.chunk(chunk), before, 'the same chunk object')
  t.same(Array.from(spans.chunk(chunk).subarray(first, first + 3)), [1, 2, 3])
})
