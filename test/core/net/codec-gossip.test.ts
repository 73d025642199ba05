/**
 * GOSSIP frames (one per eager peer per broadcast) are written and read without msgpackr. The
 * encoder writes exactly what msgpackr packs; the reader takes only our encoder's shape with an id
 * of ASCII and sends anything else the general way. Either way a frame decodes to what the general
 * decoder makes of it, or is refused with a CodecError as it would be.
 */
import t from 'tap'
import fc from 'fast-check'
import { Packr, Unpackr } from 'msgpackr'
import { decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import type { Frame } from '../../../src/core/net/frames.js'
import { CodecError } from '../../../src/core/errors.js'
import { wireLimits } from '../../../src/core/proto/limits.js'
import { hex } from '../../fixtures/net.js'

const reference = new Unpackr({ useRecords: false, mapsAsObjects: true })
const packr = new Packr({ useRecords: false })

interface Gossip { topic: string, id: string, origin: string, content: string, round: number, sig: string | undefined }
interface Drawn { topic: number, origin: number, id: string, content: Uint8Array, round: number, sig: Uint8Array | undefined }

const bin = (value: unknown, min: number, max: number): value is Uint8Array => value instanceof Uint8Array && value.byteLength >= min && value.byteLength <= max
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

/** What the general way makes of `bytes`, written out from the codec's rules for a GOSSIP frame. */
function general (bytes: Uint8Array): Gossip | 'refused' | 'other' {
  if (bytes[0] === undefined || bytes[0] < 0x91 || bytes[0] > 0x9f) return 'refused'
  let w: unknown
  try {
    w = reference.unpack(bytes)
  } catch {
    return 'refused'
  }
  if (!Array.isArray(w) || w[0] !== 1 || w[2] !== 7) return 'other'
  const [, topic, , id, origin, content, round, sig] = w as unknown[]
  if (w.length !== 8 || !bin(topic, 32, 32) || typeof id !== 'string' || id.length === 0 || id.length > wireLimits.maxIdLength ||
    !bin(origin, 32, 32) || !bin(content, 0, Infinity) || typeof round !== 'number' || !Number.isInteger(round) || round < 0 ||
    round > wireLimits.maxRound || (sig !== null && !bin(sig, wireLimits.minSigBytes, wireLimits.maxSigBytes))) return 'refused'
  return { topic: toHex(topic), id, origin: toHex(origin), content: toHex(content), round, sig: sig === null ? undefined : toHex(sig as Uint8Array) }
}

function decoded (bytes: Uint8Array): Gossip | 'refused' | 'other' {
  try {
    const frame = decodeFrame(bytes)
    if (frame.type !== 'proto' || frame.message.body.type !== 'gossip') return 'other'
    const b = frame.message.body
    return { topic: frame.message.topic, id: b.id, origin: b.origin, content: toHex(b.content), round: b.round, sig: b.sig === undefined ? undefined : toHex(b.sig) }
  } catch (err) {
    if (err instanceof CodecError) return 'refused'
    throw err
  }
}

const gossips: fc.Arbitrary<Drawn> = fc.record({
  topic: fc.integer({ min: 0, max: 2 }),
  origin: fc.integer({ min: 0, max: 2 }),
  id: fc.oneof(fc.string({ minLength: 1, maxLength: wireLimits.maxIdLength }), fc.string({ unit: 'binary', minLength: 1, maxLength: wireLimits.maxIdLength })),
  content: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 255, max: 70_000 }).map(n => new Uint8Array(n))),
  round: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: wireLimits.maxRound })),
  sig: fc.option(fc.integer({ min: wireLimits.minSigBytes, max: wireLimits.maxSigBytes }).map(n => new Uint8Array(n).fill(9)), { nil: undefined })
})

function frameOf (g: Drawn): Frame & { type: 'proto' } {
  const body = { type: 'gossip' as const, id: g.id, origin: hex(10 + g.origin), content: g.content, round: g.round, ...(g.sig === undefined ? {} : { sig: g.sig }) }
  return { type: 'proto', message: { topic: hex(g.topic), body } }
}

t.test('a GOSSIP frame is encoded byte for byte as msgpackr packs it, and read back whole', async t => {
  let asPacked = 0
  fc.assert(fc.property(gossips, g => {
    const frame = frameOf(g)
    const b = frame.message.body
    if (b.type !== 'gossip') return false
    const expected = packr.pack([1, Buffer.from(frame.message.topic, 'hex'), 7, b.id, Buffer.from(b.origin, 'hex'), b.content, b.round, b.sig ?? null])
    const bytes = encodeFrame(frame)
    if (!Buffer.from(bytes).equals(Buffer.from(expected))) return false
    asPacked++
    const back = decoded(bytes)
    return typeof back !== 'string' && back.topic === frame.message.topic && back.id === b.id && back.origin === b.origin &&
      back.content === toHex(b.content) && back.round === b.round && back.sig === (b.sig === undefined ? undefined : toHex(b.sig))
  }), { numRuns: 3000 })
  t.equal(asPacked, 3000)
})

t.test('a changed, cut or lengthened GOSSIP frame decodes as the general way decodes it', async t => {
  const edited = fc.record({
    gossip: gossips.filter(g => g.content.byteLength <= 300),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.integer({ min: -3, max: 3 })
  })
  let refused = 0
  fc.assert(fc.property(edited, ({ gossip, edits, cut }) => {
    const bytes = Buffer.from(encodeFrame(frameOf(gossip)))
    for (const [at, value] of edits) bytes[at % bytes.length] = value
    const input = cut < 0 ? bytes.subarray(0, bytes.length + cut) : Buffer.concat([bytes, Buffer.alloc(cut, 0xc0)])
    const expected = general(input)
    if (expected === 'refused') refused++
    // Another frame type: not this path's business, only that it is not taken for a GOSSIP frame.
    if (expected === 'other') return typeof decoded(input) === 'string'
    return JSON.stringify(decoded(input)) === JSON.stringify(expected)
  }), { numRuns: 5000 })
  t.ok(refused > 500, `${refused} of the 5,000 refused: the edits reach the checks`)
})

t.test('what the encoder refuses it still refuses: the limits are checked before writing', async t => {
  const base = frameOf({ topic: 0, origin: 0, id: 'x', content: new Uint8Array(1), round: 0, sig: undefined })
  const bad: Array<Record<string, unknown>> = [
    { id: '' }, { id: 'x'.repeat(wireLimits.maxIdLength + 1) }, { round: wireLimits.maxRound + 1 }, { round: -1 }, { round: 1.5 },
    { sig: new Uint8Array(wireLimits.minSigBytes - 1) }, { sig: new Uint8Array(wireLimits.maxSigBytes + 1) }, { origin: 'zz' }
  ]
  for (const change of bad) {
    const frame = { ...base, message: { ...base.message, body: { ...base.message.body, ...change } } } as unknown as Frame
    t.throws(() => encodeFrame(frame), CodecError, JSON.stringify(change, (_, v: unknown) => v instanceof Uint8Array ? `${v.byteLength} bytes` : v))
  }
})
