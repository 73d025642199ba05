/**
 * When a seed that could not be dialled is dialled again. The runtime's `Seeds` and the simulator
 * share this schedule.
 *
 * Servers started together often bring their seed up last, a fraction of a second after the
 * others first dialled it, so the first retries come every 100 ms. With a first retry at 250 ms,
 * doubling, workers of the official cluster-adapter suite linked 200-700 ms after their seed was
 * up, after the suite's first test had run. Past those, the wait doubles from 250 ms up to the
 * refresh interval, so a seed that is gone for good costs little.
 */

/** Retries at the short wait before the backoff starts doubling. */
export const SEED_FAST_RETRIES = 10
export const SEED_FAST_WAIT = 100
/** The first wait once the fast retries are spent. */
export const SEED_BACKOFF_MIN = 250

export interface SeedRetry {
  /** Failed dials since the seed was last linked, this one included. */
  failures: number
  /** The next wait past the fast retries; doubled by each. */
  backoff: number
}

/** Ms until the next dial, jittered by ±25 % with `unit` in [0, 1); moves `s.backoff` on. */
export function seedRetryWait (s: SeedRetry, refresh: number, unit: number): number {
  const jitter = 0.75 + 0.5 * unit
  if (s.failures <= SEED_FAST_RETRIES) return Math.round(Math.min(SEED_FAST_WAIT, refresh) * jitter)
  const wait = Math.round(Math.min(s.backoff, refresh) * jitter)
  s.backoff = Math.min(s.backoff * 2, refresh)
  return wait
}
