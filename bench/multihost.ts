/**
 * Multi-host Socket.IO benchmark (issue 10 item 5): Grapevine's adapter against
 * @socket.io/redis-adapter, every server on a host of its own, every server-to-server and
 * server-to-redis link 1 ms one way.
 *
 * Hosts are network namespaces on a bridge (scripts/netns-bed.sh, 10.77.NET.x): namespaces 1..N
 * hold one Socket.IO server of each adapter (Grapevine's on port 3000, the Redis adapter's on
 * 3001), namespace N+1 holds redis-server, namespace N+2 the clients (one process per adapter, so
 * every receive timestamp comes from one clock). The kernel has no netem: the delay comes from a
 * relay process (bench/fixtures/delay-relay.ts) in front of each server-side listener:
 *
 *   - each gossip node listens on 127.0.0.1:7001 of its namespace and advertises 10.77.NET.i:7000,
 *     where its relay listens and forwards to it 1 ms later (and the answers back 1 ms later). A
 *     node dials every peer at its advertised address, so every gossip link, whichever end opened
 *     it, crosses exactly one relay: 1 ms each way;
 *   - redis-server listens on 127.0.0.1:6379 of its namespace, its relay on 10.77.NET.(N+1):6379;
 *     every server's pub and sub connections go through it: 1 ms each way, with the same relay
 *     code and settings.
 *
 * So a broadcast costs one delayed hop with Grapevine (server to server) and two with Redis (server
 * to redis, redis to server): the broker's extra hop that loopback hides. Clients talk to their
 * server directly (no relay).
 *
 * At each rate of a ladder the N servers together emit `io.to(room).emit` open loop; clients in
 * every room on every server record emit-to-receipt latency. Adapters run interleaved, round by
 * round; the table gives medians over rounds. A rate is sustainable when every delivery arrived,
 * the servers kept the rate (95 %) and delivery did not fall behind: the p50 latency of what was
 * emitted in the last half second stays under --max-lag (a backlog that grows makes it climb to
 * seconds; a short stall of a busy machine does not). The CPU time of the servers (and, for Redis,
 * of redis-server) per message emitted is measured from /proc, as the load-independent cost.
 *
 *   npm run bench:multihost -- [--servers 3,5] [--rounds 2] [--seconds 3]
 *     [--rates 500,1000,2000,4000,6000,8000] [--fixed-rate 1000] [--delay 1]
 *     [--clients-per-server 10] [--rooms 5] [--payload 100] [--max-lag 50] [--json]
 *
 * Needs Linux, root, `ip`, `iptables` and `redis-server`; skips with the reason otherwise. The bed
 * (namespaces, every process in them, redis-server included) is removed at the end, on Ctrl-C,
 * SIGTERM and on failure, and by a detached reaper if this process is killed with -9.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClientsCommand } from './fixtures/socketio-clients.js'
import type { ServerCommand } from './fixtures/socketio-server.js'
import type { RelayCommand } from './fixtures/delay-relay.js'

type Kind = 'grapevine' | 'redis'
const KINDS: Kind[] = ['grapevine', 'redis']

const ENV: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, NODE_OPTIONS: '' }
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BED_SCRIPT = join(ROOT, 'scripts/netns-bed.sh')
const GOSSIP_PORT = 7000
const GOSSIP_INNER_PORT = 7001
const REDIS_PORT = 6379
const HTTP_PORT: Record<Kind, number> = { grapevine: 3000, redis: 3001 }

interface Options {
  servers: number[]
  rounds: number
  seconds: number
  rates: number[]
  fixedRate: number
  delay: number
  clientsPerServer: number
  rooms: number
  payload: number
  maxLag: number
  json: boolean
}

function parseArgs (argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const num = (name: string, fallback: number, zero = false): number => {
    const v = value(name)
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0 || (n === 0 && !zero)) throw new Error(`--${name} must be a ${zero ? 'non-negative' : 'positive'} number`)
    return n
  }
  const list = (name: string, fallback: string): number[] => (value(name) ?? fallback).split(',').map(Number).filter(n => Number.isFinite(n) && n > 0)
  const options: Options = {
    servers: list('servers', '3,5').map(Math.floor),
    rounds: num('rounds', 2),
    seconds: num('seconds', 3),
    rates: list('rates', '500,1000,2000,4000,6000,8000').sort((a, b) => a - b),
    fixedRate: num('fixed-rate', 1000),
    delay: num('delay', 1, true),
    clientsPerServer: num('clients-per-server', 10),
    rooms: num('rooms', 5),
    payload: num('payload', 100),
    maxLag: num('max-lag', 50),
    json: argv.includes('--json')
  }
  if (options.servers.some(n => n < 2 || n > 32)) throw new Error('--servers: between 2 and 32 servers')
  if (!options.rates.includes(options.fixedRate)) options.rates = [...options.rates, options.fixedRate].sort((a, b) => a - b)
  return options
}

function which (cmd: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  return dirs.some(d => d !== '' && existsSync(join(d, cmd)))
}

/** Why this benchmark cannot run here, or undefined when it can. */
function unavailable (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, iptables)'
  if (!which('ip')) return '`ip` not found (apt-get install -y iproute2)'
  if (!which('iptables')) return '`iptables` not found (apt-get install -y iptables)'
  if (!which('redis-server')) return '`redis-server` not found (apt-get install -y redis-server)'
  return undefined
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Reply { ok?: boolean, ready?: boolean, error?: string, [k: string]: unknown }

/** A process inside a namespace of the bed, answering IPC commands one at a time, in order. */
class NsProcess<C extends { cmd: string }> {
  readonly child: ChildProcess
  readonly ready: Promise<void>
  private readonly replies: Array<{ resolve: (r: Reply) => void, reject: (e: Error) => void }> = []
  private stderr = ''

  constructor (readonly name: string, namespace: string, file: string, args: string[] = []) {
    // `ip netns exec` execs node inside the namespace; the IPC descriptor passes through.
    this.child = spawn('ip', ['netns', 'exec', namespace, process.execPath, fileURLToPath(new URL(file, import.meta.url)), ...args],
      { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], env: ENV })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4_000)
      if (!this.quiet) process.stderr.write(chunk)
    })
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', code => {
        reject(new Error(`${name} exited (${String(code)}): ${this.stderr.trim().slice(-500)}`))
        for (const r of this.replies.splice(0)) r.reject(new Error(`${name} exited: ${this.stderr.trim().slice(-500)}`))
      })
      this.child.on('message', (m: Reply) => {
        if (m.ready === true) { resolve(); return }
        this.replies.shift()?.resolve(m)
      })
    })
    this.ready.catch(() => {})
  }

  quiet = false

  async call (command: C): Promise<Reply> {
    await this.ready
    const reply = await new Promise<Reply>((resolve, reject) => {
      this.replies.push({ resolve, reject })
      this.child.send(command)
    })
    if (reply.ok !== true) throw new Error(`${this.name} failed on ${command.cmd}: ${reply.error ?? 'unknown'}`)
    return reply
  }

  get alive (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  async stop (graceful?: C): Promise<void> {
    if (!this.alive) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000)
    if (graceful !== undefined) {
      this.quiet = true
      await this.call(graceful).catch(() => { this.child.kill('SIGKILL') })
    } else {
      this.child.kill('SIGTERM')
    }
    await exited
    clearTimeout(timer)
  }
}

/**
 * A bed of namespaces made by scripts/netns-bed.sh, removed with everything running in it when
 * this process ends in any way (exit, SIGINT, SIGTERM, SIGHUP, an uncaught error; a detached
 * reaper covers kill -9).
 */
class Bed {
  readonly tag = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`.slice(0, 12)
  readonly net = randomBytes(1)[0]!
  private removed = false
  private reaper: ChildProcess | undefined
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: removing the bed ${this.tag}\n`)
    this.down()
    process.kill(process.pid, signal)
  }

  private readonly onExit = (): void => { this.down() }

  constructor (readonly size: number) {}

  namespace (i: number): string { return `gvnb-${this.tag}-${i}` }
  host (i: number): string { return `10.77.${this.net}.${i}` }

  up (): void {
    this.reaper = spawn(BED_SCRIPT, ['reap', this.tag, String(process.pid), '7200'], { detached: true, stdio: 'ignore', env: ENV })
    this.reaper.unref()
    process.once('exit', this.onExit)
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, this.onSignal)
    execFileSync(BED_SCRIPT, ['up', this.tag, String(this.size), String(this.net)], { env: ENV, stdio: ['ignore', 'ignore', 'inherit'] })
  }

  /** Kills every process in the bed (servers, relays, redis-server, clients) and deletes it. */
  down (): void {
    if (this.removed) return
    this.removed = true
    try { execFileSync(BED_SCRIPT, ['down', this.tag], { stdio: 'ignore', timeout: 30_000, env: ENV }) } catch {}
    if (this.reaper?.pid !== undefined) { try { process.kill(this.reaper.pid, 'SIGKILL') } catch {} }
    process.removeListener('exit', this.onExit)
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, this.onSignal)
  }
}

interface Cluster {
  kind: Kind
  servers: Array<NsProcess<ServerCommand>>
  clients: NsProcess<ClientsCommand>
  members: number[]
}

interface Setup {
  n: number
  bed: Bed
  relays: Array<NsProcess<RelayCommand>>
  clusters: Cluster[]
  redisPid?: number | undefined
}

/** CPU seconds (user + system) a process has used so far, 0 once it is gone. */
function cpuSeconds (pid: number | undefined): number {
  if (pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

async function waitForPort (bed: Bed, ns: number, host: string, port: number, what: string): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    try {
      execFileSync('ip', ['netns', 'exec', bed.namespace(ns), 'redis-cli', '-h', host, '-p', String(port), 'ping'], { env: ENV, stdio: 'pipe', timeout: 5_000 })
      return
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not answer on ${host}:${port}: ${String(err)}`)
      await sleep(100)
    }
  }
}

/** Fills `setup` as it goes, so that whatever was started can be stopped if a step fails. */
async function setUp (setup: Setup, options: Options, log: (s: string) => void): Promise<void> {
  const { n, bed, relays } = setup
  const redisNs = n + 1
  const clientNs = n + 2
  bed.up()
  const relayFile = './fixtures/delay-relay.js'
  // redis-server, loopback only in its namespace, reachable from the others through its relay.
  const redis = spawn('ip', ['netns', 'exec', bed.namespace(redisNs), 'redis-server', '--bind', '127.0.0.1', '--port', String(REDIS_PORT),
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', '/tmp', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'], env: ENV })
  redis.once('error', err => { log(`redis-server: ${err.message}`) })
  setup.redisPid = redis.pid
  relays.push(new NsProcess('redis relay', bed.namespace(redisNs), relayFile,
    [`${bed.host(redisNs)}:${REDIS_PORT}`, `127.0.0.1:${REDIS_PORT}`, String(options.delay)]))
  for (let i = 1; i <= n; i++) {
    relays.push(new NsProcess(`gossip relay ${i}`, bed.namespace(i), relayFile,
      [`${bed.host(i)}:${GOSSIP_PORT}`, `127.0.0.1:${GOSSIP_INNER_PORT}`, String(options.delay)]))
  }
  await Promise.all(relays.map(async r => await r.ready))
  await waitForPort(bed, redisNs, '127.0.0.1', REDIS_PORT, 'redis-server')
  await waitForPort(bed, 1, bed.host(redisNs), REDIS_PORT, 'the relay of redis-server')

  const secret = randomBytes(16).toString('hex')
  for (const kind of KINDS) {
    const servers = Array.from({ length: n }, (_, k) =>
      new NsProcess<ServerCommand>(`${kind} server ${k + 1}`, bed.namespace(k + 1), './fixtures/socketio-server.js'))
    const clients = new NsProcess<ClientsCommand>(`${kind} clients`, bed.namespace(clientNs), './fixtures/socketio-clients.js')
    const cluster: Cluster = { kind, servers, clients, members: [] }
    setup.clusters.push(cluster)
    const listen = (i: number): { httpHost: string, httpPort: number } => ({ httpHost: bed.host(i), httpPort: HTTP_PORT[kind] })
    const urls = await Promise.all(servers.map(async (s, k) => {
      const i = k + 1
      const reply = kind === 'grapevine'
        ? await s.call({
          cmd: 'start',
          kind,
          secret,
          host: '127.0.0.1',
          port: GOSSIP_INNER_PORT,
          advertise: `${bed.host(i)}:${GOSSIP_PORT}`,
          seeds: i === 1 ? [] : [`${bed.host(1)}:${GOSSIP_PORT}`],
          ...listen(i)
        })
        : await s.call({ cmd: 'start', kind, redisHost: bed.host(redisNs), redisPort: REDIS_PORT, ...listen(i) })
      return String(reply.url)
    }))
    const deadline = Date.now() + 60_000
    for (;;) {
      const counts = await Promise.all(servers.map(async s => (await s.call({ cmd: 'serverCount' })).count as number))
      if (counts.every(c => c === n)) break
      if (Date.now() > deadline) throw new Error(`${kind}: servers count ${counts.join(',')} instead of ${n}`)
      await sleep(100)
    }
    const connected = await clients.call({ cmd: 'connect', urls, perServer: options.clientsPerServer, rooms: options.rooms })
    cluster.members = connected.members as number[]
    // Warm-up, not measured: JIT, first sends on every link, the Redis subscriptions in place.
    await Promise.all(servers.map(async (s, index) => await s.call({
      cmd: 'emit', rate: options.rates[0]! / n, seconds: 2, rooms: options.rooms, payloadBytes: options.payload, index
    })))
    log(`${n} servers: ${kind} cluster up (${urls.join(' ')})`)
  }
}

/** Stops the processes politely (bounded), then removes the bed and whatever still runs in it. */
async function tearDown (setup: Setup): Promise<void> {
  const polite = async (): Promise<void> => {
    for (const c of setup.clusters) {
      await Promise.all([...c.servers, c.clients].map(async w => { await w.stop({ cmd: 'stop' } as never).catch(() => {}) }))
    }
    await Promise.all(setup.relays.map(async r => { await r.stop().catch(() => {}) }))
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([polite(), new Promise(resolve => { timer = setTimeout(resolve, 15_000) })])
  clearTimeout(timer)
  setup.bed.down()
}

interface RelayDelay { meanMs: number | null, maxMs: number | null, chunks: number, lateChunks: number }

interface Run {
  servers: number
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
  maxMs: number | null
  /** p50 of what was emitted in the first and in the last half second */
  firstP50Ms: number | null
  lastP50Ms: number | null
  /** ms from the end of emitting until the last delivery arrived (or the drain gave up). */
  drainMs: number
  relay: RelayDelay
  /** CPU of this adapter's servers (plus redis-server for Redis) per message emitted, µs */
  cpuPerMessageUs: number
  /** the same CPU over the whole measurement, in cores */
  cpuCores: number
  relayCpuCores: number
  sustainable: boolean
}

async function relayStats (relays: Array<NsProcess<RelayCommand>>): Promise<RelayDelay> {
  const all = await Promise.all(relays.map(async r => await r.call({ cmd: 'stats' })))
  let chunks = 0
  let sum = 0
  let max: number | null = null
  let late = 0
  for (const s of all) {
    const c = s.chunks as number
    chunks += c
    late += s.lateChunks as number
    if (c > 0) {
      sum += (s.meanDelayMs as number) * c
      max = Math.max(max ?? 0, s.maxDelayMs as number)
    }
  }
  return { meanMs: chunks > 0 ? sum / chunks : null, maxMs: max, chunks, lateChunks: late }
}

async function measure (setup: Setup, cluster: Cluster, rate: number, round: number, options: Options): Promise<Run> {
  const n = setup.n
  await cluster.clients.call({ cmd: 'reset' })
  await Promise.all(setup.relays.map(async r => await r.call({ cmd: 'reset' })))
  const adapterPids = [...cluster.servers.map(s => s.child.pid), ...(cluster.kind === 'redis' ? [setup.redisPid] : [])]
  const cpu = (pids: Array<number | undefined>): number => pids.reduce<number>((sum, pid) => sum + cpuSeconds(pid), 0)
  const relayPids = setup.relays.map(r => r.child.pid)
  const cpuBefore = cpu(adapterPids)
  const relayBefore = cpu(relayPids)
  const began = Date.now()
  const results = await Promise.all(cluster.servers.map(async (s, index) => await s.call({
    cmd: 'emit', rate: rate / n, seconds: options.seconds, rooms: options.rooms, payloadBytes: options.payload, index
  })))
  const emitted = Date.now()
  let expected = 0
  let achievedRate = 0
  let sent = 0
  for (const r of results) {
    sent += r.sent as number
    achievedRate += r.achievedRate as number
    for (const [room, count] of (r.perRoom as number[]).entries()) expected += count * cluster.members[room]!
  }
  // Drain: until everything arrived, or nothing more arrives for 2 s.
  let report = await cluster.clients.call({ cmd: 'report' })
  let last = report.received as number
  let lastAt = Date.now()
  while ((report.received as number) < expected && Date.now() - lastAt < 2_000) {
    await sleep(50)
    report = await cluster.clients.call({ cmd: 'report' })
    if (report.received !== last) { last = report.received as number; lastAt = Date.now() }
  }
  const cpuUsed = cpu(adapterPids) - cpuBefore
  const relayUsed = cpu(relayPids) - relayBefore
  const elapsed = (Date.now() - began) / 1000
  const received = report.received as number
  const p99Ms = report.p99Ms as number | null
  const deliveryRatio = expected === 0 ? 1 : received / expected
  const timeline = (report.timelineP50Ms as Array<number | null> | undefined ?? []).filter((v): v is number => v !== null)
  const lastP50Ms = timeline.length > 0 ? timeline[timeline.length - 1]! : null
  return {
    servers: n,
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
    maxMs: report.maxMs as number | null,
    firstP50Ms: timeline[0] ?? null,
    lastP50Ms,
    drainMs: Math.max(0, lastAt - emitted),
    relay: await relayStats(setup.relays),
    cpuPerMessageUs: sent > 0 ? cpuUsed / sent * 1e6 : 0,
    cpuCores: cpuUsed / elapsed,
    relayCpuCores: relayUsed / elapsed,
    sustainable: received >= expected && lastP50Ms !== null && lastP50Ms <= options.maxLag && achievedRate >= rate * 0.95
  }
}

function median (values: number[]): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Summary {
  servers: number
  kind: Kind
  rate: number
  rounds: number
  achievedRate: number | null
  deliveryRatio: number | null
  worstDeliveryRatio: number
  deliveredPerSecond: number | null
  p50Ms: number | null
  p99Ms: number | null
  /** lowest and highest p50 / p99 over rounds */
  p50RangeMs: [number, number] | null
  p99RangeMs: [number, number] | null
  lastP50Ms: number | null
  relayMeanDelayMs: number | null
  cpuPerMessageUs: number | null
  cpuCores: number | null
  relayCpuCores: number | null
  sustainableRounds: number
}

function summarize (runs: Run[], n: number, rates: number[]): Summary[] {
  const out: Summary[] = []
  const range = (v: number[]): [number, number] | null => v.length === 0 ? null : [Math.min(...v), Math.max(...v)]
  for (const rate of rates) {
    for (const kind of KINDS) {
      const mine = runs.filter(r => r.servers === n && r.kind === kind && r.rate === rate)
      if (mine.length === 0) continue
      const p50 = mine.flatMap(r => r.p50Ms === null ? [] : [r.p50Ms])
      const p99 = mine.flatMap(r => r.p99Ms === null ? [] : [r.p99Ms])
      out.push({
        servers: n,
        kind,
        rate,
        rounds: mine.length,
        achievedRate: median(mine.map(r => r.achievedRate)),
        deliveryRatio: median(mine.map(r => r.deliveryRatio)),
        worstDeliveryRatio: Math.min(...mine.map(r => r.deliveryRatio)),
        deliveredPerSecond: median(mine.map(r => r.deliveredPerSecond)),
        p50Ms: median(p50),
        p99Ms: median(p99),
        p50RangeMs: range(p50),
        p99RangeMs: range(p99),
        lastP50Ms: median(mine.flatMap(r => r.lastP50Ms === null ? [] : [r.lastP50Ms])),
        relayMeanDelayMs: median(mine.flatMap(r => r.relay.meanMs === null ? [] : [r.relay.meanMs])),
        cpuPerMessageUs: median(mine.map(r => r.cpuPerMessageUs)),
        cpuCores: median(mine.map(r => r.cpuCores)),
        relayCpuCores: median(mine.map(r => r.relayCpuCores)),
        sustainableRounds: mine.filter(r => r.sustainable).length
      })
    }
  }
  return out
}

/** The highest rung whose medians are sustainable, every rung below it sustainable too. */
function maxSustainable (summary: Summary[], kind: Kind, rates: number[], options: Options): number {
  let best = 0
  for (const rate of rates) {
    const s = summary.find(x => x.kind === kind && x.rate === rate)
    const ok = s !== undefined && s.rounds === options.rounds && s.deliveryRatio === 1 &&
      s.lastP50Ms !== null && s.lastP50Ms <= options.maxLag && (s.achievedRate ?? 0) >= rate * 0.95
    if (!ok) break
    best = rate
  }
  return best
}

const fmt = (v: number | null | undefined, digits = 1): string => v === null || v === undefined ? '-' : v.toFixed(digits)

interface Result {
  servers: number
  summary: Summary[]
  maxSustainableRate: Record<Kind, number>
  maxSustainableRatio: number | null
  fixedRate: number
  p50RatioAtFixedRate: number | null
  p99RatioAtFixedRate: number | null
  sharedRate: number
  p50RatioAtSharedRate: number | null
  p99RatioAtSharedRate: number | null
}

function analyse (runs: Run[], n: number, options: Options): Result {
  const summary = summarize(runs, n, options.rates)
  const max = Object.fromEntries(KINDS.map(k => [k, maxSustainable(summary, k, options.rates, options)])) as Record<Kind, number>
  const ratio = (rate: number, key: 'p50Ms' | 'p99Ms'): number | null => {
    const g = summary.find(s => s.kind === 'grapevine' && s.rate === rate)?.[key]
    const r = summary.find(s => s.kind === 'redis' && s.rate === rate)?.[key]
    return g != null && r != null && r > 0 ? g / r : null
  }
  const shared = Math.min(max.grapevine, max.redis)
  return {
    servers: n,
    summary,
    maxSustainableRate: max,
    maxSustainableRatio: max.redis > 0 ? max.grapevine / max.redis : null,
    fixedRate: options.fixedRate,
    p50RatioAtFixedRate: ratio(options.fixedRate, 'p50Ms'),
    p99RatioAtFixedRate: ratio(options.fixedRate, 'p99Ms'),
    sharedRate: shared,
    p50RatioAtSharedRate: shared > 0 ? ratio(shared, 'p50Ms') : null,
    p99RatioAtSharedRate: shared > 0 ? ratio(shared, 'p99Ms') : null
  }
}

const load = (): string => { try { return `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}` } catch { return '' } }

function table (result: Result, options: Options, top: number): string[] {
  const n = result.servers
  const lines = [
    `${n} servers, each on its own host (netns), redis-server on another, every server-server and server-redis link through a relay adding ` +
      `${options.delay} ms one way; ${options.clientsPerServer * n} clients in ${options.rooms} rooms, ${options.payload}-byte payloads, ` +
      `${options.seconds} s per rate, medians of ${options.rounds} interleaved rounds [lowest-highest round]`,
    '',
    '| adapter | target msg/s | achieved msg/s | delivered (median / worst) | p50 ms | p99 ms | p50 of last 0.5 s, ms | CPU µs/msg (cores) | relay delay ms | rounds sustained |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  ]
  const rng = (r: [number, number] | null): string => r === null || options.rounds < 2 ? '' : ` [${fmt(r[0])}-${fmt(r[1])}]`
  for (const s of result.summary) {
    lines.push(`| ${s.kind} | ${s.rate} | ${fmt(s.achievedRate, 0)} | ${fmt(s.deliveryRatio === null ? null : s.deliveryRatio * 100, 2)} % / ` +
      `${fmt(s.worstDeliveryRatio * 100, 2)} % | ${fmt(s.p50Ms)}${rng(s.p50RangeMs)} | ` +
      `${fmt(s.p99Ms)}${rng(s.p99RangeMs)} | ${fmt(s.lastP50Ms)} | ${fmt(s.cpuPerMessageUs, 0)} (${fmt(s.cpuCores, 2)}) | ` +
      `${fmt(s.relayMeanDelayMs, 2)} | ${s.sustainableRounds}/${s.rounds} |`)
  }
  const m = result.maxSustainableRate
  const beyond = (k: Kind): string => m[k] === top ? ' (the top of the ladder: could be higher)' : ''
  lines.push('')
  lines.push(`Maximum sustainable rate (100 % delivered, rate kept, p50 of the last 0.5 s <= ${options.maxLag} ms): ` +
    `grapevine ${m.grapevine} msg/s${beyond('grapevine')}, redis ${m.redis} msg/s${beyond('redis')}` +
    (result.maxSustainableRatio !== null ? `, ratio ${fmt(result.maxSustainableRatio, 2)}` : ''))
  lines.push(`At ${result.fixedRate} msg/s: grapevine / redis p50 = ${fmt(result.p50RatioAtFixedRate, 2)}, p99 = ${fmt(result.p99RatioAtFixedRate, 2)}`)
  if (result.sharedRate > 0 && result.sharedRate !== result.fixedRate) {
    lines.push(`At ${result.sharedRate} msg/s (highest rate both sustain): grapevine / redis p50 = ${fmt(result.p50RatioAtSharedRate, 2)}, ` +
      `p99 = ${fmt(result.p99RatioAtSharedRate, 2)}`)
  }
  return lines
}

async function main (): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const missing = unavailable()
  if (missing !== undefined) {
    const message = `bench:multihost skipped: ${missing}`
    if (options.json) process.stdout.write(JSON.stringify({ skipped: missing }) + '\n')
    process.stderr.write(message + '\n')
    return
  }
  const log = (s: string): void => { if (!options.json) process.stderr.write(s + '\n') }
  const results: Result[] = []
  const runs: Run[] = []
  for (const n of options.servers) {
    const current: Setup = { n, bed: new Bed(n + 2), relays: [], clusters: [] }
    try {
      await setUp(current, options, log)
      for (let round = 0; round < options.rounds; round++) {
        // Alternate which adapter goes first, so neither always runs on the warmer machine.
        const order = round % 2 === 0 ? current.clusters : [...current.clusters].reverse()
        const saturated = new Set<Kind>()
        for (const rate of options.rates) {
          for (const cluster of order) {
            // An adapter that lost deliveries or could not keep the rate has hit its ceiling in
            // this round; a slow rung alone does not stop the climb (noise on a shared machine).
            if (saturated.has(cluster.kind)) continue
            const run = await measure(current, cluster, rate, round, options)
            runs.push(run)
            if (run.deliveryRatio < 1 || run.achievedRate < rate * 0.5) saturated.add(cluster.kind)
            log(`${n} servers, round ${round + 1}, ${cluster.kind.padEnd(9)} ${String(rate).padStart(6)}/s: ` +
              `delivered ${(run.deliveryRatio * 100).toFixed(2)}%, p50 ${fmt(run.p50Ms)} ms, p99 ${fmt(run.p99Ms)} ms, ` +
              `last ${fmt(run.lastP50Ms)} ms, max ${fmt(run.maxMs)} ms, relay ${fmt(run.relay.meanMs, 2)} ms, ` +
              `CPU ${fmt(run.cpuPerMessageUs, 0)} µs/msg, ${load()}`)
          }
        }
      }
    } finally {
      await tearDown(current)
    }
    results.push(analyse(runs, n, options))
  }
  if (options.json) {
    process.stdout.write(JSON.stringify({ options: { ...options, json: undefined }, results, runs }, null, 2) + '\n')
    return
  }
  const top = options.rates[options.rates.length - 1]!
  const out: string[] = []
  for (const r of results) out.push(...table(r, options, top), '')
  process.stdout.write(out.join('\n'))
}

main().catch(err => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`)
  process.exitCode = 1
})
