/**
 * Zipf-distributed subscriptions (s = 1), for runs with many topics: a few topics almost everyone
 * is in and a long tail of topics with one or two members, and a few nodes in very many topics
 * while most are in a few dozen.
 *
 * - Topic popularity: the topic of rank k (1-based) is drawn with weight 1/k.
 * - Topics per node: the node of rank r (a random permutation of the nodes) is in
 *   round(C / r) topics, at least 1, at most `max`, with C chosen so that the mean is `mean`.
 */
import { shuffle } from '../proto/random.js'
import type { Rng } from '../proto/types.js'

/** Draws topic indices 0..n-1, index k with weight 1/(k+1). */
export class ZipfTopics {
  private readonly cdf: Float64Array

  constructor (readonly count: number) {
    this.cdf = new Float64Array(count)
    let sum = 0
    for (let k = 0; k < count; k++) {
      sum += 1 / (k + 1)
      this.cdf[k] = sum
    }
  }

  draw (rng: Rng): number {
    const u = rng.next() * (this.cdf[this.count - 1] as number)
    let lo = 0
    let hi = this.count - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.cdf[mid] as number) <= u) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * `k` distinct topics, each drawn by popularity among those not taken yet (none of `exclude`).
   * Falls back to the most popular free topics if drawing keeps hitting taken ones.
   */
  drawDistinct (rng: Rng, k: number, exclude: ReadonlySet<number> = new Set()): number[] {
    const taken = new Set<number>(exclude)
    const out: number[] = []
    const want = Math.min(k, this.count - taken.size)
    let attempts = 0
    while (out.length < want && attempts < 50 * want + 100) {
      attempts++
      const t = this.draw(rng)
      if (taken.has(t)) continue
      taken.add(t)
      out.push(t)
    }
    for (let t = 0; out.length < want && t < this.count; t++) {
      if (taken.has(t)) continue
      taken.add(t)
      out.push(t)
    }
    return out
  }
}

/**
 * Topics per node: node i is in `counts[i]` topics. Zipf over a random ranking of the nodes,
 * clamped to [1, min(max, topics)], scaled so that the mean is as close to `mean` as the clamps allow.
 */
export function zipfCounts (rng: Rng, nodes: number, mean: number, max: number, topics: number): Int32Array {
  const cap = Math.max(1, Math.min(max, topics))
  const target = Math.min(mean, cap) * nodes
  const total = (c: number): number => {
    let sum = 0
    for (let r = 1; r <= nodes; r++) sum += Math.min(cap, Math.max(1, Math.round(c / r)))
    return sum
  }
  let lo = 0
  let hi = cap * nodes
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (total(mid) < target) lo = mid
    else hi = mid
  }
  const ranks = shuffle(rng, Array.from({ length: nodes }, (_, i) => i))
  const counts = new Int32Array(nodes)
  for (let i = 0; i < nodes; i++) counts[i] = Math.min(cap, Math.max(1, Math.round(hi / ((ranks[i] as number) + 1))))
  return counts
}
