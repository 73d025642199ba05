/**
 * The decoder and the encoder enforce the same limits (`wireLimits`): a value at a limit decodes
 * and encodes again, a value one past it is refused by both. A node forwards and stores what it
 * decoded, so a value only the decoder took used to make the encoder throw later, far from the
 * peer that sent it.
 */
import t from 'tap'
import fc from 'fast-check'
import { pack } from 'msgpackr'
import { codecLimits, decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import { CodecError } from '../../../src/core/errors.js'
import type { Frame } from '../../../src/core/net/frames.js'
import { wireLimits } from '../../../src/core/proto/limits.js'
import type { PeerInfo, TopicMessage } from '../../../src/core/proto/types.js'

const hex = (byte: number): string => byte.toString(16).padStart(2, '0').repeat(32)
const TOPIC = hex(0xab)
const NODE = hex(0x01)
/** Ids and topics travel as 32 raw bytes. */
const raw = (id: string): Buffer => Buffer.from(id, 'hex')
const bytes = (n: number): Uint8Array => new Uint8Array(n).fill(0x61)
const proto = (body: TopicMessage<string>): Frame => ({ type: 'proto', message: { topic: TOPIC, body } })
/** The wire layout of a proto frame: [1, topic, body code, ...fields]. */
const protoWire = (code: number, ...fields: unknown[]): unknown[] => [1, raw(TOPIC), code, ...fields]
const peers = (n: number): PeerInfo<string>[] => Array.from({ length: n }, () => ({ id: NODE, data: bytes(1) }))
const peersWire = (n: number): unknown[] => Array.from({ length: n }, () => [raw(NODE), bytes(1)]).flat()
const ids = (n: number): Array<{ id: string, round: number }> => Array.from({ length: n }, () => ({ id: 'x', round: 0 }))

interface Limited {
  field: string
  /** Whether the limit is on a number (then one below the minimum is negative) or on a length. */
  of: 'number' | 'length'
  /** The smallest and largest value the wire takes (a number, or a length in bytes, characters or items). */
  min: number
  max: number
  /** The frame carrying `value`, as the protocol hands it to the encoder... */
  frame: (value: number) => Frame
  /** ...and as a peer's bytes carry it, built without the encoder. */
  wire: (value: number) => unknown[]
}

const limited: Limited[] = [
  { field: 'hello.version', of: 'number', min: 0, max: wireLimits.maxVersion, frame: v => ({ type: 'hello', version: v, proof: bytes(32), addr: null, incarnation: bytes(8) }), wire: v => [0, v, bytes(32), null, bytes(8)] },
  { field: 'hello.proof bytes', of: 'length', min: wireLimits.proofBytes, max: wireLimits.proofBytes, frame: n => ({ type: 'hello', version: 1, proof: bytes(n), addr: null, incarnation: bytes(8) }), wire: n => [0, 1, bytes(n), null, bytes(8)] },
  { field: 'hello.addr characters', of: 'length', min: 1, max: wireLimits.maxAddrLength, frame: n => ({ type: 'hello', version: 1, proof: bytes(32), addr: 'a'.repeat(n), incarnation: bytes(8) }), wire: n => [0, 1, bytes(32), 'a'.repeat(n), bytes(8)] },
  { field: 'hello.incarnation bytes', of: 'length', min: wireLimits.incarnationBytes, max: wireLimits.incarnationBytes, frame: n => ({ type: 'hello', version: 1, proof: bytes(32), addr: null, incarnation: bytes(n) }), wire: n => [0, 1, bytes(32), null, bytes(n)] },
  { field: 'bye.reason characters', of: 'length', min: 0, max: wireLimits.maxReasonLength, frame: n => ({ type: 'bye', reason: 'r'.repeat(n) }), wire: n => [4, 'r'.repeat(n)] },
  { field: 'join peer data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'join', data: bytes(n) }), wire: n => protoWire(0, bytes(n)) },
  { field: 'forwardJoin peer data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'forwardJoin', peer: { id: NODE, data: bytes(n) }, ttl: 1 }), wire: n => protoWire(1, raw(NODE), bytes(n), 1) },
  { field: 'forwardJoin.ttl', of: 'number', min: 0, max: wireLimits.maxTtl, frame: v => proto({ type: 'forwardJoin', peer: { id: NODE }, ttl: v }), wire: v => protoWire(1, raw(NODE), null, v) },
  { field: 'neighbor peer data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'neighbor', priority: 'low', data: bytes(n) }), wire: n => protoWire(2, false, bytes(n)) },
  { field: 'shuffle origin data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'shuffle', origin: { id: NODE, data: bytes(n) }, nodes: [], ttl: 0 }), wire: n => protoWire(4, raw(NODE), bytes(n), [], 0) },
  { field: 'shuffle node data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'shuffle', origin: { id: NODE }, nodes: [{ id: NODE, data: bytes(n) }], ttl: 0 }), wire: n => protoWire(4, raw(NODE), null, [raw(NODE), bytes(n)], 0) },
  { field: 'shuffle.nodes items', of: 'length', min: 0, max: wireLimits.maxPeers, frame: n => proto({ type: 'shuffle', origin: { id: NODE }, nodes: peers(n), ttl: 0 }), wire: n => protoWire(4, raw(NODE), null, peersWire(n), 0) },
  { field: 'shuffle.ttl', of: 'number', min: 0, max: wireLimits.maxTtl, frame: v => proto({ type: 'shuffle', origin: { id: NODE }, nodes: [], ttl: v }), wire: v => protoWire(4, raw(NODE), null, [], v) },
  { field: 'shuffleReply.nodes items', of: 'length', min: 0, max: wireLimits.maxPeers, frame: n => proto({ type: 'shuffleReply', nodes: peers(n) }), wire: n => protoWire(5, peersWire(n)) },
  { field: 'shuffleReply node data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'shuffleReply', nodes: [{ id: NODE, data: bytes(n) }] }), wire: n => protoWire(5, [raw(NODE), bytes(n)]) },
  { field: 'disconnect.sample items', of: 'length', min: 0, max: wireLimits.maxPeers, frame: n => proto({ type: 'disconnect', alive: true, sample: peers(n) }), wire: n => protoWire(6, true, peersWire(n)) },
  { field: 'disconnect sample data bytes', of: 'length', min: wireLimits.minPeerDataBytes, max: wireLimits.maxPeerDataBytes, frame: n => proto({ type: 'disconnect', alive: true, sample: [{ id: NODE, data: bytes(n) }] }), wire: n => protoWire(6, true, [raw(NODE), bytes(n)]) },
  { field: 'gossip.id characters', of: 'length', min: 1, max: wireLimits.maxIdLength, frame: n => proto({ type: 'gossip', id: 'i'.repeat(n), origin: NODE, content: bytes(1), round: 0 }), wire: n => protoWire(7, 'i'.repeat(n), raw(NODE), bytes(1), 0, null) },
  { field: 'gossip.round', of: 'number', min: 0, max: wireLimits.maxRound, frame: v => proto({ type: 'gossip', id: 'm', origin: NODE, content: bytes(1), round: v }), wire: v => protoWire(7, 'm', raw(NODE), bytes(1), v, null) },
  { field: 'ihave.entries items', of: 'length', min: 0, max: wireLimits.maxIHaveEntries, frame: n => proto({ type: 'ihave', entries: ids(n) }), wire: n => protoWire(8, ids(n).flatMap(e => [e.id, e.round])) },
  { field: 'ihave id characters', of: 'length', min: 1, max: wireLimits.maxIdLength, frame: n => proto({ type: 'ihave', entries: [{ id: 'i'.repeat(n), round: 0 }] }), wire: n => protoWire(8, ['i'.repeat(n), 0]) },
  { field: 'ihave round', of: 'number', min: 0, max: wireLimits.maxRound, frame: v => proto({ type: 'ihave', entries: [{ id: 'm', round: v }] }), wire: v => protoWire(8, ['m', v]) },
  { field: 'graft.id characters', of: 'length', min: 1, max: wireLimits.maxIdLength, frame: n => proto({ type: 'graft', id: 'i'.repeat(n), round: 0 }), wire: n => protoWire(9, 'i'.repeat(n), 0) },
  { field: 'graft.round', of: 'number', min: 0, max: wireLimits.maxRound, frame: v => proto({ type: 'graft', round: v }), wire: v => protoWire(9, null, v) }
]

/** Decoded byte fields are Buffers viewing the input; compare them as plain bytes. */
function plain (value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value)
  if (Array.isArray(value)) return value.map(plain)
  // Decoded IHAVE entries may be a list read by position (IHaveList): compare its entries.
  if (value !== null && typeof value === 'object' && Symbol.iterator in value) return Array.from(value as Iterable<unknown>, plain)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  return value
}

function refused (fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof CodecError ? err.message : `not a CodecError: ${String(err)}`
  }
}

t.test('a value at a limit decodes from a peer\'s bytes and encodes again to the same frame', async t => {
  for (const { field, min, max, frame, wire } of limited) {
    for (const value of new Set([min, max])) {
      const decoded = decodeFrame(pack(wire(value)))
      t.same(plain(decoded), plain(frame(value)), `${field} = ${value} decodes`)
      t.same(plain(decodeFrame(encodeFrame(decoded))), plain(frame(value)), `${field} = ${value} encodes again`)
    }
  }
})

t.test('a value one past a limit is refused by the encoder and by the decoder alike', async t => {
  for (const { field, of, min, max, frame, wire } of limited) {
    const past = of === 'number' || min > 0 ? [min - 1, max + 1] : [max + 1]
    for (const value of past) {
      const byEncoder = refused(() => encodeFrame(frame(value)))
      const byDecoder = refused(() => decodeFrame(pack(wire(value))))
      t.ok(byEncoder?.startsWith('not a') === false, `${field} = ${value}: encoder refuses (${byEncoder ?? 'accepted'})`)
      t.ok(byDecoder?.startsWith('not a') === false, `${field} = ${value}: decoder refuses (${byDecoder ?? 'accepted'})`)
    }
  }
})

t.test('the codec\'s limits are the ones the state machines keep to', async t => {
  t.equal(codecLimits, wireLimits)
  t.same([wireLimits.minPeerDataBytes, wireLimits.maxPeerDataBytes], [1, 300], 'peer data is 1 to 300 bytes')
  t.equal(wireLimits.maxPeerDataBytes, wireLimits.maxAddrLength, 'a node stores peer data as an address: the longest address fits')
})

t.test('whatever the decoder accepts from altered valid frames, the encoder encodes again to the same frame', async t => {
  // Values at their limits (lists cut to 300 items to keep it fast), so alterations land next to them.
  const seeds = limited.map(({ frame, max }) => Buffer.from(encodeFrame(frame(Math.min(max, 300)))))
  let accepted = 0
  fc.assert(fc.property(
    fc.nat({ max: seeds.length - 1 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }),
    (index, edits) => {
      const b = [...seeds[index]!]
      for (const [position, value, kind] of edits) {
        const at = position % (b.length + 1)
        if (kind === 'set' && at < b.length) b[at] = value
        else if (kind === 'insert') b.splice(at, 0, value)
        else b.splice(at, 1)
      }
      let frame: Frame
      try {
        frame = decodeFrame(Buffer.from(b))
      } catch (err) {
        if (err instanceof CodecError) return
        throw err
      }
      accepted++
      if (JSON.stringify(plain(decodeFrame(encodeFrame(frame)))) !== JSON.stringify(plain(frame))) throw new Error('re-encoding changed the frame')
    }
  ), { numRuns: 3000 })
  t.ok(accepted > 300, `${accepted} altered frames were accepted, and each encoded again`)
})
