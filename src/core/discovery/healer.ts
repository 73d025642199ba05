/**
 * Self-healing of topic overlays. HyParView alone never re-merges disjoint components (iroh-gossip
 * issues 86, 152), and re-joining everybody after every failure makes eviction storms because a
 * JOIN evicts someone at the contact. The healer therefore asks for few joins:
 *
 * - isolated: the topic has no active neighbour but the address book knows interested nodes →
 *   join up to `isolatedJoins` random ones, with exponential backoff while it stays isolated;
 * - on probation: a node that just left isolation may have joined another isolated node, and the
 *   two would form an island the rare split check takes long to find (the simulator showed four
 *   such islands among 100 newcomers). An island is small, so its active views stay small, while
 *   a JOIN into a large overlay brings the contact and the ends of the FORWARD_JOIN walks. For
 *   `probationJoins` short backoffs, a node whose active view is still below `probationBelow`
 *   joins one more node; one in a healthy overlay costs nobody an eviction;
 * - possibly split: every `interval` (jittered), join one random interested node outside the
 *   active view with probability `expectedJoins / interested`, so the whole overlay makes about
 *   `expectedJoins` healing joins per interval however large it is. In a split into two halves,
 *   each such join crosses the cut with probability 1/2, and one crossing join merges them.
 *   Each such JOIN evicts somebody and its walk adds links, so a calm overlay checks less often:
 *   once a node has seen no neighbour of the topic fail (`failed`) and has not been isolated for
 *   `calmAfter` since it joined the topic, its checks come every `calmInterval`. A split shows
 *   where it happens, as failed links at the cut, and those nodes check at the short interval
 *   again. Evictions are not trouble: they are what the checks themselves cause (measured at 50
 *   idle nodes: the short checks cost about 1,100 evictions per topic every 10 minutes).
 *
 * Pure: the caller passes time, randomness and what it knows; the result says whom to join and
 * when to ask again.
 */
import type { Rng, TopicId } from '../proto/types.js'

export interface HealerConfig {
  /** Period of the split check, ms. */
  interval: number
  /** Healing joins the whole overlay makes per interval, on average. */
  expectedJoins: number
  /** Nodes joined at once when isolated. */
  isolatedJoins: number
  /** Checks, one per `isolatedBackoffMin`, after leaving isolation. */
  probationJoins: number
  /** A check joins one more node while the active view is smaller than this. */
  probationBelow: number
  /** First and largest backoff while isolated, ms. */
  isolatedBackoffMin: number
  isolatedBackoffMax: number
  /** How long without a failed neighbour or isolation before split checks slow down, ms. */
  calmAfter: number
  /** Period of the split check once calm, ms. */
  calmInterval: number
}

export const defaultHealerConfig: HealerConfig = Object.freeze({
  interval: 10_000,
  expectedJoins: 2,
  isolatedJoins: 1,
  probationJoins: 3,
  probationBelow: 3,
  isolatedBackoffMin: 1_000,
  isolatedBackoffMax: 30_000,
  calmAfter: 300_000,
  calmInterval: 60_000
})

export interface HealInput<PI> {
  topic: TopicId
  /** The caller's clock, ms. */
  now: number
  active: readonly PI[]
  /** Nodes the address book says want the topic (self excluded). */
  interested: readonly PI[]
}

export interface HealDecision<PI> {
  join: PI[]
  /** Ask again after this many ms. */
  next: number
}

export class Healer<PI> {
  private readonly backoff = new Map<TopicId, number>()
  private readonly probation = new Map<TopicId, number>()
  /** Per topic: when a neighbour last failed, the node was isolated, or it joined the topic. */
  private readonly troubleAt = new Map<TopicId, number>()

  constructor (private readonly config: HealerConfig, private readonly rng: Rng) {}

  tick (input: HealInput<PI>): HealDecision<PI> {
    const { topic, active, interested, now } = input
    const c = this.config
    const calm = this.calm(topic, active, now)
    if (active.length === 0) {
      if (interested.length === 0) return { join: [], next: this.jitter(c.isolatedBackoffMin) }
      const wait = this.backoff.get(topic) ?? c.isolatedBackoffMin
      this.backoff.set(topic, Math.min(wait * 2, c.isolatedBackoffMax))
      if (c.probationJoins > 0) this.probation.set(topic, c.probationJoins)
      return { join: this.pick(interested, c.isolatedJoins), next: this.jitter(wait) }
    }
    // The candidates are the interested nodes outside the active view. They are counted and the
    // one chosen found in place rather than gathered first: this runs for every topic of every
    // node, and the gathered copies of large topics' member lists showed in a run's profile.
    this.backoff.delete(topic)
    const probation = this.probation.get(topic) ?? 0
    if (probation > 0) {
      if (probation === 1) this.probation.delete(topic)
      else this.probation.set(topic, probation - 1)
      const join = active.length < c.probationBelow ? this.pickOutside(interested, active) : []
      return { join, next: this.jitter(c.isolatedBackoffMin) }
    }
    const outside = countOutside(interested, active)
    const p = outside === 0 ? 0 : Math.min(1, c.expectedJoins / (outside + active.length))
    const join = this.rng.next() < p ? this.pickOutside(interested, active, outside) : []
    return { join, next: this.jitter(calm ? c.calmInterval : c.interval) }
  }

  forget (topic: TopicId): void {
    this.backoff.delete(topic)
    this.probation.delete(topic)
    this.troubleAt.delete(topic)
  }

  /** A neighbour of `topic` failed (its link broke; not an eviction, not a goodbye). */
  failed (topic: TopicId, now: number): void {
    this.troubleAt.set(topic, now)
  }

  private calm (topic: TopicId, active: readonly PI[], now: number): boolean {
    const since = this.troubleAt.get(topic)
    if (since === undefined || active.length === 0) {
      this.troubleAt.set(topic, now)
      return false
    }
    return now - since >= this.config.calmAfter
  }

  /** ±25 % so that nodes started together do not heal in lock step. */
  private jitter (ms: number): number {
    return Math.round(ms * (0.75 + this.rng.next() * 0.5))
  }

  /**
   * One random node of `from` outside `active` (`outside` of them), or none: what `pick` of one
   * would choose from those nodes gathered in order, with the same draw.
   */
  private pickOutside (from: readonly PI[], active: readonly PI[], outside = countOutside(from, active)): PI[] {
    if (outside === 0) return []
    let skip = Math.floor(this.rng.next() * outside)
    for (let i = 0; i < from.length; i++) {
      const p = from[i] as PI
      if (active.includes(p)) continue
      if (skip === 0) return [p]
      skip--
    }
    return []
  }

  private pick (from: readonly PI[], n: number): PI[] {
    const pool = from.slice()
    const out: PI[] = []
    while (out.length < n && pool.length > 0) {
      const i = Math.floor(this.rng.next() * pool.length)
      out.push(pool[i] as PI)
      pool[i] = pool[pool.length - 1] as PI
      pool.pop()
    }
    return out
  }
}

/**
 * Nodes of `from` not in `active`. Index loops here and in `pickOutside`: `for...of` over these
 * lists (the book's own, of every length, or its frozen empty one) ran as a generic iterator and
 * allocated a result per element, a twentieth of all a 200-node simulation allocated.
 */
function countOutside<PI> (from: readonly PI[], active: readonly PI[]): number {
  let n = 0
  for (let i = 0; i < from.length; i++) if (!active.includes(from[i] as PI)) n++
  return n
}
