/**
 * Runs the forgetting half of the delivered log (dropping ids, unlinking them from the table,
 * releasing their spans) on a small throw-away log, once per process, so that V8 has optimised it
 * before a real log first needs it. A busy topic's log forgets nothing until it holds `maxIds`
 * ids, and then starts on every delivery: in `bench:node`'s three processes at 20,000 msgs/s, that
 * moment brought 10-20 deliveries of 2-20 ms each within the first 5,000 evictions, code optimised
 * without that branch being thrown away and rebuilt in every process at once (p99 of that step
 * 31-44 ms). Warmed: 2-5 such deliveries, p99 5.5-12.7 ms. It costs a few tens of ms of CPU when
 * the first node of the process starts. A runtime concern (it keeps a flag per process), so it
 * lives here rather than beside the pure log; the simulator does not need it.
 */
import { DeliveredLog } from './proto/delivered-log.js'

let warmed = false

export function warmDeliveredLog (): void {
  if (warmed) return
  warmed = true
  const log = new DeliveredLog<string>({ maxIds: 256, idRetention: 1_000_000_000, maxPayloads: 32, payloadTimeout: 1_000_000_000 }, 1)
  const content = new Uint8Array(100)
  for (let i = 0; i < 20_000; i++) {
    const id = `warm-up.${i.toString(36)}`
    // Times as the runtime gives them: fractional milliseconds.
    if (log.find(id) < 0) log.add(id, { origin: 'origin', content, hops: 1, from: i % 2 === 0 ? 'peer' : undefined, sig: undefined }, i + 0.5)
  }
  log.evictExpired(2_000_000_000.5)
}
