/**
 * One process of bench/node.ts, driven over IPC. It plays publisher or receiver, either as a
 * Grapevine node (encrypted links, codec, Plumtree) or as the raw baseline (length-prefixed frames
 * written straight to plain TCP sockets: the physical limit of this machine).
 */
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import hdr from 'hdr-histogram-js'
import { Gossip } from '../src/core/gossip.js'
import type { GossipHandle } from '../src/core/api.js'

type Command =
  | { cmd: 'start', mode: 'gossip' | 'raw', secret: string, seeds: string[], unsigned?: boolean }
  | { cmd: 'join' }
  | { cmd: 'connect', addrs: string[] }
  | { cmd: 'waitNeighbours', count: number }
  | { cmd: 'reset' }
  | { cmd: 'publish', rate: number, seconds: number, size: number }
  | { cmd: 'report' }
  | { cmd: 'cpu' }
  | { cmd: 'stop' }

const send = (m: unknown): void => { process.send?.(m) }
// CLOCK_MONOTONIC is one clock for every process of the machine; performance.timeOrigin is not
// (measured: processes disagree by more than a loopback hop, giving negative latencies).
const wallNow = (): number => Number(process.hrtime.bigint()) / 1e6

let mode: 'gossip' | 'raw' = 'gossip'
let gossip: Gossip | undefined
let handle: GossipHandle | undefined
let server: net.Server | undefined
const rawPeers: net.Socket[] = []
let histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
let received = 0
let publishedSoFar = 0
let firstAt = 0
let lastAt = 0

function record (payload: Uint8Array): void {
  // The first 8 bytes carry the publisher's monotonic clock in ms (same host, same clock).
  const sentAt = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).readDoubleLE(0)
  const now = wallNow()
  histogram.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)))
  if (received === 0) firstAt = now
  lastAt = now
  received++
}

function onRawSocket (socket: net.Socket): void {
  socket.setNoDelay(true)
  let buffer = Buffer.alloc(0)
  socket.on('data', chunk => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
    let offset = 0
    while (buffer.length - offset >= 4) {
      const len = buffer.readUInt32BE(offset)
      if (buffer.length - offset - 4 < len) break
      record(buffer.subarray(offset + 4, offset + 4 + len))
      offset += 4 + len
    }
    buffer = buffer.subarray(offset)
  })
  socket.on('error', () => {})
}

async function publish (rate: number, seconds: number, size: number): Promise<number> {
  const payload = Buffer.alloc(size, 7)
  const total = Math.round(rate * seconds)
  const start = performance.now()
  let sent = 0
  publishedSoFar = 0
  // Open loop: every millisecond tick, send what the schedule says is due by now.
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1)
    // The baseline coalesces each tick's frames into one write per socket, as the transport does.
    if (mode === 'raw') for (const s of rawPeers) s.cork()
    while (sent < due) {
      const msg = Buffer.from(payload)
      msg.writeDoubleLE(wallNow(), 0)
      if (mode === 'gossip') {
        await handle!.publish(msg)
      } else {
        const header = Buffer.allocUnsafe(4)
        header.writeUInt32BE(msg.length, 0)
        for (const s of rawPeers) { s.write(header); s.write(msg) }
      }
      sent++
      publishedSoFar = sent
    }
    if (mode === 'raw') for (const s of rawPeers) s.uncork()
    await new Promise(resolve => setTimeout(resolve, 1))
  }
  return sent
}

process.on('message', (m: Command) => {
  void (async () => {
    switch (m.cmd) {
      case 'start':
        mode = m.mode
        if (mode === 'gossip') {
          gossip = await Gossip.spawn({ secret: m.secret, seeds: m.seeds, maxMessageSize: 64 * 1024, linkWriteBufferBytes: 64 * 1024 * 1024, signMessages: m.unsigned !== true })
          send({ ok: true, address: gossip.address })
        } else {
          server = net.createServer(onRawSocket)
          await new Promise<void>(resolve => server!.listen(0, '127.0.0.1', resolve))
          const a = server.address() as net.AddressInfo
          send({ ok: true, address: `127.0.0.1:${a.port}` })
        }
        return
      case 'join':
        if (mode === 'gossip') {
          handle = await gossip!.stream('bench')
          void (async () => {
            for await (const item of handle!.subscribe({ bufferSize: 1 << 20 })) if (item.type === 'message') record(item.content)
          })()
        }
        send({ ok: true })
        return
      case 'connect':
        for (const addr of m.addrs) {
          const [host, port] = addr.split(':')
          const s = net.connect(Number(port), host)
          s.setNoDelay(true)
          await new Promise(resolve => s.once('connect', resolve))
          rawPeers.push(s)
        }
        send({ ok: true })
        return
      case 'waitNeighbours':
        if (mode === 'gossip') {
          while (handle!.neighbours().length < m.count) await new Promise(resolve => setTimeout(resolve, 20))
        }
        send({ ok: true })
        return
      case 'reset':
        histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
        received = 0
        firstAt = 0
        lastAt = 0
        send({ ok: true })
        return
      case 'publish':
        try {
          send({ ok: true, sent: await publish(m.rate, m.seconds, m.size) })
        } catch (err) {
          // Past saturation a link overflows and is dropped as failed: that ends the step.
          send({ ok: true, sent: publishedSoFar, failed: String((err as Error).message) })
        }
        return
      case 'report':
        send({
          ok: true,
          received,
          spanMs: lastAt - firstAt,
          p50Ms: received === 0 ? null : histogram.getValueAtPercentile(50) / 1000,
          p99Ms: received === 0 ? null : histogram.getValueAtPercentile(99) / 1000
        })
        return
      case 'cpu': {
        const cpu = process.cpuUsage()
        send({ ok: true, seconds: (cpu.user + cpu.system) / 1e6 })
        return
      }
      case 'stop':
        await gossip?.close()
        for (const s of rawPeers) s.destroy()
        server?.close()
        send({ ok: true })
        process.exit(0)
    }
  })().catch(err => send({ ok: false, error: String(err?.stack ?? err) }))
})
send({ ready: true })
