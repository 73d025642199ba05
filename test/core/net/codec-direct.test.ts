/**
 * Direct frames are read without msgpackr when they are in our encoder's shape; anything else
 * goes the general way. Either way a frame decodes to what the general decoder makes of it, or is
 * refused with a CodecError as it would be.
 */
import t from 'tap'
import fc from 'fast-check'
import { Packr, Unpackr } from 'msgpackr'
import { decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import { CodecError } from '../../../src/core/errors.js'
import { hex } from '../../fixtures/net.js'

const reference = new Unpackr({ useRecords: false, mapsAsObjects: true })

/** What the general way makes of `bytes`: the direct frame's topic and content, or 'refused'. */
function general (bytes: Uint8Array): { topic: string, content: string } | 'refused' | 'other' {
  let wire: unknown
  try {
    wire = reference.unpack(bytes)
  } catch {
    return 'refused'
  }
  if (!Array.isArray(wire) || wire[0] !== 3) return 'other'
  if (wire.length !== 3 || !(wire[1] instanceof Uint8Array) || wire[1].byteLength !== 32 || !(wire[2] instanceof Uint8Array)) return 'refused'
  return { topic: Buffer.from(wire[1]).toString('hex'), content: Buffer.from(wire[2]).toString('hex') }
}

function decoded (bytes: Uint8Array): { topic: string, content: string } | 'refused' | 'other' {
  try {
    const frame = decodeFrame(bytes)
    if (frame.type !== 'direct') return 'other'
    return { topic: frame.topic, content: Buffer.from(frame.content).toString('hex') }
  } catch (err) {
    if (err instanceof CodecError) return 'refused'
    throw err
  }
}

t.test('direct frames of every content length encoding round-trip, topic after topic', async t => {
  for (const size of [0, 1, 200, 255, 256, 65_535, 65_536, 70_000]) {
    for (const topic of [hex(1), hex(2), hex(1), '00'.repeat(32)]) {
      const content = Buffer.alloc(size, size % 251)
      const frame = decodeFrame(encodeFrame({ type: 'direct', topic, content }))
      t.ok(frame.type === 'direct' && frame.topic === topic && Buffer.from(frame.content).equals(content), `${size} bytes, topic ${topic.slice(0, 4)}`)
    }
  }
})

t.test('a changed, cut or lengthened direct frame decodes as the general way decodes it', async t => {
  const frames = fc.record({
    topic: fc.integer({ min: 0, max: 3 }),
    content: fc.uint8Array({ maxLength: 300 }),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
    cut: fc.integer({ min: -3, max: 3 })
  })
  fc.assert(fc.property(frames, ({ topic, content, edits, cut }) => {
    const bytes = Buffer.from(encodeFrame({ type: 'direct', topic: hex(topic), content }))
    for (const [at, value] of edits) bytes[at % bytes.length] = value
    const input = cut < 0 ? bytes.subarray(0, bytes.length + cut) : Buffer.concat([bytes, Buffer.alloc(cut, 0xc0)])
    const expected = general(input)
    // Not a direct frame at all: the other frame types are not this path's business, only that it
    // does not take such bytes for a direct frame.
    if (expected === 'other') t.ok(typeof decoded(input) === 'string')
    else t.same(decoded(input), expected)
  }), { numRuns: 3000 })
})

t.test('a direct frame is encoded byte for byte as msgpackr packs it', async t => {
  const packr = new Packr({ useRecords: false })
  for (const size of [0, 1, 255, 256, 65_535, 65_536, 70_000]) {
    const content = Buffer.alloc(size, 7)
    const expected = packr.pack([3, Buffer.from(hex(5), 'hex'), content])
    t.same(Buffer.from(encodeFrame({ type: 'direct', topic: hex(5), content })), Buffer.from(expected), `${size} bytes`)
  }
})
