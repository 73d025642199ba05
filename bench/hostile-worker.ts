/**
 * One process of bench/hostile.ts, driven over IPC. It plays one of:
 *
 * - an honest node (`start`, `join`, `publish`): a real Gossip node that publishes at a steady rate
 *   and records, for every honest message it receives, when it arrived and its publish→deliver
 *   latency; every 100 ms it samples its RSS, heap, event-loop lag and (as the victim) how many
 *   ids it awaits and whether it listens to the flooder;
 * - the insider (`attack`, `flood`): a bare Transport holding the cluster secret that joins the
 *   victim's topic and floods IHAVE frames of ids it never delivers, as fast as its socket drains;
 * - the slot hogger (`silent`): thousands of TCP connections to the victim that never say a word,
 *   re-opened as the victim closes them;
 * - a newcomer (`link`): a fresh honest node timed from spawn until the victim is its neighbour.
 *
 * All processes read one monotonic clock (CLOCK_MONOTONIC), so latencies and phase boundaries
 * compare across processes.
 */
import net from 'node:net'
import { PerformanceObserver } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import { Gossip } from '../src/core/gossip.js'
import type { GossipHandle } from '../src/core/api.js'
import { toTopicId } from '../src/core/topic-id.js'
import { encodeFrame } from '../src/core/net/codec.js'
import type { Frame } from '../src/core/net/frames.js'
import { frameBytes } from '../src/core/net/framing.js'
import type { Link } from '../src/core/net/link.js'
import { signMessage } from '../src/core/net/origin.js'
import { Transport } from '../src/core/net/transport.js'

type Command =
  | { cmd: 'start', secret: string, seeds: string[] }
  | { cmd: 'join', topic: string }
  | { cmd: 'neighbours' }
  | { cmd: 'publish', rate: number, index: number }
  | { cmd: 'stopPublish' }
  | { cmd: 'watch', peer: string }
  | { cmd: 'dump' }
  | { cmd: 'attack', secret: string, address: string, nodeId: string, topic: string }
  | { cmd: 'flood', seconds: number, entries: number, evadeEveryMs: number }
  | { cmd: 'attackStatus' }
  | { cmd: 'silent', address: string, count: number, from: string[] }
  | { cmd: 'stopSilent' }
  | { cmd: 'link', secret: string, seed: string, target: string, topic: string, timeoutMs: number }
  | { cmd: 'stop' }

const send = (m: unknown): void => { process.send?.(m) }
const now = (): number => Number(process.hrtime.bigint()) / 1e6
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Honest payloads start with this tag, then the publisher's clock (ms, float64 LE). */
const TAG = 0x484e5354
const PAYLOAD_BYTES = 100

// ---------------------------------------------------------------------------------------------
// Honest node
// ---------------------------------------------------------------------------------------------

let gossip: Gossip | undefined
let handle: GossipHandle | undefined
let topicId = ''
/** Deliveries as parallel arrays: arrival time and latency, ms. */
const arrivedAt: number[] = []
const latency: number[] = []
/** Per delivery: the publisher's index and the hops the message took. */
const sender: number[] = []
const hops: number[] = []
/** Samples every 100 ms: time, RSS, heap used, event-loop lag, awaited ids, the watched peer's state. */
const samples: Array<{ t: number, rss: number, heap: number, external: number, cpu: number, lag: number, gcMs: number, gcMaxMs: number, missing: number, unanswered: number, watchedNeighbour: boolean, watchedLinked: boolean }> = []
let watched: string | undefined
let publishing = false
let published = 0

interface Internals {
  state: {
    stats: (topic: string) => { missing: number } | undefined
    topicMap: Map<string, { broadcast: { unanswered: Map<string, { count: number, since: number }> } }>
  }
  transport: Transport
}
const internals = (): Internals => gossip as unknown as Internals

/** Garbage collection since the last sample: total and longest pause, ms. */
let gcMs = 0
let gcMaxMs = 0
new PerformanceObserver(list => {
  for (const e of list.getEntries()) { gcMs += e.duration; gcMaxMs = Math.max(gcMaxMs, e.duration) }
}).observe({ entryTypes: ['gc'] })

function sample (lag: number): void {
  const m = process.memoryUsage()
  let missing = 0
  let unanswered = 0
  let watchedNeighbour = false
  let watchedLinked = false
  if (gossip !== undefined && topicId !== '') {
    missing = internals().state.stats(topicId)?.missing ?? 0
    if (watched !== undefined) {
      unanswered = internals().state.topicMap.get(topicId)?.broadcast.unanswered.get(watched)?.count ?? 0
      watchedNeighbour = handle?.neighbours().includes(watched) ?? false
      watchedLinked = internals().transport.links.has(watched)
    }
  }
  const c = process.cpuUsage()
  samples.push({ t: now(), rss: m.rss, heap: m.heapUsed, external: m.external, cpu: (c.user + c.system) / 1000, lag, gcMs, gcMaxMs, missing, unanswered, watchedNeighbour, watchedLinked })
  gcMs = 0
  gcMaxMs = 0
}

let sampler: NodeJS.Timeout | undefined
function startSampling (): void {
  let expected = performance.now() + 100
  sampler = setInterval(() => {
    const t = performance.now()
    sample(Math.max(0, t - expected))
    expected = t + 100
  }, 100)
}

async function publishLoop (rate: number, index: number): Promise<void> {
  publishing = true
  published = 0
  const start = now()
  const on = (): boolean => publishing
  while (on()) {
    const due = Math.floor(((now() - start) / 1000) * rate) + 1
    while (published < due && on()) {
      const msg = Buffer.alloc(PAYLOAD_BYTES)
      msg.writeUInt32BE(TAG, 0)
      msg.writeUInt32BE(index, 4)
      msg.writeDoubleLE(now(), 8)
      await handle!.publish(msg)
      published++
    }
    await sleep(2)
  }
}

// ---------------------------------------------------------------------------------------------
// Insider flooding IHAVE
// ---------------------------------------------------------------------------------------------

let attacker: Transport | undefined
let attackLink: Link | undefined
let attackTopic = ''
let graftsReceived = 0
let lastGraftAt = 0
let pushesReceived = 0

let victimAddress = ''
let victimId = ''

/** Dial the victim and JOIN its topic with a real address: the victim takes the insider into its active view. */
async function joinVictim (): Promise<Link> {
  const link = await attacker!.dial(victimAddress, victimId)
  link.writeRaw(frameBytes(encodeFrame({ type: 'proto', message: { topic: attackTopic, body: { type: 'join', data: Buffer.from(attacker!.address!) } } })))
  return link
}

async function attack (m: Extract<Command, { cmd: 'attack' }>): Promise<string> {
  attacker = new Transport({ secret: m.secret, maxFrameSize: 16 * 1024 * 1024 - 128 })
  await attacker.listen()
  attackTopic = toTopicId(m.topic)
  victimAddress = m.address
  victimId = m.nodeId
  attacker.on('frame', (_peer, frame: Frame) => {
    if (frame.type !== 'proto') return
    const body = frame.message.body
    if (body.type === 'graft') { graftsReceived++; lastGraftAt = now() } else if (body.type === 'gossip') pushesReceived++
  })
  attackLink = await joinVictim()
  return attacker.nodeId
}

async function flood (seconds: number, entriesPerFrame: number, evadeEveryMs: number): Promise<Record<string, unknown>> {
  let link = attackLink!
  let redials = 0
  const reasons: string[] = []
  const prefix = randomBytes(16).toString('hex')
  let seq = 0
  let ids = 0
  let frames = 0
  let bytes = 0
  let delivered = 0
  const own = randomBytes(16).toString('hex')
  let ownSeq = 0
  const start = now()
  const end = start + seconds * 1000
  let lastEvade = start
  const graftsBefore = graftsReceived
  while (now() < end) {
    if (link.closed) {
      // Dropped: a determined insider comes straight back and joins again.
      if (reasons.length < 5) reasons.push(link.closeInfo?.reason ?? '')
      try {
        link = attackLink = await joinVictim()
        redials++
      } catch {
        await sleep(100)
      }
      continue
    }
    // As fast as the socket allows: keep about 1 MiB queued, no more.
    while (link.bufferedBytes < 1 << 20 && !link.closed) {
      const entries = Array.from({ length: entriesPerFrame }, () => ({ id: `${prefix}.${(seq++).toString(16)}`, round: 1 }))
      const body = frameBytes(encodeFrame({ type: 'proto', message: { topic: attackTopic, body: { type: 'ihave', entries } } }))
      link.writeRaw(body)
      ids += entriesPerFrame
      frames++
      bytes += body.byteLength
    }
    if (evadeEveryMs > 0 && now() - lastEvade >= evadeEveryMs && !link.closed) {
      // Deliver one real message of its own: "ignored until it delivers" forgets the unanswered GRAFTs.
      lastEvade = now()
      const id = `${own}.${(ownSeq++).toString(16)}`
      const content = Buffer.from('insider')
      link.writeRaw(frameBytes(encodeFrame({ type: 'proto', message: { topic: attackTopic, body: { type: 'gossip', id, origin: attacker!.nodeId, content, round: 0, sig: signMessage(attacker!.keyPair.secretKey, attackTopic, id, content) } } })))
      delivered++
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  const spent = (now() - start) / 1000
  return { ids, frames, bytes, seconds: spent, idsPerSecond: Math.round(ids / spent), delivered, graftsDuringFlood: graftsReceived - graftsBefore, redials, closeReasons: reasons, linkClosed: link.closed }
}

// ---------------------------------------------------------------------------------------------
// Silent connections
// ---------------------------------------------------------------------------------------------

let silentOn = false
const silentSockets = new Set<net.Socket>()
let opened = 0
let closedByVictim = 0
let errors = 0

function silent (address: string, count: number, from: string[]): void {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))]
  silentOn = true
  let next = 0
  const open = (): void => {
    if (!silentOn) return
    const localAddress = from[next++ % from.length]!
    const s = net.connect({ host, port, localAddress })
    opened++
    silentSockets.add(s)
    s.on('error', () => { errors++ })
    s.on('close', () => {
      silentSockets.delete(s)
      if (!silentOn) return
      closedByVictim++
      // Re-opened as soon as the victim closes it (after a turn, so a refusing victim is not a busy loop).
      setImmediate(open)
    })
  }
  for (let i = 0; i < count; i++) open()
}

// ---------------------------------------------------------------------------------------------

process.on('message', (m: Command) => {
  void (async () => {
    switch (m.cmd) {
      case 'start':
        gossip = await Gossip.spawn({ secret: m.secret, seeds: m.seeds })
        startSampling()
        send({ ok: true, address: gossip.address, nodeId: gossip.nodeId })
        return
      case 'join':
        handle = await gossip!.stream(m.topic)
        topicId = toTopicId(m.topic)
        void (async () => {
          for await (const item of handle!.subscribe({ bufferSize: 1 << 20 })) {
            if (item.type !== 'message' || item.content.byteLength < 16) continue
            const b = Buffer.from(item.content.buffer, item.content.byteOffset, item.content.byteLength)
            if (b.readUInt32BE(0) !== TAG) continue
            const t = now()
            arrivedAt.push(t)
            latency.push(t - b.readDoubleLE(8))
            sender.push(b.readUInt32BE(4))
            hops.push(item.hops)
          }
        })()
        send({ ok: true })
        return
      case 'neighbours':
        send({ ok: true, neighbours: handle?.neighbours() ?? [] })
        return
      case 'publish':
        void publishLoop(m.rate, m.index)
        send({ ok: true })
        return
      case 'stopPublish':
        publishing = false
        send({ ok: true, published })
        return
      case 'watch':
        watched = m.peer
        send({ ok: true })
        return
      case 'dump':
        send({ ok: true, arrivedAt, latency, sender, hops, samples })
        return
      case 'attack':
        send({ ok: true, nodeId: await attack(m) })
        return
      case 'flood':
        send({ ok: true, ...(await flood(m.seconds, m.entries, m.evadeEveryMs)) })
        return
      case 'attackStatus':
        send({ ok: true, graftsReceived, lastGraftAt, pushesReceived, linkClosed: attackLink?.closed ?? true, closeReason: attackLink?.closeInfo?.reason ?? null })
        return
      case 'silent':
        silent(m.address, m.count, m.from)
        // Give the connections a moment to be accepted before the first newcomer comes.
        await sleep(1000)
        send({ ok: true, open: silentSockets.size, opened })
        return
      case 'stopSilent': {
        silentOn = false
        const report = { ok: true, open: silentSockets.size, opened, closedByVictim, errors }
        for (const s of silentSockets) s.destroy()
        send(report)
        return
      }
      case 'link': {
        const t0 = now()
        // What the newcomer says while it tries (seed dials that failed and why), with times.
        const said: string[] = []
        const note = (obj: unknown, msg?: string): void => {
          if (said.length >= 8) return
          const err = (obj as { err?: { message?: string } } | null)?.err?.message
          said.push(`${Math.round(now() - t0)} ms: ${msg ?? ''}${err === undefined ? '' : ` (${err})`}`)
        }
        const logger = { trace: () => {}, debug: note, info: note, warn: note, error: note }
        const node = await Gossip.spawn({ secret: m.secret, seeds: [m.seed], logger })
        const h = await node.stream(m.topic)
        const transport = (node as unknown as Internals).transport
        let linkMs: number | null = null
        let neighbourMs: number | null = null
        while (now() - t0 < m.timeoutMs) {
          if (linkMs === null && transport.links.has(m.target)) linkMs = now() - t0
          if (h.neighbours().includes(m.target)) { neighbourMs = now() - t0; linkMs ??= neighbourMs; break }
          await sleep(2)
        }
        await node.close()
        send({ ok: true, linkMs, neighbourMs, said })
        return
      }
      case 'stop':
        publishing = false
        silentOn = false
        if (sampler !== undefined) clearInterval(sampler)
        for (const s of silentSockets) s.destroy()
        await gossip?.close()
        await attacker?.close()
        send({ ok: true })
        process.exit(0)
    }
  })().catch(err => send({ ok: false, error: String((err as Error)?.stack ?? err) }))
})
send({ ready: true })
