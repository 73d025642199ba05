/**
 * The public shape of a Gossip node, modelled on p2panda-net's `Gossip` (see the seed): join a
 * topic with `stream(topic)`, publish and subscribe on the handle, watch membership with
 * `events()`. `src/core/gossip.ts` implements it over real sockets; the Fastify plugin and the
 * Socket.IO adapter depend only on this interface.
 */
import type { PartialProtoConfig } from './proto/config.js'
import type { DownReason, MessageId, TopicId } from './proto/types.js'
import type { NodeId } from './net/frames.js'

export type { NodeId, TopicId, MessageId, DownReason }

/** A topic as the application names it: any string (hashed to 32 bytes) or exactly 32 bytes. */
export type TopicInput = string | Uint8Array

/** The minimal logger interface Grapevine logs through (pino, fastify.log, console-like). */
export interface Logger {
  trace(obj: unknown, msg?: string): void
  debug(obj: unknown, msg?: string): void
  info(obj: unknown, msg?: string): void
  warn(obj: unknown, msg?: string): void
  error(obj: unknown, msg?: string): void
  child?(bindings: Record<string, unknown>): Logger
}

export interface KeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
}

export interface GossipOptions {
  /** Shared secret of the cluster; only nodes holding it can complete a handshake. */
  secret: string | Uint8Array
  /** Interface to listen on. Default '127.0.0.1'. */
  host?: string
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number
  /** Address other nodes should dial ("host:port"); default the bound address. */
  advertise?: string
  /** Bootstrap contacts: "host:port" strings; a host that is a DNS name is resolved to all its addresses. */
  seeds?: string[]
  /** How often seeds given as DNS names are resolved again, ms. Default 30 000. */
  seedRefreshInterval?: number
  /** Identity key pair (Ed25519). Generated when absent. */
  keyPair?: KeyPair
  /** HyParView / Plumtree parameters. */
  protocol?: PartialProtoConfig
  /** Largest payload `publish` accepts, bytes. Default 256 KiB. */
  maxMessageSize?: number
  /** Messages a topic keeps for a subscriber that is behind before it reports `lagged`. Default 1024. */
  subscriberBufferSize?: number
  /** Publishes kept per topic while it has no neighbour yet. Default 1024. */
  pendingPublishLimit?: number
  /** Bytes a link may have queued for writing before it is treated as failed. Default 8 MiB. */
  linkWriteBufferBytes?: number
  /** Time a handshake may take, ms. Default 5 000. */
  handshakeTimeout?: number
  /** Handshakes in progress at once (inbound); more are refused. Default 64. */
  maxPendingHandshakes?: number
  /**
   * A link that heard nothing from its peer for this long is closed as failed, ms; a quiet link
   * sends a ping every third of it. Catches cuts TCP does not report. Default 6 000.
   */
  keepaliveTimeout?: number
  /**
   * Sign every message with the node's identity key and deliver or forward a message only when
   * its origin signed it, so that no node, even one holding the cluster secret, can publish as
   * another. Every node of a cluster must agree. Default true.
   */
  signMessages?: boolean
  /**
   * Publish this node's cluster summary (links, topics, tree edges, rates, queues) on an internal
   * topic, for dashboards. Off by default: the node's traffic is then unchanged. The Fastify
   * plugin's `dashboard` turns it on for its node.
   */
  clusterSummary?: boolean | ClusterSummaryOptions
  /** Where logs go. Default: silent. */
  logger?: Logger
}

export interface ClusterSummaryOptions {
  /** Ms between two summaries at least; changes of neighbours publish early, at most once per interval. Default 5 000. */
  interval?: number
  /**
   * Gossip bytes a second (in and out) the cluster's summaries may cost this node: summaries are
   * spaced further apart as the cluster grows (every nodes x 2 x (summary size + 460) / bytesPerSecond
   * seconds, at most 300; 460 is the frame, signature and IHAVE cost of a summary). Default 350:
   * with the summary topic's upkeep, 554 B/s per node at 50 nodes and 740 at the busiest (measured).
   */
  bytesPerSecond?: number
  /** Topic names the summary may show; other topics appear as id prefixes only. Default none. */
  topicNames?: string[]
  /** Largest summary, bytes (512 to 16 384); a node in many topics details those with most traffic. Default 4 096. */
  maxBytes?: number
}

/** One message received on a topic. */
export interface GossipMessage {
  type: 'message'
  id: MessageId
  topic: TopicId
  content: Uint8Array
  /** The node that published it. */
  origin: NodeId
  /** The neighbour it was delivered by. */
  from: NodeId
  /** Hops from the origin: a direct neighbour of the origin receives at hop 1. */
  hops: number
}

/** In-band notice that a slow subscriber missed `dropped` messages. */
export interface Lagged {
  type: 'lagged'
  dropped: number
}

export type SubscriptionItem = GossipMessage | Lagged

export interface Subscription extends AsyncIterable<SubscriptionItem> {
  /** Stop receiving; ends the iteration. */
  close(): void
}

export interface GossipHandle {
  readonly topic: TopicId
  /**
   * Broadcast to every other node in the topic. Resolves once handed to the overlay (or queued
   * because no neighbour is up yet). Rejects with MessageTooLargeError before sending anything if
   * the payload is too large, ClosedError if the handle is closed.
   */
  publish(data: Uint8Array | string): Promise<void>
  /** A fresh subscription that sees messages received from now on. */
  subscribe(options?: { bufferSize?: number }): Subscription
  /** Current active-view neighbours of this node in the topic. */
  neighbours(): NodeId[]
  /** Release this handle; the topic is left when its last handle closes. */
  close(): Promise<void>
}

export type GossipEvent =
  | { type: 'joined', topic: TopicId, peers: NodeId[] }
  | { type: 'neighbourUp', topic: TopicId, peer: NodeId }
  | { type: 'neighbourDown', topic: TopicId, peer: NodeId, reason: DownReason }
  | { type: 'joinFailed', topic: TopicId, peers: NodeId[] }
  | { type: 'left', topic: TopicId }

/** One node this node has a link to, as `gossip.peers()` reports it. */
export interface PeerInfo {
  nodeId: NodeId
  /** Where the peer accepts links ("host:port"), as it announced; undefined when it did not. */
  address: string | undefined
  /** Time since the link came up, ms. */
  linkAge: number
  /** Round-trip time of the last keepalive ping the peer answered, ms; undefined until one was. */
  rtt: number | undefined
  /** True when this node dialled the link. */
  outbound: boolean
  /** Topics in which the peer is an active-view neighbour of this node. */
  topics: TopicId[]
  /** Those of `topics` whose broadcast tree uses this link (payloads pushed); on the others it is lazy (ids only). */
  eager: TopicId[]
  /** Bytes waiting to be written to the peer. */
  bufferedBytes: number
}

/** Message counters, counted by the runtime as frames come and go. */
export interface MessageCounters {
  /** Messages this node published to the overlay (queued publishes count once they go out). */
  published: number
  /** Messages from other nodes delivered to this node's handles (each once, duplicates not counted). */
  delivered: number
  /** Payload frames received, duplicates included. */
  messagesIn: number
  /** Payload frames sent (one per neighbour a message is pushed to). */
  messagesOut: number
  /** Payload bytes received (content only, no framing or encryption). */
  bytesIn: number
  /** Payload bytes sent. */
  bytesOut: number
  /** Payload frames received for a message already delivered. */
  duplicates: number
  /** GRAFTs: a link made eager again (to mend the tree), most with a missed message asked for. */
  graftsSent: number
  graftsReceived: number
  /** PULLs: a missed message asked for over a lazy link that stays lazy (protocol version 5). */
  pullsSent: number
  pullsReceived: number
  prunesSent: number
  prunesReceived: number
  /** Messages dropped from the buffers of subscribers that fell behind (they read `lagged`). */
  lagged: number
}

/** Queue depths of one topic, right now. */
export interface TopicQueues {
  /** Publishes waiting for the topic's first neighbour. */
  pendingPublishes: number
  /** Messages buffered for this node's subscribers, not yet read. */
  subscriberBuffered: number
  /** Messages kept to answer GRAFTs. */
  cached: number
  /** Message ids announced (IHAVE) but not received yet. */
  missing: number
  /** IHAVE entries waiting for their batch. */
  pendingIHaves: number
  /** Join and neighbour requests awaiting an answer. */
  pendingRequests: number
}

export interface TopicStats extends MessageCounters {
  topic: TopicId
  /** Active-view neighbours. */
  neighbours: number
  /** Passive-view members (addresses kept for repairs). */
  passive: number
  queues: TopicQueues
}

/**
 * What `gossip.stats()` returns. The node's counters include topics it has left; a topic's
 * counters start when the node enters it and end when it leaves.
 */
export interface GossipStats extends MessageCounters {
  nodeId: NodeId
  address: string
  /** False once the node is closed. */
  running: boolean
  /** Time since the node started, ms. */
  uptime: number
  /** Open links. */
  links: number
  /** Bytes written to and read from the wire (encrypted, handshakes included). */
  wireBytesOut: number
  wireBytesIn: number
  /** Messages dropped because their origin had not signed them. */
  forged: number
  /** Peers whose link this node closed for breaking the protocol (each then refused for a while). */
  peersDropped: number
  queues: {
    /** Bytes waiting to be written, over every link. */
    linkBufferedBytes: number
    /** Frames waiting for a link being dialled. */
    dialQueued: number
    pendingPublishes: number
    subscriberBuffered: number
  }
  topics: TopicStats[]
}

export interface GossipApi {
  readonly nodeId: NodeId
  /** Where this node accepts links ("host:port"). */
  readonly address: string
  stream(topic: TopicInput): Promise<GossipHandle>
  /**
   * Membership events of every topic, from now on. Ends when the node closes. A consumer that
   * falls far behind reads a `lagged` item with the number of events it missed.
   */
  events(): AsyncIterable<GossipEvent | Lagged> & { close(): void }
  /**
   * Send `content` to one node only (it receives it on handles of `topic` as a message with
   * hops 0). Dials the node if needed. Used for replies addressed to a single server.
   */
  sendDirect(peer: NodeId, topic: TopicInput, content: Uint8Array | string): Promise<void>
  /** The nodes this node has a link to: address, link age, round-trip time, topics shared. */
  peers(): PeerInfo[]
  /** Counters (messages, bytes, duplicates, grafts, prunes, lagged drops) and queue depths, per node and per topic. */
  stats(): GossipStats
  /** Leave every topic gracefully, close every socket and timer. Idempotent. */
  close(): Promise<void>
}
