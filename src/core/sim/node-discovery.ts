/**
 * One simulated node's share of what the runtime (../gossip.ts) runs beside the protocol: topic
 * discovery, the healer and the application's topics. The simulator routes the inputs and carries
 * out the outputs exactly as the runtime does (see `Simulator`'s discovery methods); this holds the
 * node's state and the choices the runtime makes on its own (`pickContacts`).
 */
import { Discovery } from '../discovery/discovery.js'
import { Healer, defaultHealerConfig, type HealerConfig } from '../discovery/healer.js'
import { topicKey, type TopicKey } from '../discovery/topic-key.js'
import type { DiscoveryConfig } from '../discovery/types.js'
import { seededRng } from '../proto/random.js'
import type { Rng, TopicId } from '../proto/types.js'
import { SEED_BACKOFF_MIN, seedRetryWait } from '../seed-backoff.js'
import { deriveSeed } from './seed-streams.js'

/** Turns the simulator's discovery layer on. */
export interface SimDiscoveryOptions {
  /**
   * The nodes every node is configured with as seeds, dialled as the runtime's `Seeds` does: at
   * start and every `seedRefreshInterval` while not linked, a failed dial again after a backoff
   * (250 ms doubling up to the refresh interval, jittered), all at once when the node lost its
   * last link; fed to discovery as `seed` once linked.
   */
  seeds: readonly number[]
  config?: Partial<DiscoveryConfig> | undefined
  healer?: HealerConfig | undefined
  /** The runtime's `seedRefreshInterval`, ms. Default 30 s. */
  seedRefreshInterval?: number | undefined
}

/** The simulator's own stream indices (see `deriveSeed`) of the per-node discovery streams. */
const DISCOVERY_STREAM = -4
const HEALER_STREAM = -5
const CONTACTS_STREAM = -6

export class NodeDiscovery {
  readonly discovery: Discovery<number>
  readonly healer: Healer<number>
  /** Topics the application has a stream of (the runtime's `LocalTopics`). */
  readonly streams = new Set<TopicId>()
  /** Those topics by the key discovery names them with (its `found` gives the key). */
  readonly topicOfKey = new Map<TopicKey, TopicId>()
  /** Peers whose link discovery was told is up, with that link's epoch. */
  readonly up = new Map<number, number>()
  /** The pending heal timer of each topic; a newer one replaces it (the runtime's clearTimeout). */
  readonly heal = new Map<TopicId, number>()
  /** The pending discovery tick; a newer one replaces it. */
  tick = 0
  /** Per seed: the epoch of our own dial to it in progress, the next backoff, whether a retry waits. */
  readonly seedDials = new Map<number, { epoch: number, backoff: number, failures: number, retrying: boolean }>()
  private timers = 0
  private readonly rng: Rng

  constructor (id: number, runSeed: number, options: SimDiscoveryOptions, maxFrameBytes: number) {
    const stream = (index: number): Rng => seededRng(deriveSeed(deriveSeed(runSeed, index), id))
    this.discovery = new Discovery<number>(id, stream(DISCOVERY_STREAM), { maxFrameBytes, ...options.config })
    this.healer = new Healer<number>(options.healer ?? defaultHealerConfig, stream(HEALER_STREAM))
    this.rng = stream(CONTACTS_STREAM)
  }

  /** A fresh timer token. */
  token (): number {
    return ++this.timers
  }

  /** The jittered wait before the next dial of a seed whose dial failed (the runtime's schedule). */
  seedRetry (seed: number, refresh: number): number {
    const s = this.seedDials.get(seed) ?? { backoff: SEED_BACKOFF_MIN, failures: 0, retrying: false }
    s.failures++
    s.retrying = true
    return seedRetryWait(s, refresh, this.rng.next())
  }

  /**
   * The runtime's healer candidates (`healOne`): isolated, the topic's passive view and the members
   * discovery vouches for (talked to); otherwise every member discovery knows (the book's own list,
   * not a copy: the healer only reads it, and every heal timer of every topic copied its members).
   */
  healCandidates (topic: TopicId, active: readonly number[], passive: readonly number[]): readonly number[] {
    return active.length === 0
      ? [...new Set([...passive, ...this.discovery.contactsFor(topicKey(topic))])]
      : this.discovery.holdersOf(topicKey(topic))
  }

  /**
   * The runtime's `pickContacts`: one node discovery vouches for in `topic` when there is one, the
   * rest random from every node known to want it; up to 3, possibly none.
   */
  pickContacts (topic: TopicId): number[] {
    const trusted = this.discovery.contactsFor(topicKey(topic))
    const all = this.discovery.interestedIn(topicKey(topic))
    const out: number[] = []
    if (trusted.length > 0) out.push(trusted[Math.floor(this.rng.next() * trusted.length)] as number)
    while (out.length < 3 && all.length > 0) {
      const i = Math.floor(this.rng.next() * all.length)
      const pick = all[i] as number
      all[i] = all[all.length - 1] as number
      all.pop()
      if (!out.includes(pick)) out.push(pick)
    }
    return out
  }
}
