/**
 * What the simulator's messages would weigh on a real link. The simulator names nodes by index;
 * the wire names them by 64-hex ids (32 bytes), so a message is translated (index -> id, the
 * address the node would announce) and encoded with the real codec. Nothing here approximates:
 * the sizes are those of `encodeFrame`.
 */
import { TOPIC_KEY_BYTES } from '../discovery/topic-key.js'
import type { DiscoveryMessage } from '../discovery/types.js'
import { encodeFrame } from '../net/codec.js'
import type { NodeId } from '../net/frames.js'
import type { Message, PeerInfo, TopicMessage } from '../proto/types.js'

const ids: string[] = []

/** The 64-hex id node `n` has on the wire. */
export function simNodeId (n: number): NodeId {
  let id = ids[n]
  if (id === undefined) {
    id = (n + 1).toString(16).padStart(64, '0')
    ids[n] = id
  }
  return id
}

/**
 * Where node `n` accepts links: an IPv4 "host:port" as the runtime announces it, as long as the
 * longest real one of its kind (so that sizes measured here are not flattering).
 */
export function simAddr (n: number): string {
  return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}:40000`
}

/** `message` as the wire carries it (node indices replaced by 64-hex ids). */
export function wireDiscovery (message: DiscoveryMessage<number>): DiscoveryMessage<NodeId> {
  return message.type === 'members'
    ? { ...message, nodes: message.nodes.map(n => ({ id: simNodeId(n.id), addr: n.addr })) }
    : message
}

/**
 * Bytes of the `discovery` frame carrying `message`: exactly what `encodeFrame` writes (the
 * codec's MessagePack layout, counted instead of encoded, because a large run sends millions of
 * these; a test holds the two equal).
 */
export function discoveryFrameBytes (message: DiscoveryMessage<number>): number {
  // [frame code, message code, ...fields]: the array header and the two codes are one byte each.
  switch (message.type) {
    case 'topics':
      return 3 + 1 + uintBytes(message.base) + uintBytes(message.version) + keyListBytes(message.joined.length) + keyListBytes(message.left.length)
    case 'digest':
      return 3 + uintBytes(message.version) + uintBytes(message.count)
    case 'resync':
      return 3
    case 'query':
      return 3 + keyListBytes(message.topics.length)
    case 'members': {
      let bytes = 3 + arrayHeaderBytes(2 * message.nodes.length)
      for (const n of message.nodes) bytes += BIN_ID + stringBytes(n.addr)
      bytes += keyListBytes(message.topics.length) + arrayHeaderBytes(message.holders.length)
      for (const list of message.holders) {
        bytes += arrayHeaderBytes(list.length)
        for (const i of list) bytes += uintBytes(i)
      }
      return bytes
    }
  }
}

/** A 32-byte id as MessagePack bin8. */
const BIN_ID = 34

function arrayHeaderBytes (n: number): number {
  return n < 16 ? 1 : n < 65_536 ? 3 : 5
}

/** Topic keys, packed into one MessagePack bin. */
function keyListBytes (n: number): number {
  const bytes = n * TOPIC_KEY_BYTES
  return (bytes < 256 ? 2 : bytes < 65_536 ? 3 : 5) + bytes
}

function uintBytes (v: number): number {
  return v < 128 ? 1 : v < 256 ? 2 : v < 65_536 ? 3 : v < 4_294_967_296 ? 5 : 9
}

function stringBytes (s: string): number {
  const n = Buffer.byteLength(s)
  return n + (n < 32 ? 1 : n < 256 ? 2 : n < 65_536 ? 3 : 5)
}

/** Bytes of the `discovery` frame carrying `message`, encoded by the codec. */
export function encodedDiscoveryFrameBytes (message: DiscoveryMessage<number>): number {
  return encodeFrame({ type: 'discovery', message: wireDiscovery(message) }).byteLength
}

/** Bytes of the `proto` frame carrying `message`. */
export function protoFrameBytes (message: Message<number>): number {
  return encodeFrame({ type: 'proto', message: { topic: message.topic, body: wireBody(message.body) } }).byteLength
}

const peer = (p: PeerInfo<number>): PeerInfo<NodeId> => (p.data === undefined ? { id: simNodeId(p.id) } : { id: simNodeId(p.id), data: p.data })

function wireBody (body: TopicMessage<number>): TopicMessage<NodeId> {
  switch (body.type) {
    case 'forwardJoin': return { ...body, peer: peer(body.peer) }
    case 'shuffle': return { ...body, origin: peer(body.origin), nodes: body.nodes.map(peer) }
    case 'shuffleReply': return { ...body, nodes: body.nodes.map(peer) }
    case 'disconnect': return body.sample === undefined ? { type: 'disconnect', alive: body.alive } : { ...body, sample: body.sample.map(peer) }
    case 'gossip': return { ...body, origin: simNodeId(body.origin) }
    default: return body
  }
}

/** A generous per-item bound: a 32-byte id, its header, peer data and its header. */
const peerBound = (p: PeerInfo<number>): number => 42 + (p.data?.byteLength ?? 0)

/**
 * An upper bound of `protoFrameBytes(message)` for control messages (not GOSSIP), cheap enough to
 * skip encoding the many messages that cannot beat the largest one seen so far. Every field is
 * counted at its largest MessagePack form: 128 bytes for the frame, topic and scalars, then the
 * lists item by item (a string of n UTF-16 units is at most 3n bytes plus a 5-byte header).
 */
export function protoControlBound (message: Message<number>): number {
  const body = message.body
  let bytes = 128
  switch (body.type) {
    case 'join':
    case 'neighbor':
      bytes += body.data?.byteLength ?? 0
      break
    case 'forwardJoin': bytes += peerBound(body.peer); break
    case 'shuffle':
      bytes += peerBound(body.origin)
      for (const p of body.nodes) bytes += peerBound(p)
      break
    case 'shuffleReply':
      for (const p of body.nodes) bytes += peerBound(p)
      break
    case 'disconnect':
      for (const p of body.sample ?? []) bytes += peerBound(p)
      break
    case 'ihave':
      for (const e of body.entries) bytes += 5 + 3 * e.id.length + 9
      break
    case 'graft':
      bytes += 5 + 3 * (body.id?.length ?? 0)
      break
    case 'gossip':
      bytes += 5 + 3 * body.id.length + body.content.byteLength
      break
    default:
      break
  }
  return bytes
}
