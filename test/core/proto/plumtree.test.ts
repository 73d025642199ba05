import t from 'tap'
import { defaultConfig } from '../../../src/core/proto/config.js'
import { fnv1a } from '../../../src/core/proto/fnv1a.js'
import type { State } from '../../../src/core/proto/state.js'
import {
  T, T2, bytes, down, emits, node, publish, recv, schedules, sends, timer, withNeighbors
} from '../../fixtures/proto-io.js'
import type { Out } from '../../fixtures/proto-io.js'
import type { IHaveList } from '../../../src/core/proto/types.js'

const pt = defaultConfig.broadcast

const gossip = (id: string, round: number, origin = 'o', content = bytes(id)) =>
  ({ type: 'gossip' as const, id, origin, content, round })

/** A node with neighbours a, b (eager) and c made lazy by a PRUNE. */
function withLazyC (): State<string> {
  const s = node()
  withNeighbors(s, ['a', 'b', 'c'])
  s.handle(recv('c', { type: 'prune' }), 0)
  return s
}

/** `prefix0` .. `prefix{n-1}`. */
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

/** The GRAFTs for `awaited` (announced at `at`) time out, first and second: returns when the last did. */
function graftsTimeOut (s: State<string>, awaited: string[], at: number): number {
  let now = at
  for (const step of [pt.graftTimeout1, pt.graftTimeout2]) {
    now += step
    for (const id of awaited) s.handle(timer({ type: 'graftTimeout', topic: T, id }), now)
  }
  return now
}

/** GRAFTs and PULLs that ask for a payload. */
const asks = (out: Out[]) => sends(out, 'graft').filter(m => m.body.id !== undefined)

function flush (s: State<string>, now: number): Out[] {
  return s.handle(timer({ type: 'dispatchIHave', topic: T }), now)
}

t.test('new neighbours start eager', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  t.same(s.view(T)?.eager.sort(), ['a', 'b'])
  t.same(s.view(T)?.lazy, [])
})

t.test('a broadcast pushes the payload to eager peers at round 0, announces it lazily on the dispatch timer, and delivers nothing locally', async t => {
  const s = withLazyC()
  const out = s.handle(publish(bytes('hello')), 10)
  const g = sends(out, 'gossip')
  t.same(g.map(m => m.to).sort(), ['a', 'b'])
  for (const m of g) {
    t.equal(m.body.round, 0)
    t.equal(m.body.origin, 'me')
    t.same(m.body.content, bytes('hello'))
  }
  t.same(emits(out, 'received'), [], 'the publisher does not get its own message')
  t.same(sends(out, 'ihave'), [], 'ids wait for the dispatch timer')
  t.same(schedules(out, 'dispatchIHave').map(x => x.after), [pt.dispatchTimeout])
  const later = flush(s, 15)
  t.same(sends(later, 'ihave').map(m => [m.to, m.body.entries]), [['c', [{ id: g[0]?.body.id, round: 0 }]]])
})

t.test('a received GOSSIP is delivered once with hops round+1, from and origin, and forwarded at round+1 to the other eager peers', async t => {
  const s = withLazyC()
  const out = s.handle(recv('a', gossip('m1', 2)), 1)
  t.same(emits(out, 'received'), [{ type: 'received', id: 'm1', content: bytes('m1'), from: 'a', origin: 'o', hops: 3 }])
  t.same(sends(out, 'gossip').map(m => [m.to, m.body.round]), [['b', 3]])
  t.same(sends(flush(s, 6), 'ihave').map(m => [m.to, m.body.entries]), [['c', [{ id: 'm1', round: 3 }]]])
})

t.test('a direct neighbour of the origin delivers at hop 1 and does not send the payload back to the origin', async t => {
  const s = node()
  withNeighbors(s, ['o', 'b'])
  const out = s.handle(recv('o', gossip('m1', 0, 'o')), 1)
  t.equal(emits(out, 'received')[0]?.hops, 1)
  t.same(sends(out, 'gossip').map(m => m.to), ['b'])
})

t.test('a duplicate GOSSIP makes its sender lazy and sends it PRUNE', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('m1', 0)), 1)
  const out = s.handle(recv('b', gossip('m1', 0)), 2)
  t.same(emits(out, 'received'), [], 'delivered only once')
  t.same(sends(out).map(m => [m.to, m.body.type]), [['b', 'prune']])
  t.same(s.view(T)?.lazy, ['b'])
  t.same(s.view(T)?.eager, ['a'])
})

t.test('a neighbour that delivers after we pruned it is grafted again, so that it keeps pushing to us', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('m1', 0)), 1)
  t.same(sends(s.handle(recv('b', gossip('m1', 0)), 2)).map(m => [m.to, m.body.type]), [['b', 'prune']])
  // b sent m2 before it read our PRUNE; a's link is the one that cannot keep up.
  const out = s.handle(recv('b', gossip('m2', 0)), 3)
  t.same(sends(out, 'graft').map(m => [m.to, m.body.id]), [['b', undefined]], 'b hears that we count on it again')
  // Once it has been told, a later delivery from it needs no word.
  s.handle(recv('a', gossip('m3', 0)), 4)
  t.same(sends(s.handle(recv('b', gossip('m4', 0)), 5), 'graft'), [])
})

t.test('PRUNE moves the sender to lazy: later payloads reach it only as IHAVE', async t => {
  const s = withLazyC()
  t.same(s.view(T)?.lazy, ['c'])
  const out = s.handle(publish(bytes('x')), 1)
  t.notOk(sends(out, 'gossip').some(m => m.to === 'c'))
})

/** Every message reshapes the tree, as in the paper. */
const paper = { broadcast: { shaperTimeout: 0 } }

t.test('as in the paper (shaperTimeout 0), an IHAVE for an unseen id grafts its announcer after graftTimeout1, then the next after graftTimeout2', async t => {
  const s = node('me', paper)
  withNeighbors(s, ['a', 'b', 'c'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('c', { type: 'prune' }), 0)
  const first = s.handle(recv('b', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  t.same(sends(first), [], 'no GRAFT right away')
  t.same(schedules(first, 'graftTimeout').map(x => [x.after, x.timer.id]), [[pt.graftTimeout1, 'm1']])
  const second = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 4 }] }), 20)
  t.same(schedules(second, 'graftTimeout'), [], 'one timer per missing id')

  const g1 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1)
  t.same(sends(g1).map(m => [m.to, m.body]), [['b', { type: 'graft', id: 'm1', round: 1 }]])
  t.ok(s.view(T)?.eager.includes('b'), 'the grafted announcer is eager again')
  t.same(schedules(g1, 'graftTimeout').map(x => x.after), [pt.graftTimeout2])

  const g2 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1 + pt.graftTimeout2)
  t.same(sends(g2).map(m => [m.to, m.body]), [['c', { type: 'graft', id: 'm1', round: 4 }]])
  t.same(schedules(g2, 'graftTimeout').map(x => x.after), [pt.graftTimeout2], 'one last timer, to see whether c answered')
  const g3 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1 + 2 * pt.graftTimeout2)
  t.same(sends(g3), [], 'no announcer left to try')
  t.same(schedules(g3, 'graftTimeout'), [])
  t.equal(s.stats(T)?.missing, 0, 'the id is given up')
})

t.test('an announcer arriving after every earlier one was asked waits graftTimeout1, as for a fresh id: the last ask may still bring the payload', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b', 'c'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('c', { type: 'prune' }), 0)
  s.handle(recv('b', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  const g1 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1)
  t.same(sends(g1).map(m => m.to), ['b'], 'b asked, nobody else to ask')
  const late = 20 + pt.graftTimeout1
  const c = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 2 }] }), late)
  t.same(schedules(c, 'graftTimeout').map(x => x.after), [pt.graftTimeout1], 'c gets a timer of its own, graftTimeout1 long')
  const early = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1 + pt.graftTimeout2)
  t.same(sends(early), [], 'the short timer set after asking b does not ask c')
  const due = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), late + pt.graftTimeout1)
  t.same(sends(due).map(m => [m.to, m.body]), [['c', { type: 'graft', id: 'm1', round: 2, pull: true }]], 'c is asked when its own timeout expires')
})

t.test('a neighbour announcing ids it never delivers is bounded, then ignored until it has delivered as many payloads as it left GRAFTs unanswered', async t => {
  const s = node('me', { broadcast: { maxMissingPerPeer: 3, maxUnansweredGrafts: 2, demoteAfter: 0 } })
  withNeighbors(s, ['a', 'liar'])
  s.handle(recv('liar', { type: 'prune' }), 0)
  const flood = s.handle(recv('liar', { type: 'ihave', entries: Array.from({ length: 10 }, (_, i) => ({ id: `x${i}`, round: 0 })) }), 10)
  t.equal(schedules(flood, 'graftTimeout').length, 3, 'only maxMissingPerPeer of its ids are waited for')
  t.equal(s.stats(T)?.missing, 3)
  // Each is grafted, never answered, and given up.
  const now = graftsTimeOut(s, ids('x', 3), 10)
  t.equal(s.stats(T)?.missing, 0)
  const ignored = s.handle(recv('liar', { type: 'ihave', entries: [{ id: 'y1', round: 0 }] }), now + 1)
  t.same(schedules(ignored, 'graftTimeout'), [], 'past maxUnansweredGrafts its announcements are ignored')
  // Three GRAFTs unanswered: one payload is not enough (a flooder delivering now and then stays ignored).
  s.handle(recv('liar', gossip('real', 0)), now + 2)
  const still = s.handle(recv('liar', { type: 'ihave', entries: [{ id: 'y2', round: 0 }] }), now + 2)
  t.same(schedules(still, 'graftTimeout'), [], 'one payload for three unanswered GRAFTs: still ignored')
  s.handle(recv('liar', gossip('real2', 0)), now + 2)
  const heard = s.handle(recv('liar', { type: 'ihave', entries: [{ id: 'y3', round: 0 }] }), now + 3)
  t.equal(schedules(heard, 'graftTimeout').length, 1, 'a second payload brings it under maxUnansweredGrafts: it is heard again')
  // An honest neighbour's announcements were never affected.
  const honest = s.handle(recv('a', { type: 'ihave', entries: [{ id: 'z', round: 0 }] }), now + 4)
  t.equal(schedules(honest, 'graftTimeout').length, 1)
})

/** Two origins, `low` ranked before `high` for topic T (ranks are a hash of origin and topic). */
const [low, high] = ['o1', 'o2', 'o3', 'o4'].sort((x, y) => fnv1a(x, fnv1a(T)) - fnv1a(y, fnv1a(T)))

t.test('a missed message is pulled: the link stays as it is, and joins the tree when the pulled copy is the first to come', async t => {
  const s = withLazyC()
  s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  const ask = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1)
  t.same(sends(ask).map(m => [m.to, m.body]), [['c', { type: 'graft', id: 'm1', round: 1, pull: true }]])
  t.notOk(s.view(T)?.eager.includes('c'), 'asking does not change the tree')
  const answer = s.handle(recv('c', gossip('m1', 1)), 20 + pt.graftTimeout1)
  t.equal(emits(answer, 'received').length, 1)
  t.same(sends(answer, 'graft').map(m => [m.to, m.body]), [['c', { type: 'graft', round: 1 }]], 'a GRAFT without id makes both ends eager')
  t.ok(s.view(T)?.eager.includes('c'))
})

t.test('a pull answered after the tree brought the message leaves the link out of the tree', async t => {
  const s = withLazyC()
  s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1)
  s.handle(recv('a', gossip('m1', 3)), 15 + pt.graftTimeout1)
  const late = s.handle(recv('c', gossip('m1', 1)), 20 + pt.graftTimeout1)
  t.same(sends(late, 'graft'), [], 'no GRAFT')
  t.same(emits(late, 'received'), [], 'delivered once')
  t.same(s.view(T)?.eager.sort(), ['a', 'b'])
})

t.test('a PULL is answered with the cached payload and leaves the link as it is', async t => {
  const s = withLazyC()
  s.handle(recv('a', gossip('m1', 0)), 1)
  const out = s.handle(recv('c', { type: 'graft', id: 'm1', round: 1, pull: true }), 2)
  t.same(sends(out).map(m => [m.to, m.body.type]), [['c', 'gossip']])
  t.notOk(s.view(T)?.eager.includes('c'), 'c is still lazy')
  const graft = s.handle(recv('c', { type: 'graft', id: 'm1', round: 1 }), 3)
  t.same(sends(graft).map(m => [m.to, m.body.type]), [['c', 'gossip']])
  t.ok(s.view(T)?.eager.includes('c'), 'a GRAFT makes it eager')
})

t.test('only the shaper\'s duplicates prune: another origin\'s duplicate over an eager link leaves the tree as it is', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('l1', 0, low)), 1)
  const other = [s.handle(recv('a', gossip('h1', 0, high)), 2), s.handle(recv('b', gossip('h1', 0, high)), 3)]
  t.same(sends(other[1]!), [], `${high}'s duplicate over b prunes nothing: ${low} shapes the tree`)
  t.same(s.view(T)?.eager.sort(), ['a', 'b'])
  s.handle(recv('a', gossip('l2', 0, low)), 4)
  const shaper = s.handle(recv('b', gossip('l2', 0, low)), 5)
  t.same(sends(shaper).map(m => [m.to, m.body.type]), [['b', 'prune']], `${low}'s duplicate prunes b`)
})

t.test('the shaper is the lowest-ranked origin heard from within shaperTimeout; a silent one is replaced by the next origin heard from', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('h1', 0, high)), 1)
  t.same(sends(s.handle(recv('b', gossip('h1', 0, high)), 2), 'prune').map(m => m.to), ['b'], `the first origin heard from shapes the tree (${high})`)
  s.handle(recv('b', { type: 'graft', round: 0 }), 3)
  s.handle(recv('a', gossip('l1', 0, low)), 10)
  s.handle(recv('a', gossip('h2', 0, high)), 11)
  t.same(sends(s.handle(recv('b', gossip('h2', 0, high)), 12), 'prune'), [], `a lower-ranked one (${low}) takes over at once`)
  const later = 10 + pt.shaperTimeout + 1
  s.handle(recv('a', gossip('h3', 0, high)), later)
  t.same(sends(s.handle(recv('b', gossip('h3', 0, high)), later + 1), 'prune').map(m => m.to), ['b'], `${low} silent for shaperTimeout: ${high} shapes the tree again`)
})

t.test('as in the paper (shaperTimeout 0), every origin\'s duplicate prunes', async t => {
  const s = node('me', paper)
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('l1', 0, low)), 1)
  s.handle(recv('a', gossip('h1', 0, high)), 2)
  t.same(sends(s.handle(recv('b', gossip('h1', 0, high)), 3), 'prune').map(m => m.to), ['b'])
})

t.test('after a tree link is lost, an announced id is asked for after repairTimeout, until a tree link delivers again', async t => {
  const s = withLazyC()
  s.handle(down('a'), 5)
  const soon = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  t.same(schedules(soon, 'graftTimeout').map(x => x.after), [pt.repairTimeout])
  s.handle(recv('b', gossip('m2', 0)), 20)
  const calm = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm3', round: 1 }] }), 30)
  t.same(schedules(calm, 'graftTimeout').map(x => x.after), [pt.graftTimeout1], 'b delivered over the tree: the usual wait again')
  const lazyDown = withLazyC()
  lazyDown.handle(down('c'), 5)
  const after = lazyDown.handle(recv('b', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  t.same(schedules(after, 'graftTimeout').map(x => x.after), [pt.graftTimeout1], 'losing a lazy link cuts no tree')
})

t.test('the first wait is learnt from how late the tree\'s copies come after their announcements, between repairTimeout and graftTimeout1', async t => {
  /** 16 ids announced by lazy c, each delivered by eager a `gap` ms later; then the wait for the next. */
  const learnt = (gap: number): number | undefined => {
    const s = withLazyC()
    for (let i = 0; i < 16; i++) {
      const at = 1_000 * i
      s.handle(recv('c', { type: 'ihave', entries: [{ id: `m${i}`, round: 2 }] }), at)
      s.handle(recv('a', gossip(`m${i}`, 3)), at + gap)
    }
    return schedules(s.handle(recv('c', { type: 'ihave', entries: [{ id: 'next', round: 2 }] }), 20_000), 'graftTimeout')[0]?.after
  }
  t.equal(learnt(2), pt.repairTimeout, 'a tree copy 2 ms behind (a LAN): the shortest wait')
  t.equal(learnt(100), 200, 'copies 100 ms behind: twice that')
  t.equal(learnt(390), pt.graftTimeout1, 'never longer than graftTimeout1')
  const fresh = withLazyC()
  t.same(schedules(fresh.handle(recv('c', { type: 'ihave', entries: [{ id: 'x', round: 2 }] }), 0), 'graftTimeout').map(x => x.after), [pt.graftTimeout1], 'before 16 gaps are known: graftTimeout1')
})

t.test('an id three neighbours announced without its tree copy coming is pulled at 0.6 of the first wait after the first announcement', async t => {
  const announced = (config?: Parameters<typeof node>[1]) => {
    const s = node('me', config)
    withNeighbors(s, ['a', 'b', 'c', 'd', 'e'])
    for (const lazy of ['c', 'd', 'e']) s.handle(recv(lazy, { type: 'prune' }), 0)
    const ihave = (from: string, at: number): number[] =>
      schedules(s.handle(recv(from, { type: 'ihave', entries: [{ id: 'm1', round: 2 }] }), at), 'graftTimeout').map(x => x.after)
    return { s, ihave }
  }
  const { s, ihave } = announced()
  t.same(ihave('c', 100), [pt.graftTimeout1], 'the first announcement: the whole wait (nothing learnt yet)')
  t.same(ihave('d', 110), [], 'a second changes nothing')
  const early = 100 + Math.ceil(0.6 * pt.graftTimeout1)
  t.same(ihave('e', 120), [early - 120], 'the third brings it forward')
  t.same(asks(s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), early)).map(m => [m.to, m.body.pull]), [['c', true]], 'then the first announcer is asked')
  const late = announced()
  late.ihave('c', 100)
  late.ihave('d', 110)
  t.same(late.ihave('e', 100 + pt.graftTimeout1 - 100), [0], 'a third announcement past that point: asked for at once')
  const paperNode = announced(paper)
  paperNode.ihave('c', 100)
  paperNode.ihave('d', 110)
  t.same(paperNode.ihave('e', 120), [], 'as in the paper (shaperTimeout 0): the whole wait')
})

t.test('a pulled message\'s late tree copy counts too: gaps longer than the wait are seen', async t => {
  const s = withLazyC()
  // Another origin shapes the tree, so the late copies over a prune nothing.
  s.handle(recv('a', gossip('shaper', 0, low)), 0)
  for (let i = 0; i < 16; i++) {
    s.handle(recv('c', { type: 'ihave', entries: [{ id: `fast${i}`, round: 2 }] }), 1_000 * (i + 1))
    s.handle(recv('a', gossip(`fast${i}`, 3, high)), 1_000 * (i + 1) + 2)
  }
  const wait = (now: number): number[] =>
    schedules(s.handle(recv('c', { type: 'ihave', entries: [{ id: `probe${now}`, round: 2 }] }), now), 'graftTimeout').map(x => x.after)
  t.same(wait(20_000), [pt.repairTimeout], 'copies 2 ms behind: the shortest wait')
  for (let i = 0; i < 16; i++) {
    const at = 30_000 + 2_000 * i
    s.handle(recv('c', { type: 'ihave', entries: [{ id: `slow${i}`, round: 2 }] }), at)
    s.handle(timer({ type: 'graftTimeout', topic: T, id: `slow${i}` }), at + pt.repairTimeout)
    s.handle(recv('c', gossip(`slow${i}`, 2, high)), at + pt.repairTimeout + 10)
    s.handle(recv('c', { type: 'prune' }), at + pt.repairTimeout + 20)
    s.handle(recv('a', gossip(`slow${i}`, 5, high)), at + 600)
  }
  t.same(wait(70_000), [pt.graftTimeout1], 'then pulled first, their tree copies 600 ms behind: the longest wait')
})

t.test('a neighbour with maxGraftsInFlight GRAFTs pending is asked for no more: its ids wait their turn or go to another announcer', async t => {
  const s = node('me', { broadcast: { maxGraftsInFlight: 2 } })
  withNeighbors(s, ['a', 'b', 'c'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('c', { type: 'prune' }), 0)
  s.handle(recv('b', { type: 'ihave', entries: ['x0', 'x1', 'x2', 'x3'].map(id => ({ id, round: 0 })) }), 10)
  s.handle(recv('c', { type: 'ihave', entries: [{ id: 'x3', round: 0 }] }), 10)
  const due = 10 + pt.graftTimeout1
  const first = ['x0', 'x1', 'x2', 'x3'].map(id => s.handle(timer({ type: 'graftTimeout', topic: T, id }), due))
  t.same(first.map(o => sends(o, 'graft').map(m => [m.to, m.body.id])), [[['b', 'x0']], [['b', 'x1']], [], [['c', 'x3']]],
    'b gets two GRAFTs; x2 waits; x3 goes to its other announcer')
  t.same(schedules(first[2]!, 'graftTimeout'), [], 'x2 waits without a timer')
  t.equal(s.stats(T)?.missing, 4, 'nothing was given up')
  // b answers x0: that makes room, and x2 is grafted at once, with its own timer.
  const answer = s.handle(recv('b', gossip('x0', 0)), due + 5)
  t.same(asks(answer).map(m => [m.to, m.body.id]), [['b', 'x2']])
  t.same(schedules(answer, 'graftTimeout').map(x => [x.timer.id, x.after]), [['x2', pt.graftTimeout2]])
  // x1 left unanswered: its timeout makes room, and the next parked id (x4, parked after x2) goes.
  s.handle(recv('b', { type: 'ihave', entries: [{ id: 'x4', round: 0 }] }), due + 6)
  const parked = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x4' }), due + 6 + pt.graftTimeout1)
  t.same(sends(parked, 'graft'), [], 'x4 is parked: b has x1 and x2 pending')
  const timedOut = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x1' }), due + pt.graftTimeout2)
  t.same(sends(timedOut, 'graft').map(m => [m.to, m.body.id]), [['b', 'x4']], 'x1 given up, x4 taken up')
  t.equal(s.stats(T)?.missing, 3, 'x2, x3 and x4 are awaited')
})

t.test('a parked id delivered meanwhile is not grafted when its announcer has room again', async t => {
  const s = node('me', { broadcast: { maxGraftsInFlight: 1 } })
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('b', { type: 'ihave', entries: [{ id: 'y0', round: 0 }, { id: 'y1', round: 0 }] }), 10)
  const due = 10 + pt.graftTimeout1
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'y0' }), due)
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'y1' }), due)
  s.handle(recv('a', gossip('y1', 0)), due + 1)
  const answer = s.handle(recv('b', gossip('y0', 0)), due + 2)
  t.same(asks(answer), [], 'y1 came from a: nothing to ask b for')
  t.equal(s.stats(T)?.missing, 0)
})

t.test('a peer announcing more than maxIHavesPerSecond, over all topics, is throttled once for the rest of that second; the next second counts afresh', async t => {
  const s = node('me', { broadcast: { maxIHavesPerSecond: 5 } })
  withNeighbors(s, ['a', 'b'])
  withNeighbors(s, ['a'], 0, T2)
  const ihave = (from: string, ids: string[], topic = T) => recv(from, { type: 'ihave', entries: ids.map(id => ({ id, round: 0 })) }, topic)
  const throttles = (out: Out[]) => out.filter(o => o.type === 'throttle')
  t.same(throttles(s.handle(ihave('a', ['a1', 'a2', 'a3']), 100)), [], '3 of 5')
  t.same(throttles(s.handle(ihave('a', ['a4', 'a5'], T2), 300)), [], '5 of 5, the second topic counting too')
  t.same(throttles(s.handle(ihave('a', ['a6']), 400)), [{ type: 'throttle', peer: 'a', ms: 700 }], 'the sixth: not read until its second (from 100 ms) is over')
  t.same(throttles(s.handle(ihave('a', ['a7']), 500)), [], 'throttled once per second')
  t.same(throttles(s.handle(ihave('b', ['b1', 'b2', 'b3', 'b4', 'b5']), 500)), [], 'b has a budget of its own')
  t.same(throttles(s.handle(ihave('a', ['a8', 'a9', 'a10', 'a11', 'a12']), 1100)), [], 'a new second')
  t.same(throttles(s.handle(ihave('a', ['a13']), 1200)), [{ type: 'throttle', peer: 'a', ms: 900 }])
})

/** IHAVE entries read by position (as the codec hands them over), remembering which ids were read. */
function readByPosition (entries: Array<{ id: string, round: number }>): IHaveList & { read: number[] } {
  const read: number[] = []
  return {
    read,
    length: entries.length,
    id: (i) => { read.push(i); return entries[i]!.id },
    round: (i) => entries[i]!.round,
    [Symbol.iterator]: () => entries[Symbol.iterator]()
  }
}

t.test('a neighbour at maxMissingPerPeer awaited ids is not read further: not its new ids, nor ids we have or await from others', async t => {
  const s = node('me', { broadcast: { maxMissingPerPeer: 3 } })
  withNeighbors(s, ['a', 'b', 'liar'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('liar', { type: 'prune' }), 0)
  s.handle(recv('a', gossip('have', 0)), 1)
  s.handle(recv('b', { type: 'ihave', entries: [{ id: 'awaited', round: 1 }] }), 2)
  const list = readByPosition([...Array.from({ length: 5 }, (_, i) => ({ id: `x${i}`, round: 0 })), { id: 'awaited', round: 0 }, { id: 'have', round: 0 }])
  const flood = s.handle(recv('liar', { type: 'ihave', entries: list }), 10)
  t.same(schedules(flood, 'graftTimeout').map(x => x.timer.id), ['x0', 'x1', 'x2'], 'maxMissingPerPeer of its ids are awaited')
  t.same(list.read, [0, 1, 2], 'the rest of its IHAVE is not read (no id of it is made)')
  // 'awaited' has b alone to ask: the liar was not added as a second announcer.
  const g1 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'awaited' }), 2 + pt.graftTimeout1)
  t.same(sends(g1, 'graft').map(m => m.to), ['b'])
  const g2 = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'awaited' }), 2 + pt.graftTimeout1 + pt.graftTimeout2)
  t.same(sends(g2, 'graft'), [], 'nobody else to graft')
  // Under its cap again (its ids given up), it is read and heard as before.
  const now = graftsTimeOut(s, ids('x', 3), 10)
  t.equal(s.stats(T)?.missing, 0)
  const again = readByPosition([{ id: 'have', round: 0 }, { id: 'y', round: 0 }])
  const heard = s.handle(recv('liar', { type: 'ihave', entries: again }), now + 1)
  t.same(again.read, [0, 1])
  t.same(schedules(heard, 'graftTimeout').map(x => x.timer.id), ['y'])
})

t.test('IHAVE entries read by position are handled as the same entries in an array', async t => {
  const run = (form: 'array' | 'list'): Out[][] => {
    const s = node('me', { broadcast: { maxMissingPerPeer: 4, maxUnansweredGrafts: 2, demoteAfter: 0 } })
    withNeighbors(s, ['a', 'b', 'c'])
    s.handle(recv('c', { type: 'prune' }), 0)
    for (let i = 0; i < 12; i++) s.handle(recv('a', gossip(`m${i}`, 10 - (i % 3))), 1)
    const outs: Out[][] = []
    const announce = (from: string, entries: Array<{ id: string, round: number }>, now: number): void => {
      outs.push(s.handle(recv(from, { type: 'ihave', entries: form === 'array' ? entries : readByPosition(entries) }), now))
    }
    announce('c', [0, 1, 2, 3, 4].map(i => ({ id: `m${i}`, round: i % 2 })), 2)
    announce('c', [0, 1, 2, 3, 4, 5].map(i => ({ id: `n${i}`, round: i })), 3)
    announce('b', [{ id: 'n1', round: 7 }, { id: 'm5', round: 0 }], 4)
    let now = 4
    for (const step of [pt.graftTimeout1, pt.graftTimeout2, pt.graftTimeout2]) {
      now += step
      for (let i = 0; i < 6; i++) outs.push(s.handle(timer({ type: 'graftTimeout', topic: T, id: `n${i}` }), now))
    }
    announce('c', [0, 1, 2].map(i => ({ id: `never${i}`, round: 0 })), now + 1)
    announce('c', [0, 1, 2].map(i => ({ id: `again${i}`, round: 0 })), now + 2)
    return outs
  }
  const list = run('list')
  t.same(list, run('array'))
  t.ok(list.flat().some(o => o.type === 'drop'), 'the run reaches a drop')
})

t.test('a burst answered late demotes nobody: unanswered GRAFTs count only once the first is demoteAfter old', async t => {
  const s = node('me', { broadcast: { maxUnansweredGrafts: 2, demoteAfter: 1_000 } })
  withNeighbors(s, ['a', 'slow'])
  s.handle(recv('slow', { type: 'prune' }), 0)
  // Three of its ids grafted and not answered within the graft timeouts: the answers are on their way.
  s.handle(recv('slow', { type: 'ihave', entries: [0, 1, 2].map(i => ({ id: `x${i}`, round: 0 })) }), 10)
  const now = graftsTimeOut(s, ids('x', 3), 10)
  const soon = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y0', round: 0 }] }), now + 1)
  t.equal(schedules(soon, 'graftTimeout').length, 1, 'within demoteAfter it is still heard')
  const later = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y1', round: 0 }] }), now + 1_000)
  t.same(schedules(later, 'graftTimeout'), [], 'once the first unanswered GRAFT is demoteAfter old, it is not')
})

t.test('answers that come after the graft timeout make up for it, even when another neighbour delivered the payload first', async t => {
  const run = (late: boolean): boolean => {
    const s = node('me', { broadcast: { maxUnansweredGrafts: 2, demoteAfter: 1_000 } })
    withNeighbors(s, ['a', 'slow'])
    s.handle(recv('slow', { type: 'prune' }), 0)
    s.handle(recv('slow', { type: 'ihave', entries: [0, 1, 2].map(i => ({ id: `x${i}`, round: 0 })) }), 10)
    const now = graftsTimeOut(s, ids('x', 3), 10)
    // The payloads come from a first, then (its link was slow, as under packet loss) from slow.
    for (let i = 0; i < 3; i++) s.handle(recv('a', gossip(`x${i}`, 0)), now + 1)
    if (late) for (let i = 0; i < 3; i++) s.handle(recv('slow', gossip(`x${i}`, 0)), now + 2)
    const later = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y', round: 0 }] }), now + 1_000)
    return schedules(later, 'graftTimeout').length === 1
  }
  t.ok(run(true), 'it answered every GRAFT, late: it is still heard')
  t.notOk(run(false), 'it never answered: demoted as before')
})

t.test('a duplicate that answers no GRAFT of ours makes up for nothing', async t => {
  const s = node('me', { broadcast: { maxUnansweredGrafts: 2, demoteAfter: 1_000 } })
  withNeighbors(s, ['a', 'liar'])
  s.handle(recv('liar', { type: 'prune' }), 0)
  s.handle(recv('liar', { type: 'ihave', entries: [0, 1, 2].map(i => ({ id: `fake${i}`, round: 0 })) }), 10)
  const now = graftsTimeOut(s, ids('fake', 3), 10)
  // A real message everybody has, sent again and again: not an answer to any of our GRAFTs.
  s.handle(recv('a', gossip('real', 0)), now + 1)
  for (let i = 0; i < 10; i++) s.handle(recv('liar', gossip('real', 0)), now + 2 + i)
  const later = s.handle(recv('liar', { type: 'ihave', entries: [{ id: 'y', round: 0 }] }), now + 1_000)
  t.same(schedules(later, 'graftTimeout'), [], 'still demoted')
})

t.test('a GRAFT left unanswered by a peer that is gone by then keeps no record of it', async t => {
  const s = node()
  withNeighbors(s, ['a', 'gone'])
  s.handle(recv('gone', { type: 'prune' }), 0)
  s.handle(recv('gone', { type: 'ihave', entries: [{ id: 'x', round: 0 }] }), 10)
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x' }), 10 + pt.graftTimeout1)
  s.handle(down('gone'), 20 + pt.graftTimeout1)
  const last = s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x' }), 10 + pt.graftTimeout1 + pt.graftTimeout2)
  t.same(schedules(last, 'graftTimeout'), [], 'the id is given up')
  t.equal(s.stats(T)?.missing, 0)
  const unanswered = (s as unknown as { topicMap: Map<string, { broadcast: { unanswered: Map<string, unknown> } }> }).topicMap.get(T)?.broadcast.unanswered
  t.notOk(unanswered?.has('gone'), 'and the departed peer has no unanswered record')
})

t.test('a count of unanswered GRAFTs that lingered under the bar does not demote at once when a later burst takes it over', async t => {
  const s = node('me', { broadcast: { maxUnansweredGrafts: 3, demoteAfter: 1_000 } })
  withNeighbors(s, ['a', 'slow'])
  s.handle(recv('slow', { type: 'prune' }), 0)
  const unanswered = (ids: string[], at: number): number => {
    s.handle(recv('slow', { type: 'ihave', entries: ids.map(id => ({ id, round: 0 })) }), at)
    return graftsTimeOut(s, ids, at)
  }
  // Long ago: two GRAFTs unanswered, one payload delivered since: one still counts.
  let now = unanswered(['old0', 'old1'], 10)
  s.handle(recv('slow', gossip('delivered', 0)), now + 1)
  // Much later, a burst: two more unanswered take the count to the bar of three.
  now = unanswered(['new0', 'new1'], now + 10_000)
  const soon = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y0', round: 0 }] }), now + 1)
  t.equal(schedules(soon, 'graftTimeout').length, 1, 'just over the bar, it is still heard: the clock starts now, not at the old GRAFTs')
  const later = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y1', round: 0 }] }), now + 1_000)
  t.same(schedules(later, 'graftTimeout'), [], 'demoteAfter over the bar, it is not')
})

t.test('a demoted neighbour that announces maxMissingPerPeer more ids while ignored is dropped', async t => {
  const s = node('me', { broadcast: { maxMissingPerPeer: 3, maxUnansweredGrafts: 2, demoteAfter: 0 } })
  withNeighbors(s, ['a', 'liar'])
  s.handle(recv('liar', { type: 'prune' }), 0)
  s.handle(recv('liar', { type: 'ihave', entries: [0, 1].map(i => ({ id: `x${i}`, round: 0 })) }), 10)
  const now = graftsTimeOut(s, ids('x', 2), 10)
  const drops = (outs: Out[]): Out[] => outs.filter(o => o.type === 'drop')
  const first = s.handle(recv('liar', { type: 'ihave', entries: [0, 1].map(i => ({ id: `y${i}`, round: 0 })) }), now + 1)
  t.same(drops(first), [], 'ignored, not yet dropped: two ids announced while demoted')
  const second = s.handle(recv('liar', { type: 'ihave', entries: [{ id: 'y2', round: 0 }] }), now + 2)
  t.same(drops(second).map(o => o.type === 'drop' ? o.peer : undefined), ['liar'], 'the third one drops it')
  const honest = s.handle(recv('a', { type: 'ihave', entries: [0, 1, 2].map(i => ({ id: `z${i}`, round: 0 })) }), now + 3)
  t.same(drops(honest), [], 'an honest neighbour announcing as many is not dropped')
})

t.test('a demoted neighbour announcing ids that others delivered is ignored, never dropped: an honest peer slowed by a flood', async t => {
  const s = node('me', { broadcast: { maxMissingPerPeer: 3, maxUnansweredGrafts: 2, demoteAfter: 0 } })
  withNeighbors(s, ['a', 'slow'])
  s.handle(recv('slow', { type: 'prune' }), 0)
  s.handle(recv('slow', { type: 'ihave', entries: [0, 1].map(i => ({ id: `x${i}`, round: 0 })) }), 10)
  const now = graftsTimeOut(s, ids('x', 2), 10)
  // The flood reaches us through 'a'; 'slow' announces the same messages, later.
  const outs: Out[] = []
  for (let i = 0; i < 10; i++) {
    s.handle(recv('a', gossip(`f${i}`, 0)), now + 1 + i)
    outs.push(...s.handle(recv('slow', { type: 'ihave', entries: [{ id: `f${i}`, round: 1 }] }), now + 1 + i))
  }
  t.same(outs.filter(o => o.type === 'drop'), [], 'ten real ids announced while demoted: not dropped')
  const lie = s.handle(recv('slow', { type: 'ihave', entries: [0, 1, 2].map(i => ({ id: `never${i}`, round: 0 })) }), now + 20)
  t.same(lie.filter(o => o.type === 'drop').map(o => o.type === 'drop' ? o.peer : undefined), ['slow'], 'three ids nobody delivered: dropped')
})

t.test('a demoted neighbour that delivers again starts afresh: what it announced while ignored is forgiven', async t => {
  const s = node('me', { broadcast: { maxMissingPerPeer: 3, maxUnansweredGrafts: 1, demoteAfter: 0 } })
  withNeighbors(s, ['a', 'slow'])
  s.handle(recv('slow', { type: 'prune' }), 0)
  s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'x', round: 0 }] }), 10)
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x' }), 10 + pt.graftTimeout1)
  s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x' }), 10 + pt.graftTimeout1 + pt.graftTimeout2)
  const now = 10 + pt.graftTimeout1 + pt.graftTimeout2
  s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y0', round: 0 }, { id: 'y1', round: 0 }] }), now + 1)
  s.handle(recv('slow', gossip('late', 0)), now + 2)
  const after = s.handle(recv('slow', { type: 'ihave', entries: [{ id: 'y2', round: 0 }] }), now + 3)
  t.same(after.filter(o => o.type === 'drop'), [], 'not dropped')
  t.equal(schedules(after, 'graftTimeout').length, 1, 'and heard again')
})

t.test('a payload arriving before the graft timer expires cancels the graft', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('b', { type: 'prune' }), 0)
  s.handle(recv('b', { type: 'ihave', entries: [{ id: 'm1', round: 1 }] }), 10)
  s.handle(recv('a', gossip('m1', 0)), 20)
  t.same(s.handle(timer({ type: 'graftTimeout', topic: T, id: 'm1' }), 10 + pt.graftTimeout1), [])
  t.equal(s.stats(T)?.missing, 0)
})

t.test('an IHAVE for an id already delivered grafts nobody', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'])
  s.handle(recv('a', gossip('m1', 0)), 1)
  const out = s.handle(recv('b', { type: 'ihave', entries: [{ id: 'm1', round: 0 }] }), 2)
  t.same(out, [])
})

t.test('an IHAVE from a peer outside the active view is ignored', async t => {
  const s = node()
  withNeighbors(s, ['a'])
  t.same(s.handle(recv('x', { type: 'ihave', entries: [{ id: 'm1', round: 0 }] }), 1), [])
})

t.test('a GRAFT moves its sender to eager and is answered with the cached payload at our hop count', async t => {
  const s = withLazyC()
  s.handle(recv('a', gossip('m1', 1)), 1)
  const out = s.handle(recv('c', { type: 'graft', id: 'm1', round: 2 }), 50)
  t.ok(s.view(T)?.eager.includes('c'))
  t.notOk(s.view(T)?.lazy.includes('c'))
  t.same(sends(out, 'gossip').map(m => [m.to, m.body.id, m.body.round, m.body.origin]), [['c', 'm1', 2, 'o']])
})

t.test('a GRAFT without id only re-grafts the link', async t => {
  const s = withLazyC()
  const out = s.handle(recv('c', { type: 'graft', round: 0 }), 1)
  t.same(sends(out), [])
  t.ok(s.view(T)?.eager.includes('c'))
})

t.test('tree optimisation: an IHAVE beating our delivery by the threshold grafts the announcer and prunes the eager parent', async t => {
  const s = withLazyC()
  s.handle(recv('a', gossip('m1', 10)), 1) // delivered at hop 11 through a
  const slow = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 11 - pt.optimizationThreshold }] }), 2)
  t.same(sends(slow), [], 'a gain below the threshold changes nothing')
  const out = s.handle(recv('c', { type: 'ihave', entries: [{ id: 'm1', round: 10 - pt.optimizationThreshold }] }), 3)
  t.same(sends(out).map(m => [m.to, m.body.type]), [['c', 'graft'], ['a', 'prune']])
  t.equal(sends(out, 'graft')[0]?.body.id, undefined, 'the graft asks for no payload')
  t.ok(s.view(T)?.eager.includes('c'))
  t.ok(s.view(T)?.lazy.includes('a'))
})

t.test('message ids', async t => {
  t.test('the same bytes published twice get two ids (and are delivered twice downstream)', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    const one = sends(s.handle(publish(bytes('same')), 1), 'gossip')[0]?.body.id
    const two = sends(s.handle(publish(bytes('same')), 2), 'gossip')[0]?.body.id
    t.ok(one !== undefined && two !== undefined)
    t.not(one, two)
    const r = node('r')
    withNeighbors(r, ['me'])
    const d1 = emits(r.handle(recv('me', gossip(one as string, 0, 'me', bytes('same'))), 3), 'received')
    const d2 = emits(r.handle(recv('me', gossip(two as string, 0, 'me', bytes('same'))), 4), 'received')
    t.equal(d1.length + d2.length, 2)
  })

  t.test('ids are a 128-bit hex prefix drawn once per node and a sequence number', async t => {
    const s = node('me', {}, 7)
    withNeighbors(s, ['a'])
    const ids = [1, 2, 3].map(i => sends(s.handle(publish(bytes('x')), i), 'gossip')[0]?.body.id as string)
    t.match(ids[0], /^[0-9a-f]{32}\.[0-9a-f]+$/)
    t.same(ids.map(id => id.split('.')[0]), Array(3).fill(s.messageIdPrefix()))
    t.same(ids.map(id => id.split('.')[1]), ['0', '1', '2'])
    t.not(node('me', {}, 8).messageIdPrefix(), s.messageIdPrefix(), 'another rng gives another prefix')
  })

  t.test('a caller-supplied id is used as is, and publishing an id already seen sends nothing', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    t.same(sends(s.handle(publish(bytes('x'), T, 'my-id'), 1), 'gossip').map(m => m.body.id), ['my-id'])
    t.same(s.handle(publish(bytes('x'), T, 'my-id'), 2), [])
  })
})

t.test('IHAVE entries are batched: several messages within the dispatch period go out as one IHAVE per peer', async t => {
  const s = withLazyC()
  const first = s.handle(publish(bytes('1')), 1)
  const second = s.handle(publish(bytes('2')), 2)
  t.equal(schedules(first, 'dispatchIHave').length, 1)
  t.equal(schedules(second, 'dispatchIHave').length, 0, 'one dispatch timer for the batch')
  const out = flush(s, 6)
  const ih = sends(out, 'ihave')
  t.equal(ih.length, 1)
  t.equal(ih[0]?.body.entries.length, 2)
})

t.test('caches', async t => {
  t.test('the payload cache is evicted on the evictCache timer: a GRAFT after messageCacheTimeout gets no payload', async t => {
    const s = withLazyC()
    const out = s.handle(recv('a', gossip('m1', 0)), 0)
    const ev = schedules(out, 'evictCache')
    t.equal(ev.length, 1)
    t.ok((ev[0]?.after ?? 0) >= pt.cacheEvictInterval)
    t.same(sends(s.handle(recv('c', { type: 'graft', id: 'm1', round: 0 }), 10), 'gossip').length, 1)
    s.handle(timer({ type: 'evictCache', topic: T }), pt.messageCacheTimeout)
    t.equal(s.stats(T)?.cached, 0)
    t.equal(s.stats(T)?.seen, 1, 'the id is still remembered')
    t.same(sends(s.handle(recv('c', { type: 'graft', id: 'm1', round: 0 }), pt.messageCacheTimeout + 1), 'gossip'), [])
    const dup = s.handle(recv('b', gossip('m1', 0)), pt.messageCacheTimeout + 2)
    t.same(emits(dup, 'received'), [], 'still a duplicate within messageIdRetention')
    s.handle(timer({ type: 'evictCache', topic: T }), pt.messageIdRetention)
    t.equal(s.stats(T)?.seen, 0)
  })

  t.test('the eviction timer stops when nothing is cached', async t => {
    const s = withLazyC()
    s.handle(recv('a', gossip('m1', 0)), 0)
    const mid = s.handle(timer({ type: 'evictCache', topic: T }), pt.messageCacheTimeout)
    t.equal(schedules(mid, 'evictCache').length, 1, 'rescheduled while ids are remembered')
    const end = s.handle(timer({ type: 'evictCache', topic: T }), pt.messageIdRetention)
    t.same(schedules(end, 'evictCache'), [])
  })

  t.test('an eviction timer left over from before is ignored: one eviction chain at a time', async t => {
    const s = withLazyC()
    s.handle(recv('a', gossip('m1', 0)), 0)
    t.same(s.handle(timer({ type: 'evictCache', topic: T }), 10), [], 'fires long before the pending one is due')
    t.equal(s.stats(T)?.cached, 1)
  })

  t.test('payloads beyond maxCachedMessages and ids beyond maxSeenIds drop the oldest', async t => {
    const s = node('me', { broadcast: { maxCachedMessages: 3, maxSeenIds: 5 } })
    withNeighbors(s, ['a'])
    for (let i = 0; i < 10; i++) s.handle(recv('a', gossip(`m${i}`, 0)), i)
    t.equal(s.stats(T)?.cached, 3)
    t.equal(s.stats(T)?.seen, 5)
    t.equal(emits(s.handle(recv('a', gossip('m9', 0)), 20), 'received').length, 0, 'the newest id is still known')
  })

  t.test('pending IHAVEs beyond maxPendingIHaves drop the oldest announcements', async t => {
    const s = node('me', { broadcast: { maxPendingIHaves: 4 } })
    withNeighbors(s, ['a', 'c'])
    s.handle(recv('c', { type: 'prune' }), 0)
    for (let i = 0; i < 10; i++) s.handle(recv('a', gossip(`m${i}`, 0)), 1)
    t.equal(s.stats(T)?.pendingIHaves, 4)
    const ih = sends(flush(s, 6), 'ihave')
    t.same(ih.flatMap(m => [...m.body.entries].map(e => e.id)), ['m6', 'm7', 'm8', 'm9'])
  })

  t.test('ids waiting for a GRAFT beyond maxMissingMessages drop the oldest', async t => {
    const s = node('me', { broadcast: { maxMissingMessages: 2 } })
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'prune' }), 0)
    s.handle(recv('a', { type: 'ihave', entries: ['x1', 'x2', 'x3'].map(id => ({ id, round: 0 })) }), 1)
    t.equal(s.stats(T)?.missing, 2)
    t.same(s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x1' }), 1 + pt.graftTimeout1), [], 'the oldest was dropped')
    t.equal(sends(s.handle(timer({ type: 'graftTimeout', topic: T, id: 'x3' }), 1 + pt.graftTimeout1), 'graft').length, 1)
  })
})

t.test('a neighbour that goes down leaves the eager and lazy sets', async t => {
  const s = withLazyC()
  s.handle(recv('c', { type: 'disconnect', alive: true }), 1)
  s.handle(recv('a', { type: 'disconnect', alive: false }), 1)
  t.same(s.view(T)?.eager, ['b'])
  t.same(s.view(T)?.lazy, [])
})
