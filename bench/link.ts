/**
 * Loopback echo through a Link (Noise encryption, codec, coalesced writes) against the physical
 * limit: the same length-prefixed frames written straight to a plain net.Socket, one write per
 * frame, echoed back frame by frame. Both ends run in this process, for both variants alike.
 *
 *   node dist/bench/link.js [--json] [--seconds 3] [--window 2000] [--rounds 3]
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Transport } from '../src/core/net/transport.js'
import { FrameDecoder, frameBytes } from '../src/core/net/framing.js'
import { encodeFrame } from '../src/core/net/codec.js'
import type { Frame } from '../src/core/net/frames.js'

const args = process.argv.slice(2)
const json = args.includes('--json')
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : Number(args[at + 1])
}
const seconds = option('--seconds', 3)
/** Frames in flight: enough to keep both directions busy, small enough to bound memory. */
const window = option('--window', 2000)
/** Raw and Link runs alternate this many times and the best of each counts: other load on the
 * machine then weighs on both alike. */
const rounds = option('--rounds', 3)
const sizes = [100, 4096]

const TOPIC = 'ab'.repeat(32)
const ORIGIN = 'cd'.repeat(32)

function gossip (content: Uint8Array, seq: number): Frame {
  return { type: 'proto', message: { topic: TOPIC, body: { type: 'gossip', id: `bench:${seq}`, origin: ORIGIN, content, round: 0 } } }
}

/** Runs `send` under a window until `seconds` pass; returns echoed frames per second. */
async function pump (send: (seq: number) => void, onEcho: (fn: () => void) => void): Promise<number> {
  let sent = 0
  let echoed = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  return await new Promise((resolve) => {
    const refill = (): void => {
      while (sent - echoed < window) send(sent++)
    }
    onEcho(() => {
      echoed++
      if (echoed === sent && performance.now() >= deadline) {
        resolve(echoed / ((performance.now() - start) / 1000))
        return
      }
      // Refill in bursts, as a busy node would, and stop sending at the deadline.
      if (sent - echoed <= window / 2 && performance.now() < deadline) refill()
    })
    refill()
  })
}

async function rawEcho (size: number): Promise<number> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    const decoder = new FrameDecoder(1 << 20)
    socket.on('data', (chunk) => {
      decoder.push(chunk)
      for (let body = decoder.next(); body !== null; body = decoder.next()) socket.write(frameBytes(body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const client = net.connect({ host: '127.0.0.1', port })
  client.setNoDelay(true)
  await new Promise((resolve) => client.once('connect', resolve))
  // The bytes a Link carries for this frame, encoded once: the baseline does no codec work at all.
  const wire = frameBytes(encodeFrame(gossip(new Uint8Array(size), 0)))
  const decoder = new FrameDecoder(1 << 20)
  let echo = (): void => {}
  client.on('data', (chunk) => {
    decoder.push(chunk)
    while (decoder.next() !== null) echo()
  })
  const rate = await pump(
    () => { client.write(wire) },
    (fn) => { echo = fn })
  client.destroy()
  await new Promise((resolve) => server.close(resolve))
  return rate
}

async function linkEcho (size: number): Promise<number> {
  const a = new Transport({ secret: 'bench' })
  const b = new Transport({ secret: 'bench', linkWriteBufferBytes: 64 * 1024 * 1024 })
  await b.listen()
  b.on('frame', (peer, frame) => { b.links.get(peer)?.send(frame) })
  const link = await a.dial(b.address!, b.nodeId)
  const content = new Uint8Array(size)
  let echo = (): void => {}
  link.on('frame', () => { echo() })
  const rate = await pump((seq) => { link.send(gossip(content, seq)) }, (fn) => { echo = fn })
  await a.close()
  await b.close()
  return rate
}

async function main (): Promise<void> {
  const rows: Array<{ size: number, rawFramesPerSec: number, linkFramesPerSec: number, ratio: number }> = []
  for (const size of sizes) {
    let raw = 0
    let link = 0
    for (let round = 0; round < rounds; round++) {
      raw = Math.max(raw, await rawEcho(size))
      link = Math.max(link, await linkEcho(size))
    }
    rows.push({ size, rawFramesPerSec: Math.round(raw), linkFramesPerSec: Math.round(link), ratio: Number((link / raw).toFixed(2)) })
  }
  report(rows)
}

function report (rows: Array<{ size: number, rawFramesPerSec: number, linkFramesPerSec: number, ratio: number }>): void {
  if (json) {
    console.log(JSON.stringify({ bench: 'link-echo', seconds, window, rounds, rows }, null, 2))
    return
  }
  console.log(`loopback echo, best of ${rounds} runs of ${seconds} s, ${window} frames in flight`)
  console.log('payload   raw TCP frames/s   Link frames/s   Link/raw')
  for (const r of rows) {
    console.log(`${String(r.size).padStart(5)} B   ${String(r.rawFramesPerSec).padStart(16)}   ${String(r.linkFramesPerSec).padStart(13)}   ${r.ratio.toFixed(2).padStart(8)}`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
