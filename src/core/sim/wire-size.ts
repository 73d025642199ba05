/**
 * What the simulator's messages would weigh on a real link. The simulator names nodes by index;
 * the wire names them by 64-hex ids (32 bytes), so a message is translated (index -> id, the
 * address the node would announce) and encoded with the real codec. Nothing here approximates:
 * the sizes are those of `encodeFrame`.
 */
import { TOPIC_KEY_BYTES } from '../discovery/topic-key.js'
import type { DiscoveryMessage } from '../discovery/types.js'
import { encodeFrame } from '../net/codec.js'
import { binHeaderBytes, strHeaderBytes } from '../net/msgpack.js'
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
  return binBytes(n * TOPIC_KEY_BYTES)
}

function uintBytes (v: number): number {
  return v < 128 ? 1 : v < 256 ? 2 : v < 65_536 ? 3 : v < 4_294_967_296 ? 5 : 9
}

function stringBytes (s: string): number {
  const n = Buffer.byteLength(s)
  return n + strHeaderBytes(n)
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

/** A peer as `encodePeers` writes it: a 32-byte id, then its data or nil. */
const peerBytes = (p: PeerInfo<number>): number => BIN_ID + peerDataBytes(p.data)

function peerDataBytes (data: Uint8Array | undefined): number {
  return data === undefined ? 1 : binBytes(data.byteLength)
}

function binBytes (n: number): number {
  return n + binHeaderBytes(n)
}

function peersBytes (peers: ReadonlyArray<PeerInfo<number>>): number {
  let bytes = arrayHeaderBytes(2 * peers.length)
  for (const p of peers) bytes += peerBytes(p)
  return bytes
}

/**
 * Bytes of the `proto` frame carrying control message `message` (any but GOSSIP): exactly what
 * `encodeFrame` writes, counted instead of encoded (a large run sends millions of these; a test
 * holds the two equal).
 */
export function protoControlFrameBytes (message: Message<number>): number {
  const body = message.body
  // [frame code, topic (bin 32), body code, ...fields]: a fixarray header, two one-byte codes.
  const head = 3 + BIN_ID
  switch (body.type) {
    case 'join': return head + peerDataBytes(body.data)
    case 'forwardJoin': return head + peerBytes(body.peer) + uintBytes(body.ttl)
    case 'neighbor': return head + 1 + peerDataBytes(body.data)
    case 'neighborReply': return head + 1
    case 'shuffle': return head + peerBytes(body.origin) + peersBytes(body.nodes) + uintBytes(body.ttl)
    case 'shuffleReply': return head + peersBytes(body.nodes)
    case 'disconnect': return head + 1 + (body.sample === undefined ? 1 : peersBytes(body.sample))
    case 'ihave': {
      let bytes = head + arrayHeaderBytes(2 * body.entries.length)
      for (const e of body.entries) bytes += stringBytes(e.id) + uintBytes(e.round)
      return bytes
    }
    case 'graft': return head + (body.id === undefined ? 1 : stringBytes(body.id)) + uintBytes(body.round)
    case 'prune': return head
    case 'gossip': return protoFrameBytes(message)
  }
}
