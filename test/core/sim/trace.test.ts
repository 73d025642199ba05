import t from 'tap'
import { scenarios } from '../../../src/core/sim/scenarios.js'
import { healingScenarios } from '../../../src/core/sim/healing.js'
import { TraceRecorder, formatTrace, sampleRanks } from '../../../src/core/sim/trace.js'
import {
  ACTIVE_ADD, EAGER_ADD, JOIN, KILL, MEND, PARTITION, TraceReplay, deliveredWithin, readTrace, type SimTrace, type TraceMessage
} from '../../../src/core/sim/trace-format.js'
import type { Scenario } from '../../../src/core/sim/scenarios.js'

const kill50 = scenarios.find(s => s.name === 'kill50') as Scenario
const partition = healingScenarios.find(s => s.name === 'partition') as Scenario

function traced (scenario: Scenario, nodes: number, bounds: Partial<ConstructorParameters<typeof TraceRecorder>[0]> = {}): { trace: SimTrace, result: Record<string, number> } {
  const recorder = new TraceRecorder({ scenario: scenario.name, nodes, seed: 1, ...bounds })
  const result = scenario.run({ nodes, seed: 1, sim: { observer: recorder } })
  return { trace: recorder.finish(result), result }
}

t.test('a traced kill50 is the same run, and its replay finds the figures the bench reports', async t => {
  const { trace, result } = traced(kill50, 40)
  t.same(result, kill50.run({ nodes: 40, seed: 1 }), 'recording changes nothing in the run')
  t.equal(trace.drawEvery, 1, 'every node drawn')
  t.equal(trace.events.filter(e => e[1] === JOIN).length, 40, 'each node joins once')
  const kill = trace.events.find(e => e[1] === KILL)!
  t.equal(kill[2], 20, 'half of them killed at once')
  t.equal(kill.length, 3 + 20, 'all victims listed')

  const replay = new TraceReplay(readTrace(formatTrace(trace)))
  const r = replay.recovery()
  t.equal(r.killedAt, kill[0])
  t.equal(r.recoveryMs, result.recoveryMs, 'recovery time as the bench table says')
  t.equal(r.firstReliability, result.firstReliability)
  t.equal(r.reliability, result.reliability)

  replay.seek((kill[0] as number) - 1)
  const before = replay.stats()
  t.match(before, { alive: 40, dead: 0, components: 1 })
  t.equal(replay.snapshot().nodes.length, 40)
  replay.seek(trace.end)
  const after = replay.stats()
  t.match(after, { alive: 20, dead: 20, components: result.components })
  t.equal(after.links, replay.snapshot().links.length, 'killed nodes left the picture: every drawn link is between survivors')
  const tree = replay.snapshot().topics[0]!.edges.filter(e => e.eager).length
  t.ok(tree >= 19, `the survivors' tree spans them (${tree} eager edges)`)

  // Back in time gives what a fresh replay gives.
  replay.seek((kill[0] as number) - 1)
  t.same(replay.stats(), before)
})

t.test('a traced partition: marks, two sides, and the heal time of the bench', async t => {
  const { trace, result } = traced(partition, 30)
  t.same(result, partition.run({ nodes: 30, seed: 1 }), 'recording changes nothing in the run')
  const replay = new TraceReplay(trace)
  t.same(replay.markers().map(m => m.label), ['partition', 'mend'])
  const split = trace.events.find(e => e[1] === PARTITION)!
  const mend = trace.events.find(e => e[1] === MEND)!
  replay.seek((mend[0] as number) - 1)
  t.match(replay.stats(), { partitioned: true, components: result.componentsDuringSplit })
  t.equal((split[2] as number[][]).flat().length, 30, 'both sides listed')
  t.equal(replay.recovery().healMs, Number.isFinite(result.healMs) ? result.healMs : null, 'heal time as the bench table says')
})

t.test('bounds: drawn sample, events, delivery samples, messages', async t => {
  const { trace } = traced(kill50, 40, { maxDrawn: 10, maxSamples: 4, maxMessages: 50 })
  t.equal(trace.drawEvery, 4)
  const named = trace.events.filter(e => e[1] === ACTIVE_ADD || e[1] === EAGER_ADD || e[1] === JOIN).flatMap(e => e.slice(2) as number[])
  t.ok(named.every(n => n % 4 === 0), 'links and tree edges among drawn nodes only')
  t.ok(trace.totals.length > 100, 'totals every second')
  t.equal(trace.totals[trace.totals.length - 1]![1], 20, 'totals count every node: 20 survivors')
  t.equal(trace.messages.length, 50)
  t.equal(trace.messagesDropped, 185 - 50)
  t.ok(trace.messages.every(m => m[5].length <= 4), 'at most 4 delivery times per message')
  const replay = new TraceReplay(trace)
  replay.seek(trace.end)
  t.match(replay.stats(), { alive: 20, dead: 20, components: 1 }, 'a sampled replay reads the totals')

  const small = traced(kill50, 40, { maxEvents: 100 }).trace
  t.ok(small.truncatedAt !== null, 'link changes stop at maxEvents')
  t.ok(small.events.length <= 100 + 41, 'only joins and kills after that')
  t.ok(small.events.some(e => e[1] === KILL), 'the kill is still there')
})

t.test('delivery counts from whole and sampled delivery times', async t => {
  const offsets = Array.from({ length: 100 }, (_, i) => i * 10)
  t.same(sampleRanks(offsets, 200), offsets)
  const sampled = sampleRanks(offsets, 11)
  t.same(sampled, [0, 100, 200, 300, 400, 500, 590, 690, 790, 890, 990])
  const whole: TraceMessage = [0, 0, 120, 100, 990, offsets]
  const approx: TraceMessage = [0, 0, 120, 100, 990, sampled]
  t.equal(deliveredWithin(whole, -1), 0)
  t.equal(deliveredWithin(whole, 0), 1)
  t.equal(deliveredWithin(whole, 455), 46)
  t.equal(deliveredWithin(whole, 5000), 100)
  t.equal(deliveredWithin(approx, 0), 1)
  t.ok(Math.abs(deliveredWithin(approx, 455) - 46) <= 10, 'within one sample step')
  t.equal(deliveredWithin(approx, 990), 100, 'exact at the end')
  t.equal(deliveredWithin([0, 0, 5, 0, 0, []], 100), 0)
})

t.test('the reader refuses what is not a trace', async t => {
  const { trace } = traced(kill50, 12)
  t.same(readTrace(JSON.parse(JSON.stringify(trace))), trace, 'JSON round trip')
  t.same(readTrace(formatTrace(trace)), JSON.parse(JSON.stringify(trace)), 'the compact text reads back the same')
  t.throws(() => readTrace('[]'), /not a simulation trace/)
  t.throws(() => readTrace({ ...trace, version: 2 }), /version 2/)
  t.throws(() => readTrace({ ...trace, events: [[5, 0, 1], [4, 0, 2]] }), /an event/)
  t.throws(() => readTrace({ ...trace, messages: [[0, 0, 1, 2, 0, [1, 2, 3]]] }), /a message/)
  t.throws(() => readTrace({ ...trace, totals: [[0, 1]] }), /totals/)
})
