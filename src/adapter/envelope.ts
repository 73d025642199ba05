/**
 * What the adapter puts on the wire. Socket.IO packets may carry Buffers, Dates and nested binary,
 * so messages are MessagePack-encoded (a Buffer arrives as a Buffer) rather than JSON.
 *
 * Five kinds travel on a namespace's topic:
 * - `message`: a cluster message published to every server, stamped with the sender's sequence
 *   number so receivers can restore the sender's order;
 * - `filler`: takes the place of a sequence number whose message could not be published (too
 *   large), so receivers do not wait for a message that will never come;
 * - `response`: a reply sent directly to one server; unsequenced, it travels on one link;
 * - `ping`: sent directly to a node hosting a server not heard from before: "which servers are you?";
 * - `pong`: each server of the pinged node answers with its uid, directly to the pinging node. A
 *   server counts in `serverCount()` only once its node has answered (a ghost never does).
 *
 * Connection state recovery adds message types and a response type of its own to socket.io-adapter's
 * (RESTORE_SESSION, RESTORE_SESSION_RESPONSE): a server asks the cluster for a session by its private
 * id, the server that keeps it answers with the session and the packets the socket missed; and a
 * server that closes names the sessions it keeps to the server that takes them over
 * (HAND_OVER_SESSIONS), which then asks for each.
 *
 * A `message` may come from an emitter rather than a server: it says so (`emitter: true`, see
 * EmitterMessage) and is one of the few types an emitter sends.
 *
 * Decoding checks everything the adapter or socket.io-adapter will later read, for every message
 * type: a receiver acts on an envelope only once it is known to be well formed, so a malformed one
 * is dropped before it can touch any server's state.
 */
import { Packr } from 'msgpackr'
import { MessageType } from 'socket.io-adapter'
import type { BroadcastOptions, ClusterMessage, ClusterResponse, Room } from 'socket.io-adapter'
import { GossipError } from '../core/errors.js'
import { uintBytes, writeUint } from '../core/net/msgpack.js'

const ENVELOPE_VERSION = 1
const MESSAGE = 1
const FILLER = 2
const RESPONSE = 3
const PING = 4
const PONG = 5
/** A `message` from a server with room routing on: it also says which earlier numbers were not sent to the receiver. */
const ROUTED = 6

/** Longest server uid or request id accepted (socket.io-adapter makes 16 hex characters). */
const MAX_ID_LENGTH = 64
/** Longest session id, private session id or offset accepted (Socket.IO makes 20 and ours ~40 characters). */
const MAX_SESSION_ID_LENGTH = 128
/** Most senders a frontier may list. */
const MAX_FRONTIER = 4_096

/** Message types the adapter adds to socket.io-adapter's `MessageType` (which ends at 13). */
export const RESTORE_SESSION = 101
export const RESTORE_SESSION_RESPONSE = 102
export const HAND_OVER_SESSIONS = 103
/** Room routing: a server's rooms (a snapshot, or what changed since the last one), sequenced like any message. */
export const ROOMS = 104
/** Room routing: "I have applied your ROOMS (or SOCKETS_JOIN) numbered `requestId`", sent directly. */
export const ROOMS_ACK = 105
/** Room routing: "send me a snapshot of your rooms" (I missed some of your messages), sent directly. */
export const ROOMS_RESYNC = 106
/** Most rooms one ROOMS message lists (a server with more lists them in several). */
export const MAX_LISTED_ROOMS = 4_096
/** Most sessions one hand-over message names. */
export const MAX_HAND_OVER = 1_000

/** How far a server had got with each sender: [server uid, next sequence number not delivered]. */
export type EncodedFrontier = Array<[string, number]>

/** "Who keeps the session `pid`? I have seen everything up to `offset`." Published to every server. */
export interface RestoreRequest {
  type: typeof RESTORE_SESSION
  uid: string
  nsp: string
  /** `keeper`: only that server answers (a session being taken over, whose keeper is known). */
  data: { requestId: string, pid: string, offset: string, frontier: EncodedFrontier, keeper?: string }
}

/** "I am closing: take over these sessions" ([private id, offset of the last packet sent]), to server `to`. */
export interface HandOver {
  type: typeof HAND_OVER_SESSIONS
  uid: string
  nsp: string
  data: { to: string, sessions: Array<[string, string]> }
}

/** The answer of every server asked: the session and what it missed from the one that kept it, `found: false` from the others. */
export interface RestoreResponse {
  type: typeof RESTORE_SESSION_RESPONSE
  uid: string
  nsp: string
  data: {
    requestId: string
    found: boolean
    session?: { sid: string, pid: string, rooms: Array<string | number>, data: unknown }
    packets?: unknown[][]
    frontier?: EncodedFrontier
  }
}
/**
 * A server's rooms. `full`: a snapshot begins (it replaces what the receiver knew); otherwise a
 * delta from the previous ROOMS, or the next page of a snapshot. `any`: the server may have rooms
 * the receiver does not know of yet (the snapshot's next pages, or a room too long to list), so it
 * is sent every broadcast until a message says otherwise. `ack`: the sender waits for a ROOMS_ACK
 * (a join waits for every server to know the room).
 */
export interface RoomsMessage {
  type: typeof ROOMS
  uid: string
  nsp: string
  data: { full: boolean, any: boolean, add: Room[], remove: Room[], ack: boolean }
}

/**
 * A ROOMS_ACK or ROOMS_RESYNC; `upTo`: the acknowledging server's own last number when it applied a
 * SOCKETS_JOIN, or, for a ROOMS saying `any`, the number from which on it sends the asker everything.
 */
export interface RoomsResponse {
  type: typeof ROOMS_ACK | typeof ROOMS_RESYNC
  uid: string
  nsp: string
  data: { requestId: string, upTo?: number }
}

/**
 * Which earlier numbers a routed message's receiver was not sent: a direct message says `prev`, the
 * last number sent to that node; an overlay message (reaching every node) says `[base, nodes]`: the
 * last number sent to every node, and for the nodes sent something directly since, a 16-hex-digit
 * prefix of the node id with the last number sent to it.
 */
export type RouteSkip = number | [number, Array<[string, number]>]

/** The id prefix a routed overlay message names a node by. */
export function nodePrefix (nodeId: string): string {
  return nodeId.slice(0, 16)
}

/** Event names Socket.IO refuses in `serverSideEmit` (a remote one must not reach the handlers either). */
const RESERVED_EVENTS = new Set(['connect', 'connection', 'new_namespace'])

export type Envelope =
  | { kind: 'message', seq: number, message: ClusterMessage | RestoreRequest | HandOver | RoomsMessage, skip?: RouteSkip }
  | { kind: 'filler', seq: number, uid: string }
  | { kind: 'response', response: ClusterResponse | RestoreResponse | RoomsResponse }
  | { kind: 'ping' }
  | { kind: 'pong', uid: string }

/** `BroadcastOptions` as they travel: arrays rather than sets, flags always present. */
export interface EncodedOptions {
  rooms: Room[]
  except: Room[]
  flags: NonNullable<BroadcastOptions['flags']>
}

export function encodeOptions (opts: BroadcastOptions): EncodedOptions {
  return { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} }
}

// copyBuffers: decoded Buffers must not alias the receive buffer, which the transport may reuse.
const packr = new Packr({ useRecords: false, copyBuffers: true })

export function encodeMessage (seq: number, message: ClusterMessage | RestoreRequest | HandOver): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, MESSAGE, seq, message])
}

/**
 * A routed message in two parts, so that the message is encoded once however many nodes it goes
 * to: the body (`encodeRoutedBody`), and per receiver `encodeRouted(seq, skip, body)`, which
 * prefixes the header to it. Together they are the MessagePack array [version, ROUTED, seq, skip, message].
 */
export function encodeRoutedBody (message: ClusterMessage | RestoreRequest | HandOver | RoomsMessage): Uint8Array {
  return packr.pack(message)
}

export function encodeRouted (seq: number, skip: RouteSkip, body: Uint8Array): Uint8Array {
  if (typeof skip === 'number' && uintBytes(seq) > 0 && (skip === -1 || uintBytes(skip) > 0)) {
    // A direct message's header, written by hand (this runs once per receiver of every routed
    // broadcast): the same MessagePack a packer writes, without a packer's set-up per call.
    const seqBytes = uintBytes(seq)
    const skipBytes = skip === -1 ? 1 : uintBytes(skip)
    const out = Buffer.allocUnsafe(3 + seqBytes + skipBytes + body.length)
    out[0] = 0x95
    out[1] = ENVELOPE_VERSION
    out[2] = ROUTED
    let at = writeUint(out, 3, seq)
    if (skip === -1) out[at++] = 0xff
    else at = writeUint(out, at, skip)
    out.set(body, at)
    return out
  }
  const header = packr.pack([ENVELOPE_VERSION, ROUTED, seq, skip])
  const out = new Uint8Array(header.length + body.length)
  out.set(header)
  // A 4-element fixarray header becomes the 5-element array the body completes.
  out[0] = 0x95
  out.set(body, header.length)
  return out
}

export function encodeFiller (seq: number, uid: string): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, FILLER, seq, uid])
}

export function encodeResponse (response: ClusterResponse | RestoreResponse | RoomsResponse): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, RESPONSE, response])
}

export function encodePing (): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, PING])
}

export function encodePong (uid: string): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, PONG, uid])
}

/** Bytes `value` takes MessagePack-encoded, as it would travel to another server. Throws if it cannot be encoded. */
export function encodedSize (value: unknown): number {
  return packr.pack(value).length
}

/** `encodedSize`, or 0 for what MessagePack cannot encode (it could not go to another server anyway). */
export function encodedSizeOrZero (value: unknown): number {
  try {
    return encodedSize(value)
  } catch {
    return 0
  }
}

function invalid (why: string): GossipError {
  return new GossipError('ERR_GOSSIP_INVALID_MESSAGE', `invalid adapter envelope: ${why}`)
}

function isSeq (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

export function isServerId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH
}

type Dict = Record<string, unknown>

function isDict (value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof Date)
}

function isCount (value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function isRooms (value: unknown): boolean {
  return Array.isArray(value) && value.every(r => typeof r === 'string' || (typeof r === 'number' && Number.isFinite(r)))
}

function isOptional (value: unknown, check: (v: unknown) => boolean): boolean {
  return value === undefined || value === null || check(value)
}

const isBoolean = (v: unknown): boolean => typeof v === 'boolean'

/** `BroadcastOptions` as encoded: rooms, except, and flags of the types Socket.IO gives them. */
function isOpts (value: unknown): boolean {
  if (!isDict(value) || !isRooms(value.rooms) || !isOptional(value.except, isRooms)) return false
  const flags = value.flags
  if (flags === undefined || flags === null) return true
  if (!isDict(flags)) return false
  for (const name of ['volatile', 'compress', 'local', 'broadcast', 'binary', 'expectSingleResponse']) {
    if (!isOptional(flags[name], isBoolean)) return false
  }
  return isOptional(flags.timeout, v => typeof v === 'number' && Number.isFinite(v) && v >= 0)
}

/** An event name and its arguments, as `emit(...)` and `serverSideEmit(...)` carry them. */
function isEventData (value: unknown): boolean {
  return Array.isArray(value) && typeof value[0] === 'string' && !RESERVED_EVENTS.has(value[0])
}

/** A Socket.IO EVENT packet as `BroadcastOperator.emit` builds it (the data is the application's). */
function isEventPacket (value: unknown): boolean {
  if (!isDict(value) || (value.type !== 2 && value.type !== 5) || !isEventData(value.data)) return false
  return isOptional(value.id, isCount) && isOptional(value.nsp, v => typeof v === 'string')
}

function isRequestId (value: unknown): boolean {
  return isServerId(value)
}

function isRemoteSocket (value: unknown): boolean {
  return isDict(value) && typeof value.id === 'string' && isDict(value.handshake) && isRooms(value.rooms)
}

function hasHeader (value: unknown): value is Dict & { uid: string, nsp: string, type: number } {
  return isDict(value) && isServerId(value.uid) && typeof value.nsp === 'string' && typeof value.type === 'number'
}

function isSessionId (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_SESSION_ID_LENGTH
}

function isFrontier (value: unknown): boolean {
  return Array.isArray(value) && value.length <= MAX_FRONTIER &&
    value.every(entry => Array.isArray(entry) && entry.length === 2 && isServerId(entry[0]) && isSeq(entry[1]))
}

/** A session as Socket.IO persists it: ids, rooms, and the application's `socket.data`. */
function isSession (value: unknown): boolean {
  return isDict(value) && isSessionId(value.sid) && isSessionId(value.pid) && isRooms(value.rooms)
}

/**
 * A message from an emitter (`createEmitter`: a process that is not a Socket.IO server) carries
 * `emitter: true`. Receivers then neither ping its node nor count it among the servers that have
 * not answered yet: it is no server and never will be. Adapters that predate the flag ignore it
 * and take the sender for a server that has not answered, which delivers the same.
 */
export type EmitterMessage = ClusterMessage & { emitter: true }

export function isFromEmitter (message: ClusterMessage | RestoreRequest | HandOver | RoomsMessage): message is EmitterMessage {
  return (message as { emitter?: unknown }).emitter === true
}

/**
 * What an emitter may send: it keeps no sockets and receives nothing, so nothing that asks for an
 * answer (no acks, no fetchSockets) and no heartbeats; its goodbye lets servers forget it at once.
 */
function isEmitterType (type: number, data: unknown): boolean {
  switch (type) {
    case MessageType.BROADCAST:
    case MessageType.SERVER_SIDE_EMIT:
      return isDict(data) && data.requestId === undefined
    case MessageType.SOCKETS_JOIN:
    case MessageType.SOCKETS_LEAVE:
    case MessageType.DISCONNECT_SOCKETS:
    case MessageType.ADAPTER_CLOSE:
      return true
    default:
      return false
  }
}

/** A cluster message of a type a server publishes, with the data socket.io-adapter (or the adapter) will read. */
export function isClusterMessage (value: unknown): value is ClusterMessage | RestoreRequest | HandOver | RoomsMessage {
  if (!hasHeader(value)) return false
  const data = value.data
  if (value.emitter !== undefined && (value.emitter !== true || !isEmitterType(value.type, data))) return false
  switch (value.type) {
    case ROOMS:
      return isDict(data) && isBoolean(data.full) && isBoolean(data.any) && isBoolean(data.ack) &&
        isRooms(data.add) && isRooms(data.remove) && (data.add as unknown[]).length + (data.remove as unknown[]).length <= MAX_LISTED_ROOMS
    case HAND_OVER_SESSIONS:
      return isDict(data) && isServerId(data.to) && Array.isArray(data.sessions) && data.sessions.length <= MAX_HAND_OVER &&
        data.sessions.every(entry => Array.isArray(entry) && entry.length === 2 && isSessionId(entry[0]) && isSessionId(entry[1]))
    case RESTORE_SESSION:
      return isDict(data) && isRequestId(data.requestId) && isSessionId(data.pid) && isSessionId(data.offset) && isFrontier(data.frontier) &&
        isOptional(data.keeper, isServerId)
    case MessageType.INITIAL_HEARTBEAT:
    case MessageType.HEARTBEAT:
    case MessageType.ADAPTER_CLOSE:
      return data === undefined || data === null
    case MessageType.BROADCAST:
      return isDict(data) && isOpts(data.opts) && isEventPacket(data.packet) && isOptional(data.requestId, isRequestId)
    case MessageType.SOCKETS_JOIN:
    case MessageType.SOCKETS_LEAVE:
      return isDict(data) && isOpts(data.opts) && isRooms(data.rooms)
    case MessageType.DISCONNECT_SOCKETS:
      return isDict(data) && isOpts(data.opts) && isOptional(data.close, isBoolean)
    case MessageType.FETCH_SOCKETS:
      return isDict(data) && isOpts(data.opts) && isRequestId(data.requestId)
    case MessageType.SERVER_SIDE_EMIT:
      return isDict(data) && isEventData(data.packet) && isOptional(data.requestId, isRequestId)
    default:
      // Responses travel as `response` envelopes, never as messages; anything else is unknown.
      return false
  }
}

/** A response of a type a server sends, with the data socket.io-adapter (or the adapter) will read. */
export function isClusterResponse (value: unknown): value is ClusterResponse | RestoreResponse | RoomsResponse {
  if (!hasHeader(value)) return false
  const data = value.data
  if (!isDict(data) || !isRequestId(data.requestId)) return false
  switch (value.type) {
    case ROOMS_ACK:
    case ROOMS_RESYNC:
      return isOptional(data.upTo, v => Number.isSafeInteger(v) && (v as number) >= -1)
    case RESTORE_SESSION_RESPONSE:
      if (data.found === false) return true
      // Each packet is replayed to a client as an event: the offset is its last argument.
      return data.found === true && isSession(data.session) && isFrontier(data.frontier) &&
        Array.isArray(data.packets) && data.packets.every(p => isEventData(p) && isSessionId((p as unknown[]).at(-1)))
    case MessageType.FETCH_SOCKETS_RESPONSE:
      return Array.isArray(data.sockets) && data.sockets.every(isRemoteSocket)
    case MessageType.SERVER_SIDE_EMIT_RESPONSE:
    case MessageType.BROADCAST_ACK:
      return true
    case MessageType.BROADCAST_CLIENT_COUNT:
      return isCount(data.clientCount)
    default:
      return false
  }
}

function isBefore (value: unknown, seq: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= -1 && (value as number) < seq
}

/** A route skip: every number it names is before the message's own; at most MAX_FRONTIER nodes. */
function isSkip (value: unknown, seq: number): value is RouteSkip {
  if (typeof value === 'number') return isBefore(value, seq)
  return Array.isArray(value) && value.length === 2 && isBefore(value[0], seq) && Array.isArray(value[1]) && value[1].length <= MAX_FRONTIER &&
    value[1].every(entry => Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && entry[0].length === 16 && isBefore(entry[1], seq))
}

/** Decodes and checks the envelope in full; throws `ERR_GOSSIP_INVALID_MESSAGE` on anything else. */
export function decodeEnvelope (bytes: Uint8Array): Envelope {
  let value: unknown
  try {
    value = packr.unpack(bytes)
  } catch (err) {
    throw new GossipError('ERR_GOSSIP_INVALID_MESSAGE', 'invalid adapter envelope: not MessagePack', { cause: err })
  }
  if (!Array.isArray(value) || value[0] !== ENVELOPE_VERSION) throw invalid('unknown version')
  switch (value[1]) {
    case MESSAGE:
      if (value.length !== 4 || !isSeq(value[2]) || !isClusterMessage(value[3])) throw invalid('malformed message')
      return { kind: 'message', seq: value[2], message: value[3] }
    case ROUTED:
      if (value.length !== 5 || !isSeq(value[2]) || !isSkip(value[3], value[2]) || !isClusterMessage(value[4])) throw invalid('malformed routed message')
      return { kind: 'message', seq: value[2], message: value[4], skip: value[3] }
    case FILLER:
      if (value.length !== 4 || !isSeq(value[2]) || !isServerId(value[3])) throw invalid('malformed filler')
      return { kind: 'filler', seq: value[2], uid: value[3] }
    case RESPONSE:
      if (value.length !== 3 || !isClusterResponse(value[2])) throw invalid('malformed response')
      return { kind: 'response', response: value[2] }
    case PING:
      if (value.length !== 2) throw invalid('malformed ping')
      return { kind: 'ping' }
    case PONG:
      if (value.length !== 3 || !isServerId(value[2])) throw invalid('malformed pong')
      return { kind: 'pong', uid: value[2] }
    default:
      throw invalid('unknown kind')
  }
}
