import t from 'tap'
import { defaultConfig } from '../../../src/core/proto/config.js'
import {
  T, T2, bytes, disconnects, down, emits, join, node, quit, recv, schedules, sends, timer, withNeighbors
} from '../../fixtures/proto-io.js'

const hv = defaultConfig.membership
const five = ['a', 'b', 'c', 'd', 'e']

t.test('joining', async t => {
  t.test('a join command sends JOIN to every contact and keeps their links needed until an answer', async t => {
    const s = node('me', {}, 1, bytes('me-addr'))
    const out = s.handle(join(['a', 'b']), 0)
    const joins = sends(out, 'join')
    t.same(joins.map(j => j.to).sort(), ['a', 'b'])
    t.same(joins[0]?.body.data, bytes('me-addr'), 'JOIN carries our data')
    t.ok(s.needsLink('a') && s.needsLink('b'))
    t.same(schedules(out, 'joinTimeout').map(x => x.after), [hv.joinTimeout])
    t.same(s.topics(), [T])
  })

  t.test('a JOIN makes the contact add the joiner, answer it with a high NEIGHBOR and walk FORWARD_JOIN(ARWL) to its other neighbours', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b', 'c'])
    const out = s.handle(recv('x', { type: 'join', data: bytes('x-addr') }), 10)
    t.ok(s.view(T)?.active.includes('x'))
    t.same(sends(out, 'neighbor').map(m => [m.to, m.body.priority]), [['x', 'high']])
    const fj = sends(out, 'forwardJoin')
    t.same(fj.map(m => m.to).sort(), ['a', 'b', 'c'])
    for (const m of fj) {
      t.equal(m.body.ttl, hv.activeRandomWalkLength)
      t.same(m.body.peer, { id: 'x', data: bytes('x-addr') })
    }
    t.same(emits(out, 'neighborUp'), [{ type: 'neighborUp', peer: 'x' }])
    t.ok(out.some(o => o.type === 'peerData' && o.peer === 'x'), 'the joiner\'s data is output as peerData')
  })

  t.test('the contact hands the joiner a sample of its views at once, as a shuffle of its own would', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b', 'c'])
    s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: [{ id: 'p' }, { id: 'q' }, { id: 'r' }, { id: 's' }, { id: 'u' }], ttl: 0 }), 1)
    const out = s.handle(recv('x', { type: 'join' }), 10)
    const given = sends(out, 'shuffleReply')
    t.same(given.map(m => m.to), ['x'])
    const ids = given[0]?.body.nodes.map(n => n.id) ?? []
    t.equal(ids.length, hv.shuffleActiveViewCount + hv.shufflePassiveViewCount, 'a full shuffle\'s worth')
    t.notOk(ids.includes('x'), 'never the joiner itself')
    t.equal(new Set(ids).size, ids.length)

    const joiner = node('x')
    joiner.handle(join(['me']), 0)
    joiner.handle(recv('me', { type: 'neighbor', priority: 'high' }), 5)
    joiner.handle(recv('me', given[0]?.body ?? { type: 'shuffleReply', nodes: [] }), 5)
    t.same([...(joiner.view(T)?.passive ?? [])].sort(), [...ids].filter(id => id !== 'me').sort(), 'the joiner keeps them as candidates')
  })

  t.test('a sample nobody asked for only fills free room: a node that joins again keeps the passive view it has', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    const known = Array.from({ length: hv.passiveViewCapacity - 1 }, (_, i) => ({ id: `k${i}` }))
    s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: known, ttl: 0 }), 0)
    const before = [...(s.view(T)?.passive ?? [])].sort()
    t.equal(before.length, hv.passiveViewCapacity, 'full')
    const out = s.handle(recv('c', { type: 'shuffleReply', nodes: [{ id: 'new1' }, { id: 'new2' }] }), 1)
    t.same([...(s.view(T)?.passive ?? [])].sort(), before, 'nothing displaced')
    t.same(sends(out), [], 'and nothing sent')

    const empty = node()
    withNeighbors(empty, ['a'])
    empty.handle(recv('c', { type: 'shuffleReply', nodes: [{ id: 'new1' }, { id: 'new2' }] }), 1)
    t.same([...(empty.view(T)?.passive ?? [])].sort(), ['new1', 'new2'], 'room is filled')
  })

  t.test('a contact with a full active view evicts a random neighbour with DISCONNECT(alive) and a sample, and keeps it passive', async t => {
    const s = node()
    withNeighbors(s, five)
    const out = s.handle(recv('x', { type: 'join' }), 10)
    const v = s.view(T)
    t.equal(v?.active.length, hv.activeViewCapacity)
    t.ok(v?.active.includes('x'))
    const dc = sends(out, 'disconnect')
    t.equal(dc.length, 1)
    const evicted = dc[0]?.to as string
    t.ok(five.includes(evicted))
    t.equal(dc[0]?.body.alive, true)
    t.ok((dc[0]?.body.sample?.length ?? 0) > 0, 'the evicted node gets a sample of peers')
    t.notOk(dc[0]?.body.sample?.some(p => p.id === evicted), 'the sample does not contain the evicted node itself')
    t.ok(v?.passive.includes(evicted), 'the evicted node stays passive')
    t.same(emits(out, 'neighborDown'), [{ type: 'neighborDown', peer: evicted, reason: 'eviction' }])
    t.same(disconnects(out), [evicted], 'its link is no longer needed')
  })

  t.test('the joiner adds the contact when its high NEIGHBOR arrives, then emits neighborUp and joined', async t => {
    const s = node()
    s.handle(join(['a']), 0)
    const out = s.handle(recv('a', { type: 'neighbor', priority: 'high' }), 5)
    t.same(s.view(T)?.active, ['a'])
    t.same(sends(out, 'neighborReply').map(m => [m.to, m.body.accepted]), [['a', true]])
    t.same(out.filter(o => o.type === 'emit').map(o => o.type === 'emit' && o.event), [
      { type: 'neighborUp', peer: 'a' },
      { type: 'joined', peers: ['a'] }
    ])
    const later = s.handle(recv('b', { type: 'neighbor', priority: 'high' }), 6)
    t.same(emits(later, 'joined'), [], 'joined is emitted once')
    t.same(s.handle(timer({ type: 'joinTimeout', topic: T }), hv.joinTimeout), [], 'the join timeout is quiet once joined')
  })

  t.test('a JOIN that nobody answers ends in joinFailed with the contacted peers, and their links are released', async t => {
    const s = node()
    s.handle(join(['a', 'b']), 0)
    const early = s.handle(timer({ type: 'joinTimeout', topic: T }), 100)
    t.same(early, [], 'a timer firing before the deadline is stale')
    const out = s.handle(timer({ type: 'joinTimeout', topic: T }), hv.joinTimeout)
    t.same(emits(out, 'joinFailed'), [{ type: 'joinFailed', peers: ['a', 'b'] }])
    t.same(disconnects(out).sort(), ['a', 'b'])
    t.notOk(s.needsLink('a'))
  })

  t.test('a later join command moves the join deadline', async t => {
    const s = node()
    s.handle(join(['a']), 0)
    s.handle(join(['b']), 3000)
    t.same(s.handle(timer({ type: 'joinTimeout', topic: T }), hv.joinTimeout), [])
    const out = s.handle(timer({ type: 'joinTimeout', topic: T }), 3000 + hv.joinTimeout)
    t.same(emits(out, 'joinFailed'), [{ type: 'joinFailed', peers: ['a', 'b'] }])
  })

  t.test('a join with no contacts waits, then emits joined when someone joins it', async t => {
    const s = node()
    const first = s.handle(join([]), 0)
    t.same(sends(first), [])
    t.same(schedules(first, 'joinTimeout'), [], 'no join timeout without contacts')
    const out = s.handle(recv('x', { type: 'join' }), 50)
    t.same(emits(out, 'joined'), [{ type: 'joined', peers: ['x'] }])
  })

  t.test('a JOIN from a contact that does not know the topic is answered with DISCONNECT(alive=false)', async t => {
    const s = node('contact')
    const out = s.handle(recv('x', { type: 'join' }), 0)
    t.same(sends(out).map(m => [m.to, m.body]), [['x', { type: 'disconnect', alive: false }]])
    t.same(disconnects(out), ['x'])
    t.same(s.topics(), [], 'a message does not make a node join a topic')
  })
})

t.test('forward join', async t => {
  t.test('at ttl PRWL the newcomer becomes passive and the walk goes on with ttl-1 to another neighbour', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b', 'c'])
    const out = s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: hv.passiveRandomWalkLength }), 1)
    t.ok(s.view(T)?.passive.includes('x'))
    const fj = sends(out, 'forwardJoin')
    t.equal(fj.length, 1)
    t.ok(['b', 'c'].includes(fj[0]?.to as string), 'never back to the sender')
    t.equal(fj[0]?.body.ttl, hv.passiveRandomWalkLength - 1)
  })

  t.test('above PRWL the walk goes on without touching the passive view', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b', 'c'])
    s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: hv.activeRandomWalkLength }), 1)
    t.notOk(s.view(T)?.passive.includes('x'))
  })

  t.test('at ttl 0 the newcomer becomes active and is sent a high NEIGHBOR', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b', 'c'])
    const out = s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x', data: bytes('x') }, ttl: 0 }), 1)
    t.ok(s.view(T)?.active.includes('x'))
    t.same(sends(out, 'neighbor').map(m => [m.to, m.body.priority]), [['x', 'high']])
    t.same(sends(out, 'forwardJoin'), [])
    t.ok(out.some(o => o.type === 'peerData' && o.peer === 'x'))
  })

  t.test('a node whose only neighbour is the sender ends the walk and adds the newcomer', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: 5 }), 1)
    t.same(s.view(T)?.active.sort(), ['a', 'x'])
  })

  t.test('past its first hop, a walk ends at a node another topic already links to the newcomer', async t => {
    const s = node()
    withNeighbors(s, ['x'], 0, T2)
    withNeighbors(s, ['a', 'b', 'c'])
    const out = s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: hv.activeRandomWalkLength - 1 }), 1)
    t.ok(s.view(T)?.active.includes('x'), 'the newcomer is added here')
    t.same(sends(out, 'neighbor').map(m => [m.to, m.body.priority]), [['x', 'high']])
    t.same(sends(out, 'forwardJoin'), [], 'and the walk ends')
  })

  t.test('at its first hop, or without such a link, the walk goes on', async t => {
    const linked = node()
    withNeighbors(linked, ['x'], 0, T2)
    withNeighbors(linked, ['a', 'b', 'c'])
    const first = linked.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: hv.activeRandomWalkLength }), 1)
    t.equal(sends(first, 'forwardJoin').length, 1, 'the contact\'s neighbours pass it on: the walk has barely left the contact')
    t.notOk(linked.view(T)?.active.includes('x'))

    const unlinked = node()
    withNeighbors(unlinked, ['y'], 0, T2)
    withNeighbors(unlinked, ['a', 'b', 'c'])
    const out = unlinked.handle(recv('a', { type: 'forwardJoin', peer: { id: 'x' }, ttl: hv.activeRandomWalkLength - 1 }), 1)
    t.equal(sends(out, 'forwardJoin').length, 1)
    t.notOk(unlinked.view(T)?.active.includes('x'))
  })

  t.test('a walk about ourselves is ignored', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    const out = s.handle(recv('a', { type: 'forwardJoin', peer: { id: 'me' }, ttl: 0 }), 1)
    t.same(out, [])
    t.notOk(s.view(T)?.active.includes('me'))
  })
})

t.test('neighbor requests', async t => {
  t.test('a low-priority NEIGHBOR is accepted while there is room', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    const out = s.handle(recv('x', { type: 'neighbor', priority: 'low' }), 1)
    t.same(sends(out, 'neighborReply').map(m => m.body.accepted), [true])
    t.ok(s.view(T)?.active.includes('x'))
  })

  t.test('a low-priority NEIGHBOR is refused when full; the requester is kept passive and the link released', async t => {
    const s = node()
    withNeighbors(s, five)
    const out = s.handle(recv('x', { type: 'neighbor', priority: 'low' }), 1)
    t.same(sends(out, 'neighborReply').map(m => [m.to, m.body.accepted]), [['x', false]])
    t.notOk(s.view(T)?.active.includes('x'))
    t.ok(s.view(T)?.passive.includes('x'))
    t.same(disconnects(out), ['x'])
  })

  t.test('a high-priority NEIGHBOR is accepted even when the active view is full, evicting one with DISCONNECT(alive) and a sample', async t => {
    const s = node()
    withNeighbors(s, five)
    const out = s.handle(recv('x', { type: 'neighbor', priority: 'high' }), 1)
    t.same(sends(out, 'neighborReply').map(m => [m.to, m.body.accepted]), [['x', true]])
    t.equal(s.view(T)?.active.length, hv.activeViewCapacity)
    const dc = sends(out, 'disconnect')
    t.equal(dc.length, 1)
    t.equal(dc[0]?.body.alive, true)
    t.equal(dc[0]?.body.sample?.length, hv.disconnectSampleSize)
  })

  t.test('when the last active neighbour fails, one passive peer is asked with a high NEIGHBOR, the others with low', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    // A walk ending here fills the passive view without touching the active one.
    s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: [{ id: 'p' }], ttl: 0 }), 1)
    const out = s.handle(down('a'), 3)
    t.same(emits(out, 'neighborDown'), [{ type: 'neighborDown', peer: 'a', reason: 'failure' }])
    const asked = sends(out, 'neighbor')
    t.same(asked.map(m => m.to).sort(), ['o', 'p'])
    t.same(asked.map(m => m.body.priority).sort(), ['high', 'low'], 'only one high request at a time')
    t.same(schedules(out, 'neighborTimeout').map(x => x.timer.peer).sort(), ['o', 'p'])
    t.ok(s.needsLink('p') && s.needsLink('o'), 'a pending request needs the link')
    t.notOk(s.view(T)?.passive.includes('a'), 'a failed peer is forgotten')
    t.same(disconnects(out), [], 'no disconnect for the peer the driver reported gone')
  })

  t.test('a passive peer that accepts becomes an active neighbour', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'disconnect', alive: false, sample: [{ id: 'p' }] }), 1)
    const out = s.handle(recv('p', { type: 'neighborReply', accepted: true }), 2)
    t.same(s.view(T)?.active, ['p'])
    t.same(emits(out, 'neighborUp'), [{ type: 'neighborUp', peer: 'p' }])
  })

  t.test('with neighbours left, the replacement is asked with low priority and a refusal is not retried at once', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'])
    const out = s.handle(recv('a', { type: 'disconnect', alive: true, sample: [{ id: 'p' }] }), 1)
    const asked = sends(out, 'neighbor')
    t.ok(asked.length >= 1)
    t.ok(asked.every(m => m.body.priority === 'low'))
    const refused = s.handle(recv(asked[0]?.to as string, { type: 'neighborReply', accepted: false }), 2)
    t.same(sends(refused, 'neighbor'), [], 'no new request right after a refusal')
  })

  t.test('alone after its candidates refused low requests, a node asks them again with a high one (once per round)', async t => {
    const s = node()
    withNeighbors(s, ['b'])
    s.handle(recv('b', { type: 'shuffle', origin: { id: 'o' }, nodes: [{ id: 'p' }], ttl: 0 }), 1)
    const lost = s.handle(down('b'), 2)
    t.same(sends(lost, 'neighbor').map(m => [m.to, m.body.priority]).sort(), [['o', 'high'], ['p', 'low']])
    const refused = s.handle(recv('p', { type: 'neighborReply', accepted: false }), 3)
    t.same(sends(refused, 'neighbor'), [], 'while the high request is out, a refusal is not retried')
    const out = s.handle(down('o'), 4)
    t.same(sends(out, 'neighbor').map(m => [m.to, m.body.priority]), [['p', 'high']],
      'the high request failed: the peer that refused a low one is asked again, high')
    const again = s.handle(recv('p', { type: 'neighborReply', accepted: false }), 5)
    t.same(sends(again, 'neighbor'), [], 'a peer refusing even a high request is not asked in a loop')
  })

  t.test('a request lost with a link the peer closed on purpose is sent again once; a second such close counts as failure', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'disconnect', alive: false, sample: [{ id: 'p' }] }), 1)
    t.ok(s.needsLink('p'), 'p asked')
    const first = s.handle({ type: 'peerDisconnected', peer: 'p', graceful: true }, 2)
    t.same(sends(first, 'neighbor').map(m => [m.to, m.body.priority]), [['p', 'high']], 'asked again on a new link')
    t.same(schedules(first, 'neighborTimeout').map(x => x.timer.peer), ['p'])
    t.ok(s.view(T)?.passive.includes('p'), 'still a candidate')
    const second = s.handle({ type: 'peerDisconnected', peer: 'p', graceful: true }, 3)
    t.same(sends(second, 'neighbor'), [])
    t.notOk(s.view(T)?.passive.includes('p'), 'then forgotten, as after a failure')

    const f = node()
    withNeighbors(f, ['a'])
    f.handle(recv('a', { type: 'disconnect', alive: false, sample: [{ id: 'p' }] }), 1)
    f.handle(down('p'), 2)
    t.notOk(f.view(T)?.passive.includes('p'), 'a link that failed drops the pending peer at once')
  })

  t.test('a replacement is asked among the passive peers another topic already links to, when there are any', async t => {
    for (let seed = 1; seed <= 20; seed++) {
      const s = node('me', {}, seed)
      withNeighbors(s, ['q'], 0, T2)
      withNeighbors(s, ['a', 'b'])
      // Nine passive candidates, one of them linked through the other topic.
      s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: ['p1', 'p2', 'p3', 'p4', 'q', 'p5', 'p6', 'p7'].map(id => ({ id })), ttl: 0 }), 1)
      const out = s.handle(down('b'), 2)
      const asked = sends(out, 'neighbor').map(m => m.to)
      t.same(asked.slice(0, 1), ['q'], `seed ${seed}: the linked one first`)
    }
  })

  t.test('an unanswered NEIGHBOR is given up after neighborRequestTimeout and another passive peer is asked', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'disconnect', alive: false, sample: [{ id: 'p' }, { id: 'q' }] }), 0)
    const out1 = s.handle(down('zzz'), 0) // unrelated: nothing happens
    t.same(out1, [])
    const pending = ['p', 'q'].filter(p => s.needsLink(p))
    t.same(pending.length, 2, 'both passive peers are asked (one high, one low)')
    const stale = s.handle(timer({ type: 'neighborTimeout', topic: T, peer: 'p' }), 10)
    t.same(stale, [], 'a timeout before the deadline is stale')
    const out = s.handle(timer({ type: 'neighborTimeout', topic: T, peer: 'p' }), hv.neighborRequestTimeout)
    t.notOk(s.view(T)?.passive.includes('p'), 'the silent peer is dropped')
    t.same(disconnects(out), ['p'])
  })

  t.test('an accepted reply that finds the active view full is undone with DISCONNECT(alive) to stay symmetric', async t => {
    const s = node()
    withNeighbors(s, five)
    const out = s.handle(recv('x', { type: 'neighborReply', accepted: true }), 1)
    t.notOk(s.view(T)?.active.includes('x'))
    t.same(sends(out, 'disconnect').map(m => [m.to, m.body.alive]), [['x', true]])
  })
})

t.test('disconnects and failures', async t => {
  t.test('DISCONNECT(alive=true) moves the peer to passive, reason eviction, and takes the handed-over sample', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'])
    const out = s.handle(recv('a', { type: 'disconnect', alive: true, sample: [{ id: 'p', data: bytes('p') }, { id: 'me' }, { id: 'b' }] }), 1)
    const v = s.view(T)
    t.same(emits(out, 'neighborDown'), [{ type: 'neighborDown', peer: 'a', reason: 'eviction' }])
    t.ok(v?.passive.includes('a'))
    t.ok(v?.passive.includes('p') || v?.active.includes('p'))
    t.notOk(v?.passive.includes('me'), 'never self')
    t.notOk(v?.passive.includes('b'), 'never an active peer')
    t.ok(out.some(o => o.type === 'peerData' && o.peer === 'p'))
  })

  t.test('DISCONNECT(alive=false) drops the peer for good, reason leave', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'])
    const out = s.handle(recv('a', { type: 'disconnect', alive: false }), 1)
    t.same(emits(out, 'neighborDown'), [{ type: 'neighborDown', peer: 'a', reason: 'leave' }])
    t.notOk(s.view(T)?.passive.includes('a'))
    t.notOk(s.view(T)?.active.includes('a'))
    t.same(disconnects(out), ['a'])
  })

  t.test('peerDisconnected applies to every topic that has the peer', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'], 0, T)
    withNeighbors(s, ['a'], 0, T2)
    const out = s.handle(down('a'), 1)
    const downs = out.filter(o => o.type === 'emit' && o.event.type === 'neighborDown').map(o => o.type === 'emit' ? o.topic : '')
    t.same(downs.sort(), [T, T2].sort())
    t.notOk(s.needsLink('a'))
  })

  t.test('a link shared by two topics is kept until the last topic stops needing it', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'], 0, T)
    withNeighbors(s, ['a', 'c'], 0, T2)
    const first = s.handle(recv('a', { type: 'disconnect', alive: true }, T), 1)
    t.same(disconnects(first), [], 'topic T2 still needs a')
    t.ok(s.needsLink('a'))
    const second = s.handle(recv('a', { type: 'disconnect', alive: true }, T2), 2)
    t.same(disconnects(second), ['a'])
    t.notOk(s.needsLink('a'))
  })
})

t.test('quit sends DISCONNECT(alive=false) to every neighbour, emits left, forgets the topic and releases the links', async t => {
  const s = node()
  withNeighbors(s, ['a', 'b'], 0, T)
  withNeighbors(s, ['b'], 0, T2)
  const out = s.handle(quit(T), 1)
  t.same(sends(out, 'disconnect').map(m => [m.to, m.body.alive]).sort(), [['a', false], ['b', false]])
  t.same(emits(out, 'left'), [{ type: 'left' }])
  t.same(disconnects(out), ['a'], 'b is still needed by the other topic')
  t.same(s.topics(), [T2])
  t.equal(s.view(T), undefined)
  const late = s.handle(recv('a', { type: 'gossip', id: 'x', origin: 'a', content: bytes('x'), round: 0 }, T), 2)
  t.same(sends(late).map(m => m.body), [{ type: 'disconnect', alive: false }], 'late traffic for the old topic is told to stop')
})

t.test('the number of topics is bounded by maxTopics', async t => {
  const s = node('me', { maxTopics: 1 })
  s.handle(join([], T), 0)
  const out = s.handle(join(['a'], T2), 0)
  t.same(emits(out, 'joinFailed'), [{ type: 'joinFailed', peers: ['a'] }])
  t.same(s.topics(), [T])
})

t.test('shuffle', async t => {
  t.test('the shuffle timer sends self, up to 3 active and 4 passive peers to a random neighbour, and is rescheduled with jitter', async t => {
    const s = node('me', {}, 1, bytes('me'))
    const first = s.handle(join([]), 0)
    const sched = schedules(first, 'shuffle')
    t.equal(sched.length, 1)
    const after = sched[0]?.after as number
    t.ok(after >= hv.shuffleInterval * 0.75 && after <= hv.shuffleInterval * 1.25, 'first shuffle within ±25% of the interval')
    withNeighbors(s, five)
    s.handle(recv('a', { type: 'disconnect', alive: true, sample: ['p1', 'p2', 'p3', 'p4', 'p5'].map(id => ({ id })) }), 1)
    s.handle(recv('a', { type: 'neighbor', priority: 'high' }), 2)
    const out = s.handle(timer({ type: 'shuffle', topic: T }), after)
    const sh = sends(out, 'shuffle')
    t.equal(sh.length, 1)
    const msg = sh[0]
    t.ok(s.view(T)?.active.includes(msg?.to as string))
    t.same(msg?.body.origin, { id: 'me', data: bytes('me') })
    t.equal(msg?.body.ttl, hv.shuffleRandomWalkLength)
    const ids = msg?.body.nodes.map(n => n.id) ?? []
    const activeSent = ids.filter(id => s.view(T)?.active.includes(id))
    const passiveSent = ids.filter(id => s.view(T)?.passive.includes(id))
    t.equal(activeSent.length, hv.shuffleActiveViewCount)
    t.equal(passiveSent.length, hv.shufflePassiveViewCount)
    t.notOk(ids.includes(msg?.to as string), 'the target is not sent its own id')
    t.equal(schedules(out, 'shuffle').length, 1, 'the next shuffle is scheduled')
    t.same(s.handle(timer({ type: 'shuffle', topic: T }), after + 1), [], 'a second firing of a stale timer is ignored')
  })

  t.test('a SHUFFLE is forwarded with ttl-1 while ttl > 0 and the receiver has other neighbours', async t => {
    const s = node()
    withNeighbors(s, ['a', 'b'])
    const out = s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: [{ id: 'n1' }], ttl: 3 }), 1)
    t.same(sends(out, 'shuffle').map(m => [m.to, m.body.ttl]), [['b', 2]])
  })

  t.test('the end of the walk answers the origin with SHUFFLE_REPLY and takes origin and nodes into its passive view', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    s.handle(recv('a', { type: 'disconnect', alive: true, sample: [{ id: 'p1' }, { id: 'p2' }] }), 0)
    s.handle(recv('a', { type: 'neighbor', priority: 'high' }), 0)
    const out = s.handle(recv('a', { type: 'shuffle', origin: { id: 'o', data: bytes('o') }, nodes: [{ id: 'n1' }, { id: 'n2' }], ttl: 0 }), 1)
    const reply = sends(out, 'shuffleReply')
    t.equal(reply.length, 1)
    t.equal(reply[0]?.to, 'o')
    t.ok((reply[0]?.body.nodes.length ?? 0) > 0)
    const passive = s.view(T)?.passive ?? []
    for (const id of ['o', 'n1', 'n2']) t.ok(passive.includes(id), `${id} is passive`)
    t.same(disconnects(out), ['o'], 'the one-off link to the origin is released')
    t.ok(out.some(o => o.type === 'peerData' && o.peer === 'o'))
  })

  t.test('the end of the walk answers a small SHUFFLE with as many peers as a full one carries', async t => {
    const s = node()
    withNeighbors(s, ['a'])
    const many = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'].map(id => ({ id }))
    s.handle(recv('a', { type: 'disconnect', alive: true, sample: many }), 0)
    s.handle(recv('a', { type: 'neighbor', priority: 'high' }), 0)
    const out = s.handle(recv('a', { type: 'shuffle', origin: { id: 'o' }, nodes: [{ id: 'n1' }], ttl: 0 }), 1)
    t.equal(sends(out, 'shuffleReply')[0]?.body.nodes.length, hv.shuffleActiveViewCount + hv.shufflePassiveViewCount,
      'a node with a small view is not answered in kind')
  })

  t.test('SHUFFLE_REPLY nodes replace the nodes we sent when the passive view is full', async t => {
    const s = node('me', { membership: { passiveViewCapacity: 3 } })
    withNeighbors(s, ['a', 'b'])
    s.handle(recv('a', { type: 'shuffle', origin: { id: 'p1' }, nodes: [{ id: 'p2' }, { id: 'p3' }], ttl: 0 }), 0)
    t.equal(s.view(T)?.passive.length, 3)
    const out = s.handle(timer({ type: 'shuffle', topic: T }), hv.shuffleInterval * 2)
    const sent = sends(out, 'shuffle')[0]?.body.nodes.map(n => n.id).filter(id => ['p1', 'p2', 'p3'].includes(id)) ?? []
    t.equal(sent.length, 3, 'the whole passive view was handed out')
    s.handle(recv('z', { type: 'shuffleReply', nodes: [{ id: 'r1' }] }), hv.shuffleInterval * 2 + 1)
    const passive = s.view(T)?.passive ?? []
    t.ok(passive.includes('r1'))
    t.equal(passive.length, 3)
  })

  /** Fires the shuffle timer whenever it is due, answering each shuffle with `reply(i)`; returns the gaps and the time of the last firing. */
  function shuffleRounds (s: ReturnType<typeof node>, rounds: number, reply: (i: number) => Array<{ id: string }>): { gaps: number[], last: number } {
    // Far enough that the first timer, set when the neighbours came, is due.
    let now = hv.shuffleInterval * 10
    let last = now
    const gaps: number[] = []
    for (let i = 0; i < rounds; i++) {
      let due = now + (schedules(s.handle(timer({ type: 'shuffle', topic: T }), now), 'shuffle')[0]?.after as number)
      // A reply that changes the pace moves the timer set when the shuffle left.
      const moved = schedules(s.handle(recv('a', { type: 'shuffleReply', nodes: reply(i) }), now + 1), 'shuffle')[0]?.after
      if (moved !== undefined) due = now + 1 + moved
      gaps.push(due - now)
      last = now
      now = due
    }
    return { gaps, last }
  }

  t.test('shuffles that teach nothing slow down to shuffleSlowdownMax times the interval; a change of the active view restores the pace', async t => {
    // A small topic: both other members are neighbours, nobody is passive.
    const s = node('me', {}, 5)
    withNeighbors(s, ['a', 'b'])
    // The walk ends at a member that knows nobody else: the reply names a neighbour or nobody.
    const { gaps, last } = shuffleRounds(s, 6, () => [{ id: 'b' }])
    const ratios = gaps.map(g => (g / hv.shuffleInterval).toFixed(1))
    t.ok(gaps.at(-1)! >= hv.shuffleInterval * hv.shuffleSlowdownMax * 0.75, `gaps grow to the cap: ${ratios.join(', ')} x the interval`)
    t.ok(gaps.every(g => g <= hv.shuffleInterval * hv.shuffleSlowdownMax * 1.25), 'and never beyond it')
    // A neighbour goes: the next shuffle comes at the normal pace, not after the long wait.
    const down = s.handle({ type: 'peerDisconnected', peer: 'b' }, last + 2)
    const again = schedules(down, 'shuffle')[0]?.after
    t.ok(again !== undefined && again <= hv.shuffleInterval * 1.25, `rescheduled ${again} ms ahead`)
  })

  t.test('a shuffle whose reply names a peer we did not know keeps the normal pace', async t => {
    // A full active view (nothing for the timer to repair): only what the replies teach counts.
    const s = node('me', {}, 5)
    withNeighbors(s, five)
    const { gaps } = shuffleRounds(s, 5, i => [{ id: `new${i}` }])
    t.ok(gaps.every(g => g <= hv.shuffleInterval * 1.25), `every gap within the interval's jitter: ${gaps.join(', ')}`)
  })

  t.test('with a full passive view, a SHUFFLE_REPLY evicts what we sent rather than what we kept', async t => {
    const s = node('me', { membership: { passiveViewCapacity: 4, shufflePassiveViewCount: 2 } }, 3)
    withNeighbors(s, five) // a full active view: no NEIGHBOR request is pending on the passive peers
    s.handle(recv('a', { type: 'shuffle', origin: { id: 'p1' }, nodes: [{ id: 'p2' }, { id: 'p3' }, { id: 'p4' }], ttl: 0 }), 0)
    const out = s.handle(timer({ type: 'shuffle', topic: T }), hv.shuffleInterval * 2)
    const sentPassive = sends(out, 'shuffle')[0]?.body.nodes.map(n => n.id).filter(id => id.startsWith('p')) ?? []
    t.equal(sentPassive.length, 2)
    const kept = ['p1', 'p2', 'p3', 'p4'].filter(id => !sentPassive.includes(id))
    s.handle(recv('z', { type: 'shuffleReply', nodes: [{ id: 'r1' }, { id: 'r2' }] }), hv.shuffleInterval * 2 + 1)
    const passive = s.view(T)?.passive ?? []
    t.same(passive.filter(id => kept.includes(id)).sort(), kept.sort(), 'the peers we did not send are all kept')
    t.ok(passive.includes('r1') && passive.includes('r2'))
  })
})

t.test('passive view bounds: a full passive view drops a random peer for a new one, never self or an active peer', async t => {
  const s = node('me', { membership: { passiveViewCapacity: 3 } })
  withNeighbors(s, ['a'])
  const sample = ['p1', 'p2', 'p3', 'p4', 'p5', 'me', 'a'].map(id => ({ id }))
  s.handle(recv('x', { type: 'shuffle', origin: { id: 'o' }, nodes: sample, ttl: 0 }), 0)
  const v = s.view(T)
  t.equal(v?.passive.length, 3)
  t.notOk(v?.passive.includes('me'))
  t.notOk(v?.passive.includes('a'))
})
