import t from 'tap'
import fc from 'fast-check'
import { KnownNodes, NODE_BYTES } from '../../../src/core/net/known-nodes.js'

/** What KnownNodes must behave like: a Map of the node's bytes, with the oldest forgotten first. */
class Reference {
  private readonly known = new Map<string, string>()
  private readonly order: string[] = []
  constructor (private readonly capacity: number) {}
  vouches (node: Uint8Array, origin: string): boolean {
    return this.known.get(Buffer.from(node).toString('hex')) === origin
  }

  remember (node: Uint8Array, origin: string): void {
    const key = Buffer.from(node).toString('hex')
    if (this.capacity === 0 || this.known.has(key)) return
    if (this.order.length === this.capacity) this.known.delete(this.order.shift() as string)
    this.order.push(key)
    this.known.set(key, origin)
  }
}

/** A node whose first four bytes (what the table is indexed by) are `head`, the rest from `tail`. */
function node (head: number, tail: number): Uint8Array {
  const bytes = new Uint8Array(NODE_BYTES).fill(tail & 0xff)
  new DataView(bytes.buffer).setUint32(0, head)
  bytes[31] = tail >> 8
  return bytes
}

t.test('a remembered node vouches for the origin it was remembered for, and no other', async t => {
  const known = new KnownNodes(4)
  const a = node(1, 1)
  t.notOk(known.vouches(a, 0, 'origin-a'), 'nothing is known at first')
  known.remember(a, 0, 'origin-a')
  t.ok(known.vouches(a, 0, 'origin-a'))
  t.notOk(known.vouches(a, 0, 'origin-b'), 'another origin')
  known.remember(a, 0, 'origin-b')
  t.notOk(known.vouches(a, 0, 'origin-b'), 'a node keeps the first origin it was remembered for')
  t.equal(known.size, 1)
  const inside = new Uint8Array(3 * NODE_BYTES)
  inside.set(a, NODE_BYTES)
  t.ok(known.vouches(inside, NODE_BYTES, 'origin-a'), 'a node is read at an offset of a larger array')
})

t.test('full, it forgets the oldest node first, and only that one', async t => {
  const known = new KnownNodes(3)
  const nodes = [0, 1, 2, 3].map(i => node(i * 7919, i))
  for (const n of nodes.slice(0, 3)) known.remember(n, 0, 'o')
  known.remember(nodes[3]!, 0, 'o')
  t.notOk(known.vouches(nodes[0]!, 0, 'o'), 'the oldest is forgotten')
  t.ok(nodes.slice(1).every(n => known.vouches(n, 0, 'o')), 'the three newest are known')
  t.equal(known.size, 3)
})

t.test('a capacity of 0 remembers nothing', async t => {
  const known = new KnownNodes(0)
  known.remember(node(1, 1), 0, 'o')
  t.notOk(known.vouches(node(1, 1), 0, 'o'))
  t.equal(known.size, 0)
})

t.test('nodes that share their table index (one probe chain) are found and forgotten correctly', async t => {
  // The same first four bytes give the same slot whatever the secret multiplier: one long chain,
  // wrapping around the table, with deletions from its middle.
  const known = new KnownNodes(8)
  const reference = new Reference(8)
  for (let i = 0; i < 200; i++) {
    const n = node(i % 3 === 0 ? 42 : 43, i)
    known.remember(n, 0, `o${i % 2}`)
    reference.remember(n, `o${i % 2}`)
    for (let j = Math.max(0, i - 12); j <= i; j++) {
      const m = node(j % 3 === 0 ? 42 : 43, j)
      for (const origin of ['o0', 'o1']) {
        if (known.vouches(m, 0, origin) !== reference.vouches(m, origin)) {
          t.fail(`after ${i + 1} nodes, node ${j} for ${origin}`)
          return
        }
      }
    }
  }
  t.pass('200 nodes through a ring of 8, all on two chains: every answer matches the reference')
})

t.test('any sequence of remembers and look-ups answers as a Map with the oldest forgotten first would', async t => {
  const op = fc.record({ remember: fc.boolean(), head: fc.integer({ min: 0, max: 15 }), tail: fc.integer({ min: 0, max: 40 }), origin: fc.constantFrom('a', 'b', 'c') })
  fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.array(op, { maxLength: 300 }), (capacity, ops) => {
    const known = new KnownNodes(capacity)
    const reference = new Reference(capacity)
    for (const o of ops) {
      const n = node(o.head, o.tail)
      if (o.remember) {
        known.remember(n, 0, o.origin)
        reference.remember(n, o.origin)
      } else if (known.vouches(n, 0, o.origin) !== reference.vouches(n, o.origin)) {
        return false
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('300 random sequences of up to 300 operations, capacities 0 to 20')
})
