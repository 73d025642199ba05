/**
 * Socket.IO benchmark: Grapevine's adapter against @socket.io/redis-adapter on a real redis-server.
 *
 * Each adapter gets three Socket.IO server processes and one process of clients spread over rooms
 * (every room has members on every server). At each rate of a ladder, the three servers together
 * emit `io.to(room).emit` open loop for a few seconds; the clients count deliveries and record
 * end-to-end latency (server emit to client receipt) in an HDR histogram. The two adapters run
 * interleaved, round by round, so both see the same machine noise; the table gives medians over
 * rounds. A rate is sustainable when every delivery arrived and p99 stayed under the target; the
 * maximum sustainable rate is the highest such rung.
 *
 *   npm run bench:socketio -- [--rounds 3] [--seconds 3] [--rates 250,500,1000,2000,4000]
 *     [--clients-per-server 10] [--rooms 5] [--payload 100] [--target-p99 50] [--json] [--profile DIR]
 *
 * Room-spread scenario (`--scenario room-spread`): 6 server processes, 100 rooms, each room with a
 * client on 2 servers; every server emits to the rooms in turn at a fixed total rate. For each
 * adapter (Grapevine with `roomRouting`, Grapevine without, the Redis adapter, the sharded Redis
 * adapter in dynamic mode; one after the other, on the same redis-server), bytes each server
 * received from the cluster and CPU seconds of each process per 1,000 broadcasts, and for Grapevine
 * the share of broadcast bytes that reached servers with no member:
 *
 *   npm run bench:socketio -- --scenario room-spread [--servers 6] [--rooms 100] [--spread 2]
 *     [--rate 600] [--seconds 5] [--payload 100] [--idle-rooms 0] [--json] [--profile DIR]
 *     [--adapters grapevine-routed,grapevine,redis,redis-sharded]
 *
 * `--idle-rooms N`: one more client on each server joins N rooms of its own that nobody emits to
 * (one private room per user is a common layout), so that each server has many rooms to announce.
 *
 * `--profile DIR`: every server process writes a V8 CPU profile (`--cpu-prof`) to DIR when it
 * stops, to see where a server's time goes (the clients' process is not profiled). `--adapters`
 * (room spread): run only these; `redis` is always run, as the reference the ratios are taken to.
 *
 * redis-server must be installed (Debian: apt-get install redis-server); the script starts it on
 * 127.0.0.1 on a free port with no persistence and stops it at the end.
 */
import { fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg } from 'node:os'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import type { ClientsCommand } from './fixtures/socketio-clients.js'
import type { ServerCommand } from './fixtures/socketio-server.js'

type Kind = 'grapevine' | 'redis'

interface Options {
  rounds: number
  seconds: number
  rates: number[]
  clientsPerServer: number
  rooms: number
  payload: number
  targetP99: number
  json: boolean
}

function parseArgs (argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const num = (name: string, fallback: number): number => {
    const v = value(name)
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`)
    return n
  }
  return {
    rounds: num('rounds', 3),
    seconds: num('seconds', 3),
    rates: (value('rates') ?? '250,500,1000,2000,4000').split(',').map(Number).filter(n => n > 0),
    clientsPerServer: num('clients-per-server', 10),
    rooms: num('rooms', 5),
    payload: num('payload', 100),
    targetP99: num('target-p99', 50),
    json: argv.includes('--json')
  }
}

/** `--profile DIR`: Node flags that make a server process write a CPU profile there. */
function profileArgv (argv: string[]): string[] {
  const i = argv.indexOf('--profile')
  if (i < 0) return []
  const dir = argv[i + 1]
  if (dir === undefined || dir.startsWith('--')) throw new Error('--profile needs a directory')
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`]
}

const serverExecArgv = profileArgv(process.argv.slice(2))

interface Reply { ok?: boolean, ready?: boolean, error?: string, [k: string]: unknown }

/** A forked worker answering one command at a time, in order. */
class Worker<C extends { cmd: string }> {
  private readonly child: ChildProcess
  private readonly replies: Array<{ resolve: (r: Reply) => void, reject: (e: Error) => void }> = []
  readonly ready: Promise<void>

  constructor (file: string, execArgv: string[] = []) {
    this.child = fork(fileURLToPath(new URL(file, import.meta.url)), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv })
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', code => {
        reject(new Error(`${file} exited with ${String(code)}`))
        for (const r of this.replies.splice(0)) r.reject(new Error(`${file} exited`))
      })
      this.child.on('message', (m: Reply) => {
        if (m.ready === true) { resolve(); return }
        this.replies.shift()?.resolve(m)
      })
    })
  }

  async call (command: C): Promise<Reply> {
    await this.ready
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.replies.push({ resolve, reject })
      this.child.send(command)
    })
    if (reply.ok !== true) throw new Error(`worker failed on ${command.cmd}: ${reply.error ?? 'unknown'}`)
    return reply
  }

  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    await this.call({ cmd: 'stop' } as unknown as C).catch(() => { this.child.kill('SIGKILL') })
    await exited
  }
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** A throwaway redis-server on loopback: no persistence, stopped with the benchmark. */
async function startRedis (): Promise<{ port: number, pid: number, stop: () => Promise<void> }> {
  const port = await freePort()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const failed = new Promise<never>((_resolve, reject) => {
    proc.once('error', err => reject(new Error(`could not start redis-server (install it: apt-get install redis-server): ${err.message}`)))
    proc.once('exit', code => reject(new Error(`redis-server exited with ${String(code)}`)))
  })
  failed.catch(() => {})
  const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  probe.on('error', () => {})
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await Promise.race([probe.connect().then(async () => await probe.ping()), failed])
      break
    } catch (err) {
      if (Date.now() > deadline || proc.exitCode !== null) throw err
      probe.disconnect()
      await sleep(50)
    }
  }
  probe.disconnect()
  return {
    port,
    pid: proc.pid!,
    stop: async () => {
      if (proc.exitCode !== null) return
      const exited = new Promise(resolve => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    }
  }
}

interface Cluster {
  kind: Kind
  servers: Array<Worker<ServerCommand>>
  clients: Worker<ClientsCommand>
  members: number[]
  /** The Redis adapter's redis-server, whose CPU counts with its servers'. */
  redisPid?: number
}

async function startCluster (kind: Kind, options: Options, redisPort: number, redisPid: number): Promise<Cluster> {
  const servers = [0, 1, 2].map(() => new Worker<ServerCommand>('./fixtures/socketio-server.js', serverExecArgv))
  const clients = new Worker<ClientsCommand>('./fixtures/socketio-clients.js')
  const urls: string[] = []
  if (kind === 'grapevine') {
    const secret = randomBytes(16).toString('hex')
    const first = await servers[0]!.call({ cmd: 'start', kind, secret, seeds: [] })
    urls.push(String(first.url))
    for (const s of servers.slice(1)) urls.push(String((await s.call({ cmd: 'start', kind, secret, seeds: [String(first.address)] })).url))
  } else {
    for (const s of servers) urls.push(String((await s.call({ cmd: 'start', kind, redisPort })).url))
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    const counts = await Promise.all(servers.map(async s => (await s.call({ cmd: 'serverCount' })).count as number))
    if (counts.every(c => c === 3)) break
    if (Date.now() > deadline) throw new Error(`${kind}: servers count ${counts.join(',')} instead of 3`)
    await sleep(50)
  }
  const connected = await clients.call({ cmd: 'connect', urls, perServer: options.clientsPerServer, rooms: options.rooms })
  return { kind, servers, clients, members: connected.members as number[], ...(kind === 'redis' ? { redisPid } : {}) }
}

interface Run {
  kind: Kind
  round: number
  rate: number
  achievedRate: number
  expected: number
  received: number
  deliveryRatio: number
  deliveredPerSecond: number
  p50Ms: number | null
  p99Ms: number | null
  sustainable: boolean
  /** CPU seconds per 1,000 broadcasts: the three servers, and redis-server for the Redis adapter. */
  cpuPer1k: number
  /** The servers' event-loop delay while they emitted: the worst server's p99 and max, ms. */
  loopP99Ms: number
  loopMaxMs: number
}

/** CPU seconds used so far by the cluster's servers, and by redis-server for the Redis adapter. */
async function clusterCpu (cluster: Cluster): Promise<number> {
  const servers = await Promise.all(cluster.servers.map(async s => (await s.call({ cmd: 'stats' })).cpuSeconds as number))
  return servers.reduce((a, b) => a + b, 0) + (cluster.kind === 'redis' && cluster.redisPid !== undefined ? processCpuSeconds(cluster.redisPid) : 0)
}

async function measure (cluster: Cluster, rate: number, round: number, options: Options): Promise<Run> {
  await cluster.clients.call({ cmd: 'reset' })
  const cpuBefore = await clusterCpu(cluster)
  const results = await Promise.all(cluster.servers.map(async (s, index) => await s.call({
    cmd: 'emit', rate: rate / 3, seconds: options.seconds, rooms: options.rooms, payloadBytes: options.payload, index
  })))
  let expected = 0
  let achievedRate = 0
  let broadcasts = 0
  let loopP99Ms = 0
  let loopMaxMs = 0
  for (const r of results) {
    loopP99Ms = Math.max(loopP99Ms, r.loopP99Ms as number)
    loopMaxMs = Math.max(loopMaxMs, r.loopMaxMs as number)
    achievedRate += r.achievedRate as number
    broadcasts += r.sent as number
    for (const [room, count] of (r.perRoom as number[]).entries()) expected += count * cluster.members[room]!
  }
  // Drain: wait until everything arrived, or nothing more arrives for a while.
  let report = await cluster.clients.call({ cmd: 'report' })
  let last = -1
  let stillSince = Date.now()
  while ((report.received as number) < expected && Date.now() - stillSince < 2_000) {
    await sleep(50)
    report = await cluster.clients.call({ cmd: 'report' })
    if (report.received !== last) { last = report.received as number; stillSince = Date.now() }
  }
  const cpuPer1k = (await clusterCpu(cluster) - cpuBefore) * 1000 / Math.max(1, broadcasts)
  const received = report.received as number
  const p99Ms = report.p99Ms as number | null
  const deliveryRatio = expected === 0 ? 1 : received / expected
  return {
    kind: cluster.kind,
    round,
    rate,
    achievedRate,
    expected,
    received,
    deliveryRatio,
    deliveredPerSecond: received / options.seconds,
    p50Ms: report.p50Ms as number | null,
    p99Ms,
    sustainable: received >= expected && p99Ms !== null && p99Ms <= options.targetP99 && achievedRate >= rate * 0.95,
    cpuPer1k,
    loopP99Ms,
    loopMaxMs
  }
}

function median (values: number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Summary {
  kind: Kind
  rate: number
  rounds: number
  achievedRate: number | null
  deliveryRatio: number | null
  worstDeliveryRatio: number
  deliveredPerSecond: number | null
  p50Ms: number | null
  p99Ms: number | null
  sustainableRounds: number
  cpuPer1k: number | null
  loopP99Ms: number | null
  loopMaxMs: number | null
}

function summarize (runs: Run[], kinds: Kind[], rates: number[]): Summary[] {
  const out: Summary[] = []
  for (const rate of rates) {
    for (const kind of kinds) {
      const mine = runs.filter(r => r.kind === kind && r.rate === rate)
      if (mine.length === 0) continue
      out.push({
        kind,
        rate,
        rounds: mine.length,
        achievedRate: median(mine.map(r => r.achievedRate)),
        deliveryRatio: median(mine.map(r => r.deliveryRatio)),
        worstDeliveryRatio: Math.min(...mine.map(r => r.deliveryRatio)),
        deliveredPerSecond: median(mine.map(r => r.deliveredPerSecond)),
        p50Ms: median(mine.flatMap(r => r.p50Ms === null ? [] : [r.p50Ms])),
        p99Ms: median(mine.flatMap(r => r.p99Ms === null ? [] : [r.p99Ms])),
        sustainableRounds: mine.filter(r => r.sustainable).length,
        cpuPer1k: median(mine.map(r => r.cpuPer1k)),
        loopP99Ms: median(mine.map(r => r.loopP99Ms)),
        loopMaxMs: median(mine.map(r => r.loopMaxMs))
      })
    }
  }
  return out
}

/**
 * The highest rung whose medians over rounds are sustainable (every delivery, p99 under the target,
 * the rate achieved), with every rung below it sustainable too. Medians rather than per-round
 * verdicts, so one round disturbed by the machine's other load does not decide.
 */
function maxSustainable (summary: Summary[], kind: Kind, rates: number[], options: Options): number {
  let best = 0
  for (const rate of rates) {
    const s = summary.find(x => x.kind === kind && x.rate === rate)
    const ok = s !== undefined && s.rounds === options.rounds && s.deliveryRatio === 1 &&
      s.p99Ms !== null && s.p99Ms <= options.targetP99 && (s.achievedRate ?? 0) >= rate * 0.95
    if (!ok) break
    best = rate
  }
  return best
}

const fmt = (v: number | null, digits = 1): string => v === null ? '-' : v.toFixed(digits)

async function main (): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const kinds: Kind[] = ['grapevine', 'redis']
  const redis = await startRedis()
  const clusters: Cluster[] = []
  const stopAll = async (): Promise<void> => {
    for (const c of clusters) await Promise.all([...c.servers, c.clients].map(async w => { await w.stop() }))
    await redis.stop()
  }
  process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)).catch(() => {}) })
  const runs: Run[] = []
  try {
    for (const kind of kinds) clusters.push(await startCluster(kind, options, redis.port, redis.pid))
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which adapter goes first, so neither always runs on the warmer machine.
      const order = round % 2 === 0 ? clusters : [...clusters].reverse()
      const saturated = new Set<Kind>()
      for (const rate of options.rates) {
        for (const cluster of order) {
          // An adapter that lost deliveries has hit its ceiling in this round. A slow rung alone
          // does not stop the climb: on a shared machine that is as often noise as saturation.
          if (saturated.has(cluster.kind)) continue
          const run = await measure(cluster, rate, round, options)
          runs.push(run)
          if (run.deliveryRatio < 1) saturated.add(cluster.kind)
          if (!options.json) {
            process.stderr.write(`round ${round + 1} ${cluster.kind.padEnd(9)} ${String(rate).padStart(6)}/s: ` +
              `delivered ${(run.deliveryRatio * 100).toFixed(2)}%, p50 ${fmt(run.p50Ms)} ms, p99 ${fmt(run.p99Ms)} ms\n`)
          }
        }
      }
    }
  } finally {
    await stopAll()
  }

  const summary = summarize(runs, kinds, options.rates)
  const max = Object.fromEntries(kinds.map(k => [k, maxSustainable(summary, k, options.rates, options)])) as Record<Kind, number>
  // p99 compared at the highest rate both adapters sustain.
  const shared = Math.min(max.grapevine, max.redis)
  const at = (kind: Kind): Summary | undefined => summary.find(s => s.kind === kind && s.rate === shared)
  const p99Ratio = shared > 0 && at('grapevine')?.p99Ms != null && at('redis')?.p99Ms != null
    ? at('grapevine')!.p99Ms! / at('redis')!.p99Ms!
    : null
  const result = {
    options: { ...options, json: undefined },
    summary,
    maxSustainableRate: max,
    maxSustainableRatio: max.redis > 0 ? max.grapevine / max.redis : null,
    sharedRate: shared,
    p99RatioAtSharedRate: p99Ratio,
    /** Median CPU per broadcast, grapevine / redis (servers, and redis-server for redis), at each rate both ran. */
    cpuRatioByRate: options.rates.map(rate => {
      const g = summary.find(s => s.kind === 'grapevine' && s.rate === rate)?.cpuPer1k
      const r = summary.find(s => s.kind === 'redis' && s.rate === rate)?.cpuPer1k
      return { rate, ratio: g != null && r != null && r > 0 ? g / r : null }
    }),
    loadAverage: loadavg(),
    runs
  }
  if (options.json) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    return
  }
  const lines = [
    `Socket.IO adapters: 3 server processes, ${options.clientsPerServer * 3} clients in ${options.rooms} rooms, ` +
      `${options.payload}-byte payloads, ${options.seconds} s per rung, medians of ${options.rounds} interleaved rounds; load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`,
    '',
    '| adapter   | target msg/s | achieved msg/s | delivered | deliveries/s | p50 ms | p99 ms | sustained rounds | CPU s / 1k | server loop delay p99 / max ms |',
    '|-----------|-------------:|---------------:|----------:|-------------:|-------:|-------:|-----------------:|-----------:|-------------------------------:|'
  ]
  for (const s of summary) {
    lines.push(`| ${s.kind.padEnd(9)} | ${String(s.rate).padStart(12)} | ${fmt(s.achievedRate, 0).padStart(14)} | ` +
      `${(fmt(s.deliveryRatio === null ? null : s.deliveryRatio * 100, 2) + ' %').padStart(9)} | ${fmt(s.deliveredPerSecond, 0).padStart(12)} | ` +
      `${fmt(s.p50Ms).padStart(6)} | ${fmt(s.p99Ms).padStart(6)} | ${`${s.sustainableRounds}/${s.rounds}`.padStart(16)} | ${fmt(s.cpuPer1k, 3).padStart(10)} | ` +
      `${`${fmt(s.loopP99Ms)} / ${fmt(s.loopMaxMs)}`.padStart(30)} |`)
  }
  lines.push('')
  lines.push(`Maximum sustainable rate (100 % delivered, p99 <= ${options.targetP99} ms): ` +
    `grapevine ${max.grapevine} msg/s, redis ${max.redis} msg/s` +
    (result.maxSustainableRatio !== null ? ` (ratio ${result.maxSustainableRatio.toFixed(2)})` : ''))
  if (p99Ratio !== null) lines.push(`p99 at ${shared} msg/s: grapevine / redis = ${p99Ratio.toFixed(2)}`)
  const cpuRatios = result.cpuRatioByRate.filter(r => r.ratio !== null).map(r => `${r.rate}: ${r.ratio!.toFixed(2)}`)
  if (cpuRatios.length > 0) lines.push(`CPU per broadcast (servers, and redis-server for redis), grapevine / redis, by rate: ${cpuRatios.join(', ')}`)
  process.stdout.write(lines.join('\n') + '\n')
}

/** CPU seconds a process has used (Linux /proc), for redis-server. */
function processCpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; in clock ticks (100/s).
  return (Number(fields[11]) + Number(fields[12])) / 100
}

type SpreadKind = 'grapevine-routed' | 'grapevine' | 'redis' | 'redis-sharded'

interface SpreadOptions { servers: number, rooms: number, spread: number, rate: number, seconds: number, payload: number, idleRooms: number, json: boolean }

interface SpreadServer { bytesIn: number, cpuSeconds: number, routing?: { receivedBytes: number, unwantedBytes: number, received: number, unwanted: number } }

interface SpreadResult {
  kind: SpreadKind
  broadcasts: number
  delivered: number
  expected: number
  /** Per server, per 1,000 broadcasts: bytes received from the cluster, CPU seconds. */
  perServer: Array<{ bytesPer1k: number, cpuPer1k: number }>
  clientsCpuPer1k: number
  redisCpuPer1k: number | null
  /** Servers and redis-server together (not the clients' process, the same for every adapter). */
  totalCpuPer1k: number
  totalBytesPer1k: number
  /** Grapevine: of the broadcast bytes servers received, the share that reached servers with no member. */
  unwantedShare: number | null
  p50Ms: number | null
  p99Ms: number | null
}

async function roomSpread (argv: string[]): Promise<void> {
  const value = (name: string, fallback: number, least = 1): number => {
    const i = argv.indexOf(`--${name}`)
    const n = i >= 0 ? Number(argv[i + 1]) : fallback
    if (!Number.isFinite(n) || n < least) throw new Error(`--${name} must be a number >= ${least}`)
    return n
  }
  const options: SpreadOptions = {
    servers: value('servers', 6),
    rooms: value('rooms', 100),
    spread: value('spread', 2),
    rate: value('rate', 600),
    seconds: value('seconds', 5),
    payload: value('payload', 100),
    idleRooms: value('idle-rooms', 0, 0),
    json: argv.includes('--json')
  }
  const all: SpreadKind[] = ['grapevine-routed', 'grapevine', 'redis', 'redis-sharded']
  const i = argv.indexOf('--adapters')
  const wanted = i >= 0 ? String(argv[i + 1]).split(',') : all
  for (const w of wanted) if (!all.includes(w as SpreadKind)) throw new Error(`--adapters: unknown adapter ${w} (${all.join(', ')})`)
  const kinds = all.filter(k => k === 'redis' || wanted.includes(k))
  const redis = await startRedis()
  const results: SpreadResult[] = []
  try {
    for (const kind of kinds) {
      results.push(await spreadRun(kind, options, redis))
      if (!options.json) {
        const r = results.at(-1)!
        process.stderr.write(`${kind}: ${r.delivered}/${r.expected} delivered, ${r.totalCpuPer1k.toFixed(3)} CPU s and ${(r.totalBytesPer1k / 1024).toFixed(0)} KiB per 1,000 broadcasts\n`)
      }
    }
  } finally {
    await redis.stop()
  }
  const redisClassic = results.find(r => r.kind === 'redis')!
  const summary = {
    options: { ...options, json: undefined },
    loadAverage: loadavg(),
    results,
    cpuRatioToRedis: Object.fromEntries(results.map(r => [r.kind, r.totalCpuPer1k / redisClassic.totalCpuPer1k]))
  }
  if (options.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
    return
  }
  const lines = [
    `Room spread: ${options.servers} server processes, ${options.rooms} rooms each with a client on ${options.spread} servers, ` +
      `${options.rate} broadcasts/s for ${options.seconds} s, ${options.payload}-byte payloads` +
      (options.idleRooms > 0 ? `, and ${options.idleRooms} rooms nobody emits to on each server` : '') + `; load average ${loadavg().map(l => l.toFixed(2)).join(' ')}`,
    '',
    '| adapter          | delivered | KiB in per server per 1k (each) | server CPU s per 1k (each) | redis-server CPU s / 1k | total CPU s / 1k | vs redis | no-member share of bytes | p99 ms |',
    '|------------------|----------:|---------------------------------|----------------------------|------------------------:|-----------------:|---------:|-------------------------:|-------:|'
  ]
  for (const r of results) {
    lines.push(`| ${r.kind.padEnd(16)} | ${(fmt(r.delivered / Math.max(1, r.expected) * 100, 2) + ' %').padStart(9)} | ` +
      `${r.perServer.map(x => (x.bytesPer1k / 1024).toFixed(0)).join(' ')} | ${r.perServer.map(x => x.cpuPer1k.toFixed(3)).join(' ')} | ` +
      `${fmt(r.redisCpuPer1k, 3).padStart(23)} | ${r.totalCpuPer1k.toFixed(3).padStart(16)} | ${(r.totalCpuPer1k / redisClassic.totalCpuPer1k).toFixed(2).padStart(8)} | ` +
      `${(r.unwantedShare === null ? '-' : (r.unwantedShare * 100).toFixed(2) + ' %').padStart(24)} | ${fmt(r.p99Ms).padStart(6)} |`)
  }
  process.stdout.write(lines.join('\n') + '\n')
}

async function spreadRun (kind: SpreadKind, options: SpreadOptions, redis: { port: number, pid: number }): Promise<SpreadResult> {
  const servers = Array.from({ length: options.servers }, () => new Worker<ServerCommand>('./fixtures/socketio-server.js', serverExecArgv))
  const clients = new Worker<ClientsCommand>('./fixtures/socketio-clients.js')
  try {
    const urls: string[] = []
    if (kind === 'grapevine' || kind === 'grapevine-routed') {
      const secret = randomBytes(16).toString('hex')
      const roomRouting = kind === 'grapevine-routed'
      const first = await servers[0]!.call({ cmd: 'start', kind: 'grapevine', secret, seeds: [], roomRouting })
      urls.push(String(first.url))
      for (const s of servers.slice(1)) urls.push(String((await s.call({ cmd: 'start', kind: 'grapevine', secret, seeds: [String(first.address)], roomRouting })).url))
    } else {
      for (const s of servers) urls.push(String((await s.call({ cmd: 'start', kind, redisPort: redis.port })).url))
    }
    const deadline = Date.now() + 30_000
    for (;;) {
      const counts = await Promise.all(servers.map(async s => (await s.call({ cmd: 'serverCount' })).count as number))
      if (counts.every(c => c === options.servers)) break
      if (Date.now() > deadline) throw new Error(`${kind}: servers count ${counts.join(',')} instead of ${options.servers}`)
      await sleep(50)
    }
    const connected = await clients.call({ cmd: 'connect', urls, perServer: 0, rooms: options.rooms, spread: options.spread, idleRooms: options.idleRooms })
    const members = connected.members as number[]
    // Warm-up (and, with routing, time for every server's rooms to be known everywhere).
    await Promise.all(servers.map(async (s, index) => await s.call({ cmd: 'emit', rate: options.rate / options.servers, seconds: 1, rooms: options.rooms, payloadBytes: options.payload, index })))
    await sleep(1_000)
    await clients.call({ cmd: 'reset' })
    const stats = async (): Promise<{ servers: SpreadServer[], clients: number, redis: number }> => ({
      servers: await Promise.all(servers.map(async s => await s.call({ cmd: 'stats' }) as unknown as SpreadServer)),
      clients: (await clients.call({ cmd: 'stats' })).cpuSeconds as number,
      redis: processCpuSeconds(redis.pid)
    })
    const before = await stats()
    const sent = await Promise.all(servers.map(async (s, index) => await s.call({
      cmd: 'emit', rate: options.rate / options.servers, seconds: options.seconds, rooms: options.rooms, payloadBytes: options.payload, index
    })))
    let expected = 0
    let broadcasts = 0
    for (const r of sent) {
      broadcasts += r.sent as number
      for (const [room, count] of (r.perRoom as number[]).entries()) expected += count * members[room]!
    }
    let report = await clients.call({ cmd: 'report' })
    const drainUntil = Date.now() + 5_000
    while ((report.received as number) < expected && Date.now() < drainUntil) {
      await sleep(50)
      report = await clients.call({ cmd: 'report' })
    }
    await sleep(200)
    const after = await stats()
    const per1k = 1000 / broadcasts
    const perServer = after.servers.map((a, i) => ({
      bytesPer1k: (a.bytesIn - before.servers[i]!.bytesIn) * per1k,
      cpuPer1k: (a.cpuSeconds - before.servers[i]!.cpuSeconds) * per1k
    }))
    const isRedis = kind === 'redis' || kind === 'redis-sharded'
    const redisCpuPer1k = isRedis ? (after.redis - before.redis) * per1k : null
    let received = 0
    let unwanted = 0
    for (const [i, a] of after.servers.entries()) {
      if (a.routing === undefined) continue
      received += a.routing.receivedBytes - before.servers[i]!.routing!.receivedBytes
      unwanted += a.routing.unwantedBytes - before.servers[i]!.routing!.unwantedBytes
    }
    return {
      kind,
      broadcasts,
      delivered: report.received as number,
      expected,
      perServer,
      clientsCpuPer1k: (after.clients - before.clients) * per1k,
      redisCpuPer1k,
      totalCpuPer1k: perServer.reduce((sum, x) => sum + x.cpuPer1k, 0) + (redisCpuPer1k ?? 0),
      totalBytesPer1k: perServer.reduce((sum, x) => sum + x.bytesPer1k, 0),
      unwantedShare: isRedis ? null : received === 0 ? 0 : unwanted / received,
      p50Ms: report.p50Ms as number | null,
      p99Ms: report.p99Ms as number | null
    }
  } finally {
    await Promise.all([...servers, clients].map(async w => { await w.stop() }))
  }
}

const entry = process.argv.includes('--scenario') && process.argv[process.argv.indexOf('--scenario') + 1] === 'room-spread'
  ? roomSpread(process.argv.slice(2))
  : main()

entry.catch(err => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
  process.exitCode = 1
})
