/**
 * Hostile peers against real TCP nodes on loopback (issue 9's goals), each figure against a
 * baseline measured in the same run:
 *
 * - `ihave`: an honest cluster (one process per node) publishes at a steady rate on one topic;
 *   after an idle and a baseline phase, an insider holding the secret joins the victim's topic and
 *   floods IHAVE frames of ids it never delivers, as fast as its socket drains, then stops.
 *   Reported: honest publish→deliver latency per phase (at the victim and at every node), the
 *   victim's RSS, heap and event-loop lag, ids it awaits, whether it ends ignoring (and dropping)
 *   the flooder, and how long after the flood messages are late.
 * - `evasive`: the same flooder, but it delivers one real message of its own every 100 ms, which
 *   is what "ignored until it delivers" forgives.
 * - `slots`: thousands of silent TCP connections (no handshake) to the victim, re-opened as they
 *   are closed, from many 127.0.0.x addresses, from one other address and from the newcomer's own
 *   address; a fresh honest node is timed from spawn until the victim is its neighbour, during the
 *   attack and without it.
 *
 *   npm run bench:hostile -- [--scenarios ihave,evasive,slots] [--nodes 5] [--rate 200]
 *     [--flood 10] [--entries 500] [--connections 2000] [--trials 5] [--profile DIR] [--dump FILE] [--json]
 */
import { WorkerProcess as Worker } from './fixtures/worker-process.js'
import { fileURLToPath } from 'node:url'
import { execSync } from 'node:child_process'
import os from 'node:os'
import { writeFileSync } from 'node:fs'

const args = process.argv.slice(2)
const json = args.includes('--json')
const arg = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? String(args[i + 1]) : fallback
}
const scenarios = arg('scenarios', 'ihave,evasive,slots').split(',')
const nodeCount = Number(arg('nodes', '5'))
const rate = Number(arg('rate', '200'))
const floodSeconds = Number(arg('flood', '10'))
const phaseSeconds = Number(arg('phase', '10'))
const entriesPerFrame = Number(arg('entries', '500'))
const connections = Number(arg('connections', '2000'))
const trials = Number(arg('trials', '5'))
/** `--profile DIR`: the victim writes a CPU profile there (node --cpu-prof). */
const profileDir = arg('profile', '')
/** `--dump FILE`: every node's deliveries and samples, with the phase boundaries, as JSON. */
const dumpFile = arg('dump', '')
const SECRET = 'hostile-bench-secret'
const TOPIC = 'hostile-bench'
const workerPath = fileURLToPath(new URL('./hostile-worker.js', import.meta.url))
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const log = (line: string): void => { if (!json) process.stderr.write(`${line}\n`) }

async function workers (n: number, profiled = false): Promise<Worker[]> {
  const execArgv = profiled && profileDir !== '' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
  const list = Array.from({ length: n }, (_, i) => new Worker(workerPath, i === 0 ? execArgv : []))
  await Promise.all(list.map(async w => await w.ready))
  return list
}

async function until (what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const start = now()
  while (!(await condition())) {
    if (now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

function percentile (sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

interface Latency { n: number, p50: number | null, p99: number | null, max: number | null }

function latencyIn (dumps: Dump[], from: number, to: number): Latency {
  const values: number[] = []
  for (const d of dumps) for (let i = 0; i < d.arrivedAt.length; i++) if (d.arrivedAt[i]! >= from && d.arrivedAt[i]! < to) values.push(d.latency[i]!)
  values.sort((a, b) => a - b)
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max: values.length === 0 ? null : values[values.length - 1]! }
}

interface Sample { t: number, rss: number, heap: number, external: number, cpu: number, lag: number, gcMs: number, gcMaxMs: number, missing: number, unanswered: number, watchedNeighbour: boolean, watchedLinked: boolean }
interface Dump { arrivedAt: number[], latency: number[], samples: Sample[] }

function samplesIn (d: Dump, from: number, to: number): Sample[] {
  return d.samples.filter(s => s.t >= from && s.t < to)
}

const MB = 1024 * 1024
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]! }
const round = (x: number | null, digits = 1): number | null => x === null ? null : Number(x.toFixed(digits))

// ---------------------------------------------------------------------------------------------
// IHAVE flood
// ---------------------------------------------------------------------------------------------

interface FloodResult {
  scenario: string
  nodes: number
  activeViews: number[]
  rate: number
  insider: Record<string, unknown>
  phases: Record<string, { victim: Latency, all: Latency, victimRssMB: { median: number, peak: number }, victimHeapMB: { peak: number }, victimExternalMB: { peak: number }, victimCpuPercent: number, victimLagMaxMs: number, victimGcPercent: number, victimGcMaxMs: number, awaitedMax: number }>
  ratios: { p99Victim: number | null, p99All: number | null, rssPeakVsIdle: number, rssPeakVsBaseline: number }
  recoveryMs: number
  awaitedBackToBaselineMs: number | null
  flooder: { unansweredAtFloodEnd: number, ignoredAtFloodEnd: boolean, neighbourAtFloodEnd: boolean, linkedAtFloodEnd: boolean, neighbourAtEnd: boolean, linkedAtEnd: boolean, graftsReceived: number, lastGraftAfterFloodStartMs: number | null, redials: number, closeReasons: unknown }
  delivery: { published: number, expected: number, received: number }
}

async function ihaveFlood (scenario: 'ihave' | 'evasive'): Promise<FloodResult> {
  const nodes = await workers(nodeCount, true)
  const [insider] = await workers(1) as [Worker]
  try {
    const victim = nodes[0]!
    const v = await victim.call({ cmd: 'start', secret: SECRET, seeds: [] })
    for (const w of nodes.slice(1)) await w.call({ cmd: 'start', secret: SECRET, seeds: [v.address] })
    for (const w of nodes) await w.call({ cmd: 'join', topic: TOPIC })
    const views = async (): Promise<number[]> => await Promise.all(nodes.map(async w => ((await w.call({ cmd: 'neighbours' })).neighbours as string[]).length))
    // A full mesh usually forms in a second or two; HyParView does not promise one, so after 20 s
    // it is enough that the victim has every honest node and everyone has a neighbour.
    await until('the honest overlay (every node a neighbour of every other)', async () => (await views()).every(n => n >= Math.min(4, nodeCount - 1)), 20_000)
      .catch(async () => { await until('the victim linked to every honest node', async () => { const v = await views(); return v[0]! >= Math.min(4, nodeCount - 1) && v.every(n => n >= 1) }) })
    const meshed = await views()
    log(`${scenario}: ${nodeCount} nodes, active views ${meshed.join(' ')}`)
    const tIdle = now()
    await sleep(2000)
    const tPub = now()
    await Promise.all(nodes.map(async (w, i) => await w.call({ cmd: 'publish', rate: rate / nodeCount, index: i })))
    await sleep(2000)
    const tBase = now()
    await sleep(phaseSeconds * 1000)
    const tBaseEnd = now()
    log(`${scenario}: baseline done, insider joins`)
    const a = await insider.call({ cmd: 'attack', secret: SECRET, address: v.address, nodeId: v.nodeId, topic: TOPIC })
    await victim.call({ cmd: 'watch', peer: a.nodeId })
    await until('the insider in the victim\'s active view', async () => ((await victim.call({ cmd: 'neighbours' })).neighbours as string[]).includes(String(a.nodeId)), 10_000)
    const tFlood = now()
    const flood = await insider.call({ cmd: 'flood', seconds: floodSeconds, entries: entriesPerFrame, evadeEveryMs: scenario === 'evasive' ? 100 : 0 })
    const tFloodEnd = now()
    log(`${scenario}: flood done (${String(flood.idsPerSecond)} ids/s), recovering`)
    await sleep(phaseSeconds * 1000)
    const tEnd = now()
    const published = (await Promise.all(nodes.map(async w => Number((await w.call({ cmd: 'stopPublish' })).published)))).reduce((x, y) => x + y, 0)
    // On a loaded machine the last messages can be seconds on their way: let them land.
    await sleep(3000)
    const status = await insider.call({ cmd: 'attackStatus' })
    const dumps = await Promise.all(nodes.map(async w => await w.call({ cmd: 'dump' }) as unknown as Dump))
    const vd = dumps[0]!
    if (dumpFile !== '') writeFileSync(`${dumpFile}.${scenario}.json`, JSON.stringify({ tIdle, tPub, tBase, tBaseEnd, tFlood, tFloodEnd, tEnd, dumps }))

    const phase = (from: number, to: number): FloodResult['phases'][string] => {
      const s = samplesIn(vd, from, to)
      return {
        victim: latencyIn([vd], from, to),
        all: latencyIn(dumps, from, to),
        victimRssMB: { median: round(median(s.map(x => x.rss)) / MB)!, peak: round(Math.max(0, ...s.map(x => x.rss)) / MB)! },
        victimHeapMB: { peak: round(Math.max(0, ...s.map(x => x.heap)) / MB)! },
        victimExternalMB: { peak: round(Math.max(0, ...s.map(x => x.external)) / MB)! },
        victimCpuPercent: s.length < 2 ? 0 : Math.round(100 * (s[s.length - 1]!.cpu - s[0]!.cpu) / (s[s.length - 1]!.t - s[0]!.t)),
        victimLagMaxMs: round(Math.max(0, ...s.map(x => x.lag)))!,
        victimGcPercent: s.length < 2 ? 0 : round(100 * s.slice(1).reduce((x, y) => x + y.gcMs, 0) / (s[s.length - 1]!.t - s[0]!.t))!,
        victimGcMaxMs: round(Math.max(0, ...s.map(x => x.gcMaxMs)))!,
        awaitedMax: Math.max(0, ...s.map(x => x.missing))
      }
    }
    const phases = {
      idle: phase(tIdle, tPub),
      baseline: phase(tBase, tBaseEnd),
      flood: phase(tFlood, tFloodEnd),
      floodFirst3s: phase(tFlood, tFlood + 3000),
      floodRest: phase(tFlood + 3000, tFloodEnd),
      after: phase(tFloodEnd, tEnd)
    }
    // Late after the flood: a message slower than twice the baseline p99 (at least +10 ms).
    const threshold = Math.max(2 * (phases.baseline.all.p99 ?? 0), (phases.baseline.all.p99 ?? 0) + 10)
    let lastLate = tFloodEnd
    for (const d of dumps) for (let i = 0; i < d.arrivedAt.length; i++) if (d.arrivedAt[i]! >= tFloodEnd && d.latency[i]! > threshold) lastLate = Math.max(lastLate, d.arrivedAt[i]!)
    const afterSamples = samplesIn(vd, tFloodEnd, tEnd)
    // Honest announcements keep a few ids awaited at any time: back to normal is back to the baseline's most.
    const zero = afterSamples.find(s => s.missing <= phases.baseline.awaitedMax)
    const atFloodEnd = samplesIn(vd, tFlood, tFloodEnd + 150).slice(-1)[0]
    const atEnd = afterSamples.slice(-1)[0]
    const received = dumps.reduce((x, d) => x + d.latency.length, 0)
    return {
      scenario,
      nodes: nodeCount,
      activeViews: meshed,
      rate,
      insider: flood,
      phases,
      ratios: {
        p99Victim: phases.baseline.victim.p99 === null || phases.flood.victim.p99 === null ? null : round(phases.flood.victim.p99 / phases.baseline.victim.p99, 2),
        p99All: phases.baseline.all.p99 === null || phases.flood.all.p99 === null ? null : round(phases.flood.all.p99 / phases.baseline.all.p99, 2),
        rssPeakVsIdle: round(phases.flood.victimRssMB.peak / phases.idle.victimRssMB.median, 2)!,
        rssPeakVsBaseline: round(phases.flood.victimRssMB.peak / phases.baseline.victimRssMB.median, 2)!
      },
      recoveryMs: Math.round(lastLate - tFloodEnd),
      awaitedBackToBaselineMs: zero === undefined ? null : Math.round(zero.t - tFloodEnd),
      flooder: {
        unansweredAtFloodEnd: atFloodEnd?.unanswered ?? 0,
        ignoredAtFloodEnd: (atFloodEnd?.unanswered ?? 0) >= 32,
        neighbourAtFloodEnd: atFloodEnd?.watchedNeighbour ?? false,
        linkedAtFloodEnd: atFloodEnd?.watchedLinked ?? false,
        neighbourAtEnd: atEnd?.watchedNeighbour ?? false,
        linkedAtEnd: atEnd?.watchedLinked ?? false,
        graftsReceived: Number(status.graftsReceived),
        lastGraftAfterFloodStartMs: Number(status.lastGraftAt) === 0 ? null : Math.round(Number(status.lastGraftAt) - tFlood),
        redials: Number(flood.redials),
        closeReasons: flood.closeReasons
      },
      delivery: { published, expected: published * (nodeCount - 1), received }
    }
  } finally {
    await Promise.all([...nodes, insider].map(async w => await w.stop()))
  }
}

// ---------------------------------------------------------------------------------------------
// Slot hogging
// ---------------------------------------------------------------------------------------------

interface SlotRow { attack: string, connections: number, open: number | null, reopenedPerSecond: number | null, linkMs: Array<number | null>, neighbourMs: Array<number | null>, medianMs: number | null, maxMs: number | null, linked: string, victimLagMaxMs: number, newcomerSaid: string[] }

async function slots (): Promise<{ rows: SlotRow[], ratios: Record<string, number | null> }> {
  const [victim, newcomer, hogger] = await workers(3) as [Worker, Worker, Worker]
  try {
    const v = await victim.call({ cmd: 'start', secret: SECRET, seeds: [] })
    await victim.call({ cmd: 'join', topic: TOPIC })
    const modes: Array<{ attack: string, from: string[] | null }> = [
      { attack: 'none (baseline)', from: null },
      { attack: `${connections} silent from 250 addresses 127.0.0.2-251`, from: Array.from({ length: 250 }, (_, i) => `127.0.0.${i + 2}`) },
      { attack: `${connections} silent from one address 127.0.0.2`, from: ['127.0.0.2'] },
      { attack: `${connections} silent from the newcomer's address 127.0.0.1`, from: ['127.0.0.1'] }
    ]
    const rows: SlotRow[] = []
    for (const mode of modes) {
      let open: number | null = null
      const t0 = now()
      if (mode.from !== null) open = Number((await hogger.call({ cmd: 'silent', address: v.address, count: connections, from: mode.from })).open)
      const linkMs: Array<number | null> = []
      const neighbourMs: Array<number | null> = []
      const said: string[] = []
      for (let i = 0; i < trials; i++) {
        const r = await newcomer.call({ cmd: 'link', secret: SECRET, seed: v.address, target: v.nodeId, topic: TOPIC, timeoutMs: 20_000 })
        linkMs.push(round(r.linkMs as number | null))
        neighbourMs.push(round(r.neighbourMs as number | null))
        if ((r.said as string[]).length > 0) said.push(`trial ${i}: ${(r.said as string[]).join('; ')}`)
      }
      let reopenedPerSecond: number | null = null
      if (mode.from !== null) {
        const s = await hogger.call({ cmd: 'stopSilent' })
        reopenedPerSecond = Math.round(Number(s.closedByVictim) / ((now() - t0) / 1000))
      }
      const vd = await victim.call({ cmd: 'dump' }) as unknown as Dump
      const ok = neighbourMs.filter((x): x is number => x !== null)
      const row: SlotRow = {
        attack: mode.attack,
        connections: mode.from === null ? 0 : connections,
        open,
        reopenedPerSecond,
        linkMs,
        neighbourMs,
        medianMs: ok.length === 0 ? null : round(median(ok)),
        maxMs: ok.length < neighbourMs.length ? null : round(Math.max(...ok)),
        linked: `${ok.length}/${neighbourMs.length}`,
        victimLagMaxMs: round(Math.max(0, ...samplesIn(vd, t0, now()).map(s => s.lag)))!,
        newcomerSaid: said
      }
      rows.push(row)
      log(`slots: ${row.attack}: median ${String(row.medianMs)} ms, max ${String(row.maxMs)} ms, ${row.linked} linked`)
      // Let the victim's closed sockets and timers settle before the next mode.
      await sleep(1000)
    }
    const base = rows[0]!.medianMs
    const ratios = Object.fromEntries(rows.slice(1).map(r => [r.attack, base === null || r.medianMs === null ? null : round(r.medianMs / base, 2)]))
    return { rows, ratios }
  } finally {
    await Promise.all([victim, newcomer, hogger].map(async w => await w.stop()))
  }
}

// ---------------------------------------------------------------------------------------------

/** The commit measured, and the files of src/ changed in the tree on top of it (the build compiles the tree). */
function commit (): string {
  const git = (cmd: string): string => execSync(`git ${cmd}`, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trimEnd()
  try {
    const dirty = git('status --short --untracked-files=no src').split('\n').filter(l => l !== '').map(l => l.slice(3))
    return git('rev-parse --short HEAD') + (dirty.length === 0 ? '' : ` + uncommitted ${dirty.join(', ')}`)
  } catch { return 'unknown' }
}

async function main (): Promise<void> {
  const started = now()
  const loadBefore = os.loadavg().map(x => Number(x.toFixed(2)))
  const floods: FloodResult[] = []
  for (const s of scenarios) if (s === 'ihave' || s === 'evasive') floods.push(await ihaveFlood(s))
  const slot = scenarios.includes('slots') ? await slots() : null
  const report = { commit: commit(), loadBefore, loadAfter: os.loadavg().map(x => Number(x.toFixed(2))), wallSeconds: round((now() - started) / 1000), floods, slots: slot }
  if (json) { console.log(JSON.stringify(report, null, 2)); return }
  const f = (x: number | null | undefined, d = 1): string => x === null || x === undefined ? '-' : x.toFixed(d)
  console.log(`commit ${report.commit}, load average before ${loadBefore.join(' ')}, after ${report.loadAfter.join(' ')}`)
  for (const r of floods) {
    console.log(`\n### ${r.scenario === 'ihave' ? 'IHAVE flood' : 'IHAVE flood, insider delivers one message per 100 ms'}: ${r.nodes} nodes (active views ${r.activeViews.join(' ')}), ${r.rate} msgs/s, insider ${String(r.insider.idsPerSecond)} ids/s for ${f(r.insider.seconds as number)} s (${String(r.insider.ids)} ids)\n`)
    console.log('| phase | victim p50 ms | victim p99 ms | all p99 ms | all max ms | victim RSS MB (median / peak) | heap peak MB | external peak MB | victim CPU % | GC % | GC pause max ms | loop lag max ms | ids awaited max |')
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const [name, p] of Object.entries(r.phases)) {
      console.log(`| ${name} | ${f(p.victim.p50, 2)} | ${f(p.victim.p99, 2)} | ${f(p.all.p99, 2)} | ${f(p.all.max)} | ${f(p.victimRssMB.median)} / ${f(p.victimRssMB.peak)} | ${f(p.victimHeapMB.peak)} | ${f(p.victimExternalMB.peak)} | ${p.victimCpuPercent} | ${f(p.victimGcPercent)} | ${f(p.victimGcMaxMs)} | ${f(p.victimLagMaxMs)} | ${p.awaitedMax} |`)
    }
    console.log(`\nflood / baseline: victim p99 ${f(r.ratios.p99Victim, 2)}x, all p99 ${f(r.ratios.p99All, 2)}x; RSS peak / idle ${f(r.ratios.rssPeakVsIdle, 2)}x, / baseline ${f(r.ratios.rssPeakVsBaseline, 2)}x; late messages end ${r.recoveryMs} ms after the flood; ids awaited back to the baseline's most after ${String(r.awaitedBackToBaselineMs)} ms`)
    console.log(`flooder: unanswered GRAFTs ${r.flooder.unansweredAtFloodEnd} at flood end (ignored: ${String(r.flooder.ignoredAtFloodEnd)}), neighbour ${String(r.flooder.neighbourAtFloodEnd)} / linked ${String(r.flooder.linkedAtFloodEnd)} at flood end, neighbour ${String(r.flooder.neighbourAtEnd)} / linked ${String(r.flooder.linkedAtEnd)} ${phaseSeconds} s later; ${r.flooder.graftsReceived} GRAFTs received, the last ${String(r.flooder.lastGraftAfterFloodStartMs)} ms into the flood; dropped and re-joined ${r.flooder.redials} times${r.flooder.redials > 0 ? ` (${JSON.stringify(r.flooder.closeReasons)})` : ''}; delivered ${r.delivery.received} / ${r.delivery.expected}`)
  }
  if (slot !== null) {
    console.log('\n### Slot hogging: a new honest node until the victim is its neighbour\n')
    console.log('| attack | sockets open | re-opened/s | link ms (each trial) | neighbour ms (each trial) | median ms | max ms | linked | victim loop lag max ms |')
    console.log('| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |')
    for (const r of slot.rows) console.log(`| ${r.attack} | ${String(r.open ?? '-')} | ${String(r.reopenedPerSecond ?? '-')} | ${r.linkMs.map(x => f(x, 0)).join(', ')} | ${r.neighbourMs.map(x => f(x, 0)).join(', ')} | ${f(r.medianMs)} | ${f(r.maxMs)} | ${r.linked} | ${f(r.victimLagMaxMs)} |`)
    for (const r of slot.rows) for (const line of r.newcomerSaid) console.log(`- ${r.attack}, ${line}`)
    console.log(`\nmedian under attack / baseline: ${Object.entries(slot.ratios).map(([k, x]) => `${k}: ${f(x, 2)}x`).join('; ')}`)
  }
}

main().catch(err => { console.error(err); process.exit(1) })
