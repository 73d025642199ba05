import t from 'tap'
import { Cluster, TOPIC } from '../../fixtures/proto-cluster.js'
import { randomInt, seededRng } from '../../../src/core/proto/random.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

function bootstrap (n: number, seed: number): Cluster {
  const c = new Cluster(seed)
  const rng = seededRng(seed)
  for (let i = 0; i < n; i++) c.add(`n${i}`)
  c.join('n0', [])
  for (let i = 1; i < n; i++) {
    c.join(`n${i}`, [`n${randomInt(rng, i)}`])
    c.advance(10)
  }
  c.advance(1_000)
  return c
}

function asymmetries (c: Cluster, topic = TOPIC): string[] {
  const bad: string[] = []
  for (const [id, s] of c.nodes) {
    if (c.dead.has(id)) continue
    for (const p of s.view(topic)?.active ?? []) {
      if (!(c.state(p).view(topic)?.active.includes(id) ?? false)) bad.push(`${id}->${p}`)
    }
  }
  return bad
}

t.test('twenty nodes joined through random contacts form symmetric active views and every broadcast reaches all of them', async t => {
  const c = bootstrap(20, 1)
  t.same(asymmetries(c), [], 'active views are symmetric')
  for (const [id, s] of c.nodes) {
    const v = s.view(TOPIC)
    t.ok(v !== undefined && v.active.length > 0, `${id} has neighbours`)
  }
  for (let k = 0; k < 5; k++) {
    const sender = `n${(k * 7) % 20}`
    const before = c.emitted.length
    c.broadcast(sender, bytes(`message ${k}`))
    c.advance(1_000)
    const receivers = new Set(c.emitted.slice(before).filter(e => e.event.type === 'received').map(e => e.node))
    t.equal(receivers.size, 19, `message ${k} reaches the 19 other nodes`)
    t.notOk(receivers.has(sender), 'the publisher does not receive its own message')
  }
})

t.test('after the first broadcast the eager links form a tree: later messages are sent once per receiver', async t => {
  const c = bootstrap(50, 2)
  c.broadcast('n0', bytes('warm up'))
  c.advance(1_000)
  const before = c.payloadSends
  c.broadcast('n0', bytes('second'))
  c.advance(1_000)
  t.equal(c.payloadSends - before, 49, 'one payload per receiver, no duplicates')
})

t.test('a broadcast still reaches every survivor after a fifth of the nodes crash', async t => {
  const c = bootstrap(100, 3)
  for (let i = 10; i < 30; i++) c.kill(`n${i}`)
  c.advance(5_000)
  t.same(asymmetries(c), [], 'active views are symmetric again')
  const before = c.emitted.length
  c.broadcast('n0', bytes('after the crash'))
  c.advance(5_000)
  const receivers = new Set(c.emitted.slice(before).filter(e => e.event.type === 'received').map(e => e.node))
  t.equal(receivers.size, 79, 'all 79 other survivors receive it')
})

t.test('two topics share the links: a broadcast stays in its topic, and quitting one topic releases only the links it alone needed', async t => {
  const A = 'a1'.repeat(32)
  const B = 'b2'.repeat(32)
  const c = new Cluster(4)
  const rng = seededRng(4)
  for (let i = 0; i < 15; i++) c.add(`n${i}`)
  c.join('n0', [], A)
  c.join('n0', [], B)
  for (let i = 1; i < 15; i++) {
    c.join(`n${i}`, [`n${randomInt(rng, i)}`], A)
    if (i < 8) c.join(`n${i}`, [`n${randomInt(rng, i)}`], B)
    c.advance(10)
  }
  c.advance(1_000)
  const inB = [...c.nodes.keys()].filter(id => c.state(id).topics().includes(B))
  t.equal(inB.length, 8)
  const before = c.emitted.length
  c.broadcast('n3', bytes('only for B'), B)
  c.advance(1_000)
  const got = c.emitted.slice(before).filter(e => e.event.type === 'received')
  t.ok(got.every(e => e.topic === B && inB.includes(e.node)), 'only members of B receive it')
  t.equal(got.length, 7)

  const disconnected: Array<[string, string]> = []
  const needed = (id: string, p: string): boolean => c.state(id).view(A)?.active.includes(p) ?? false
  for (const id of inB) {
    const out = c.input(id, { type: 'command', topic: B, command: { type: 'quit' } })
    for (const o of out) if (o.type === 'disconnect') disconnected.push([id, o.peer])
    c.drain()
  }
  t.same(c.emitted.filter(e => e.event.type === 'left').map(e => e.node).sort(), inB.sort(), 'every quitter gets left')
  for (const [id, p] of disconnected) t.notOk(needed(id, p), `${id} only released ${p} because topic A does not need it`)
  for (const [id, s] of c.nodes) {
    t.same(s.topics(), [A], `${id} is left with topic A only`)
    for (const p of c.nodes.keys()) if (s.needsLink(p) !== needed(id, p)) t.fail(`${id} needsLink(${p}) disagrees with topic A's view`)
  }
  t.same(asymmetries(c, A), [], 'topic A is untouched and symmetric')
  t.ok([...c.nodes.values()].every(s => (s.view(A)?.active.length ?? 0) > 0), 'everyone still has neighbours in A')
})
