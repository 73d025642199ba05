/**
 * Protocol parameters. Defaults are the values of the HyParView and Plumtree papers and of
 * iroh-gossip; see ../shared/DESIGN.md. Every queue and cache inside the state machines is bounded
 * by one of these.
 */
import { MIN_FRAME_BYTES } from './limits.js'

export interface HyParViewConfig {
  /** Active view capacity (fanout + 1). */
  activeViewCapacity: number
  /** Passive view capacity. */
  passiveViewCapacity: number
  /** Active random walk length: TTL of FORWARD_JOIN. */
  activeRandomWalkLength: number
  /** Passive random walk length: at this TTL a FORWARD_JOIN also adds the newcomer to the passive view. */
  passiveRandomWalkLength: number
  /** Walk length of a SHUFFLE. */
  shuffleRandomWalkLength: number
  /** How many active-view peers a SHUFFLE carries. */
  shuffleActiveViewCount: number
  /** How many passive-view peers a SHUFFLE carries. */
  shufflePassiveViewCount: number
  /** Period of the SHUFFLE timer, ms. */
  shuffleInterval: number
  /**
   * Up to how many times `shuffleInterval` a topic waits between SHUFFLEs while they teach it
   * nothing (every peer of each reply already in its views, and nothing for the timer to repair):
   * doubled after each such shuffle, back to 1 when the active view changes. A small topic whose
   * members are all neighbours has nothing to learn; at hundreds of topics its shuffles were most
   * of an idle node's traffic. 1 turns it off.
   */
  shuffleSlowdownMax: number
  /** How long to wait for a NEIGHBOR reply before trying another passive peer, ms. */
  neighborRequestTimeout: number
  /** How long a JOIN may go unanswered before `joinFailed`, ms. */
  joinTimeout: number
  /** How many peers a DISCONNECT hands over to the evicted node. */
  disconnectSampleSize: number
}

export interface PlumtreeConfig {
  /** IHAVE entries are batched and flushed on this period, ms. */
  dispatchTimeout: number
  /**
   * Wait after the first IHAVE for an unseen id before asking its announcer for it, ms. Long
   * enough for the tree's copy from most origins (see `shaperTimeout`): a copy asked for too early
   * arrives twice.
   */
  graftTimeout1: number
  /** Wait before asking the next announcer, ms. */
  graftTimeout2: number
  /**
   * `graftTimeout1` while this node has lost a tree link and no tree link has delivered since,
   * ms: the tree is known cut, so an announced id is asked for soon.
   */
  repairTimeout: number
  /**
   * Only the messages of one origin reshape the tree: the lowest-ranked origin heard from within
   * this time, ms (rank: a hash of origin and topic, the same at every node). Others travel the
   * tree as it is: their duplicates prune nothing and a missed one is pulled (PULL) rather than
   * grafted. 0: every message reshapes the tree, as in the paper.
   */
  shaperTimeout: number
  /** A lazy announcer whose hop count beats the eager delivery by at least this is grafted. */
  optimizationThreshold: number
  /** How long payloads are kept to answer GRAFTs, ms. */
  messageCacheTimeout: number
  /** How long delivered ids are remembered to drop duplicates, ms. */
  messageIdRetention: number
  /** Period of the cache eviction timer, ms. */
  cacheEvictInterval: number
  /** Upper bound of cached payloads per topic (oldest dropped first). */
  maxCachedMessages: number
  /** Upper bound of remembered ids per topic (oldest dropped first). */
  maxSeenIds: number
  /** Upper bound of pending IHAVE entries per topic; past it the oldest announcements are dropped. */
  maxPendingIHaves: number
  /** Upper bound of ids waiting for a GRAFT per topic. */
  maxMissingMessages: number
  /**
   * Ids one neighbour may have us waiting for at once (those it announced first); past it, its
   * announcements are ignored. Bounds what a peer announcing ids it never delivers costs.
   */
  maxMissingPerPeer: number
  /**
   * GRAFTs a neighbour may leave unanswered (each payload it delivers makes up for one); held at
   * that count for `demoteAfter`, it is demoted: its IHAVEs are ignored until deliveries bring it
   * back under the count, and once it has announced `maxMissingPerPeer` ids while ignored that
   * nobody delivered to us, its link is dropped.
   */
  maxUnansweredGrafts: number
  /**
   * GRAFTs one neighbour may have pending (sent, neither answered nor timed out); an id whose
   * announcers are all at the bound is parked, without a timer, until one of them answers or lets
   * a GRAFT time out. A flooder's ids would otherwise all come due together and cost a GRAFT each
   * in one turn of the event loop.
   */
  maxGraftsInFlight: number
  /**
   * Ids one peer may announce per second, over all topics; past it, its link is not read for the
   * rest of that second (`throttle`). An honest peer announces each message once at most, so this
   * is above any message rate a cluster carries; an IHAVE flood is read at this rate at most.
   */
  maxIHavesPerSecond: number
  /**
   * How long a neighbour must have stayed at `maxUnansweredGrafts` unanswered GRAFTs or more
   * (less one per payload it delivered) before it is demoted, ms. Well above a round trip: a burst answered late demotes nobody.
   */
  demoteAfter: number
}

export interface ProtoConfig {
  membership: HyParViewConfig
  broadcast: PlumtreeConfig
  /** Upper bound of topics one node may be part of. */
  maxTopics: number
  /**
   * Byte budget of every control message the state machines emit (IHAVE, SHUFFLE, SHUFFLE_REPLY,
   * DISCONNECT, JOIN, ...): lists are cut to fit, so a burst or a generous shuffle setting cannot
   * build a frame the transport refuses. GOSSIP carries application payloads and is bounded by
   * the runtime's message size instead. At least `MIN_FRAME_BYTES`.
   */
  maxFrameBytes: number
}

export const defaultConfig: ProtoConfig = Object.freeze({
  membership: Object.freeze({
    activeViewCapacity: 5,
    passiveViewCapacity: 30,
    activeRandomWalkLength: 6,
    passiveRandomWalkLength: 3,
    shuffleRandomWalkLength: 6,
    shuffleActiveViewCount: 3,
    shufflePassiveViewCount: 4,
    shuffleInterval: 60_000,
    shuffleSlowdownMax: 8,
    neighborRequestTimeout: 500,
    joinTimeout: 5_000,
    disconnectSampleSize: 4
  }),
  broadcast: Object.freeze({
    dispatchTimeout: 5,
    graftTimeout1: 400,
    graftTimeout2: 200,
    repairTimeout: 80,
    shaperTimeout: 60_000,
    optimizationThreshold: 7,
    messageCacheTimeout: 30_000,
    messageIdRetention: 90_000,
    cacheEvictInterval: 1_000,
    maxCachedMessages: 10_000,
    maxSeenIds: 100_000,
    maxPendingIHaves: 10_000,
    maxMissingMessages: 10_000,
    maxMissingPerPeer: 1_000,
    maxUnansweredGrafts: 32,
    maxGraftsInFlight: 128,
    maxIHavesPerSecond: 100_000,
    demoteAfter: 2_000
  }),
  maxTopics: 1_000,
  // The runtime's frame limit is its message size plus 16 KiB: control frames fit whatever that is.
  maxFrameBytes: 16 * 1024
}) as ProtoConfig

export type PartialProtoConfig = {
  membership?: Partial<HyParViewConfig>
  broadcast?: Partial<PlumtreeConfig>
  maxTopics?: number
  maxFrameBytes?: number
}

/** Throws a RangeError when `maxFrameBytes` is below `MIN_FRAME_BYTES` or not an integer. */
export function resolveConfig (partial: PartialProtoConfig = {}): ProtoConfig {
  const maxFrameBytes = partial.maxFrameBytes ?? defaultConfig.maxFrameBytes
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < MIN_FRAME_BYTES) {
    throw new RangeError(`maxFrameBytes must be an integer of at least ${MIN_FRAME_BYTES}, got ${maxFrameBytes}`)
  }
  return {
    membership: { ...defaultConfig.membership, ...partial.membership },
    broadcast: { ...defaultConfig.broadcast, ...partial.broadcast },
    maxTopics: partial.maxTopics ?? defaultConfig.maxTopics,
    maxFrameBytes
  }
}
