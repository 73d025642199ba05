/**
 * The paper table: every simulator scenario over several seeds, mean / min / max per figure.
 *
 *   npm run bench:sim -- --nodes 1000 --seeds 3 [--json] [--scenario kill50] [--contacts random]
 *   npm run bench:sim -- --nodes 1000 --seeds 1 --scenario topics [--topics 10000]
 *   npm run bench:sim -- --nodes 200 --seeds 1 --scenario kill50 --trace kill50.json
 *
 * `--trace FILE` records the first seed's run of the one scenario named as a time-line that
 * examples/sim-view.ts replays in the dashboard page (src/core/sim/trace.ts; bounded, see there).
 * `topics` (topic discovery with many topics) is heavier than the rest and runs only when named.
 * A benchmark, not a test: it prints what it measures and never fails on a number.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { scenarios as paperScenarios, type Scenario, type ScenarioResult } from '../src/core/sim/scenarios.js'
import { healingScenarios } from '../src/core/sim/healing.js'
import { topicsBenchScenario } from '../src/core/sim/topics.js'
import { TraceRecorder, formatTrace } from '../src/core/sim/trace.js'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    seeds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    scenario: { type: 'string', multiple: true },
    contacts: { type: 'string' },
    topics: { type: 'string' },
    trace: { type: 'string' }
  }
})

const nodes = Number(values.nodes)
const seeds = Number(values.seeds)
const topicCount = values.topics === undefined ? undefined : Number(values.topics)
if (!Number.isInteger(nodes) || nodes < 2 || !Number.isInteger(seeds) || seeds < 1 ||
  (topicCount !== undefined && !(Number.isInteger(topicCount) && topicCount >= 1))) {
  console.error('usage: bench:sim -- --nodes N --seeds S [--json] [--scenario name]... [--contacts 1|k|random] [--topics T]')
  process.exit(2)
}
const topicsScenario = topicsBenchScenario(topicCount)
const scenarios: Scenario[] = [...paperScenarios, ...healingScenarios, topicsScenario]
/** Scenarios run only when named. */
const optIn = new Set([topicsScenario.name])
const contacts = values.contacts === undefined
  ? undefined
  : values.contacts === 'random' ? 'random' as const : Number(values.contacts)

const wanted = values.scenario ?? []
const unknown = wanted.filter(n => !scenarios.some(s => s.name === n))
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map(s => s.name).join(', ')}`)
  process.exit(2)
}
const chosen: Scenario[] = scenarios.filter(s =>
  wanted.length > 0 ? wanted.includes(s.name) : !optIn.has(s.name) && (s.maxNodes === undefined || nodes <= s.maxNodes))
// The topics run has many topics and no observer: a trace follows one topic.
if (values.trace !== undefined && (chosen.length !== 1 || optIn.has(chosen[0]?.name ?? ''))) {
  console.error('--trace records one scenario: name it with --scenario (any but topics)')
  process.exit(2)
}

interface Aggregate {
  /** Means over the seeds where the figure is defined (a recovery time is not, if it never happened). */
  mean: Record<string, number | null>
  min: Record<string, number | null>
  max: Record<string, number | null>
  /** Seeds where the figure is defined. */
  defined: Record<string, number>
  wallSeconds: number
  cpuSeconds: number
  /** The process's peak RSS once the scenario's runs were done, MiB. */
  peakRssMb: number
}

function aggregate (runs: ScenarioResult[], wallSeconds: number, cpuSeconds: number): Aggregate {
  const keys = [...new Set(runs.flatMap(r => Object.keys(r)))]
  const out: Aggregate = { mean: {}, min: {}, max: {}, defined: {}, wallSeconds, cpuSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }
  for (const k of keys) {
    const vs = runs.map(r => r[k]).filter((v): v is number => v !== undefined && Number.isFinite(v))
    out.mean[k] = vs.length === 0 ? null : vs.reduce((a, b) => a + b, 0) / vs.length
    out.min[k] = vs.length === 0 ? null : Math.min(...vs)
    out.max[k] = vs.length === 0 ? null : Math.max(...vs)
    out.defined[k] = vs.length
  }
  return out
}

const started = process.hrtime.bigint()
const results = new Map<string, Aggregate>()
for (const scenario of chosen) {
  const runs: ScenarioResult[] = []
  const t0 = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  for (let seed = 1; seed <= seeds; seed++) {
    const recorder = values.trace !== undefined && seed === 1 ? new TraceRecorder({ scenario: scenario.name, nodes, seed }) : undefined
    const result = scenario.run({ nodes, seed, bootstrap: contacts === undefined ? undefined : { contacts }, sim: recorder === undefined ? undefined : { observer: recorder } })
    runs.push(result)
    if (recorder !== undefined && values.trace !== undefined) {
      const trace = recorder.finish(result)
      const text = formatTrace(trace)
      writeFileSync(values.trace, text)
      process.stderr.write(`trace of ${scenario.name}, seed ${seed}: ${values.trace}, ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB, ` +
        `${trace.events.length} events, ${trace.messages.length} messages, every ${trace.drawEvery === 1 ? 'node' : `${trace.drawEvery}th node`} drawn` +
        `${trace.truncatedAt === null ? '' : `, links no longer recorded from ${trace.truncatedAt} ms (maxEvents)`}\n`)
    }
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  const cpuUsed = process.cpuUsage(cpu0)
  const cpu = (cpuUsed.user + cpuUsed.system) / 1e6
  results.set(scenario.name, aggregate(runs, wall, cpu))
  if (!values.json) process.stderr.write(`${scenario.name}: ${wall.toFixed(1)} s wall, ${cpu.toFixed(1)} s CPU\n`)
}
const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9
const peakRssMb = process.resourceUsage().maxRSS / 1024

if (values.json) {
  const out: Record<string, unknown> = {}
  for (const [name, a] of results) {
    out[name] = {
      ...a.mean,
      wallSeconds: a.wallSeconds / seeds,
      cpuSeconds: a.cpuSeconds / seeds,
      ...(optIn.has(name) ? { peakRssMb: a.peakRssMb } : {}),
      min: a.min,
      max: a.max,
      seedsDefined: a.defined
    }
  }
  console.log(JSON.stringify({ nodes, seeds, wallSeconds, peakRssMb, scenarios: out }, null, 2))
} else {
  printTable()
}

function cell (a: Aggregate, key: string, format: (v: number) => string): string {
  const m = a.mean[key]
  if (m === undefined) return ''
  if (m === null) return 'n/a'
  const lo = a.min[key] as number
  const hi = a.max[key] as number
  const defined = a.defined[key] ?? 0
  const missing = defined < seeds ? ` [${defined}/${seeds} seeds]` : ''
  if (defined === 1 || format(lo) === format(hi)) return format(m) + missing
  return `${format(m)} (${format(lo)}–${format(hi)})${missing}`
}

function printTable (): void {
  const pct = (v: number): string => `${(v * 100).toFixed(v === 1 ? 0 : 2)} %`
  const num = (digits: number) => (v: number): string => v.toFixed(digits)
  const columns: Array<[string, string, (v: number) => string]> = [
    ['reliability', 'reliability', pct],
    ['firstReliability', '1st msg', pct],
    ['recoveryMs', '100 % after ms', num(0)],
    ['rmr', 'RMR', num(3)],
    ['ldh', 'LDH', num(1)],
    ['maxLdh', 'max LDH', num(0)],
    ['fullDeliveryMs', 'full ms', num(0)],
    ['controlPerMsg', 'ctrl/msg', num(2)],
    ['isolated', 'isolated', num(1)],
    ['maxIsolated', 'max isol.', num(1)],
    ['components', 'components', num(1)],
    ['symmetry', 'symmetry', pct],
    ['activeMean', 'active', num(2)],
    ['passiveMean', 'passive', num(1)]
  ]
  const header = ['scenario', ...columns.map(c => c[1]), 'wall s/seed', 'CPU s/seed']
  const healingNames = new Set(healingScenarios.map(h => h.name))
  const separate = new Set([...healingNames, ...optIn])
  const rows = [...results].filter(([name]) => !separate.has(name)).map(([name, a]) => [
    name, ...columns.map(([key, , f]) => cell(a, key, f)), (a.wallSeconds / seeds).toFixed(1), (a.cpuSeconds / seeds).toFixed(1)
  ])
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`
  console.log(`nodes ${nodes}, seeds ${seeds}: mean (min–max) over seeds`)
  if (rows.length > 0) {
    console.log(line(header))
    console.log(line(header.map(() => '---')))
    for (const r of rows) console.log(line(r))
  }
  const healing = [...results].filter(([name]) => healingNames.has(name))
  if (healing.length > 0) {
    const healColumns: Array<[string, string, (v: number) => string]> = [
      ['componentsDuringSplit', 'components split', num(1)],
      ['newcomersJoined', 'newcomers in', num(0)],
      ['componentsAfter', 'components after', num(1)],
      ['healMs', 'healed after ms', num(0)],
      ['finalFullDelivery', 'last 10 msgs fully delivered', pct],
      ['evictionsPerNode', 'evictions / node', num(2)]
    ]
    const healHeader = ['scenario', ...healColumns.map(c => c[1]), 'wall s/seed']
    console.log(`\nhealing, nodes ${nodes}, seeds ${seeds}`)
    console.log(line(healHeader))
    console.log(line(healHeader.map(() => '---')))
    for (const [name, a] of healing) console.log(line([name, ...healColumns.map(([key, , f]) => cell(a, key, f)), (a.wallSeconds / seeds).toFixed(1)]))
  }
  const topics = results.get(topicsScenario.name)
  if (topics !== undefined) printTopics(topics, pct, num, line)
  console.log(`\nwall ${wallSeconds.toFixed(1)} s, peak RSS ${peakRssMb.toFixed(0)} MiB`)
}

/** The topic-discovery run: one figure per row (there are many), with the goal it is held to. */
function printTopics (a: Aggregate, pct: (v: number) => string, num: (digits: number) => (v: number) => string, line: (cells: string[]) => string): void {
  const bps = (v: number): string => `${Math.round(v).toLocaleString('en-US')} B/s`
  const figures: Array<[string, string, (v: number) => string, string]> = [
    ['topics', 'topics', num(0), ''],
    ['meanTopicsPerNode', 'topics per node, mean', num(1), '~50'],
    ['maxTopicsPerNode', 'topics per node, max', num(0), '<= 1,000'],
    ['sharedTopics', 'topics with >= 2 members', num(0), ''],
    ['oneOverlayAfterStart', 'one overlay, 10 s after the last start', pct, '100 %'],
    ['oneOverlay', 'one overlay, 10 s after the churn', pct, '100 %'],
    ['firstNeighbourP50', 'stream -> first neighbour p50, ms', num(0), ''],
    ['firstNeighbourP99', 'stream -> first neighbour p99, ms', num(0), '<= 1,000'],
    ['firstNeighbourMax', 'stream -> first neighbour max, ms', num(0), ''],
    ['firstNeighbourMissing', 'streams never neighboured', num(0), '0'],
    ['discoveryBps', 'discovery per node, steady', bps, '<= 2,000 B/s'],
    ['bpsTopics', '  of which topics (deltas, snapshots)', bps, ''],
    ['bpsSnapshots', '    of which snapshots (first pages)', bps, ''],
    ['bpsMembers', '  of which members (answers)', bps, ''],
    ['bpsDigest', '  of which digests', bps, ''],
    ['bpsQuery', '  of which queries', bps, ''],
    ['bpsResync', '  of which resyncs', bps, ''],
    ['snapshotsPerNodeSecond', 'snapshots sent per node per second, steady', num(2), ''],
    ['discoveryBpsBusiest', 'discovery, busiest node, steady', bps, ''],
    ['discoveryBpsPeak', 'discovery per node, worst second', bps, ''],
    ['discoveryBpsNodePeak', 'discovery, worst node-second', bps, ''],
    ['maxDiscoveryFrame', 'largest discovery frame, bytes', num(0), '<= 16,384'],
    ['maxProtoControlFrame', 'largest proto control frame, bytes', num(0), '<= 16,384'],
    ['framesOverBudget', 'frames over budget', num(0), '0'],
    ['reliability', 'delivery per topic broadcast, mean', pct, '100 %'],
    ['minReliability', 'delivery per topic broadcast, min', pct, '100 %'],
    ['topicsFullyDelivered', 'topics whose broadcasts all reached everyone', pct, '100 %'],
    ['linksPerNode', 'open links per node at the end', num(1), ''],
    ['bookNodes', 'address book: nodes, mean per node', num(0), ''],
    ['bookInterests', 'address book: interests, mean per node', num(0), ''],
    ['events', 'events', num(0), '']
  ]
  console.log(`\ntopic discovery, nodes ${nodes}, seeds ${seeds}`)
  console.log(line(['figure', 'measured', 'goal']))
  console.log(line(['---', '---', '---']))
  for (const [key, label, f, goal] of figures) console.log(line([label, cell(a, key, f), goal]))
  console.log(line(['wall per seed, s', (a.wallSeconds / seeds).toFixed(1), '<= 120']))
  console.log(line(['CPU per seed, s', (a.cpuSeconds / seeds).toFixed(1), '']))
  console.log(line(['peak RSS, MiB', a.peakRssMb.toFixed(0), '<= 4,096']))
}
