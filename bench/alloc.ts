/**
 * Allocation benchmark: bytes a receiving node allocates per message, and where. The receiver is
 * this process; a publisher in a child process sends `--count` messages of `--size` bytes at
 * `--rate` per second (one topic). The receiver's heap is sampled with the inspector's
 * heap profiler, objects collected by either GC included, so the figure is what was allocated,
 * not what stayed. Garbage is what makes the scavenges behind bench:node's latency tail.
 *
 *   npm run bench:alloc -- [--rate 20000] [--count 80000] [--size 100] [--top 15] [--signed] [--json]
 *
 * `--signed`: messages signed by their origin (the default of a node); unsigned otherwise.
 *
 * The per-function figures count a function's own allocations, with what V8 inlined into it.
 */
import { fork } from 'node:child_process'
import { Session } from 'node:inspector/promises'
import { fileURLToPath } from 'node:url'
import { Gossip } from '../src/core/gossip.js'

const args = process.argv.slice(2)
const arg = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const rate = arg('rate', 20_000)
const count = arg('count', 80_000)
const size = arg('size', 100)
const top = arg('top', 15)
const json = args.includes('--json')
const signed = args.includes('--signed')
const options = { secret: 'bench-alloc', signMessages: signed, maxMessageSize: 64 * 1024, linkWriteBufferBytes: 64 * 1024 * 1024 }

interface ProfileNode {
  callFrame: { functionName: string, url: string, lineNumber: number }
  selfSize: number
  children?: ProfileNode[]
}

async function publisher (seed: string): Promise<void> {
  const node = await Gossip.spawn({ ...options, seeds: [seed] })
  const handle = await node.stream('bench')
  while (handle.neighbours().length < 1) await new Promise(resolve => setTimeout(resolve, 20))
  process.send?.('ready')
  process.once('message', () => {
    void (async () => {
      const payload = Buffer.alloc(size, 7)
      const start = performance.now()
      let sent = 0
      // Open loop, as bench:node: every millisecond tick, what the schedule says is due.
      while (sent < count) {
        const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1)
        while (sent < due) {
          await handle.publish(payload)
          sent++
        }
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      process.send?.('done')
    })()
  })
}

async function receiver (): Promise<void> {
  const node = await Gossip.spawn(options)
  const handle = await node.stream('bench')
  let received = 0
  let allIn: () => void = () => {}
  const done = new Promise<void>(resolve => { allIn = resolve })
  void (async () => {
    for await (const item of handle.subscribe({ bufferSize: 1 << 20 })) {
      if (item.type === 'message' && ++received === count) allIn()
    }
  })()
  const child = fork(fileURLToPath(import.meta.url), ['--publisher', node.address, ...args], { execArgv: [] })
  await new Promise(resolve => child.once('message', resolve))
  const session = new Session()
  session.connect()
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  child.send('go')
  await new Promise(resolve => child.once('message', resolve))
  await done
  const { profile } = await session.post('HeapProfiler.stopSampling') as unknown as { profile: { head: ProfileNode } }
  session.disconnect()
  child.kill()
  await node.close()

  const bySite = new Map<string, number>()
  let total = 0
  const walk = (n: ProfileNode): void => {
    if (n.selfSize > 0) {
      const f = n.callFrame
      const site = `${f.functionName === '' ? '(anonymous)' : f.functionName} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize)
      total += n.selfSize
    }
    for (const c of n.children ?? []) walk(c)
  }
  walk(profile.head)
  const sites = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top).map(([site, bytes]) => ({ site, bytesPerMessage: Math.round(bytes / received) }))
  const result = { rate, size, signed, received, bytesPerMessage: Math.round(total / received), sites }
  if (json) {
    console.log(JSON.stringify(result, null, 2))
  } else {
    console.log(`receiver, ${received} ${signed ? 'signed' : 'unsigned'} messages of ${size} B at ${rate}/s: ${result.bytesPerMessage} bytes allocated per message (sampled, collected objects included)\n`)
    console.log('| bytes per message | allocated in |\n| ---: | --- |')
    for (const s of sites) console.log(`| ${s.bytesPerMessage} | ${s.site} |`)
  }
  process.exit(0)
}

const main = args[0] === '--publisher' ? async () => { await publisher(String(args[1])) } : receiver
main().catch(err => { console.error(err); process.exit(1) })
