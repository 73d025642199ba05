/**
 * Seeded randomness for the pure protocol and its tests. The state machines never call
 * `Math.random`: every choice goes through an `Rng` the driver owns, so a simulation with the same
 * seed makes the same choices.
 */
import type { Rng } from './types.js'

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of state, passes
 * PractRand, a handful of integer ops per draw. The seed is spread over the state with a few
 * warm-up rounds so that nearby seeds give unrelated streams.
 */
export function seededRng (seed: number): Rng {
  let a = 0x9e3779b9 | 0
  let b = 0x243f6a88 | 0
  let c = 0xb7e15162 | 0
  let d = (seed ^ 0xdeadbeef) | 0
  // Mix the high part of seeds above 2^32 too, so large integer seeds are not truncated.
  c = (c ^ Math.floor(seed / 0x100000000)) | 0
  const draw = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 15; i++) draw()
  return { next: () => draw() / 0x100000000 }
}

/** A uniform integer in [0, n). */
export function randomInt (rng: Rng, n: number): number {
  return Math.floor(rng.next() * n)
}

/** A uniform element of `items`, or undefined when it is empty. */
export function pick<T> (rng: Rng, items: readonly T[]): T | undefined {
  if (items.length === 0) return undefined
  return items[randomInt(rng, items.length)]
}

/** Fisher–Yates in place; returns `items`. */
export function shuffle<T> (rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1)
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}

/** Up to `k` distinct elements of `items` in random order, as a new array (`items` is untouched). */
export function sample<T> (rng: Rng, items: readonly T[], k: number): T[] {
  const n = items.length
  if (k >= n) return shuffle(rng, items.slice())
  const out: T[] = []
  if (k <= 0) return out
  // Partial Fisher–Yates over a copy: O(n) copy but views are small (<= passive capacity).
  const copy = items.slice()
  for (let i = 0; i < k; i++) {
    const j = i + randomInt(rng, n - i)
    const chosen = copy[j] as T
    copy[j] = copy[i] as T
    out.push(chosen)
  }
  return out
}

/** `chars` random lowercase hex characters (4 bits of entropy each). */
export function randomHex (rng: Rng, chars: number): string {
  let s = ''
  while (s.length < chars) {
    s += randomInt(rng, 0x10000).toString(16).padStart(4, '0')
  }
  return s.slice(0, chars)
}
