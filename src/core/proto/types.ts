/**
 * The vocabulary of the pure gossip protocol: what goes in, what comes out, what travels on the
 * wire. Everything under `src/core/proto` is sans-IO: the caller passes time and randomness in and
 * carries out the outputs (sends, timers, disconnects). The simulator and the real runtime drive
 * the same code through these types.
 *
 * `PI` is the peer id. The runtime uses the hex-encoded Ed25519 public key; the simulator uses
 * small strings. It must be usable as a `Map` key with value semantics (a string or a number).
 */

/** A topic is 32 bytes, carried as 64 lowercase hex characters so it can key a Map. */
export type TopicId = string

/** Unique per publish, never a content hash: origin-chosen prefix + sequence number. */
export type MessageId = string

/**
 * What other nodes need to reach a peer. Opaque to the protocol: the runtime puts an encoded
 * address here, the simulator nothing. Carried in JOIN, FORWARD_JOIN, SHUFFLE and NEIGHBOR.
 */
export type PeerData = Uint8Array

export interface PeerInfo<PI> {
  id: PI
  data?: PeerData | undefined
}

// ---------------------------------------------------------------------------------------------
// Wire messages. One `Message` is always about one topic; the link is shared by all topics.
// ---------------------------------------------------------------------------------------------

export type Priority = 'high' | 'low'

export type HyParViewMessage<PI> =
  /** Sent to a contact node to enter the topic's overlay. */
  | { type: 'join', data?: PeerData | undefined }
  /** Random walk announcing a newcomer; `ttl` counts down from ARWL. */
  | { type: 'forwardJoin', peer: PeerInfo<PI>, ttl: number }
  /** Ask to become an active neighbour. A `high` request must be accepted. */
  | { type: 'neighbor', priority: Priority, data?: PeerData | undefined }
  /** Answer to `neighbor`. */
  | { type: 'neighborReply', accepted: boolean }
  /** Random walk exchanging samples of the views. */
  | { type: 'shuffle', origin: PeerInfo<PI>, nodes: PeerInfo<PI>[], ttl: number }
  | { type: 'shuffleReply', nodes: PeerInfo<PI>[] }
  /**
   * Leave the active view of the receiver. `alive` tells whether the sender stays reachable (so
   * the receiver keeps it as passive) or is leaving. `sample` hands over known peers so that an
   * evicted node does not starve.
   */
  | { type: 'disconnect', alive: boolean, sample?: PeerInfo<PI>[] | undefined }

export interface IHaveEntry {
  id: MessageId
  round: number
}

/**
 * IHAVE entries read by position, as the codec hands them over: no object per entry, and an id's
 * string made only when it is asked for, so the ids of a neighbour that is not listened to are
 * never made at all. It may view the frame's bytes: read it while handling the message, never
 * keep it (keep the ids).
 */
export interface IHaveList extends Iterable<IHaveEntry> {
  readonly length: number
  id: (index: number) => MessageId
  round: (index: number) => number
}

/** What an IHAVE carries: the entries we build are arrays, decoded ones may be an IHaveList. */
export type IHaveEntries = IHaveEntry[] | IHaveList

export type PlumtreeMessage<PI> =
  /**
   * Eager push of a payload. `round` is the hop count as sent: the origin sends 0 and a direct
   * neighbour of the origin delivers it at hop 1 (receivers deliver at `round + 1`).
   */
  | { type: 'gossip', id: MessageId, origin: PI, content: Uint8Array, round: number, sig?: Uint8Array | undefined }
  /** Lazy push of ids. */
  | { type: 'ihave', entries: IHaveEntries }
  /**
   * Ask for a missed payload and make the link eager again. `id` absent: only re-graft the link.
   * `pull`: only ask for the payload (PULL on the wire); the link stays as it is.
   */
  | { type: 'graft', id?: MessageId | undefined, round: number, pull?: boolean }
  /** Make the link lazy. */
  | { type: 'prune' }

export type TopicMessage<PI> = HyParViewMessage<PI> | PlumtreeMessage<PI>

export interface Message<PI> {
  topic: TopicId
  body: TopicMessage<PI>
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

export type Command<PI> =
  /** Join the topic through these contacts (may be empty: wait to be joined). */
  | { type: 'join', peers: PeerInfo<PI>[] }
  /**
   * Broadcast a payload. `id` may be supplied by the caller; otherwise the state makes one. `sig`
   * is the origin's signature, opaque here: it travels with the payload wherever it goes.
   */
  | { type: 'broadcast', content: Uint8Array, id?: MessageId | undefined, sig?: Uint8Array | undefined }
  /** Leave the topic gracefully. */
  | { type: 'quit' }

export type Timer<PI> =
  | { type: 'shuffle', topic: TopicId }
  | { type: 'neighborTimeout', topic: TopicId, peer: PI }
  | { type: 'joinTimeout', topic: TopicId }
  | { type: 'dispatchIHave', topic: TopicId }
  | { type: 'graftTimeout', topic: TopicId, id: MessageId }
  | { type: 'evictCache', topic: TopicId }

export type InEvent<PI> =
  | { type: 'recv', from: PI, message: Message<PI> }
  | { type: 'command', topic: TopicId, command: Command<PI> }
  | { type: 'timer', timer: Timer<PI> }
  /**
   * The link to `peer` is gone (socket closed, write queue overflow, kill -9 of the peer).
   * `graceful`: the peer closed it on purpose after sending everything (it is alive, the link was
   * idle to it), as opposed to a failure.
   */
  | { type: 'peerDisconnected', peer: PI, graceful?: boolean }

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

export type DownReason = 'failure' | 'eviction' | 'leave'

export type Event<PI> =
  /** The first neighbour came up after a join; `peers` are the neighbours at that moment. */
  | { type: 'joined', peers: PI[] }
  | { type: 'neighborUp', peer: PI }
  | { type: 'neighborDown', peer: PI, reason: DownReason }
  /** A payload delivered for the first time. `from` is the neighbour, `origin` the publisher. */
  | { type: 'received', id: MessageId, content: Uint8Array, from: PI, origin: PI, hops: number }
  /** No contact of a `join` command answered within the join timeout. */
  | { type: 'joinFailed', peers: PI[] }
  | { type: 'left' }

export type OutEvent<PI> =
  | { type: 'send', to: PI, message: Message<PI> }
  | { type: 'emit', topic: TopicId, event: Event<PI> }
  /** Ask the driver to feed `timer` back as an input after `after` ms. */
  | { type: 'schedule', after: number, timer: Timer<PI> }
  /** No topic needs this link any more: close it. */
  | { type: 'disconnect', peer: PI }
  /** Learned how to reach a peer (from JOIN, FORWARD_JOIN, SHUFFLE...): feed the address book. */
  | { type: 'peerData', topic: TopicId, peer: PI, data: PeerData }
  /** The peer keeps breaking the protocol's rules (`reason` says how): close its link. */
  | { type: 'drop', peer: PI, reason: string }
  /**
   * The peer announced more than `maxIHavesPerSecond` ids in the current second: read nothing more
   * from its link for `ms` (the rest of that second). Its sends back up into its own buffers.
   */
  | { type: 'throttle', peer: PI, ms: number }

/**
 * A source of randomness the caller owns (seeded in the simulator, crypto-backed or seeded in the
 * runtime). `next()` returns a float in [0, 1).
 */
export interface Rng {
  next(): number
}
