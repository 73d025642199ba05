/**
 * What travels on one link between two nodes, after the encrypted handshake. One link per peer
 * pair is shared by every topic. Node ids are the hex-encoded Ed25519 public keys (64 chars).
 */
import type { DiscoveryMessage } from '../discovery/types.js'
import type { Message, TopicId } from '../proto/types.js'

/** Bumped on any incompatible change of the frames below; checked in `hello`. */
export const PROTOCOL_VERSION = 5

export type NodeId = string

export type Frame =
  /**
   * First frame each side sends once the Noise handshake is done. `proof` is
   * HMAC-SHA256(cluster secret, handshake hash || sender's public key): it proves the sender holds
   * the cluster secret and binds the proof to this very session (no replay). `addr` is where the
   * sender accepts links, or null for a node that does not listen. `incarnation` is drawn at random
   * once per process: a link from a peer whose incarnation changed is from a restarted node, so
   * whatever an older link of that peer carried is gone with the old process. It comes last and is
   * null only in a hello of a version before 4, so that such a node hears which version it lacks.
   */
  | { type: 'hello', version: number, proof: Uint8Array, addr: string | null, incarnation: Uint8Array | null }
  /** A protocol message for one topic (HyParView or Plumtree). */
  | { type: 'proto', message: Message<NodeId> }
  /** Topic discovery: who wants which topic (see ../discovery/types.ts). */
  | { type: 'discovery', message: DiscoveryMessage<NodeId> }
  /** A point-to-point application message (used for replies that concern one node only). */
  | { type: 'direct', topic: TopicId, content: Uint8Array }
  /** Sent before a deliberate close, so the other side can log why. */
  | { type: 'bye', reason: string }
  /**
   * Keepalive: sent on a link that has been quiet for a while; the peer answers `pong` with the
   * same nonce. A peer silent past the timeout (a cut without RST or FIN) is declared gone.
   */
  | { type: 'ping', nonce: number }
  | { type: 'pong', nonce: number }
