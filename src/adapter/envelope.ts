/**
 * What the adapter puts on the wire. Socket.IO packets may carry Buffers, Dates and nested binary,
 * so messages are MessagePack-encoded (a Buffer arrives as a Buffer) rather than JSON.
 *
 * Three kinds travel on a namespace's topic:
 * - `message`: a cluster message published to every server, stamped with the sender's sequence
 *   number so receivers can restore the sender's order;
 * - `filler`: takes the place of a sequence number whose message could not be published (too
 *   large), so receivers do not wait for a message that will never come;
 * - `response`: a reply sent directly to one server; unsequenced, it travels on one link.
 */
import { Packr } from 'msgpackr'
import type { ClusterMessage, ClusterResponse } from 'socket.io-adapter'
import { GossipError } from '../core/errors.js'

const ENVELOPE_VERSION = 1
const MESSAGE = 1
const FILLER = 2
const RESPONSE = 3

export type Envelope =
  | { kind: 'message', seq: number, message: ClusterMessage }
  | { kind: 'filler', seq: number, uid: string }
  | { kind: 'response', response: ClusterResponse }

// copyBuffers: decoded Buffers must not alias the receive buffer, which the transport may reuse.
const packr = new Packr({ useRecords: false, copyBuffers: true })

export function encodeMessage (seq: number, message: ClusterMessage): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, MESSAGE, seq, message])
}

export function encodeFiller (seq: number, uid: string): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, FILLER, seq, uid])
}

export function encodeResponse (response: ClusterResponse): Uint8Array {
  return packr.pack([ENVELOPE_VERSION, RESPONSE, response])
}

function invalid (why: string): GossipError {
  return new GossipError('ERR_GOSSIP_INVALID_MESSAGE', `invalid adapter envelope: ${why}`)
}

function isSeq (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function isAddressed (value: unknown): value is { uid: string, nsp: string, type: number } {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.uid === 'string' && typeof v.nsp === 'string' && typeof v.type === 'number'
}

/** Decodes and checks the envelope's shape; throws `ERR_GOSSIP_INVALID_MESSAGE` on anything else. */
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
      if (!isSeq(value[2]) || !isAddressed(value[3])) throw invalid('malformed message')
      return { kind: 'message', seq: value[2], message: value[3] as ClusterMessage }
    case FILLER:
      if (!isSeq(value[2]) || typeof value[3] !== 'string') throw invalid('malformed filler')
      return { kind: 'filler', seq: value[2], uid: value[3] }
    case RESPONSE:
      if (!isAddressed(value[2])) throw invalid('malformed response')
      return { kind: 'response', response: value[2] as ClusterResponse }
    default:
      throw invalid('unknown kind')
  }
}
