import t, { type Test } from 'tap'
import fc from 'fast-check'
import { codecLimits, decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import { CodecError } from '../../../src/core/errors.js'
import { pack } from 'msgpackr'
import type { Frame } from '../../../src/core/net/frames.js'
import { hex, sampleFrames } from '../../fixtures/net.js'

/** Decoded byte fields are Buffers viewing the input; compare them as plain bytes. */
function plain (value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value)
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  }
  return value
}

function throwsCodecError (t: Test, fn: () => unknown, what: string): void {
  try {
    fn()
    t.fail(`${what}: decoded without error`)
  } catch (err) {
    t.ok(err instanceof CodecError, `${what}: ${(err as Error).message}`)
  }
}

t.test('every frame variant survives an encode/decode round trip unchanged', async t => {
  for (const frame of sampleFrames) {
    const decoded = decodeFrame(encodeFrame(frame))
    t.same(plain(decoded), plain(frame), frame.type === 'proto' ? `proto ${frame.message.body.type}` : frame.type)
    t.same(Object.keys(decoded).sort(), Object.keys(frame).sort(), 'no extra or missing keys')
  }
})

t.test('an absent optional field decodes as absent, not as undefined or null', async t => {
  const frame = decodeFrame(encodeFrame({ type: 'proto', message: { topic: hex(1), body: { type: 'join' } } }))
  t.ok(frame.type === 'proto' && !('data' in frame.message.body))
})

t.test('payload bytes are decoded as a view of the input, not a copy', async t => {
  const bytes = encodeFrame({ type: 'direct', topic: hex(3), content: new Uint8Array(1000).fill(9) })
  const frame = decodeFrame(bytes)
  t.ok(frame.type === 'direct' && frame.content.buffer === bytes.buffer)
})

t.test('the array layout keeps a small gossip frame compact', async t => {
  const bytes = encodeFrame({ type: 'proto', message: { topic: hex(1), body: { type: 'gossip', id: 'abc:1', origin: hex(2), content: new Uint8Array(100), round: 3 } } })
  // 1 array + 1 type + 34 topic + 1 kind + 6 id + 34 origin + 102 content + 1 round + 1 nil signature
  t.equal(bytes.byteLength, 181)
  const signed = encodeFrame({ type: 'proto', message: { topic: hex(1), body: { type: 'gossip', id: 'abc:1', origin: hex(2), content: new Uint8Array(100), round: 3, sig: new Uint8Array(64) } } })
  t.equal(signed.byteLength, 180 + 66, 'a signature adds 66 bytes (bin8 header + 64)')
})

t.test('encoding refuses frames that break the limits with a CodecError', async t => {
  const bad: Array<[string, Frame]> = [
    ['uppercase topic', { type: 'direct', topic: hex(0xab).toUpperCase(), content: new Uint8Array() }],
    ['short node id', { type: 'proto', message: { topic: hex(1), body: { type: 'gossip', id: 'x', origin: 'ab', content: new Uint8Array(), round: 0 } } }],
    ['negative round', { type: 'proto', message: { topic: hex(1), body: { type: 'graft', round: -1 } } }],
    ['fractional ttl', { type: 'proto', message: { topic: hex(1), body: { type: 'forwardJoin', peer: { id: hex(2) }, ttl: 1.5 } } }],
    ['ttl too large', { type: 'proto', message: { topic: hex(1), body: { type: 'forwardJoin', peer: { id: hex(2) }, ttl: codecLimits.maxTtl + 1 } } }],
    ['empty id', { type: 'proto', message: { topic: hex(1), body: { type: 'graft', id: '', round: 0 } } }],
    ['id too long', { type: 'proto', message: { topic: hex(1), body: { type: 'ihave', entries: [{ id: 'x'.repeat(codecLimits.maxIdLength + 1), round: 0 }] } } }],
    ['proof of 31 bytes', { type: 'hello', version: 1, proof: new Uint8Array(31), addr: null }],
    ['unknown priority', { type: 'proto', message: { topic: hex(1), body: { type: 'neighbor', priority: 'urgent' as 'high' } } }],
    ['unknown frame type', { type: 'nope' } as unknown as Frame]
  ]
  for (const [what, frame] of bad) throwsCodecError(t, () => encodeFrame(frame), what)
})

t.test('decoding refuses well-formed MessagePack with wrong fields with a CodecError', async t => {
  const topic = Buffer.from(hex(1), 'hex')
  const cases: Array<[string, unknown]> = [
    ['not an array', { type: 'bye', reason: 'x' }],
    ['empty array', []],
    ['unknown frame type', [9, 'x']],
    ['frame type as string', ['bye', 'x']],
    ['bye reason as number', [4, 42]],
    ['extra field', [4, 'x', 'y']],
    ['missing field', [3, topic]],
    ['topic of 31 bytes', [3, topic.subarray(1), new Uint8Array()]],
    ['topic as hex string', [3, hex(1), new Uint8Array()]],
    ['content as string', [3, topic, 'content']],
    ['unknown message type', [1, topic, 42]],
    ['round as float', [1, topic, 9, null, 1.5]],
    ['round as bigint', [1, topic, 9, null, 2n ** 63n]],
    ['round out of range', [1, topic, 9, null, codecLimits.maxRound + 1]],
    ['accepted as number', [1, topic, 3, 1]],
    ['odd peer list', [1, topic, 5, [topic]]],
    ['ihave entries not flat', [1, topic, 8, [['x', 1]]]],
    ['hello proof too long', [0, 1, new Uint8Array(33), null]],
    ['hello version negative', [0, -1, new Uint8Array(32), null]],
    ['peer data too large', [1, topic, 0, new Uint8Array(codecLimits.maxPeerDataBytes + 1)]],
    ['discovery node as object', [2, [], [{ id: topic }]]],
    ['too many topics', [2, new Array(codecLimits.maxTopics + 1).fill(topic), []]]
  ]
  for (const [what, value] of cases) throwsCodecError(t, () => decodeFrame(pack(value)), what)
  throwsCodecError(t, () => decodeFrame(new Uint8Array()), 'empty input')
  throwsCodecError(t, () => decodeFrame(Buffer.concat([encodeFrame({ type: 'bye', reason: 'x' }), Buffer.from([0])])), 'trailing bytes')
  throwsCodecError(t, () => decodeFrame(encodeFrame({ type: 'bye', reason: 'xyz' }).subarray(0, 3)), 'truncated')
})

function decodesOrThrowsCodecError (bytes: Uint8Array): boolean {
  try {
    decodeFrame(bytes)
    return true
  } catch (err) {
    return err instanceof CodecError
  }
}

t.test('random bytes decode to a frame or throw a CodecError, never anything else', async t => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), decodesOrThrowsCodecError), { numRuns: 5000 })
  // Random bytes behind a valid array header reach deeper into msgpackr.
  fc.assert(fc.property(fc.integer({ min: 0x91, max: 0x9f }), fc.uint8Array({ maxLength: 512 }),
    (head, rest) => decodesOrThrowsCodecError(Buffer.concat([Buffer.from([head]), rest]))), { numRuns: 5000 })
  t.pass('no other error escaped')
})

t.test('random mutations of valid frames decode to a frame or throw a CodecError', async t => {
  const encoded = sampleFrames.map((frame) => Buffer.from(encodeFrame(frame)))
  const mutation = fc.record({
    index: fc.nat({ max: encoded.length - 1 }),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 8 }),
    cut: fc.option(fc.nat())
  })
  fc.assert(fc.property(mutation, ({ index, edits, cut }) => {
    const bytes = [...encoded[index]!]
    for (const [position, value, kind] of edits) {
      const at = position % (bytes.length + 1)
      if (kind === 'set' && at < bytes.length) bytes[at] = value
      else if (kind === 'insert') bytes.splice(at, 0, value)
      else bytes.splice(at, 1)
    }
    const mutated = Buffer.from(cut === null ? bytes : bytes.slice(0, cut % (bytes.length + 1)))
    return decodesOrThrowsCodecError(mutated)
  }), { numRuns: 10_000 })
  t.pass('no other error escaped')
})

t.test('any valid gossip frame round-trips (property)', async t => {
  const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
  fc.assert(fc.property(hex64, hex64, fc.string({ minLength: 1, maxLength: codecLimits.maxIdLength }), fc.uint8Array({ maxLength: 2048 }), fc.nat({ max: codecLimits.maxRound }),
    (topic, origin, id, content, round) => {
      const frame: Frame = { type: 'proto', message: { topic, body: { type: 'gossip', id, origin, content, round } } }
      t.same(plain(decodeFrame(encodeFrame(frame))), plain(frame))
      return true
    }), { numRuns: 300 })
})
