/**
 * Issue 10, multi-host bed: a 3/2 partition by silent DROP (iptables at each receiving host, so no
 * RST and no FIN ever reaches anyone) for about 15 s, then healed. Both sides detect the cut
 * (keepalive: neighbourDown with reason 'failure'), keep delivering inside, and after the heal the
 * overlay is one again and messages cross. Needs root, `ip` and `iptables` (skipped otherwise,
 * failed under CI=true).
 *
 * Side B (2 nodes) must find itself during the cut even when its two nodes were never linked to
 * each other: an isolated node's contacts skip the peers it failed to reach since (the side-A
 * peers whose links just failed) and fall back on the members it only heard of. Before that fix
 * side B stayed split for the whole cut whenever views were 4 [1,3], 5 [1,2] before it. That
 * needs the two to have heard of each other: the node that answers a newcomer with members
 * introduces the newcomer to them in turn (before that, in about 1 run of 3, two nodes that
 * joined together through the seed never heard of each other).
 */
import { bed, report, components, multihost, oneOverlay, sleep, waitFor, waitForServerCount, type NodeProcess } from '../fixtures/netns.js'

const N = 5
const TOPIC = 'split'
const KEEPALIVE = 2_000
const CUT_FOR = 15_000
const SIDE_A = [1, 2, 3]
const SIDE_B = [4, 5]

multihost('a silent 3/2 partition for 15 s: both sides detect it and deliver inside; after the heal one overlay again, messages cross', async t => {
  const b = await bed(t, N)
  const nodes = Array.from({ length: N }, (_, k) => b.start(k + 1))
  await Promise.all(nodes.map(async (n, k) => { await n.spawn({ seeds: k === 0 ? [] : [b.address(1)], keepaliveTimeout: KEEPALIVE }) }))
  await Promise.all(nodes.map(async n => await n.call('stream', { topic: TOPIC })))
  await waitFor('one overlay', async () => await oneOverlay(nodes, TOPIC), 30_000)
  // Side B can only find itself through what discovery told its nodes before the cut: a cut in
  // the very milliseconds after the last join (seen: 22 ms) would test nothing but that race.
  const byIndex = new Map(nodes.map(n => [n.index, n]))
  const [b1, b2] = SIDE_B.map(i => byIndex.get(i)!)
  // Side B can only find itself if discovery told its two nodes of each other before the cut.
  const overlayAt = Date.now()
  try {
    await waitFor('the side-B nodes to know of each other', async () =>
      (await b1!.knownMembers(TOPIC)).includes(b2!.nodeId) && (await b2!.knownMembers(TOPIC)).includes(b1!.nodeId), 10_000)
  } catch (err) {
    const known = await Promise.all([b1!, b2!].map(async n => (await n.knownMembers(TOPIC)).map(id => nodes.find(m => m.nodeId === id)?.index ?? id.slice(0, 8))))
    await report(t, nodes, overlayAt, `side B knows ${JSON.stringify(known)}`, TOPIC)
    throw err
  }
  t.pass('the side-B nodes know of each other before the cut')
  const side = (ids: number[]): NodeProcess[] => ids.map(i => byIndex.get(i)!)
  const idsOf = (ids: number[]): Set<string> => new Set(side(ids).map(n => n.nodeId))

  // Links that cross the cut before it: at least one, or the cut would prove nothing.
  const crossing = async (): Promise<number> => {
    let n = 0
    const other = idsOf(SIDE_B)
    for (const a of side(SIDE_A)) n += (await a.neighbours(TOPIC)).filter(p => other.has(p)).length
    return n
  }
  t.ok(await crossing() > 0, `the overlay has ${await crossing()} active link(s) across the coming cut`)

  const ids = new Map(nodes.map(n => [n.nodeId, n.index]))
  const before = await Promise.all(nodes.map(async n => { const v = await n.views(TOPIC); return `${n.index}: active [${v.active.map(p => ids.get(p)).join(',')}] passive [${v.passive.map(p => ids.get(p)).join(',')}]` }))
  t.comment(`views before the cut: ${before.join('; ')}`)
  const cutAt = Date.now()
  await b.cut(SIDE_A, SIDE_B)
  t.comment(`cut ${JSON.stringify(SIDE_A)} | ${JSON.stringify(SIDE_B)} at t=0 (iptables DROP at both ends)`)

  // Detection: each side sees neighbourDown(failure) for a peer on the other side.
  const detection = async (ids: number[], other: number[]): Promise<number | undefined> => {
    const otherIds = idsOf(other)
    const times = (await Promise.all(side(ids).map(async n => (await n.events())
      .filter(e => e.at >= cutAt && e.type === 'neighbourDown' && e.reason === 'failure' && otherIds.has(e.peer ?? ''))
      .map(e => e.at - cutAt)))).flat()
    return times.length === 0 ? undefined : Math.min(...times)
  }
  let detectA: number | undefined
  let detectB: number | undefined
  await waitFor('both sides see neighbourDown(failure) across the cut', async () => {
    detectA = await detection(SIDE_A, SIDE_B)
    detectB = await detection(SIDE_B, SIDE_A)
    return detectA !== undefined && detectB !== undefined
  }, CUT_FOR)
  t.comment(`cut detected by side A after ${detectA} ms, by side B after ${detectB} ms (keepaliveTimeout ${KEEPALIVE} ms)`)
  t.pass('both sides detected the cut with reason failure')

  // No link across survives.
  await waitFor('no active link across the cut', async () => await crossing() === 0, CUT_FOR)
  t.pass('no active link across the cut')

  // Each side one overlay of its own, delivering inside. Side A holds the seed, through which
  // every node joined (5 nodes never evict, so everyone is still linked to it): strict. Side B
  // must find itself: its nodes know each other only if they were linked or discovery told them.
  const sideJoined = async (ids: number[]): Promise<boolean> => {
    const members = side(ids)
    const counts = await Promise.all(members.map(async n => (await n.neighbours(TOPIC)).length))
    return counts.every(c => c > 0) && (await components(members, TOPIC)).length === 1
  }
  const INSIDE = 50
  const insideDelivery = async (ids: number[]): Promise<void> => {
    const [from, ...to] = side(ids)
    await from!.call('publish', { topic: TOPIC, prefix: `inside${from!.index}`, count: INSIDE })
    await waitFor(`delivery inside ${JSON.stringify(ids)}`, async () =>
      (await Promise.all(to.map(async n => await n.has(TOPIC, `inside${from!.index}`, INSIDE)))).every(x => x === INSIDE), 20_000)
    t.pass(`inside ${JSON.stringify(ids)}: all ${INSIDE} messages of node ${from!.index} delivered during the cut`)
  }
  await waitFor('side A one overlay', async () => await sideJoined(SIDE_A), CUT_FOR)
  t.comment(`side A one overlay of its own ${Date.now() - cutAt} ms after the cut`)
  await insideDelivery(SIDE_A)

  let joinedB = false
  await waitFor('side B one overlay, or the end of the cut', async () => (joinedB = await sideJoined(SIDE_B)) || Date.now() - cutAt > CUT_FOR, CUT_FOR + 5_000, 250)
  const groups = (await components(nodes, TOPIC)).sort((x, y) => x[0]! - y[0]!)
  t.comment(`side B ${joinedB ? `one overlay of its own ${Date.now() - cutAt} ms after the cut` : 'NOT one overlay at the end of the cut'}: components ${JSON.stringify(groups)}`)
  // In a 5-node overlay passive views stay empty (nobody is ever evicted): a node that loses every
  // neighbour relies on the healer, which must try the side-B member it only heard of.
  t.ok(joinedB, 'side B finds itself during the cut')
  if (!joinedB) await report(t, nodes, cutAt, `components ${JSON.stringify(groups)}`, TOPIC)
  else await insideDelivery(SIDE_B)
  for (const n of side(SIDE_A)) t.equal(await n.has(TOPIC, `inside${SIDE_B[0]}`, INSIDE), 0, `node ${n.index} (side A) got nothing from side B during the cut`)
  for (const n of side(SIDE_B)) t.equal(await n.has(TOPIC, `inside${SIDE_A[0]}`, INSIDE), 0, `node ${n.index} (side B) got nothing from side A during the cut`)

  // Hold the cut for its full length, then heal.
  await sleep(Math.max(0, CUT_FOR - (Date.now() - cutAt)))
  const healAt = Date.now()
  await b.heal()
  await waitFor('one overlay again after the heal', async () => await oneOverlay(nodes, TOPIC), 60_000, 250)
  t.comment(`one overlay again ${Date.now() - healAt} ms after the heal (cut lasted ${healAt - cutAt} ms)`)

  const AFTER = 20
  await Promise.all(nodes.map(async n => await n.call('publish', { topic: TOPIC, prefix: `after${n.index}`, count: AFTER })))
  await waitFor('every message after the heal reaches every node', async () => {
    for (const n of nodes) {
      for (const o of nodes) if (o !== n && await n.has(TOPIC, `after${o.index}`, AFTER) !== AFTER) return false
    }
    return true
  }, 30_000)
  t.comment(`messages cross again ${Date.now() - healAt} ms after the heal`)
  for (const n of nodes) {
    const r = await n.received(TOPIC)
    t.equal(r.duplicateCount, 0, `node ${n.index}: no duplicate delivery (${r.unique} messages)`)
  }
  t.pass('after the heal every message from every node reached all others')
  const warns = (await Promise.all(nodes.map(async n => (await n.logs()).filter(l => l.level !== 'info').map(l => `node ${n.index} +${l.at - cutAt}ms ${l.level}: ${l.msg}`)))).flat()
  t.comment(`warn/error lines: ${warns.length}\n${warns.slice(0, 40).join('\n')}`)
})

multihost('Socket.IO servers across a silent 3/2 partition: each side counts its own servers, and after the heal serverCount() returns to 5 everywhere', async t => {
  const b = await bed(t, N)
  const servers = Array.from({ length: N }, (_, k) => b.start(k + 1))
  await Promise.all(servers.map(async (s, k) => {
    await s.socketio({ name: `s${s.index}`, seeds: k === 0 ? [] : [b.address(1)], keepaliveTimeout: KEEPALIVE, heartbeatInterval: 1_000, heartbeatTimeout: 5_000 })
  }))
  await Promise.all(servers.map(async s => await s.call('ioClient', { name: `c${s.index}`, rooms: ['room'] })))
  const byIndex = new Map(servers.map(s => [s.index, s]))
  const side = (ids: number[]): NodeProcess[] => ids.map(i => byIndex.get(i)!)
  const counts = async (list: NodeProcess[]): Promise<number[]> => await Promise.all(list.map(async s => await s.serverCount()))
  await waitForServerCount(t, servers, N, 'serverCount() === 5 everywhere', 30_000)

  const cutAt = Date.now()
  await b.cut(SIDE_A, SIDE_B)
  let a: number[] = []
  await waitFor('side A counts its 3 servers', async () => (a = await counts(side(SIDE_A))).every(c => c === SIDE_A.length), CUT_FOR + 10_000, 250)
  t.same(a, SIDE_A.map(() => SIDE_A.length), `side A counts ${SIDE_A.length} on each server (${Date.now() - cutAt} ms after the cut)`)
  let bCounts: number[] = []
  const joinedB = await waitFor('side B counts its 2 servers', async () => (bCounts = await counts(side(SIDE_B))).every(c => c === SIDE_B.length), CUT_FOR, 250)
    .then(() => true, () => false)
  t.comment(`side B counts ${JSON.stringify(bCounts)} ${Date.now() - cutAt} ms after the cut`)
  t.ok(joinedB, 'side B counts its 2 servers during the cut')

  const healAt = Date.now()
  await b.heal()
  let all: number[] = []
  await waitFor('serverCount() === 5 everywhere after the heal', async () => (all = await counts(servers)).every(c => c === N), 60_000, 250)
  t.same(all, Array(N).fill(N), `serverCount() is back to ${N} on every server (${Date.now() - healAt} ms after the heal)`)
  const AFTER = 20
  await Promise.all(servers.map(async s => await s.call('ioEmit', { room: 'room', event: 'm', prefix: `after${s.index}`, count: AFTER })))
  await waitFor('every broadcast after the heal reaches every client', async () => {
    for (const s of servers) for (const o of servers) if (await s.has('io:m', `after${o.index}`, AFTER) !== AFTER) return false
    return true
  }, 30_000)
  for (const s of servers) {
    const r = await s.received('io:m')
    t.equal(r.duplicateCount, 0, `client of server ${s.index}: every broadcast after the heal, none twice (${r.unique})`)
  }
})
