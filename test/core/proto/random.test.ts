import t from 'tap'
import { pick, randomHex, randomInt, sample, seededRng, shuffle } from '../../../src/core/proto/random.js'

t.test('the same seed gives the same stream, another seed another one', async t => {
  const a = seededRng(42)
  const b = seededRng(42)
  const c = seededRng(43)
  const sa = Array.from({ length: 20 }, () => a.next())
  t.same(Array.from({ length: 20 }, () => b.next()), sa)
  t.not(Array.from({ length: 20 }, () => c.next()).join(), sa.join())
})

t.test('draws are in [0, 1) and spread over it', async t => {
  const r = seededRng(1)
  const buckets = new Array<number>(10).fill(0)
  let outside = 0
  for (let i = 0; i < 10_000; i++) {
    const x = r.next()
    if (!(x >= 0 && x < 1)) outside++
    else {
      const b = Math.floor(x * 10)
      buckets[b] = (buckets[b] ?? 0) + 1
    }
  }
  t.equal(outside, 0, 'no draw outside [0, 1)')
  for (const n of buckets) t.ok(n > 800 && n < 1200, 'each tenth gets about a tenth of the draws')
})

t.test('randomInt stays below its bound', async t => {
  const r = seededRng(2)
  const seen = new Set<number>()
  for (let i = 0; i < 1000; i++) seen.add(randomInt(r, 7))
  t.same([...seen].sort(), [0, 1, 2, 3, 4, 5, 6])
})

t.test('pick returns an element, or undefined for an empty list', async t => {
  const r = seededRng(3)
  t.equal(pick(r, []), undefined)
  t.ok(['a', 'b'].includes(pick(r, ['a', 'b']) as string))
})

t.test('sample returns distinct elements of the input without touching it', async t => {
  const r = seededRng(4)
  const items = ['a', 'b', 'c', 'd', 'e', 'f']
  const copy = items.slice()
  for (const k of [0, 1, 3, 6, 10]) {
    const s = sample(r, items, k)
    t.equal(s.length, Math.min(k, items.length))
    t.equal(new Set(s).size, s.length)
    t.ok(s.every(x => items.includes(x)))
  }
  t.same(items, copy)
})

t.test('shuffle is a permutation', async t => {
  const r = seededRng(5)
  const items = [1, 2, 3, 4, 5, 6, 7, 8]
  t.same(shuffle(r, items.slice()).sort(), items)
})

t.test('randomHex gives the asked number of hex characters', async t => {
  const r = seededRng(6)
  t.match(randomHex(r, 32), /^[0-9a-f]{32}$/)
  t.match(randomHex(r, 5), /^[0-9a-f]{5}$/)
})
