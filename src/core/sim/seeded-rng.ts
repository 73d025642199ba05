/**
 * A small seeded PRNG (mulberry32) for the simulator. The protocol only sees the `Rng` interface;
 * the simulator gives every node its own stream so that adding a node or reordering work in one
 * node never shifts the random choices of another.
 */
import type { Rng } from '../proto/types.js'

/** Mixes 32 bits so that nearby inputs (seed, seed + 1, ...) give unrelated outputs. */
export function mix32 (x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

/** A seed for the `index`-th independent stream of a run. */
export function deriveSeed (seed: number, index: number): number {
  return mix32(mix32(seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b1))
}

export function seededRng (seed: number): Rng {
  let a = seed >>> 0
  return {
    next (): number {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
  }
}

/** A uniform integer in [0, n). */
export function pickIndex (rng: Rng, n: number): number {
  return Math.floor(rng.next() * n)
}

/** `k` distinct elements of `items`, in random order (partial Fisher–Yates on a copy). */
export function sample<T> (rng: Rng, items: readonly T[], k: number): T[] {
  const copy = items.slice()
  const n = Math.min(k, copy.length)
  for (let i = 0; i < n; i++) {
    const j = i + pickIndex(rng, copy.length - i)
    const tmp = copy[i] as T
    copy[i] = copy[j] as T
    copy[j] = tmp
  }
  return copy.slice(0, n)
}
