/**
 * An insider (it holds the cluster secret and is a neighbour of the victim in the topic) floods
 * IHAVE frames of ids it never delivers, as fast as its socket drains. The victim must keep
 * delivering honest messages both ways, keep the ids it awaits on the flooder's word within
 * `broadcast.maxMissingPerPeer`, stop listening to it, then drop its link and refuse it for a while.
 * Real TCP, no timing thresholds: bench/hostile.ts measures how much the flood costs.
 */
import t from 'tap'
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { defaultConfig } from '../../../src/core/proto/config.js'
import type { Link } from '../../../src/core/net/link.js'
import { trapCrashes } from '../../fixtures/crash-trap.js'
import { waitFor } from '../../fixtures/cluster.js'
import { closed } from '../../fixtures/net.js'
import { signMessage } from '../../../src/core/net/origin.js'
import { allDelivered, distinctErrors, hostileScene, publishSeries } from '../../fixtures/hostile-scene.js'
import type { HostileScene, Member } from '../../fixtures/hostile-scene.js'

interface Broadcast { missingBy: Map<string, number>, unanswered: Map<string, { count: number }>, isDemoted: (peer: string, now: number) => boolean }
interface Internals { state: { stats: (topic: string) => { missing: number } | undefined, topicMap: Map<string, { broadcast: Broadcast }> } }

/** The victim's Plumtree state for the shared topic, as seen from inside (no public accessor). */
function victimState (s: HostileScene): { missing: () => number, byFlooder: () => number, unanswered: () => number, demoted: () => boolean } {
  const state = (s.victim.node as unknown as Internals).state
  const broadcast = (): Broadcast | undefined => state.topicMap.get(s.topic)?.broadcast
  return {
    missing: () => state.stats(s.topic)?.missing ?? 0,
    byFlooder: () => broadcast()?.missingBy.get(s.attacker.nodeId) ?? 0,
    unanswered: () => broadcast()?.unanswered.get(s.attacker.nodeId)?.count ?? 0,
    demoted: () => broadcast()?.isDemoted(s.attacker.nodeId, (s.victim.node as unknown as { now: () => number }).now()) ?? false
  }
}

/** IHAVEs of fresh ids, 500 per frame, keeping about 256 KiB queued on the link, until stopped. */
function flood (s: HostileScene, link: Link): { stop: () => Promise<number> } {
  const prefix = randomBytes(16).toString('hex')
  let seq = 0
  let running = true
  const on = (): boolean => running && !link.closed
  const done = (async () => {
    while (on()) {
      while (link.bufferedBytes < 256 * 1024 && !link.closed) {
        const entries = Array.from({ length: 500 }, () => ({ id: `${prefix}.${(seq++).toString(16)}`, round: 1 }))
        s.sendFrames(link, [{ type: 'proto', message: { topic: s.topic, body: { type: 'ihave', entries } } }])
      }
      await new Promise(resolve => setImmediate(resolve))
    }
  })()
  return { stop: async () => { running = false; await done; return seq } }
}

/** The scene, with the insider joined to the shared topic (its real address): the victim's neighbour. */
async function insiderNeighbour (t: Test): Promise<{ s: HostileScene, everyone: Member[], link: Link }> {
  const s = await hostileScene(t)
  const link = await s.link()
  s.sendFrames(link, [{ type: 'proto', message: { topic: s.topic, body: { type: 'join', data: Buffer.from(s.attacker.address!) } } }])
  await waitFor(() => s.victim.handle.neighbours().includes(s.attacker.nodeId), 'the insider in the victim\'s active view', 10_000)
  return { s, everyone: [s.victim, ...s.honest], link }
}

t.test('an IHAVE flood from an insider: honest messages keep flowing, awaited ids stay within the cap, the flooder ends ignored, then dropped and refused', async t => {
  trapCrashes(t)
  const { s, everyone, link } = await insiderNeighbour(t)

  const v = victimState(s)
  const cap = defaultConfig.broadcast.maxMissingPerPeer
  let maxMissing = 0
  let maxByFlooder = 0
  const watch = setInterval(() => {
    maxMissing = Math.max(maxMissing, v.missing())
    maxByFlooder = Math.max(maxByFlooder, v.byFlooder())
  }, 5)
  t.teardown(() => clearInterval(watch))

  const f = flood(s, link)
  // Honest traffic both ways while the flood runs: an honest origin through the victim, and the victim's own.
  const [fromHonest, fromVictim] = await Promise.all([
    publishSeries(s.honest[0]!, 'during the flood', 40, 20),
    publishSeries(s.victim, 'during the flood', 40, 20)
  ])
  await allDelivered(everyone, s.honest[0]!, fromHonest, 20_000)
  await allDelivered(everyone, s.victim, fromVictim, 20_000)
  t.pass('every honest message published during the flood reached every honest node')

  // Still flooding: the victim stops listening (or drops the link) and forgets what it awaited on its word.
  // Demoted, not merely at maxUnansweredGrafts: until demoteAfter has passed it is still heard.
  const ignored = (): boolean => v.demoted() || !s.victim.handle.neighbours().includes(s.attacker.nodeId)
  await waitFor(() => ignored() && v.byFlooder() === 0, 'the flooder ignored and nothing awaited on its word', 10_000)
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(v.byFlooder(), 0, 'fresh announcements from the ignored flooder add nothing to await')
  const sent = await f.stop()
  clearInterval(watch)
  t.ok(sent >= 2 * cap, `the flooder announced ${sent} ids`)
  t.ok(maxByFlooder <= cap, `ids awaited on the flooder's word never exceeded the cap (max ${maxByFlooder} of ${cap})`)
  // Every other awaited id came from an honest announcement: at most one per honest message.
  t.ok(maxMissing <= cap + fromHonest.length + fromVictim.length, `ids awaited in all stayed bounded (max ${maxMissing})`)
  t.ok(ignored(), `the flooder ends ignored (${v.unanswered()} GRAFTs unanswered) or dropped`)
  // Ignored, it kept announcing: the victim drops its link and refuses it for a while.
  await waitFor(() => link.closed, 'the flooder dropped', 10_000)
  t.match(link.closeInfo?.reason, /protocol violation/, `the victim dropped the flooder: ${link.closeInfo?.reason ?? ''}`)
  const again = await s.attacker.dial(s.victim.node.address, s.victim.node.nodeId).catch((err: Error) => err)
  const refusal = again instanceof Error ? again.message : (await closed(again)).reason
  t.match(refusal, /refused/, `and refuses it when it dials again: ${refusal}`)
  t.notOk(s.victim.handle.neighbours().includes(s.attacker.nodeId), 'the flooder is not a neighbour any more')
  t.equal(s.victim.node.stats().peersDropped, 1, 'stats() counts the one peer dropped')

  const after = await publishSeries(s.honest[1]!, 'after the flood', 5, 5)
  await allDelivered(everyone, s.honest[1]!, after, 20_000)
  t.pass('honest messages still flow after the flood')
  for (const m of everyone) t.same(distinctErrors(m.log), [], `${m.name} logged no internal error`)
})

t.test('an IHAVE flooder that delivers one real message every 100 ms is still ignored, then dropped: a payload makes up for one unanswered GRAFT, not all', async t => {
  trapCrashes(t)
  const { s, everyone, link } = await insiderNeighbour(t)

  const f = flood(s, link)
  // Its own messages, properly signed: what "ignored until it delivers" would forgive.
  let real = 0
  const delivering = setInterval(() => {
    if (link.closed) return
    const id = `evasive.${real++}`
    const content = Buffer.from(`real ${id}`)
    s.sendFrames(link, [{ type: 'proto', message: { topic: s.topic, body: { type: 'gossip', id, origin: s.attacker.nodeId, content, round: 0, sig: signMessage(s.attacker.keyPair.secretKey, s.topic, id, content) } } }])
  }, 100)
  t.teardown(() => clearInterval(delivering))
  const fromHonest = await publishSeries(s.honest[0]!, 'during the flood', 40, 20)
  await allDelivered(everyone, s.honest[0]!, fromHonest, 20_000)
  t.pass('every honest message published during the flood reached every honest node')

  await waitFor(() => link.closed, 'the evasive flooder dropped', 20_000)
  clearInterval(delivering)
  const sent = await f.stop()
  t.match(link.closeInfo?.reason, /protocol violation/, `dropped after ${sent} ids and ${real} real messages: ${link.closeInfo?.reason ?? ''}`)
  t.ok(real > 0, 'it had delivered real messages meanwhile')
  t.equal(s.victim.node.stats().peersDropped, 1)
  for (const m of everyone) t.same(distinctErrors(m.log), [], `${m.name} logged no internal error`)
})

t.test('a peer announcing more than maxIHavesPerSecond is read at that rate: the rest of its flood waits in its own buffers, and everyone else is read as before', async t => {
  trapCrashes(t)
  const limit = 2_000
  const s0 = await hostileScene(t, { victim: { protocol: { broadcast: { maxIHavesPerSecond: limit } } } })
  const link = await s0.link()
  s0.sendFrames(link, [{ type: 'proto', message: { topic: s0.topic, body: { type: 'join', data: Buffer.from(s0.attacker.address!) } } }])
  await waitFor(() => s0.victim.handle.neighbours().includes(s0.attacker.nodeId), 'the insider in the victim\'s active view', 10_000)
  const everyone = [s0.victim, ...s0.honest]

  // Every IHAVE entry from the flooder that reaches the victim's protocol, with when.
  const state = (s0.victim.node as unknown as { state: { handle: (input: { type: string, from?: string, message?: { body: { type: string, entries?: { length: number } } } }, now: number) => unknown } }).state
  const handle = state.handle.bind(state)
  let handled = 0
  let first = 0
  let last = 0
  state.handle = (input, now) => {
    if (input.type === 'recv' && input.from === s0.attacker.nodeId && input.message?.body.type === 'ihave') {
      if (handled === 0) first = performance.now()
      last = performance.now()
      handled += input.message.body.entries?.length ?? 0
    }
    return handle(input, now)
  }

  const f = flood(s0, link)
  const fromHonest = await publishSeries(s0.honest[0]!, 'during the throttled flood', 30, 20)
  await allDelivered(everyone, s0.honest[0]!, fromHonest, 20_000)
  t.pass('every honest message published during the flood reached every honest node')
  // Read again once its throttled second is over, and again after the next.
  await waitFor(() => handled > 3 * limit, 'the flooder read again after its throttled seconds', 20_000)
  const sent = await f.stop()
  const seconds = (last - first) / 1000
  // Each second reads up to the limit plus the rest of the frame that crossed it (500 entries);
  // a second can begin just before `first` and one just after `last`.
  const bound = (limit + 500) * (Math.ceil(seconds) + 2)
  t.ok(handled <= bound, `the victim handled ${handled} of ${sent} announced ids over ${seconds.toFixed(1)} s (at most ${bound})`)
  t.ok(sent > 2 * bound, `the flooder wrote more than the victim read (${sent} ids)`)
  for (const m of everyone) t.same(distinctErrors(m.log), [], `${m.name} logged no internal error`)
})
