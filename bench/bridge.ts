/**
 * Bridge throughput: how many browser messages per second one instance takes in and fans out.
 * Two instances run as separate processes, each with its own gossip node, like the demo; the
 * WebSocket clients (one publisher, several subscribers) run in this process.
 *
 *   npm run build && node dist/bench/bridge.js [--messages 20000] [--subscribers 4] [--size 100] [--json]
 *
 * Scenarios: subscribers on the publisher's own instance (local fan-out), and on the other
 * instance (through the gossip overlay). Prints a table, or JSON with --json. Not a test.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { WebSocket } from 'ws'
import grapevine from '../src/plugin/index.js'

interface Ready { url: string, gossip: string }

function arg (name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

async function serve (): Promise<void> {
  const app = Fastify()
  await app.register(grapevine, {
    secret: process.env.BENCH_SECRET!,
    port: 0,
    seeds: (process.env.BENCH_SEEDS ?? '').split(',').filter(s => s !== ''),
    // The bench measures the bridge, not its abuse limits.
    bridge: { publishRate: { max: 1_000_000, timeWindow: 1000 }, sendBufferBytes: 64 * 1024 * 1024 }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  process.on('message', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
  process.send!({ url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/gossip`, gossip: app.gossip.address })
}

async function startInstance (secret: string, seeds: string[]): Promise<{ child: ChildProcess, ready: Ready }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { env: { ...process.env, BENCH_SECRET: secret, BENCH_SEEDS: seeds.join(',') } })
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', m => resolve(m as Ready))
    child.once('exit', code => reject(new Error(`instance exited with ${code}`)))
  })
  return { child, ready }
}

async function open (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return ws
}

async function request (ws: WebSocket, frame: Record<string, unknown>): Promise<void> {
  const id = randomBytes(4).toString('hex')
  await new Promise<void>((resolve, reject) => {
    const onMessage = (data: Buffer): void => {
      const reply = JSON.parse(data.toString()) as { op: string, id?: string, reason?: string }
      if (reply.id !== id) return
      ws.off('message', onMessage)
      if (reply.op === 'ack') resolve()
      else reject(new Error(reply.reason))
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ ...frame, id }))
  })
}

interface Result { scenario: string, messages: number, subscribers: number, seconds: number, publishesPerSecond: number, deliveriesPerSecond: number, lost: number }

async function run (scenario: string, publisherUrl: string, subscriberUrl: string, messages: number, subscribers: number, size: number): Promise<Result> {
  const topic = `bench:${randomBytes(4).toString('hex')}`
  const publisher = await open(publisherUrl)
  const subs = await Promise.all(Array.from({ length: subscribers }, async () => await open(subscriberUrl)))
  for (const ws of subs) await request(ws, { op: 'subscribe', topic })

  const counts = subs.map(() => 0)
  const total = messages + 1
  let resolveDone: () => void = () => {}
  const done = new Promise<void>(resolve => { resolveDone = resolve })
  subs.forEach((ws, i) => ws.on('message', () => {
    if (++counts[i]! === total && counts.every(c => c === total)) resolveDone()
  }))
  await request(publisher, { op: 'publish', topic, data: 'warm-up' })
  // Wait for the warm-up message: the overlay between the two instances is up.
  const warm = Date.now()
  while (counts.some(c => c === 0)) {
    if (Date.now() - warm > 30_000) throw new Error('warm-up message never arrived')
    await new Promise(resolve => setTimeout(resolve, 10))
  }

  const data = 'x'.repeat(size)
  const frame = JSON.stringify({ op: 'publish', topic, data })
  const started = performance.now()
  for (let i = 0; i < messages; i++) {
    publisher.send(frame)
    // Respect TCP backpressure instead of buffering the whole run in memory.
    if (publisher.bufferedAmount > 1024 * 1024) {
      while (publisher.bufferedAmount > 256 * 1024) await new Promise(resolve => setImmediate(resolve))
    }
  }
  const timeout = new Promise<void>(resolve => setTimeout(resolve, 60_000).unref())
  await Promise.race([done, timeout])
  const seconds = (performance.now() - started) / 1000
  const delivered = counts.reduce((a, c) => a + c - 1, 0)
  publisher.terminate()
  for (const ws of subs) ws.terminate()
  return {
    scenario,
    messages,
    subscribers,
    seconds: Number(seconds.toFixed(2)),
    publishesPerSecond: Math.round(messages / seconds),
    deliveriesPerSecond: Math.round(delivered / seconds),
    lost: messages * subscribers - delivered
  }
}

async function main (): Promise<void> {
  if (process.argv.includes('--serve')) return await serve()
  const messages = arg('messages', 20_000)
  const subscribers = arg('subscribers', 4)
  const size = arg('size', 100)
  const secret = randomBytes(16).toString('hex')
  const a = await startInstance(secret, [])
  const b = await startInstance(secret, [a.ready.gossip])
  try {
    const results = [
      await run('same instance', a.ready.url, a.ready.url, messages, subscribers, size),
      await run('across instances', a.ready.url, b.ready.url, messages, subscribers, size)
    ]
    if (process.argv.includes('--json')) {
      console.log(JSON.stringify({ size, results }, null, 2))
    } else {
      console.log(`bridge throughput: 2 instances (separate processes), ${messages} messages of ${size} bytes, ${subscribers} subscribers\n`)
      console.log('scenario           publishes/s  deliveries/s   seconds  lost')
      for (const r of results) {
        console.log(`${r.scenario.padEnd(18)} ${String(r.publishesPerSecond).padStart(11)}  ${String(r.deliveriesPerSecond).padStart(12)}  ${String(r.seconds).padStart(8)}  ${r.lost}`)
      }
    }
  } finally {
    for (const { child } of [a, b]) child.send('stop')
  }
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
