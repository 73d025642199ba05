/**
 * Node benchmark: three processes on loopback, one publisher, two receivers. For each payload size
 * and rate, the publisher sends open loop for a few seconds; receivers count deliveries and record
 * publish→deliver latency (HDR histogram). The same run measures the raw baseline: the same
 * payloads as length-prefixed frames written straight to plain TCP sockets, the physical limit.
 *
 *   npm run bench:node -- [--seconds 2] [--sizes 100,4096] [--modes raw,gossip,unsigned] [--rates 20000,40000] [--json] [--profile DIR]
 *
 * `unsigned` is the node with `signMessages: false`: what origin signatures cost. Each step also
 * reports the CPU seconds of the three processes per million deliveries (user and system time,
 * from just before the step to the receivers' reports, drain included). A rate is sustained when
 * every message arrived and the step's p50 stayed at most 50 ms: a step that delivered everything
 * only by draining a backlog (p50 in the hundreds of ms) does not count. The rungs double; after a
 * ladder, a fresh cluster runs its two best sustained rungs again and then a step halfway to the
 * next rung, which narrows the limit (without it a node sustaining 60,000 read as 40,000); then another
 * runs two steps at half the limit, the second of which gives the latency there.
 */
import { WorkerProcess as Worker } from './fixtures/worker-process.js'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

const args = process.argv.slice(2)
const json = args.includes('--json')
const secondsArg = args.indexOf('--seconds')
const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : 2
const sizesArg = args.indexOf('--sizes')
const sizes = sizesArg >= 0 ? String(args[sizesArg + 1]).split(',').map(Number) : undefined
const modesArg = args.indexOf('--modes')
type Mode = 'raw' | 'gossip' | 'unsigned'
const modes = (modesArg >= 0 ? String(args[modesArg + 1]).split(',') : ['raw', 'gossip', 'unsigned']) as Mode[]
const ratesArg = args.indexOf('--rates')
/** `--rates A,B`: these steps instead of the ladders (to profile or compare at a fixed rate). */
const fixedRates = ratesArg >= 0 ? String(args[ratesArg + 1]).split(',').map(Number) : undefined
const profileArg = args.indexOf('--profile')
/** `--profile DIR`: every worker writes a V8 CPU profile there, to see where a step's time goes. */
const execArgv = profileArg >= 0 ? ['--cpu-prof', `--cpu-prof-dir=${String(args[profileArg + 1])}`] : []
const workerPath = fileURLToPath(new URL('./node-worker.js', import.meta.url))

interface Row {
  mode: Mode
  size: number
  rate: number
  sent: number
  /** Why the publisher stopped early (a link overflowed), if it did. */
  failed: string | null
  deliveredPerSecond: number
  deliveryRatio: number
  p50Ms: number | null
  p99Ms: number | null
  /** CPU seconds of the three processes per million deliveries (to both receivers). */
  cpuPerMillion: number | null
}

async function cpuSeconds (workers: Worker[]): Promise<number> {
  const each = await Promise.all(workers.map(async w => Number((await w.call({ cmd: 'cpu' })).seconds)))
  return each.reduce((a, b) => a + b, 0)
}

async function cluster (mode: Mode): Promise<Worker[]> {
  const workers = [new Worker(workerPath, execArgv), new Worker(workerPath, execArgv), new Worker(workerPath, execArgv)]
  await Promise.all(workers.map(async w => await w.ready))
  const secret = 'bench-secret'
  const [pub, ...recv] = workers as [Worker, Worker, Worker]
  if (mode !== 'raw') {
    const unsigned = mode === 'unsigned'
    const a = await pub.call({ cmd: 'start', mode: 'gossip', secret, seeds: [], unsigned })
    const addrs = [String(a.address)]
    for (const w of recv) {
      const r = await w.call({ cmd: 'start', mode: 'gossip', secret, seeds: addrs, unsigned })
      addrs.push(String(r.address))
    }
    for (const w of workers) await w.call({ cmd: 'join' })
    for (const w of workers) await w.call({ cmd: 'waitNeighbours', count: 2 })
  } else {
    const addrs: string[] = []
    await pub.call({ cmd: 'start', mode, secret, seeds: [] })
    for (const w of recv) addrs.push(String((await w.call({ cmd: 'start', mode, secret, seeds: [] })).address))
    await pub.call({ cmd: 'connect', addrs })
  }
  return workers
}

async function measure (workers: Worker[], mode: Mode, size: number, rate: number): Promise<Row> {
  const [pub, ...recv] = workers as [Worker, Worker, Worker]
  for (const w of recv) await w.call({ cmd: 'reset' })
  const cpuBefore = await cpuSeconds(workers)
  const { sent, failed } = await pub.call({ cmd: 'publish', rate, seconds, size }) as unknown as { sent: number, failed?: string }
  // Let the tail drain, then read what each receiver got.
  await new Promise(resolve => setTimeout(resolve, 500))
  const reports = await Promise.all(recv.map(async w => await w.call({ cmd: 'report' })))
  const cpu = await cpuSeconds(workers) - cpuBefore
  const deliveries = reports.reduce((sum, r) => sum + Number(r.received), 0)
  const perSecond = reports.map(r => Number(r.received) / Math.max(0.001, Number(r.spanMs) / 1000))
  const ratio = reports.map(r => Number(r.received) / sent)
  const p99s = reports.map(r => r.p99Ms as number | null).filter((x): x is number => x !== null)
  const p50s = reports.map(r => r.p50Ms as number | null).filter((x): x is number => x !== null)
  return {
    mode,
    size,
    rate,
    sent,
    failed: failed ?? null,
    deliveredPerSecond: Math.round(perSecond.reduce((a, b) => a + b, 0) / perSecond.length),
    deliveryRatio: Math.min(...ratio),
    p50Ms: p50s.length > 0 ? Math.max(...p50s) : null,
    p99Ms: p99s.length > 0 ? Math.max(...p99s) : null,
    cpuPerMillion: deliveries === 0 ? null : Number((cpu / deliveries * 1e6).toFixed(1))
  }
}

/**
 * Before its ladder, every cluster publishes this long at WARM_UP_RATE, unmeasured: the first
 * step otherwise timed the JIT compiling the hot path (a first step at 10,000 msgs/s had a p99 of
 * 57-134 ms, the same step run again right after 3.0-4.7 ms).
 */
const WARM_UP_SECONDS = 1
const WARM_UP_RATE = 5_000

async function warmUp (workers: Worker[], size: number): Promise<void> {
  const [pub] = workers as [Worker]
  await pub.call({ cmd: 'publish', rate: WARM_UP_RATE, seconds: WARM_UP_SECONDS, size })
  await new Promise(resolve => setTimeout(resolve, 500))
}

/** Largest p50 latency, ms, of a step that counts as sustained. */
const MAX_LAG_MS = 50

// Rates climb until a mode stops delivering (almost) everything: its sustainable maximum is the
// best delivered rate of a step that still delivered >= 99 % with a p50 of at most MAX_LAG_MS.
// The ladders go on until raw saturates too (it did not at 160,000 and 40,000), so that the
// ratio to raw is taken at raw's limit rather than at the top of a short ladder.
const plan: Array<{ size: number, rates: number[] }> = [
  { size: 100, rates: [1_000, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 1_280_000] },
  { size: 4096, rates: [1_000, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000] }
]

/**
 * A step is sustained when it delivered everything without falling behind: a step that delivered
 * all but with a p50 of hundreds of ms drained a backlog (as bench:multihost judges).
 */
const sustained = (r: Row): boolean => r.deliveryRatio >= 0.99 && r.failed === null && r.p50Ms !== null && r.p50Ms <= MAX_LAG_MS

/** Runs `rates` on a fresh, warmed-up cluster, until a step delivers less than 99 % or fails. */
async function climb (mode: Mode, size: number, rates: number[]): Promise<Row[]> {
  const rows: Row[] = []
  const workers = await cluster(mode)
  try {
    await warmUp(workers, size)
    for (const rate of rates) {
      const row = await measure(workers, mode, size, rate)
      rows.push(row)
      if (!json) process.stderr.write(`${mode} ${size} B @ ${rate}/s: ${row.deliveredPerSecond}/s delivered, ${(row.deliveryRatio * 100).toFixed(1)} %\n`)
      if (row.deliveryRatio < 0.99 || row.failed !== null) break
    }
  } finally {
    await Promise.all(workers.map(async w => await w.stop()))
  }
  return rows
}

/** The second of two steps at half each mode's sustained rate, per size. */
const atHalf: Row[] = []

async function main (): Promise<void> {
  const started = performance.now()
  const rows: Row[] = []
  // Per payload size, the baseline then Grapevine, each on a fresh cluster, so that both see the
  // machine in the same state and a saturated step cannot spoil the next one.
  for (const { size, rates } of plan.filter(p => sizes === undefined || sizes.includes(p.size))) {
    for (const mode of modes) {
      const climbed = await climb(mode, size, fixedRates ?? rates)
      rows.push(...climbed)
      if (fixedRates !== undefined) continue
      // The rungs double, so a limit between two of them reads as the lower. One more climb, on a
      // fresh cluster (the failed step may have closed links or left a backlog): the two best
      // sustained rungs again, so that the first large steps' one-off costs (a log filling, the
      // heap growing) fall where they fell in the ladder, then halfway to the rung that failed.
      const good = climbed.filter(sustained).map(r => r.rate)
      const best = good.length === 0 ? undefined : Math.max(...good)
      const next = best === undefined ? undefined : rates[rates.indexOf(best) + 1]
      if (best !== undefined && next !== undefined && climbed.some(r => r.rate === next)) {
        const below = rates[rates.indexOf(best) - 1]
        rows.push(...await climb(mode, size, [...(below === undefined ? [] : [below]), best, Math.round((best + next) / 2)]))
      }
      // Issue 12's latency goal is read at half the sustained rate, which after the halfway step
      // is rarely a rung: two steps there on a fresh cluster, the second one steady.
      const limit = rows.filter(r => r.mode === mode && r.size === size && sustained(r)).reduce((m, r) => Math.max(m, r.deliveredPerSecond), 0)
      if (limit >= 2_000) {
        const half = Math.round(limit / 2_000) * 1_000
        const [, steady] = await climb(mode, size, [half, half])
        if (steady !== undefined) atHalf.push(steady)
      }
    }
  }
  // null: that mode or size was not run (or sustained no step).
  const sustainable = (mode: string, size: number): number | null => {
    const ok = rows.filter(r => r.mode === mode && r.size === size && sustained(r))
    return ok.length === 0 ? null : Math.max(...ok.map(r => r.deliveredPerSecond))
  }
  const ratio = (a: number | null, b: number | null): number | null => a === null || b === null ? null : Number((a / b).toFixed(2))
  const ran = plan.filter(p => rows.some(r => r.size === p.size))
  const ratios = Object.fromEntries(ran.map(p => {
    const raw = sustainable('raw', p.size)
    const gossip = sustainable('gossip', p.size)
    const unsigned = sustainable('unsigned', p.size)
    return [`${p.size}B`, { raw, gossip, ratio: ratio(gossip, raw), unsigned, signedVsUnsigned: ratio(gossip, unsigned) }]
  }))
  print(rows, ratios, performance.now() - started)
}

function print (rows: Row[], ratios: Record<string, { raw: number | null, gossip: number | null, ratio: number | null, unsigned: number | null, signedVsUnsigned: number | null }>, wallMs: number): void {
  if (json) {
    console.log(JSON.stringify({ seconds, maxLagMs: MAX_LAG_MS, wallSeconds: Number((wallMs / 1000).toFixed(1)), rows, sustainable: ratios, atHalf }, null, 2))
  } else {
    const fmt = (x: number | null): string => x === null ? '-' : x.toFixed(2)
    console.log('| mode | payload | target rate | sent | delivered/s per receiver | delivered | p50 ms | p99 ms | CPU s per 1M deliveries |')
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const r of rows) {
      console.log(`| ${r.mode} | ${r.size} B | ${String(r.rate)} | ${r.sent} | ${r.deliveredPerSecond} | ${(r.deliveryRatio * 100).toFixed(1)} % | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.cpuPerMillion ?? '-'} |`)
    }
    console.log(`\nSustained: every message delivered, p50 at most ${MAX_LAG_MS} ms.`)
    console.log('\n| payload | raw sustainable msgs/s | gossip sustainable msgs/s | gossip / raw | unsigned gossip msgs/s | signed / unsigned |')
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: |')
    const cell = (x: number | null, unit = ''): string => x === null ? '-' : `${x}${unit}`
    for (const [k, v] of Object.entries(ratios)) console.log(`| ${k} | ${cell(v.raw)} | ${cell(v.gossip)} | ${cell(v.ratio, 'x')} | ${cell(v.unsigned)} | ${cell(v.signedVsUnsigned, 'x')} |`)
    if (atHalf.length > 0) {
      console.log('\nAt half the sustained rate (the second of two steps there, on a fresh cluster):\n')
      console.log('| mode | payload | rate | delivered | p50 ms | p99 ms | CPU s per 1M deliveries |')
      console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
      for (const r of atHalf) console.log(`| ${r.mode} | ${r.size} B | ${r.rate} | ${(r.deliveryRatio * 100).toFixed(1)} % | ${fmt(r.p50Ms)} | ${fmt(r.p99Ms)} | ${r.cpuPerMillion ?? '-'} |`)
    }
  }
}

main().catch(err => { console.error(err); process.exit(1) })
