/**
 * The one set of wire limits. The codec refuses to decode anything beyond them and the state
 * machines never produce anything beyond them, so whatever a node accepts from a peer it can
 * always encode again (a value that passed the decoder and then made the encoder throw used to
 * kill the process that forwarded it).
 *
 * Sizes are in bytes of the MessagePack encoding, counted generously: `*_COST` constants are upper
 * bounds of what one item adds to a frame, so a state machine that sums them stays within its
 * byte budget without encoding anything.
 */

export const wireLimits = Object.freeze({
  /** Message ids are an origin prefix and a sequence: short strings. */
  maxIdLength: 128,
  /** Opaque peer data: the runtime puts a "host:port" address there. Never empty. */
  minPeerDataBytes: 1,
  maxPeerDataBytes: 300,
  /** "host:port" as announced in hello and discovery. */
  maxAddrLength: 300,
  maxReasonLength: 1024,
  /** TTLs of random walks count down from a handful. */
  maxTtl: 255,
  /** Plumtree rounds are hop counts; a node forwarding at the maximum keeps the maximum. */
  maxRound: 65_535,
  maxVersion: 65_535,
  /** PeerInfo lists: shuffle samples, disconnect samples. */
  maxPeers: 256,
  maxIHaveEntries: 16_384,
  /** Topics in one discovery message. */
  maxTopics: 4096,
  /** Node entries in one discovery message. */
  maxDiscoveryNodes: 1024,
  /** Nodes named for one topic in a discovery answer. */
  maxHolders: 64,
  /** Discovery versions and counts: topic changes of one node. */
  maxDiscoveryVersion: 2 ** 52,
  proofBytes: 32,
  /** A process's random incarnation in hello. */
  incarnationBytes: 8,
  /**
   * An origin's proof of a message: its Ed25519 signature (64 bytes), or for a message signed in
   * a batch, the batch's signature, index and size (4) and up to 8 sibling hashes (32 each).
   */
  minSigBytes: 64,
  maxSigBytes: 64 + 4 + 8 * 32,
  /** Keepalive nonces. */
  maxNonce: 2 ** 32 - 1
})

/** A MessagePack array or bin header, at most (array32 / bin32). */
export const HEADER_COST = 5
/** A 32-byte id or topic as bin8: header 2 + 32. */
export const ID_COST = 34
/** An unsigned integer up to 2^53, at most (uint64). */
export const UINT_COST = 9
/**
 * One IHAVE entry: the id string (header + UTF-8 bytes) and its round. Our own ids are ASCII, but
 * the decoder takes any string of `maxIdLength` UTF-16 units from a peer, up to 3 bytes each.
 */
export function ihaveEntryCost (id: string): number {
  return HEADER_COST + utf8Bytes(id) + UINT_COST
}

/** UTF-8 length of a string; a lone surrogate counts 3 bytes, as encoders write it. */
export function utf8Bytes (s: string): number {
  let bytes = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) {
      bytes += 1
    } else if (c <= 0xdbff && c >= 0xd800 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2
      i++
    } else {
      bytes += 2
    }
  }
  return bytes
}
/** One PeerInfo in a list: id and peer data (or nil). */
export const PEER_INFO_COST = ID_COST + HEADER_COST + wireLimits.maxPeerDataBytes
/** What any message adds around its items: frame type, topic, body type, fields. */
export const MESSAGE_OVERHEAD = 64
/**
 * The smallest byte budget a node may be configured with: every single-item message fits in it
 * (an IHAVE of one longest id, a SHUFFLE of the origin and one node), so cutting a list by bytes
 * always makes progress.
 */
export const MIN_FRAME_BYTES = 1024

/**
 * How many PeerInfos a list may carry within `budget` bytes, counting the origin a SHUFFLE also
 * carries, and never more than the decoder takes.
 */
export function peersWithin (budget: number): number {
  const fit = Math.floor((budget - MESSAGE_OVERHEAD - PEER_INFO_COST) / PEER_INFO_COST)
  return Math.max(0, Math.min(wireLimits.maxPeers, fit))
}

/** Whether the decoder would accept `data` as peer data (so the encoder will take it again). */
export function isWirePeerData (data: Uint8Array): boolean {
  return data.byteLength >= wireLimits.minPeerDataBytes && data.byteLength <= wireLimits.maxPeerDataBytes
}

/** A configured walk length as the wire carries it. */
export function wireTtl (ttl: number): number {
  return Math.max(0, Math.min(wireLimits.maxTtl, Math.floor(ttl)))
}

/** Bound a counter at the largest value the wire carries, instead of overflowing it. */
export function saturatingRound (round: number): number {
  return round >= wireLimits.maxRound ? wireLimits.maxRound : round
}
