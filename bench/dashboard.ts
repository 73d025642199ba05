/**
 * What the dashboard's data costs each node (issue 14: <= 1 KB/s of gossip at 50 nodes). Three
 * clusters of N idle nodes over real TCP on loopback, spread over a few processes, each node in
 * one application topic where nothing is published: one with `clusterSummary` off (the baseline),
 * one whose nodes join the summary topic but publish nothing on it (what the topic's upkeep costs
 * alone: its overlay's links, keepalives, shuffles) and one with `clusterSummary` on at the
 * defaults. After a warm-up that lets the overlays and the summaries' spacing settle, each node's
 * bytes on the wire (in and out, every topic, keepalives, encryption and handshakes included:
 * `stats().wireBytesIn/Out`) are measured over a window that covers several summary periods; the
 * cost is the difference per node, on minus off (nodes paired by index: the same role in both).
 * The first node of the summarising cluster also keeps a dashboard's view of the cluster
 * (ClusterView, as the Fastify plugin does): how many nodes it shows at the end of the window.
 *
 *   npm run bench:dashboard -- [--nodes 50] [--processes 5] [--warmup 240] [--window 600] [--sequential] [--json]
 *   node dist/bench/dashboard.js --from result.json     # the table of a run saved with --json
 *
 * The clusters run at the same time by default (different secrets, so they never link): the same
 * machine, the same minutes. `--sequential` runs them one after the other.
 * A benchmark, not a test: it reports against the goal and never fails on a number.
 */
import { NumberedWorker } from './fixtures/numbered-worker.js'
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '50' },
    processes: { type: 'string', default: '5' },
    /**
     * Seconds between every node having neighbours and the window. The overlay shuffles every 60 s;
     * a node's summary period grows to its final value once it has heard the others (at 50 nodes,
     * about 100 s), and the early summaries of the joins are spent.
     */
    warmup: { type: 'string', default: '240' },
    /** Seconds measured. At 50 nodes at the defaults a node publishes about every 100 s: several periods. */
    window: { type: 'string', default: '600' },
    /** Seconds allowed for every node to get a neighbour in its topics. */
    timeout: { type: 'string', default: '120' },
    sequential: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Print the table of a result saved with --json instead of running. */
    from: { type: 'string' }
  }
})

const nodes = Number(values.nodes)
const processes = Number(values.processes)
const warmupSeconds = Number(values.warmup)
const windowSeconds = Number(values.window)
const timeoutSeconds = Number(values.timeout)
const json = values.json
/** What the table says about the run (those of the saved run with --from). */
const settings = { warmupSeconds, sequential: values.sequential }
const positive = (x: number): boolean => Number.isInteger(x) && x > 0
if (!positive(nodes) || nodes < 2 || !positive(processes) || processes > nodes || !(warmupSeconds >= 0) || !(windowSeconds > 0) || !(timeoutSeconds > 0)) {
  console.error('usage: bench:dashboard -- [--nodes 50] [--processes 5] [--warmup 240] [--window 600] [--timeout 120] [--sequential] [--json] [--from FILE]')
  process.exit(2)
}
const workerPath = fileURLToPath(new URL('./dashboard-worker.js', import.meta.url))

/** The goal of issue 14: the dashboard's data costs each node at most this, bytes a second. */
const GOAL_BYTES_PER_SECOND = 1000
const APP_TOPIC = 'bench:dashboard:idle'

const CALL_TIMEOUT_MS = 60_000
const POLL_MS = 500

// Replies are whatever each worker command returns.
type Any = any

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const progress = (line: string): void => { if (!json) process.stderr.write(`${line}\n`) }

interface Spread { min: number, mean: number, max: number }
function spread (xs: number[]): Spread {
  if (xs.length === 0) return { min: NaN, mean: NaN, max: NaN }
  return { min: Math.min(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs) }
}

interface NodeResult {
  /** Wire bytes a second over the window. */
  inBps: number
  outBps: number
  links: number
  /** Summaries this node published, and distinct summaries it received, in the window. */
  published: number
  received: number
  /** Payload frames of the summary topic received, duplicates included, and their bytes. */
  summaryFramesIn: number
  summaryPayloadIn: number
  duplicates: number
  neighbourDowns: number
}

interface ViewResult {
  shown: number
  live: number
  stale: number
  unknown: number
  selfState: string | null
  links: number
  /** Nodes whose summary the dashboard's node received during the window (its own included: local handles get it). */
  heardInWindow: number
  announcedIntervalMs: Spread
  summaryBytes: Spread & { count: number }
}

interface Run {
  mode: Mode
  summaries: boolean
  nodes: number
  processes: number
  /** s from the first node's start until every node had a neighbour in its topics. */
  joinSeconds: number
  windowSeconds: number
  perNode: NodeResult[]
  /** CPU used by each process over the window, % of one core. */
  cpuPercent: number[]
  rssMB: number[]
  /** neighbourDown events in the window, by topic and reason. */
  downReasons: Record<string, number>
  warnLines: number
  errorLines: number
  firstLogLines: string[]
  view: ViewResult | null
}

type Mode = 'off' | 'topic' | 'on'

async function run (mode: Mode): Promise<Run> {
  const tag = mode
  const summaries = mode === 'on'
  const secret = `bench-dashboard-${tag}-${process.pid}`
  const workers = Array.from({ length: processes }, (_, i) => new NumberedWorker(workerPath, `${tag}/${i}`, { callTimeoutMs: CALL_TIMEOUT_MS, stopTimeoutMs: 10_000 }))
  const counts = workers.map((_, i) => Math.floor(nodes / processes) + (i < nodes % processes ? 1 : 0))
  try {
    await Promise.all(workers.map(async w => await w.ready))
    const started = performance.now()
    const [first, ...rest] = workers as [NumberedWorker, ...NumberedWorker[]]
    const head = await first.call('start', { secret, seeds: [], count: counts[0], summary: summaries, topicOnly: mode === 'topic', appTopic: APP_TOPIC, view: summaries }, 120_000)
    const seed = String(head.addresses[0])
    await Promise.all(rest.map(async (w, i) => await w.call('start', { secret, seeds: [seed], count: counts[i + 1], summary: summaries, topicOnly: mode === 'topic', appTopic: APP_TOPIC, view: false }, 120_000)))
    progress(`${tag}: ${nodes} nodes started in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const deadline = performance.now() + timeoutSeconds * 1000
    let ready = 0
    while (performance.now() < deadline) {
      const statuses = await Promise.all(workers.map(async w => await w.call('status')))
      ready = statuses.flatMap(s => s.nodes as Any[]).filter(n => n.app > 0 && (mode === 'off' || n.cluster > 0)).length
      if (ready >= nodes) break
      await sleep(POLL_MS)
    }
    if (ready < nodes) throw new Error(`${tag}: only ${ready} of ${nodes} nodes had neighbours after ${timeoutSeconds} s`)
    const joinSeconds = (performance.now() - started) / 1000
    progress(`${tag}: every node has neighbours after ${joinSeconds.toFixed(1)} s; warming up ${warmupSeconds} s`)

    await sleep(warmupSeconds * 1000)
    const before = await Promise.all(workers.map(async w => await w.call('sample')))
    const windowStart = Math.min(...before.map(s => Number(s.at)))
    progress(`${tag}: measuring ${windowSeconds} s`)
    for (let left = windowSeconds; left > 0; left -= 60) {
      await sleep(Math.min(60, left) * 1000)
      if (left > 60) progress(`${tag}: ${left - 60} s left`)
    }
    const after = await Promise.all(workers.map(async w => await w.call('sample')))
    const seen = await first.call('view')

    const perNode: NodeResult[] = []
    workers.forEach((_, w) => {
      const a = after[w].nodes as Any[]
      const b = before[w].nodes as Any[]
      a.forEach((end, k) => {
        const start = b[k]
        const seconds = (end.at - start.at) / 1000
        perNode.push({
          inBps: (end.wireIn - start.wireIn) / seconds,
          outBps: (end.wireOut - start.wireOut) / seconds,
          links: end.links,
          published: end.cluster.published - start.cluster.published,
          received: end.cluster.delivered - start.cluster.delivered,
          summaryFramesIn: end.cluster.messagesIn - start.cluster.messagesIn,
          summaryPayloadIn: end.cluster.bytesIn - start.cluster.bytesIn,
          duplicates: end.cluster.duplicates - start.cluster.duplicates,
          neighbourDowns: end.downs - start.downs
        })
      })
    })
    const v = seen.view as Any
    const view: ViewResult | null = v === null
      ? null
      : {
          shown: v.shown,
          live: v.live,
          stale: v.stale,
          unknown: v.unknown,
          selfState: v.selfState,
          links: v.links,
          heardInWindow: Object.values(v.heard as Record<string, number>).filter(at => at >= windowStart).length,
          announcedIntervalMs: v.announcedIntervalMs,
          summaryBytes: v.summaryBytes
        }
    const last = after.map(s => s.log)
    const downReasons: Record<string, number> = {}
    for (const [w, s] of after.entries()) {
      for (const [k, n] of Object.entries(s.downReasons as Record<string, number>)) downReasons[k] = (downReasons[k] ?? 0) + n - Number(before[w].downReasons[k] ?? 0)
    }
    return {
      mode,
      summaries,
      downReasons,
      nodes,
      processes,
      joinSeconds: Number(joinSeconds.toFixed(1)),
      windowSeconds: Number(((Math.max(...after.map(s => Number(s.at))) - windowStart) / 1000).toFixed(1)),
      perNode,
      cpuPercent: workers.map((_, w) => {
        const used = (after[w].cpu.user + after[w].cpu.system - before[w].cpu.user - before[w].cpu.system) / 1e3
        return Number((used / (Number(after[w].at) - Number(before[w].at)) * 100).toFixed(1))
      }),
      rssMB: after.map(s => Math.round(Number(s.rss) / 1e6)),
      warnLines: last.reduce((n, l) => n + Number(l.warn), 0),
      errorLines: last.reduce((n, l) => n + Number(l.error), 0),
      firstLogLines: last.flatMap((l, w) => (l.first as string[]).map(line => `process ${w}: ${line}`)).slice(0, 10),
      view
    }
  } finally {
    await Promise.all(workers.map(async w => await w.stop()))
  }
}

interface Result {
  off: Run
  /** The summary topic joined by every node, nothing published on it: its upkeep alone. */
  topic: Run
  on: Run
  /**
   * Per node of the summarising cluster: its bytes a second less those of the node of the same
   * index in the baseline cluster (the same role: node 0 the seed, each process's first node the
   * second seed of the others in its process).
   */
  extra: { in: Spread, out: Spread, total: Spread }
  /** The same for the upkeep cluster: what joining the summary topic costs without any summary. */
  upkeep: { in: Spread, out: Spread, total: Spread }
  /** Summaries received per node per second in the window. */
  summariesPerSecond: number
  /** Extra wire bytes, each way, per summary a node received: all of it, and without the upkeep (the publisher's model: size + 460). */
  bytesPerSummary: { in: number, out: number, inLessUpkeep: number, outLessUpkeep: number }
  goal: { total: boolean, eachWay: boolean, dashboardSeesAll: boolean }
}

function paired (base: Run, run: Run): Result['extra'] {
  const n = Math.min(base.perNode.length, run.perNode.length)
  const d = (f: (x: NodeResult) => number): Spread => spread(run.perNode.slice(0, n).map((x, i) => f(x) - f(base.perNode[i]!)))
  return { in: d(x => x.inBps), out: d(x => x.outBps), total: d(x => x.inBps + x.outBps) }
}

function compare (off: Run, topic: Run, on: Run): Result {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const extra = paired(off, on)
  const upkeep = paired(off, topic)
  const summariesPerSecond = mean(on.perNode.map(n => n.received)) / on.windowSeconds
  const bytesPerSummary = {
    in: extra.in.mean / summariesPerSecond,
    out: extra.out.mean / summariesPerSecond,
    inLessUpkeep: (extra.in.mean - upkeep.in.mean) / summariesPerSecond,
    outLessUpkeep: (extra.out.mean - upkeep.out.mean) / summariesPerSecond
  }
  return {
    off,
    topic,
    on,
    extra,
    upkeep,
    summariesPerSecond,
    bytesPerSummary,
    goal: {
      total: extra.total.max <= GOAL_BYTES_PER_SECOND,
      eachWay: Math.max(extra.in.max, extra.out.max) <= GOAL_BYTES_PER_SECOND,
      // Every node shown and none greyed (the dashboard's own node counts when its neighbours name it).
      dashboardSeesAll: on.view !== null && on.view.shown >= on.nodes && on.view.stale === 0 && on.view.live + (on.view.selfState === 'unknown' ? 1 : 0) >= on.nodes
    }
  }
}

function print (r: Result, load: number[]): void {
  if (json) {
    console.log(JSON.stringify({ load, nodes: r.on.nodes, processes: r.on.processes, warmupSeconds: settings.warmupSeconds, windowSeconds, sequential: settings.sequential, goalBytesPerSecond: GOAL_BYTES_PER_SECOND, ...r }, null, 2))
    return
  }
  const int = (x: number): string => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-'
  const mm = (s: Spread): string => `${int(s.mean)} / ${int(s.max)}`
  const mmm = (s: Spread, digits = 0): string => `${s.min.toFixed(digits)} / ${s.mean.toFixed(digits)} / ${s.max.toFixed(digits)}`
  const of = (run: Run, f: (n: NodeResult) => number): Spread => spread(run.perNode.map(f))
  const { off, topic, on, extra, upkeep } = r
  const v = on.view
  const { nodes, processes } = on
  const { warmupSeconds } = settings
  const downs = (run: Run): string => {
    const total = Object.values(run.downReasons).reduce((a, b) => a + b, 0)
    const parts = Object.entries(run.downReasons).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`)
    return parts.length === 0 ? '0' : `${total} (${parts.join(', ')})`
  }
  console.log(`${nodes} idle nodes in ${processes} processes per cluster on 127.0.0.1, each node in one topic where nothing is published; warm-up ${warmupSeconds} s, window ${on.windowSeconds} s; ` +
    `${settings.sequential ? 'one cluster after the other' : 'the three clusters at the same time'}; load average before: ${load.map(x => x.toFixed(2)).join(', ')}\n`)
  console.log('Extra: per node, its wire bytes less those of the node of the same index (same role) in the cluster without summaries.\n')
  const rows: Array<[string, string, string, string, string]> = [
    ['wire B/s in per node, mean / max', mm(of(off, n => n.inBps)), mm(of(topic, n => n.inBps)), mm(of(on, n => n.inBps)), mm(extra.in)],
    ['wire B/s out per node, mean / max', mm(of(off, n => n.outBps)), mm(of(topic, n => n.outBps)), mm(of(on, n => n.outBps)), mm(extra.out)],
    ['wire B/s in + out per node, mean / max', mm(of(off, n => n.inBps + n.outBps)), mm(of(topic, n => n.inBps + n.outBps)), mm(of(on, n => n.inBps + n.outBps)), mm(extra.total)],
    ['extra in + out: the summary topic\'s upkeep, mean / max', '', mm(upkeep.total), '', ''],
    ['links per node, min / mean / max', mmm(of(off, n => n.links), 1), mmm(of(topic, n => n.links), 1), mmm(of(on, n => n.links), 1), `${(of(on, n => n.links).mean - of(off, n => n.links).mean).toFixed(1)}`],
    ['summaries published per node in the window, min / mean / max', '', '', mmm(of(on, n => n.published), 1), ''],
    ['summaries received per node in the window, min / mean / max', '', '', mmm(of(on, n => n.received), 1), ''],
    ['summary frames received per node (duplicates included), mean', '', '', of(on, n => n.summaryFramesIn).mean.toFixed(1), ''],
    ['summary size, bytes: min / mean / max', '', '', v === null ? '-' : `${v.summaryBytes.min} / ${int(v.summaryBytes.mean)} / ${v.summaryBytes.max}`, ''],
    ['period the nodes announce, s: min / mean / max', '', '', v === null ? '-' : `${(v.announcedIntervalMs.min / 1000).toFixed(1)} / ${(v.announcedIntervalMs.mean / 1000).toFixed(1)} / ${(v.announcedIntervalMs.max / 1000).toFixed(1)}`, ''],
    ['extra wire bytes per summary received, in / out', '', '', '', `${int(r.bytesPerSummary.in)} / ${int(r.bytesPerSummary.out)}`],
    ['the same less the upkeep, in / out', '', '', '', `${int(r.bytesPerSummary.inLessUpkeep)} / ${int(r.bytesPerSummary.outLessUpkeep)}`],
    ['neighbourDown events in the window (all nodes)', downs(off), downs(topic), downs(on), ''],
    ['CPU per process over the window, % of a core', off.cpuPercent.join(' / '), topic.cpuPercent.join(' / '), on.cpuPercent.join(' / '), ''],
    ['RSS per process, MB', off.rssMB.join(' / '), topic.rssMB.join(' / '), on.rssMB.join(' / '), ''],
    ['every node had neighbours after', `${off.joinSeconds} s`, `${topic.joinSeconds} s`, `${on.joinSeconds} s`, ''],
    ['warn / error lines', `${off.warnLines} / ${off.errorLines}`, `${topic.warnLines} / ${topic.errorLines}`, `${on.warnLines} / ${on.errorLines}`, '']
  ]
  console.log('| per node | summaries off | summary topic, no summaries | summaries on | extra (on − off) |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
  if (v !== null) {
    console.log(`\nDashboard on node 0 at the end of the window: ${v.shown} of ${nodes} nodes shown (${v.live} live, ${v.stale} stale, ${v.unknown} known only from others' summaries; ` +
      `the dashboard's own node: ${v.selfState ?? 'not shown'}), ${v.links} links; summaries heard from ${v.heardInWindow} of the ${nodes} nodes (its own included) during the window.`)
  }
  const mark = (ok: boolean): string => ok ? 'met' : 'missed'
  console.log('\n| goal | result |')
  console.log('| --- | --- |')
  console.log(`| summaries cost every node <= ${int(GOAL_BYTES_PER_SECOND)} B/s, in + out | ${mark(r.goal.total)} (mean ${int(extra.total.mean)}, max ${int(extra.total.max)}) |`)
  console.log(`| summaries cost every node <= ${int(GOAL_BYTES_PER_SECOND)} B/s each way | ${mark(r.goal.eachWay)} (max in ${int(extra.in.max)}, out ${int(extra.out.max)}) |`)
  console.log(`| a dashboard shows all ${nodes} nodes, none greyed | ${mark(r.goal.dashboardSeesAll)}${v === null ? '' : ` (${v.shown} / ${nodes} shown, ${v.live} live, ${v.stale} stale)`} |`)
  const lines = [off, topic, on].flatMap(run => run.firstLogLines.slice(0, 4).map(l => `${run.mode} ${l}`))
  if (lines.length > 0) {
    console.log('\nFirst warnings:')
    for (const line of lines) console.log(`  ${line}`)
  }
}

async function main (): Promise<void> {
  if (values.from !== undefined) {
    const saved = JSON.parse(readFileSync(values.from, 'utf8')) as Result & { load: number[], warmupSeconds: number, sequential?: boolean }
    settings.warmupSeconds = saved.warmupSeconds
    settings.sequential = saved.sequential === true
    print(saved, saved.load)
    return
  }
  const load = loadavg()
  progress(`${nodes} nodes, ${processes} processes per cluster: warm-up ${warmupSeconds} s, window ${windowSeconds} s, ${values.sequential ? 'one cluster after the other' : 'three clusters at once'}`)
  const modes: Mode[] = ['off', 'topic', 'on']
  const runs: Run[] = []
  if (values.sequential) for (const mode of modes) runs.push(await run(mode))
  else runs.push(...await Promise.all(modes.map(run)))
  const [off, topic, on] = runs as [Run, Run, Run]
  print(compare(off, topic, on), load)
}

main().then(() => { process.exit(0) }, err => { console.error(err); process.exit(1) })
