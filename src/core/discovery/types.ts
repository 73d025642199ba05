/**
 * The vocabulary of topic discovery: who wants which topic, and where those nodes listen. Like
 * the protocol in ../proto it is sans-IO: inputs and time go in, effects come out, and the
 * simulator and the runtime drive the same state machine.
 *
 * A node tells every linked peer its own topics as numbered changes (deltas), so the cost of a
 * change is the change, not everything the node holds. A periodic digest (version and count)
 * catches a copy that went out of step; the peer then asks for a snapshot. Whoever hears of a
 * new interest answers with other nodes it knows in those topics, and a node that knows nobody in
 * a topic asks its peers and its seeds.
 *
 * Topics are named by their keys (./topic-key.ts), 8 bytes of the id: the driver turns a topic
 * id into its key going in and a key back into the id of its own topic coming out.
 */
import type { TopicKey } from './topic-key.js'

export interface NodeAddr<PI> {
  id: PI
  addr: string
}

export type DiscoveryMessage<PI> =
  /**
   * The sender's own topics. `reset`: the first page of a snapshot, which replaces everything the
   * receiver knew of the sender's topics. Otherwise a change from version `base` to `version`,
   * applied only by a receiver that holds exactly `base` (a later page of the same change or
   * snapshot repeats the base with `version === base`, and only the last page moves it on).
   */
  | { type: 'topics', reset: boolean, base: number, version: number, joined: TopicKey[], left: TopicKey[] }
  /** Periodic check: the sender is at `version` with `count` topics. */
  | { type: 'digest', version: number, count: number }
  /** The receiver's copy of our topics is out of step: please send a snapshot. */
  | { type: 'resync' }
  /** Who else wants these topics? The sender knows nobody in them. */
  | { type: 'query', topics: TopicKey[] }
  /**
   * Nodes other than the two ends known to want each topic. `holders[i]` indexes `nodes` for
   * `topics[i]`, so a node in many topics is named once.
   */
  | { type: 'members', nodes: Array<NodeAddr<PI>>, topics: TopicKey[], holders: number[][] }

export type DiscoveryInput<PI> =
  /** A link to `peer` is up (either side dialled); `addr` is where it accepts links, if known. */
  | { type: 'linkUp', peer: PI, addr: string | undefined }
  | { type: 'linkDown', peer: PI }
  | { type: 'recv', from: PI, message: DiscoveryMessage<PI> }
  /** This node entered or left a topic. */
  | { type: 'joinTopic', topic: TopicKey }
  | { type: 'leaveTopic', topic: TopicKey }
  /** An address learned elsewhere (the membership protocol's peer data, a link's hello). */
  | { type: 'learn', peer: PI, addr: string, topic?: TopicKey }
  /** A seed we linked to: one of the nodes asked when nobody is known in a topic. */
  | { type: 'seed', peer: PI, addr: string }
  /** Dialling `peer` failed. */
  | { type: 'dialFailed', peer: PI }
  /** The link to `peer` is about to close: tell it now what we would have announced later. */
  | { type: 'flush', peer: PI }
  /** The time asked for by the last `schedule` output has come (extra ticks are harmless). */
  | { type: 'tick' }

export type DiscoveryOutput<PI> =
  /** Send to `to`; a peer without a link is dialled at the address `addressOf(to)` gives. */
  | { type: 'send', to: PI, message: DiscoveryMessage<PI> }
  /** Feed a `tick` input back after `after` ms. */
  | { type: 'schedule', after: number }
  /** A node newly known to want `topic`, a topic this node is in. */
  | { type: 'found', topic: TopicKey }

export interface DiscoveryConfig {
  /** Byte budget of one discovery message (the frame limit leaves room for the rest). */
  maxFrameBytes: number
  /** Changes of our topics are gathered this long before they are announced, ms. */
  announceDelay: number
  /** Period of the digest sent on every link, ms. */
  digestInterval: number
  /** Nodes named per topic in an answer. */
  answerPerTopic: number
  /**
   * Linked peers expected to answer one change of a node's topics: each answers with probability
   * `changeAnswerers / its links` (all of them, with that many links or fewer). A node that still
   * knows nobody in a topic asks (`query`), and a query is always answered.
   */
  changeAnswerers: number
  /** Bytes of one answer, all its pages together. */
  maxAnswerBytes: number
  /** First and largest wait between two queries for a topic in which nobody is known, ms. */
  queryBackoffMin: number
  queryBackoffMax: number
  /** Peers (linked first, then seeds) asked by one query. */
  queryFanout: number
  /** How long an interest heard from a third party, or from a peer no longer linked, is kept, ms. */
  interestTtl: number
  /** Topic changes remembered to send deltas; a peer further behind gets a snapshot. */
  maxLog: number
  /** Nodes in the address book. */
  maxNodes: number
  /** Topics recorded for one node. */
  maxTopicsPerNode: number
  /** (node, topic) interests recorded in all. */
  maxInterests: number
}

export const defaultDiscoveryConfig: DiscoveryConfig = Object.freeze({
  maxFrameBytes: 16 * 1024,
  announceDelay: 20,
  digestInterval: 30_000,
  answerPerTopic: 4,
  changeAnswerers: 4,
  maxAnswerBytes: 256 * 1024,
  queryBackoffMin: 500,
  queryBackoffMax: 30_000,
  queryFanout: 3,
  interestTtl: 10 * 60_000,
  maxLog: 4096,
  maxNodes: 10_000,
  maxTopicsPerNode: 4096,
  maxInterests: 200_000
})
