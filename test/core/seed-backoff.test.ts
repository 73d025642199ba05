import t from 'tap'
import { SEED_BACKOFF_MIN, SEED_FAST_RETRIES, SEED_FAST_WAIT, seedRetryWait } from '../../src/core/seed-backoff.js'

/** The waits after `n` failures in a row, with the jitter fixed at `unit`. */
function schedule (n: number, refresh: number, unit: number): number[] {
  const s = { failures: 0, backoff: SEED_BACKOFF_MIN }
  const waits: number[] = []
  for (let i = 0; i < n; i++) {
    s.failures++
    waits.push(seedRetryWait(s, refresh, unit))
  }
  return waits
}

t.test('a seed that is not up yet is tried every 100 ms at first: one started a moment later is found at once', async t => {
  const waits = schedule(SEED_FAST_RETRIES, 30_000, 0.5)
  t.same(waits, Array(SEED_FAST_RETRIES).fill(SEED_FAST_WAIT))
  t.equal(waits.reduce((a, b) => a + b, 0), 1_000, 'for the first second')
})

t.test('then the wait doubles from 250 ms up to the refresh interval', async t => {
  t.same(schedule(SEED_FAST_RETRIES + 9, 30_000, 0.5).slice(SEED_FAST_RETRIES), [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
})

t.test('every wait is jittered by a quarter either way, and none exceeds the refresh interval', async t => {
  const low = schedule(SEED_FAST_RETRIES + 2, 30_000, 0)
  const high = schedule(SEED_FAST_RETRIES + 2, 30_000, 0.999999)
  t.same([low[0], low.at(-1)], [75, 375])
  t.same([high[0], high.at(-1)], [125, 625])
  t.ok(schedule(20, 50, 0.5).every(w => w <= 50), 'a refresh shorter than the waits caps them')
})
