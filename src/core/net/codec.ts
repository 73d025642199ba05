/**
 * Frame <-> bytes. The wire form is a MessagePack array `[frameType, ...fields]` rather than a map:
 * no key strings to write, read or validate on every frame. Node ids and topics travel as 32 raw
 * bytes (half the size of their hex form) and come back as lowercase hex, so a decoded id is
 * canonical by construction.
 *
 * Decoding trusts nothing: every field is checked for type, range and length, and anything wrong
 * (including whatever msgpackr itself throws on malformed input) surfaces as a CodecError and
 * nothing else, so the caller can close the one offending link and carry on.
 */
import { Packr, Unpackr } from 'msgpackr'
import { CodecError } from '../errors.js'
import { binDataAt, binHeaderBytes, readBin, strHeaderBytes, uintBytes, writeBinHeader, writeStrHeader, writeUint } from './msgpack.js'
import { wireLimits } from '../proto/limits.js'
import { TOPIC_KEY_BYTES, type TopicKey } from '../discovery/topic-key.js'
import type { DiscoveryMessage, NodeAddr } from '../discovery/types.js'
import type { Frame, NodeId } from './frames.js'
import type {
  HyParViewMessage,
  IHaveEntries,
  IHaveEntry,
  IHaveList,
  Message,
  PeerInfo,
  PlumtreeMessage,
  TopicMessage
} from '../proto/types.js'

/**
 * Upper bounds of what one frame may carry; a frame beyond them is refused, never truncated. The
 * same object as the state machines' `wireLimits`: a value the decoder accepts can always be
 * encoded again when a node stores or forwards it.
 */
export const codecLimits = wireLimits

const FrameCode = { Hello: 0, Proto: 1, Discovery: 2, Direct: 3, Bye: 4, Ping: 5, Pong: 6 } as const

const BodyCode = {
  Join: 0,
  ForwardJoin: 1,
  Neighbor: 2,
  NeighborReply: 3,
  Shuffle: 4,
  ShuffleReply: 5,
  Disconnect: 6,
  Gossip: 7,
  IHave: 8,
  Graft: 9,
  Prune: 10,
  Pull: 11
} as const

// useRecords: false keeps every frame self-contained: no record structures shared across frames,
// so one peer's bytes can never influence how another peer's bytes decode.
const packr = new Packr({ useRecords: false })
// msgpackr packs into a shared arena and hands out views of it; its default 8 KiB arena means a
// fresh allocation every frame or two once payloads are a few KiB.
packr.useBuffer(Buffer.allocUnsafeSlow(64 * 1024))
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

const HEX64 = /^[0-9a-f]{64}$/

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** Encode a frame. Throws CodecError if the frame breaks the limits (a bug of the caller). */
export function encodeFrame (frame: Frame): Uint8Array {
  let wire: unknown[]
  switch (frame.type) {
    case 'hello':
      checkUint(frame.version, codecLimits.maxVersion, 'hello.version')
      checkBytes(frame.proof, codecLimits.proofBytes, codecLimits.proofBytes, 'hello.proof')
      if (frame.addr !== null) checkString(frame.addr, codecLimits.maxAddrLength, 'hello.addr')
      if (frame.incarnation === null) throw new CodecError('hello.incarnation is required')
      checkBytes(frame.incarnation, codecLimits.incarnationBytes, codecLimits.incarnationBytes, 'hello.incarnation')
      wire = [FrameCode.Hello, frame.version, frame.proof, frame.addr, frame.incarnation]
      break
    case 'proto':
      if (frame.message.body.type === 'gossip') return encodeGossip(frame.message.topic, frame.message.body)
      wire = encodeMessage(frame.message)
      break
    case 'discovery':
      wire = encodeDiscovery(frame.message)
      break
    case 'direct':
      checkBytes(frame.content, 0, Infinity, 'direct.content')
      return encodeDirect(hexToBytes(frame.topic, 'direct.topic'), frame.content)
    case 'bye':
      checkString(frame.reason, codecLimits.maxReasonLength, 'bye.reason', true)
      wire = [FrameCode.Bye, frame.reason]
      break
    case 'ping':
    case 'pong':
      checkUint(frame.nonce, codecLimits.maxNonce, `${frame.type}.nonce`)
      wire = [frame.type === 'ping' ? FrameCode.Ping : FrameCode.Pong, frame.nonce]
      break
    default:
      throw new CodecError(`cannot encode frame type ${String((frame as { type: unknown }).type)}`)
  }
  return packr.pack(wire)
}

/**
 * `[3, topic, content]` written by hand, byte for byte what msgpackr writes (the Socket.IO adapter
 * sends a direct frame per broadcast and server; a packer call cost more than the copy).
 */
function encodeDirect (topic: Uint8Array, content: Uint8Array): Uint8Array {
  const length = content.byteLength
  const out = Buffer.allocUnsafe(36 + binHeaderBytes(length) + length)
  out[0] = 0x93
  out[1] = FrameCode.Direct
  out[2] = 0xc4
  out[3] = 32
  out.set(topic, 4)
  out.set(content, writeBinHeader(out, 36, length))
  return out
}

type GossipBody = Extract<PlumtreeMessage<NodeId>, { type: 'gossip' }>

/**
 * `[1, topic, 7, id, origin, content, round, sig | null]` written by hand, byte for byte what
 * msgpackr writes (every broadcast is one of these per eager peer; the packer call was most of
 * what a publisher spent encoding).
 */
function encodeGossip (topicHex: string, body: GossipBody): Uint8Array {
  checkString(body.id, codecLimits.maxIdLength, 'gossip.id')
  checkBytes(body.content, 0, Infinity, 'gossip.content')
  checkUint(body.round, codecLimits.maxRound, 'gossip.round')
  if (body.sig !== undefined) checkBytes(body.sig, codecLimits.minSigBytes, codecLimits.maxSigBytes, 'gossip.sig')
  const topic = hexToBytes(topicHex, 'proto.topic')
  const origin = hexToBytes(body.origin, 'gossip.origin')
  const idBytes = Buffer.byteLength(body.id)
  const content = body.content.byteLength
  const sig = body.sig?.byteLength
  const size = 37 + strHeaderBytes(idBytes) + idBytes + 34 + binHeaderBytes(content) + content + uintBytes(body.round) +
    (sig === undefined ? 1 : binHeaderBytes(sig) + sig)
  const out = Buffer.allocUnsafe(size)
  out[0] = 0x98
  out[1] = FrameCode.Proto
  out[2] = 0xc4
  out[3] = 32
  out.set(topic, 4)
  out[36] = BodyCode.Gossip
  let p = writeStrHeader(out, 37, idBytes)
  p += out.write(body.id, p, 'utf8')
  out[p] = 0xc4
  out[p + 1] = 32
  out.set(origin, p + 2)
  p = writeBinHeader(out, p + 34, content)
  out.set(body.content, p)
  p = writeUint(out, p + content, body.round)
  if (body.sig === undefined) {
    out[p] = 0xc0
  } else {
    p = writeBinHeader(out, p, body.sig.byteLength)
    out.set(body.sig, p)
  }
  return out
}

function encodeMessage (message: Message<NodeId>): unknown[] {
  const topic = hexToBytes(message.topic, 'proto.topic')
  const body: TopicMessage<NodeId> = message.body
  switch (body.type) {
    case 'join':
      return [FrameCode.Proto, topic, BodyCode.Join, encodePeerData(body.data)]
    case 'forwardJoin':
      checkUint(body.ttl, codecLimits.maxTtl, 'forwardJoin.ttl')
      return [FrameCode.Proto, topic, BodyCode.ForwardJoin, hexToBytes(body.peer.id, 'forwardJoin.peer'), encodePeerData(body.peer.data), body.ttl]
    case 'neighbor':
      if (body.priority !== 'high' && body.priority !== 'low') throw new CodecError('neighbor.priority must be high or low')
      return [FrameCode.Proto, topic, BodyCode.Neighbor, body.priority === 'high', encodePeerData(body.data)]
    case 'neighborReply':
      checkBoolean(body.accepted, 'neighborReply.accepted')
      return [FrameCode.Proto, topic, BodyCode.NeighborReply, body.accepted]
    case 'shuffle':
      checkUint(body.ttl, codecLimits.maxTtl, 'shuffle.ttl')
      return [
        FrameCode.Proto, topic, BodyCode.Shuffle,
        hexToBytes(body.origin.id, 'shuffle.origin'), encodePeerData(body.origin.data),
        encodePeers(body.nodes, 'shuffle.nodes'), body.ttl
      ]
    case 'shuffleReply':
      return [FrameCode.Proto, topic, BodyCode.ShuffleReply, encodePeers(body.nodes, 'shuffleReply.nodes')]
    case 'disconnect':
      checkBoolean(body.alive, 'disconnect.alive')
      return [
        FrameCode.Proto, topic, BodyCode.Disconnect, body.alive,
        body.sample === undefined ? null : encodePeers(body.sample, 'disconnect.sample')
      ]
    case 'gossip':
      checkString(body.id, codecLimits.maxIdLength, 'gossip.id')
      checkBytes(body.content, 0, Infinity, 'gossip.content')
      checkUint(body.round, codecLimits.maxRound, 'gossip.round')
      if (body.sig !== undefined) checkBytes(body.sig, codecLimits.minSigBytes, codecLimits.maxSigBytes, 'gossip.sig')
      return [FrameCode.Proto, topic, BodyCode.Gossip, body.id, hexToBytes(body.origin, 'gossip.origin'), body.content, body.round, body.sig ?? null]
    case 'ihave':
      return [FrameCode.Proto, topic, BodyCode.IHave, encodeIHaves(body.entries)]
    case 'graft':
      if (body.pull === true) {
        // A PULL asks for one payload and leaves the link as it is.
        checkString(body.id, codecLimits.maxIdLength, 'pull.id')
        checkUint(body.round, codecLimits.maxRound, 'pull.round')
        return [FrameCode.Proto, topic, BodyCode.Pull, body.id, body.round]
      }
      if (body.id !== undefined) checkString(body.id, codecLimits.maxIdLength, 'graft.id')
      checkUint(body.round, codecLimits.maxRound, 'graft.round')
      return [FrameCode.Proto, topic, BodyCode.Graft, body.id ?? null, body.round]
    case 'prune':
      return [FrameCode.Proto, topic, BodyCode.Prune]
    default:
      throw new CodecError(`cannot encode message type ${String((body as { type: unknown }).type)}`)
  }
}

function encodePeerData (data: Uint8Array | undefined): Uint8Array | null {
  if (data === undefined) return null
  checkBytes(data, codecLimits.minPeerDataBytes, codecLimits.maxPeerDataBytes, 'peer data')
  return data
}

/** PeerInfo lists are flattened to [id, data, id, data, ...]. */
function encodePeers (peers: PeerInfo<NodeId>[], what: string): unknown[] {
  checkArray(peers, codecLimits.maxPeers, what)
  const out = new Array<unknown>(peers.length * 2)
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i]!
    out[2 * i] = hexToBytes(peer.id, what)
    out[2 * i + 1] = encodePeerData(peer.data)
  }
  return out
}

/** IHAVE entries are flattened to [id, round, id, round, ...]. */
function encodeIHaves (entries: IHaveEntries): unknown[] {
  const list = Array.isArray(entries) ? undefined : entries
  if (list === undefined) checkArray(entries, codecLimits.maxIHaveEntries, 'ihave.entries')
  else if (typeof list?.id !== 'function' || typeof list.round !== 'function' || !(list.length <= codecLimits.maxIHaveEntries)) {
    throw new CodecError(`ihave.entries must be an array of at most ${codecLimits.maxIHaveEntries} items`)
  }
  const out = new Array<unknown>(entries.length * 2)
  for (let i = 0; i < entries.length; i++) {
    const id = list === undefined ? (entries as IHaveEntry[])[i]!.id : list.id(i)
    const round = list === undefined ? (entries as IHaveEntry[])[i]!.round : list.round(i)
    checkString(id, codecLimits.maxIdLength, 'ihave.id')
    checkUint(round, codecLimits.maxRound, 'ihave.round')
    out[2 * i] = id
    out[2 * i + 1] = round
  }
  return out
}

const TOPIC_KEY = /^[0-9a-f]{16}$/

/** Discovery's topic keys (./../discovery/topic-key.ts), packed into one bin of 8 bytes each. */
function encodeTopicList (topics: TopicKey[], what: string): Uint8Array {
  checkArray(topics, codecLimits.maxTopics, what)
  for (const topic of topics) {
    if (typeof topic !== 'string' || !TOPIC_KEY.test(topic)) throw new CodecError(`${what} must hold topic keys of 16 lowercase hex characters`)
  }
  return Buffer.from(topics.join(''), 'hex')
}

const DiscoveryCode = { Topics: 0, Digest: 1, Resync: 2, Query: 3, Members: 4 } as const

function encodeDiscovery (m: DiscoveryMessage<NodeId>): unknown[] {
  switch (m.type) {
    case 'topics':
      checkBoolean(m.reset, 'topics.reset')
      checkUint(m.base, codecLimits.maxDiscoveryVersion, 'topics.base')
      checkUint(m.version, codecLimits.maxDiscoveryVersion, 'topics.version')
      return [FrameCode.Discovery, DiscoveryCode.Topics, m.reset, m.base, m.version,
        encodeTopicList(m.joined, 'topics.joined'), encodeTopicList(m.left, 'topics.left')]
    case 'digest':
      checkUint(m.version, codecLimits.maxDiscoveryVersion, 'digest.version')
      checkUint(m.count, codecLimits.maxDiscoveryVersion, 'digest.count')
      return [FrameCode.Discovery, DiscoveryCode.Digest, m.version, m.count]
    case 'resync':
      return [FrameCode.Discovery, DiscoveryCode.Resync]
    case 'query':
      return [FrameCode.Discovery, DiscoveryCode.Query, encodeTopicList(m.topics, 'query.topics')]
    case 'members':
      return [FrameCode.Discovery, DiscoveryCode.Members, encodeNodeAddrs(m.nodes),
        encodeTopicList(m.topics, 'members.topics'), encodeHolders(m.holders, m.topics.length, m.nodes.length)]
    default:
      throw new CodecError(`cannot encode discovery message type ${String((m as { type: unknown }).type)}`)
  }
}

/** Node tables are flattened to [id, addr, id, addr, ...]. */
function encodeNodeAddrs (nodes: Array<NodeAddr<NodeId>>): unknown[] {
  checkArray(nodes, codecLimits.maxDiscoveryNodes, 'members.nodes')
  const out = new Array<unknown>(nodes.length * 2)
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!
    checkString(node.addr, codecLimits.maxAddrLength, 'members.addr')
    out[2 * i] = hexToBytes(node.id, 'members.id')
    out[2 * i + 1] = node.addr
  }
  return out
}

function encodeHolders (holders: number[][], topics: number, nodes: number): number[][] {
  checkArray(holders, codecLimits.maxTopics, 'members.holders')
  if (holders.length !== topics) throw new CodecError('members.holders must have one list per topic')
  for (const list of holders) {
    checkArray(list, codecLimits.maxHolders, 'members.holders')
    for (const i of list) checkUint(i, nodes - 1, 'members.holder')
  }
  return holders
}

// The same few topics and node ids are on almost every frame: convert (and validate) each once.
const idBytesCache = new Map<string, Uint8Array>()
const ID_BYTES_CACHE_SIZE = 4096

function hexToBytes (hex: unknown, what: string): Uint8Array {
  if (typeof hex === 'string') {
    const cached = idBytesCache.get(hex)
    if (cached !== undefined) return cached
  }
  if (typeof hex !== 'string' || !HEX64.test(hex)) throw new CodecError(`${what} must be 64 lowercase hex characters`)
  const bytes = Buffer.from(hex, 'hex')
  if (idBytesCache.size >= ID_BYTES_CACHE_SIZE) idBytesCache.clear()
  idBytesCache.set(hex, bytes)
  return bytes
}

function checkUint (value: unknown, max: number, what: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new CodecError(`${what} must be an integer in [0, ${max}]`)
  }
}

function checkBoolean (value: unknown, what: string): void {
  if (typeof value !== 'boolean') throw new CodecError(`${what} must be a boolean`)
}

function checkString (value: unknown, maxLength: number, what: string, allowEmpty = false): void {
  if (typeof value !== 'string' || value.length > maxLength || (!allowEmpty && value.length === 0)) {
    throw new CodecError(`${what} must be a string of ${allowEmpty ? 0 : 1} to ${maxLength} characters`)
  }
}

function checkBytes (value: unknown, min: number, max: number, what: string): void {
  if (!(value instanceof Uint8Array) || value.byteLength < min || value.byteLength > max) {
    throw new CodecError(`${what} must be ${min === max ? `${min}` : `${min} to ${max}`} bytes`)
  }
}

function checkArray (value: unknown, maxLength: number, what: string): void {
  if (!Array.isArray(value) || value.length > maxLength) {
    throw new CodecError(`${what} must be an array of at most ${maxLength} items`)
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/**
 * Decode one frame body (without its length prefix). Byte fields are views into `bytes`, not
 * copies: whoever keeps them keeps `bytes` alive.
 */
export function decodeFrame (bytes: Uint8Array): Frame {
  // Every frame is a short array: refuse anything else before msgpackr allocates for it.
  const first = bytes[0]
  if (first === undefined || first < 0x91 || first > 0x9f) throw new CodecError('frame is not a MessagePack array of 1 to 15 items')
  if (first === 0x94) {
    const ihave = decodeIHaveFrame(bytes)
    if (ihave !== undefined) return ihave
  }
  if (first === 0x93 && bytes[1] === FrameCode.Direct) {
    const direct = decodeDirectFrame(bytes)
    if (direct !== undefined) return direct
  }
  if (first === 0x98) {
    const gossip = decodeGossipFrame(bytes)
    if (gossip !== undefined) return gossip
  }
  let wire: unknown
  try {
    wire = unpackr.unpack(bytes)
  } catch (err) {
    throw new CodecError(`malformed MessagePack: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
  try {
    return decodeWire(wire as unknown[])
  } catch (err) {
    if (err instanceof CodecError) throw err
    // Validation only reads plain values; anything else escaping it is still the peer's bad bytes.
    throw new CodecError(`invalid frame: ${(err as Error)?.message ?? String(err)}`, { cause: err })
  }
}

/** The topic of the last direct frame read, and its hex: a server's direct frames are nearly all of one topic. */
let lastDirectTopic = Buffer.alloc(32)
let lastDirectTopicHex = lastDirectTopic.toString('hex')

/**
 * A direct frame as our encoder writes it, `[3, bin8 of 32 bytes, bin of the content]`, read
 * without msgpackr (the Socket.IO adapter sends one per broadcast and server). Undefined for any
 * other shape, trailing or missing bytes included: the general way then accepts or refuses it.
 */
function decodeDirectFrame (bytes: Uint8Array): Frame | undefined {
  const size = bytes.byteLength
  if (size < 38 || bytes[2] !== 0xc4 || bytes[3] !== 32) return undefined
  if (readBin(bytes, 36, size) !== size) return undefined
  // Compared in place, as for GOSSIP frames.
  if (lastDirectTopic.compare(bytes, 4, 36) !== 0) {
    lastDirectTopic = Buffer.from(bytes.subarray(4, 36))
    lastDirectTopicHex = lastDirectTopic.toString('hex')
  }
  return { type: 'direct', topic: lastDirectTopicHex, content: bytes.subarray(binDataAt(bytes, 36), size) }
}

/**
 * A round at `at`, as our encoder writes it: a positive fixint, uint8 or uint16 of at most
 * maxRound. Returns the round and, above bit 16, how many bytes it took (one number, not a pair:
 * this runs for every id of an IHAVE); -1 if it is not one.
 */
function readRound (bytes: Uint8Array, at: number, end: number): number {
  const r = bytes[at]
  let round: number
  let width: number
  if (r === undefined) return -1
  if (r < 0x80) {
    round = r
    width = 1
  } else if (r === 0xcc && at + 2 <= end) {
    round = bytes[at + 1]!
    width = 2
  } else if (r === 0xcd && at + 3 <= end) {
    round = (bytes[at + 1]! << 8) | bytes[at + 2]!
    width = 3
  } else {
    return -1
  }
  return round > codecLimits.maxRound ? -1 : (width << 16) | round
}

/** The topic and origin of the last gossip frame read, with their hex: most frames repeat them. */
let lastGossipTopic = Buffer.alloc(32)
let lastGossipTopicHex = lastGossipTopic.toString('hex')
let lastGossipOrigin = Buffer.alloc(32)
let lastGossipOriginHex = lastGossipOrigin.toString('hex')

/** Whether `buf` holds the 32 bytes of `known` at `at` (a loop: Buffer.compare's native call cost more than the bytes). */
function same32 (known: Buffer, buf: Buffer, at: number): boolean {
  for (let i = 0; i < 32; i++) if (known[i] !== buf[at + i]) return false
  return true
}

/**
 * A GOSSIP frame as our encoder writes it (see `encodeGossip`), with an id of ASCII only, read
 * without msgpackr, checked as the general way checks it. Undefined for any other shape (trailing
 * or missing bytes included): the general way then accepts or refuses it.
 */
function decodeGossipFrame (bytes: Uint8Array): Frame | undefined {
  const end = bytes.byteLength
  if (end < 74 || bytes[1] !== FrameCode.Proto || bytes[2] !== 0xc4 || bytes[3] !== 32 || bytes[36] !== BodyCode.Gossip) return undefined
  // Frames come from the framing layer as Buffers: a view is made only for a plain Uint8Array.
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, end)
  // The id: fixstr or str8 (an id is at most maxIdLength characters).
  let p = 37
  const h = buf[p]!
  let idLength: number
  if (h >= 0xa0 && h <= 0xbf) {
    idLength = h & 0x1f
    p += 1
  } else if (h === 0xd9) {
    idLength = buf[p + 1]!
    p += 2
  } else {
    return undefined
  }
  const idEnd = p + idLength
  if (idLength === 0 || idLength > codecLimits.maxIdLength || idEnd + 34 > end) return undefined
  for (let k = p; k < idEnd; k++) if (buf[k]! >= 0x80) return undefined
  const id = buf.toString('latin1', p, idEnd)
  p = idEnd
  if (buf[p] !== 0xc4 || buf[p + 1] !== 32) return undefined
  const originAt = p + 2
  p += 34
  const contentAt = binDataAt(buf, p)
  const contentEnd = readBin(buf, p, end)
  if (contentEnd < 0) return undefined
  p = contentEnd
  const read = readRound(buf, p, end)
  if (read < 0) return undefined
  const round = read & 0xffff
  p += read >>> 16
  let sig: Uint8Array | undefined
  if (buf[p] === 0xc0) {
    p += 1
  } else {
    const sigEnd = readBin(buf, p, end)
    if (sigEnd < 0) return undefined
    sig = buf.subarray(binDataAt(buf, p), sigEnd)
    if (sig.byteLength < codecLimits.minSigBytes || sig.byteLength > codecLimits.maxSigBytes) return undefined
    p = sigEnd
  }
  if (p !== end) return undefined
  // Compared in place: a view of each per frame was a fifth of what reading a frame allocated.
  if (!same32(lastGossipTopic, buf, 4)) {
    lastGossipTopic = Buffer.from(buf.subarray(4, 36))
    lastGossipTopicHex = lastGossipTopic.toString('hex')
  }
  if (!same32(lastGossipOrigin, buf, originAt)) {
    lastGossipOrigin = Buffer.from(buf.subarray(originAt, originAt + 32))
    lastGossipOriginHex = lastGossipOrigin.toString('hex')
  }
  const body: GossipBody = { type: 'gossip', id, origin: lastGossipOriginHex, content: buf.subarray(contentAt, contentEnd), round }
  if (sig !== undefined) body.sig = sig
  return { type: 'proto', message: { topic: lastGossipTopicHex, body } }
}

function decodeWire (wire: unknown[]): Frame {
  switch (wire[0]) {
    case FrameCode.Hello: {
      // Versions before 4 sent 4 fields: read so that the handshake can name the version.
      if (wire.length !== 4) expectLength(wire, 5, 'hello')
      const addr = wire[3]
      return {
        type: 'hello',
        version: readUint(wire[1], codecLimits.maxVersion, 'hello.version'),
        proof: readBytes(wire[2], codecLimits.proofBytes, codecLimits.proofBytes, 'hello.proof'),
        addr: addr === null ? null : readString(addr, codecLimits.maxAddrLength, 'hello.addr'),
        incarnation: wire.length === 4 ? null : readBytes(wire[4], codecLimits.incarnationBytes, codecLimits.incarnationBytes, 'hello.incarnation')
      }
    }
    case FrameCode.Proto:
      return { type: 'proto', message: decodeMessage(wire) }
    case FrameCode.Discovery:
      return { type: 'discovery', message: decodeDiscovery(wire) }
    case FrameCode.Direct:
      expectLength(wire, 3, 'direct')
      return {
        type: 'direct',
        topic: readId32(wire[1], 'direct.topic'),
        content: readBytes(wire[2], 0, Infinity, 'direct.content')
      }
    case FrameCode.Bye:
      expectLength(wire, 2, 'bye')
      return { type: 'bye', reason: readString(wire[1], codecLimits.maxReasonLength, 'bye.reason', true) }
    case FrameCode.Ping:
    case FrameCode.Pong: {
      const type = wire[0] === FrameCode.Ping ? 'ping' : 'pong'
      expectLength(wire, 2, type)
      return { type, nonce: readUint(wire[1], codecLimits.maxNonce, `${type}.nonce`) }
    }
    default:
      throw new CodecError(`unknown frame type ${describe(wire[0])}`)
  }
}

function decodeMessage (wire: unknown[]): Message<NodeId> {
  if (wire.length < 3) throw new CodecError('proto frame too short')
  const topic = readId32(wire[1], 'proto.topic')
  return { topic, body: decodeBody(wire) }
}

function decodeBody (wire: unknown[]): HyParViewMessage<NodeId> | PlumtreeMessage<NodeId> {
  switch (wire[2]) {
    case BodyCode.Join: {
      expectLength(wire, 4, 'join')
      const data = readPeerData(wire[3])
      return data === undefined ? { type: 'join' } : { type: 'join', data }
    }
    case BodyCode.ForwardJoin:
      expectLength(wire, 6, 'forwardJoin')
      return {
        type: 'forwardJoin',
        peer: peerInfo(readId32(wire[3], 'forwardJoin.peer'), readPeerData(wire[4])),
        ttl: readUint(wire[5], codecLimits.maxTtl, 'forwardJoin.ttl')
      }
    case BodyCode.Neighbor: {
      expectLength(wire, 5, 'neighbor')
      const priority = readBoolean(wire[3], 'neighbor.priority') ? 'high' : 'low'
      const data = readPeerData(wire[4])
      return data === undefined ? { type: 'neighbor', priority } : { type: 'neighbor', priority, data }
    }
    case BodyCode.NeighborReply:
      expectLength(wire, 4, 'neighborReply')
      return { type: 'neighborReply', accepted: readBoolean(wire[3], 'neighborReply.accepted') }
    case BodyCode.Shuffle:
      expectLength(wire, 7, 'shuffle')
      return {
        type: 'shuffle',
        origin: peerInfo(readId32(wire[3], 'shuffle.origin'), readPeerData(wire[4])),
        nodes: readPeers(wire[5], 'shuffle.nodes'),
        ttl: readUint(wire[6], codecLimits.maxTtl, 'shuffle.ttl')
      }
    case BodyCode.ShuffleReply:
      expectLength(wire, 4, 'shuffleReply')
      return { type: 'shuffleReply', nodes: readPeers(wire[3], 'shuffleReply.nodes') }
    case BodyCode.Disconnect: {
      expectLength(wire, 5, 'disconnect')
      const alive = readBoolean(wire[3], 'disconnect.alive')
      return wire[4] === null
        ? { type: 'disconnect', alive }
        : { type: 'disconnect', alive, sample: readPeers(wire[4], 'disconnect.sample') }
    }
    case BodyCode.Gossip: {
      expectLength(wire, 8, 'gossip')
      const sig = wire[7] === null ? undefined : readBytes(wire[7], codecLimits.minSigBytes, codecLimits.maxSigBytes, 'gossip.sig')
      return {
        type: 'gossip',
        id: readString(wire[3], codecLimits.maxIdLength, 'gossip.id'),
        origin: readId32(wire[4], 'gossip.origin'),
        content: readBytes(wire[5], 0, Infinity, 'gossip.content'),
        round: readUint(wire[6], codecLimits.maxRound, 'gossip.round'),
        ...(sig === undefined ? {} : { sig })
      }
    }
    case BodyCode.IHave:
      expectLength(wire, 4, 'ihave')
      return { type: 'ihave', entries: readIHaves(wire[3]) }
    case BodyCode.Graft: {
      expectLength(wire, 5, 'graft')
      const round = readUint(wire[4], codecLimits.maxRound, 'graft.round')
      return wire[3] === null
        ? { type: 'graft', round }
        : { type: 'graft', id: readString(wire[3], codecLimits.maxIdLength, 'graft.id'), round }
    }
    case BodyCode.Prune:
      expectLength(wire, 3, 'prune')
      return { type: 'prune' }
    case BodyCode.Pull:
      expectLength(wire, 5, 'pull')
      return {
        type: 'graft',
        id: readString(wire[3], codecLimits.maxIdLength, 'pull.id'),
        round: readUint(wire[4], codecLimits.maxRound, 'pull.round'),
        pull: true
      }
    default:
      throw new CodecError(`unknown message type ${describe(wire[2])}`)
  }
}

function peerInfo (id: NodeId, data: Uint8Array | undefined): PeerInfo<NodeId> {
  return data === undefined ? { id } : { id, data }
}

function readPeers (value: unknown, what: string): PeerInfo<NodeId>[] {
  if (!Array.isArray(value) || value.length % 2 !== 0 || value.length > codecLimits.maxPeers * 2) {
    throw new CodecError(`${what} must be a flat list of at most ${codecLimits.maxPeers} [id, data] pairs`)
  }
  const peers = new Array<PeerInfo<NodeId>>(value.length / 2)
  for (let i = 0; i < peers.length; i++) {
    peers[i] = peerInfo(readId32(value[2 * i], what), readPeerData(value[2 * i + 1]))
  }
  return peers
}

function readIHaves (value: unknown): IHaveEntry[] {
  if (!Array.isArray(value) || value.length % 2 !== 0 || value.length > codecLimits.maxIHaveEntries * 2) {
    throw new CodecError(`ihave.entries must be a flat list of at most ${codecLimits.maxIHaveEntries} [id, round] pairs`)
  }
  const entries = new Array<IHaveEntry>(value.length / 2)
  for (let i = 0; i < entries.length; i++) {
    entries[i] = {
      id: readString(value[2 * i], codecLimits.maxIdLength, 'ihave.id'),
      round: readUint(value[2 * i + 1], codecLimits.maxRound, 'ihave.round')
    }
  }
  return entries
}

// ---------------------------------------------------------------------------------------------
// IHAVE frames without msgpackr
// ---------------------------------------------------------------------------------------------

/*
 * An IHAVE frame is mostly ids, and a flooding neighbour sends hundreds of thousands of them a
 * second. Through msgpackr and `readIHaves` each id became a string, an object and three array
 * slots (about 140 bytes of garbage) before the protocol looked at it, and the protocol ignores
 * most of a flood without reading it. So the frame as our encoder writes it (ASCII ids of 1 to
 * `maxIdLength` bytes, rounds as the smallest unsigned integer) is checked here byte by byte and
 * handed over as a `WireIHaves`: one offset per entry, an id's string made only when the protocol
 * asks for it. Anything else (non-ASCII ids, other encodings of the same values, and every frame
 * that breaks a limit) goes the general way, which accepts or refuses it as before, so this path
 * decides nothing the general one would decide differently.
 */

const IHAVE_ENTRIES_AT = 37

/** The frame as a WireIHaves, or undefined if it is not in the shape this path reads. */
function decodeIHaveFrame (bytes: Uint8Array): Frame | undefined {
  // [1, bin8 of 32 bytes (topic), 8, entries]
  if (bytes[1] !== FrameCode.Proto || bytes[2] !== 0xc4 || bytes[3] !== 32 || bytes[36] !== BodyCode.IHave) return undefined
  const end = bytes.byteLength
  let p = IHAVE_ENTRIES_AT
  const header = bytes[p]
  let items: number
  if (header === undefined) return undefined
  if (header >= 0x90 && header <= 0x9f) {
    items = header & 0x0f
    p += 1
  } else if (header === 0xdc && p + 3 <= end) {
    items = (bytes[p + 1]! << 8) | bytes[p + 2]!
    p += 3
  } else {
    // array32 holds more than the limit allows: refused by the general way.
    return undefined
  }
  if (items % 2 !== 0 || items > codecLimits.maxIHaveEntries * 2) return undefined
  const count = items / 2
  const at = new Int32Array(count)
  for (let i = 0; i < count; i++) {
    if (p + 2 > end) return undefined
    const h = bytes[p]!
    let start: number
    let length: number
    if (h >= 0xa0 && h <= 0xbf) {
      length = h & 0x1f
      start = p + 1
    } else if (h === 0xd9) {
      length = bytes[p + 1]!
      start = p + 2
    } else {
      return undefined
    }
    const stop = start + length
    if (length === 0 || length > codecLimits.maxIdLength || stop >= end) return undefined
    for (let k = start; k < stop; k++) if (bytes[k]! >= 0x80) return undefined
    at[i] = p
    p = stop
    const read = readRound(bytes, p, end)
    if (read < 0) return undefined
    p += read >>> 16
  }
  if (p !== end) return undefined
  const topic = readId32(bytes.subarray(4, 36), 'proto.topic')
  return { type: 'proto', message: { topic, body: { type: 'ihave', entries: new WireIHaves(bytes, at) } } }
}

/**
 * IHAVE entries still in the frame's bytes (checked by `decodeIHaveFrame`): `at[i]` is where
 * entry i's id starts (its string header), its round follows the id.
 */
class WireIHaves implements IHaveList {
  private readonly bytes: Buffer

  constructor (bytes: Uint8Array, private readonly at: Int32Array) {
    this.bytes = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get length (): number {
    return this.at.length
  }

  id (index: number): string {
    const p = this.at[index]
    if (p === undefined) throw new RangeError(`no IHAVE entry ${index}`)
    const h = this.bytes[p]!
    const start = h === 0xd9 ? p + 2 : p + 1
    const length = h === 0xd9 ? this.bytes[p + 1]! : h & 0x1f
    return this.bytes.toString('latin1', start, start + length)
  }

  round (index: number): number {
    const p = this.at[index]
    if (p === undefined) throw new RangeError(`no IHAVE entry ${index}`)
    const h = this.bytes[p]!
    const r = h === 0xd9 ? p + 2 + this.bytes[p + 1]! : p + 1 + (h & 0x1f)
    const v = this.bytes[r]!
    if (v <= 0x7f) return v
    if (v === 0xcc) return this.bytes[r + 1]!
    return (this.bytes[r + 1]! << 8) | this.bytes[r + 2]!
  }

  * [Symbol.iterator] (): Iterator<IHaveEntry> {
    for (let i = 0; i < this.at.length; i++) yield { id: this.id(i), round: this.round(i) }
  }
}

function readTopicList (value: unknown, what: string): TopicKey[] {
  if (!(value instanceof Uint8Array) || value.byteLength % TOPIC_KEY_BYTES !== 0 || value.byteLength > codecLimits.maxTopics * TOPIC_KEY_BYTES) {
    throw new CodecError(`${what} must be bytes holding at most ${codecLimits.maxTopics} topic keys of ${TOPIC_KEY_BYTES} bytes`)
  }
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  const topics = new Array<TopicKey>(value.byteLength / TOPIC_KEY_BYTES)
  for (let i = 0; i < topics.length; i++) topics[i] = bytes.toString('hex', i * TOPIC_KEY_BYTES, (i + 1) * TOPIC_KEY_BYTES) as TopicKey
  return topics
}

function decodeDiscovery (wire: unknown[]): DiscoveryMessage<NodeId> {
  switch (wire[1]) {
    case DiscoveryCode.Topics:
      expectLength(wire, 7, 'topics')
      return {
        type: 'topics',
        reset: readBoolean(wire[2], 'topics.reset'),
        base: readUint(wire[3], codecLimits.maxDiscoveryVersion, 'topics.base'),
        version: readUint(wire[4], codecLimits.maxDiscoveryVersion, 'topics.version'),
        joined: readTopicList(wire[5], 'topics.joined'),
        left: readTopicList(wire[6], 'topics.left')
      }
    case DiscoveryCode.Digest:
      expectLength(wire, 4, 'digest')
      return {
        type: 'digest',
        version: readUint(wire[2], codecLimits.maxDiscoveryVersion, 'digest.version'),
        count: readUint(wire[3], codecLimits.maxDiscoveryVersion, 'digest.count')
      }
    case DiscoveryCode.Resync:
      expectLength(wire, 2, 'resync')
      return { type: 'resync' }
    case DiscoveryCode.Query:
      expectLength(wire, 3, 'query')
      return { type: 'query', topics: readTopicList(wire[2], 'query.topics') }
    case DiscoveryCode.Members: {
      expectLength(wire, 5, 'members')
      const nodes = readNodeAddrs(wire[2])
      const topics = readTopicList(wire[3], 'members.topics')
      return { type: 'members', nodes, topics, holders: readHolders(wire[4], topics.length, nodes.length) }
    }
    default:
      throw new CodecError(`unknown discovery message type ${describe(wire[1])}`)
  }
}

function readNodeAddrs (value: unknown): Array<NodeAddr<NodeId>> {
  if (!Array.isArray(value) || value.length % 2 !== 0 || value.length > codecLimits.maxDiscoveryNodes * 2) {
    throw new CodecError(`members.nodes must be a flat list of at most ${codecLimits.maxDiscoveryNodes} [id, addr] pairs`)
  }
  const nodes = new Array<NodeAddr<NodeId>>(value.length / 2)
  for (let i = 0; i < nodes.length; i++) {
    nodes[i] = { id: readId32(value[2 * i], 'members.id'), addr: readString(value[2 * i + 1], codecLimits.maxAddrLength, 'members.addr') }
  }
  return nodes
}

function readHolders (value: unknown, topics: number, nodes: number): number[][] {
  if (!Array.isArray(value) || value.length !== topics) throw new CodecError('members.holders must have one list per topic')
  const out = new Array<number[]>(topics)
  for (let t = 0; t < topics; t++) {
    const list: unknown = value[t]
    if (!Array.isArray(list) || list.length > codecLimits.maxHolders) {
      throw new CodecError(`members.holders must be lists of at most ${codecLimits.maxHolders} indexes`)
    }
    for (const i of list) checkUint(i, nodes - 1, 'members.holder')
    out[t] = list as number[]
  }
  return out
}

function readPeerData (value: unknown): Uint8Array | undefined {
  if (value === null) return undefined
  return readBytes(value, codecLimits.minPeerDataBytes, codecLimits.maxPeerDataBytes, 'peer data')
}

function readId32 (value: unknown, what: string): string {
  if (!(value instanceof Uint8Array) || value.byteLength !== 32) throw new CodecError(`${what} must be 32 bytes`)
  return Buffer.from(value.buffer, value.byteOffset, 32).toString('hex')
}

function readBytes (value: unknown, min: number, max: number, what: string): Uint8Array {
  checkBytes(value, min, max, what)
  return value as Uint8Array
}

function readUint (value: unknown, max: number, what: string): number {
  checkUint(value, max, what)
  return value as number
}

function readBoolean (value: unknown, what: string): boolean {
  checkBoolean(value, what)
  return value as boolean
}

function readString (value: unknown, maxLength: number, what: string, allowEmpty = false): string {
  checkString(value, maxLength, what, allowEmpty)
  return value as string
}

function expectLength (wire: unknown[], length: number, what: string): void {
  if (wire.length !== length) throw new CodecError(`${what} frame must have ${length} fields, got ${wire.length}`)
}

function describe (value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value
}
