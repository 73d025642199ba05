import t from 'tap'
import { Simulator, type SimProtocol } from '../../../src/core/sim/simulator.js'
import { messageOutcome } from '../../../src/core/sim/metrics.js'
import type { InEvent, OutEvent } from '../../../src/core/proto/types.js'
import { ToyProtocol } from '../../fixtures/toy-protocol.js'

const topic = 'cd'.repeat(32)
type Script = (me: number, input: InEvent<number>, now: number) => OutEvent<number>[]

/** A simulator whose nodes run `script` and record what they were given. */
function scripted (script: Script, options: { seed?: number, failureDelay?: number | 'latency', loss?: number } = {}) {
  const logs: Array<Array<{ at: number, input: InEvent<number> }>> = []
  const sim = new Simulator({
    seed: options.seed ?? 7,
    failureDelay: options.failureDelay,
    loss: options.loss,
    protocol: (id): SimProtocol => {
      logs[id] = []
      return {
        handle: (input, now) => { logs[id]?.push({ at: now, input }); return script(id, input, now) },
        view: () => undefined
      }
    }
  })
  return { sim, logs }
}

const say = (to: number, n: number): OutEvent<number> =>
  ({ type: 'send', to, message: { topic, body: { type: 'shuffleReply', nodes: [{ id: n }] } } })
const said = (e: { input: InEvent<number> }): number | string =>
  e.input.type === 'recv' && e.input.message.body.type === 'shuffleReply' ? (e.input.message.body.nodes[0]?.id ?? -1) : e.input.type

t.test('messages on a link arrive after the pair latency, in the order sent', async t => {
  const { sim, logs } = scripted((me, input) =>
    me === 0 && input.type === 'command' ? [say(1, 1), say(1, 2), say(1, 3)] : [])
  sim.addNode(); sim.addNode()
  sim.at(500, () => sim.command(0, topic, { type: 'quit' }))
  sim.runUntil(1000)
  const got = logs[1] ?? []
  t.same(got.map(said), [1, 2, 3])
  const latency = sim.network.latency(0, 1)
  t.same(got.map(e => e.at), [500 + latency, 500 + latency, 500 + latency])
})

t.test('a disconnect reaches the peer after what was already sent on the link', async t => {
  const { sim, logs } = scripted((me, input) =>
    me === 0 && input.type === 'command' ? [say(1, 1), { type: 'disconnect', peer: 1 }, say(1, 2)] : [])
  sim.addNode(); sim.addNode()
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(1000)
  t.same((logs[1] ?? []).map(said), [1, 'peerDisconnected', 2],
    'the message sent after the disconnect opened a new connection')
  t.same((logs[0] ?? []).map(said), ['command'], 'the side that hung up is not told')
})

t.test('data sent into a connection the peer closed is lost and the sender is told', async t => {
  const { sim, logs } = scripted((me, input) => {
    if (input.type !== 'command') return []
    return me === 0 ? [say(1, 1)] : [{ type: 'disconnect', peer: 0 }]
  })
  sim.addNode(); sim.addNode()
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(200)
  t.same((logs[1] ?? []).map(said), [1])
  sim.command(1, topic, { type: 'quit' }) // 1 hangs up
  sim.command(0, topic, { type: 'quit' }) // 0 writes before knowing
  sim.runUntil(1000)
  t.same((logs[1] ?? []).map(said), [1, 'command'], 'the second message never reached 1')
  t.same((logs[0] ?? []).slice(-1).map(said), ['peerDisconnected'])
})

t.test('a killed node is noticed by its linked peers after the failure delay', async t => {
  const { sim, logs } = scripted((me, input) =>
    me !== 0 && input.type === 'command' ? [say(0, me)] : [], { failureDelay: 300 })
  for (let i = 0; i < 4; i++) sim.addNode()
  sim.command(1, topic, { type: 'quit' })
  sim.command(2, topic, { type: 'quit' })
  sim.runUntil(200)
  sim.kill([0])
  t.notOk(sim.isAlive(0))
  t.equal(sim.diedAt(0), 200)
  sim.runUntil(2000)
  for (const n of [1, 2]) {
    const down = (logs[n] ?? []).filter(e => e.input.type === 'peerDisconnected')
    t.same(down.map(e => e.at), [500], `node ${n} is told once, 300 ms after the kill`)
  }
  t.notOk((logs[3] ?? []).some(e => e.input.type === 'peerDisconnected'), 'a node without a link is not told')
})

t.test('a message to a dead node is dropped and its sender told', async t => {
  const { sim, logs } = scripted((me, input) => me === 1 && input.type === 'command' ? [say(0, 1)] : [])
  sim.addNode(); sim.addNode()
  sim.kill([0])
  sim.command(1, topic, { type: 'quit' })
  sim.runUntil(1000)
  const l = sim.network.latency(0, 1)
  t.same((logs[1] ?? []).map(e => [said(e), e.at]), [['command', 0], ['peerDisconnected', 2 * l]],
    'the failure shows one round trip later')
  t.equal(sim.metrics.counters().dropped, 1)
  t.same(logs[0], [], 'a dead node runs nothing')
})

t.test('a partition breaks links across groups and drops traffic until mended', async t => {
  const { sim, logs } = scripted((me, input) => {
    if (input.type !== 'command') return []
    return me === 0 ? [say(1, 10), say(2, 20)] : []
  })
  for (let i = 0; i < 3; i++) sim.addNode()
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(200)
  sim.partition([[0, 1], [2]])
  sim.runUntil(400)
  t.same((logs[2] ?? []).map(said), [20, 'peerDisconnected'], 'the link across is cut on both sides')
  t.ok((logs[0] ?? []).some(e => e.input.type === 'peerDisconnected' && e.input.peer === 2))
  t.notOk((logs[0] ?? []).some(e => e.input.type === 'peerDisconnected' && e.input.peer === 1), 'links inside a group survive')
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(600)
  t.same((logs[1] ?? []).map(said), [10, 10])
  t.same((logs[2] ?? []).map(said), [20, 'peerDisconnected'], 'nothing crosses the cut')
  sim.mend()
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(1200)
  t.same((logs[2] ?? []).map(said).slice(-1), [20], 'after mend a new connection gets through')
})

t.test('with loss 1 nothing arrives and every message is counted lost', async t => {
  const { sim, logs } = scripted((me, input) => me === 0 && input.type === 'command' ? [say(1, 1), say(1, 2)] : [], { loss: 1 })
  sim.addNode(); sim.addNode()
  sim.command(0, topic, { type: 'quit' })
  sim.runUntil(1000)
  t.same(logs[1], [])
  t.equal(sim.metrics.counters().lost, 2)
})

/** 150 toy nodes joined in a chain of contacts, then random broadcasts; returns the metrics as JSON. */
function toyRun (seed: number, flood = true): { json: string, sim: Simulator } {
  const sim = new Simulator({
    seed,
    flood,
    protocol: (id, _config, rng) => new ToyProtocol(id, () => rng.next())
  })
  for (let i = 0; i < 150; i++) {
    const id = sim.addNode()
    const contacts = id === 0 ? [] : [Math.floor(sim.rng.next() * id), Math.floor(sim.rng.next() * id)]
    sim.at(id * 5, () => sim.join(id, topic, [...new Set(contacts)]))
  }
  sim.runUntil(2000)
  for (let k = 0; k < 20; k++) {
    sim.at(2000 + k * 100, () => sim.broadcast(Math.floor(sim.rng.next() * sim.nodeCount), topic))
  }
  sim.runUntil(5000)
  const outcomes = sim.metrics.messages.map(r => messageOutcome(r, n => sim.isAlive(n)))
  return { json: JSON.stringify({ outcomes, counters: sim.metrics.counters(), events: sim.eventCount }), sim }
}

t.test('the same seed gives the same run, byte for byte; another seed does not', async t => {
  const a = toyRun(42)
  const b = toyRun(42)
  const c = toyRun(43)
  t.equal(a.json, b.json)
  t.not(a.json, c.json)
  const outcomes = JSON.parse(a.json).outcomes as Array<{ reliability: number }>
  t.equal(outcomes.length, 20)
  t.ok(outcomes.every(o => o.reliability === 1), 'the toy flood reaches everybody')
})

t.test('flood mode swallows duplicate payloads but still counts their sends', async t => {
  const { sim } = toyRun(5, true)
  const { sim: raw } = toyRun(5, false)
  const sends = (s: Simulator) => s.metrics.counters().payload
  t.equal(sends(sim), sends(raw), 'the toy protocol ignores duplicates anyway: same traffic')
  t.ok(sim.metrics.messages.every(r => r.duplicateDeliveries === 0))
})

t.test('runUntilQuiet stops when only periodic timers remain', async t => {
  const sim = new Simulator({ seed: 1, protocol: (id, _c, rng) => new ToyProtocol(id, () => rng.next()) })
  sim.addNode(); sim.addNode()
  sim.join(0, topic, [])
  sim.join(1, topic, [0])
  t.ok(sim.runUntilQuiet(10_000))
  t.ok(sim.now < 1000, 'quiet long before the first periodic timer')
  sim.broadcast(0, topic)
  t.ok(sim.runUntilQuiet(10_000))
  t.equal(sim.metrics.messages[0]?.deliveries, 1)
  const { sim: never } = scripted((me, input) => input.type === 'command' || input.type === 'timer'
    ? [{ type: 'schedule', after: 100, timer: { type: 'graftTimeout', topic, id: 'x' } }]
    : [])
  never.addNode()
  never.command(0, topic, { type: 'quit' })
  t.notOk(never.runUntilQuiet(1000), 'a protocol timer that keeps re-arming is not quiet')
  t.equal(never.now, 1000)
})
