import t, { type Test } from 'tap'
import fc from 'fast-check'
import { codecLimits, decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import { CodecError } from '../../../src/core/errors.js'
import { Unpackr, pack } from 'msgpackr'
import type { Frame } from '../../../src/core/net/frames.js'
import { hex, sampleFrames } from '../../fixtures/net.js'
import { topicKey, type TopicKey } from '../../../src/core/discovery/topic-key.js'

/** Decoded byte fields are Buffers viewing the input; compare them as plain bytes. */
function plain (value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value)
  if (Array.isArray(value)) return value.map(plain)
  // Decoded IHAVE entries may be a list read by position (IHaveList): compare its entries.
  if (value !== null && typeof value === 'object' && Symbol.iterator in value) return Array.from(value as Iterable<unknown>, plain)
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

t.test('discovery topic keys travel as 8 bytes each, packed in one bin, and decode to the same keys', async t => {
  const keys = Array.from({ length: 100 }, (_, i) => topicKey(hex(i)))
  const frame: Frame = { type: 'discovery', message: { type: 'query', topics: keys } }
  const bytes = encodeFrame(frame)
  t.same(decodeFrame(bytes), frame)
  t.equal(bytes.byteLength, 3 + 3 + 8 * 100, 'array header, two codes, bin16 header, 800 bytes of keys')
  const empty: Frame = { type: 'discovery', message: { type: 'topics', reset: true, base: 0, version: 0, joined: [], left: [] } }
  t.same(decodeFrame(encodeFrame(empty)), empty, 'an empty list too')
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
    ['pull without an id', { type: 'proto', message: { topic: hex(1), body: { type: 'graft', round: 0, pull: true } } }],
    ['id too long', { type: 'proto', message: { topic: hex(1), body: { type: 'ihave', entries: [{ id: 'x'.repeat(codecLimits.maxIdLength + 1), round: 0 }] } } }],
    ['hello without an incarnation', { type: 'hello', version: 4, proof: new Uint8Array(32), addr: null, incarnation: null }],
    ['proof of 31 bytes', { type: 'hello', version: 1, proof: new Uint8Array(31), addr: null, incarnation: new Uint8Array(8) }],
    ['unknown priority', { type: 'proto', message: { topic: hex(1), body: { type: 'neighbor', priority: 'urgent' as 'high' } } }],
    ['unknown frame type', { type: 'nope' } as unknown as Frame],
    ['a topic id where discovery wants a key', { type: 'discovery', message: { type: 'query', topics: [hex(1) as TopicKey] } }],
    ['a topic key in capitals', { type: 'discovery', message: { type: 'query', topics: ['ABCDEF0123456789' as TopicKey] } }],
    ['more topic keys than a message carries', { type: 'discovery', message: { type: 'query', topics: new Array<TopicKey>(codecLimits.maxTopics + 1).fill(topicKey(hex(1))) } }]
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
    ['hello incarnation of 7 bytes', [0, 4, new Uint8Array(32), null, new Uint8Array(7)]],
    ['hello incarnation as a string', [0, 4, new Uint8Array(32), null, 'ab'.repeat(4)]],
    ['peer data too large', [1, topic, 0, new Uint8Array(codecLimits.maxPeerDataBytes + 1)]],
    ['discovery node as object', [2, [], [{ id: topic }]]],
    ['too many topics', [2, new Array(codecLimits.maxTopics + 1).fill(topic), []]],
    // Discovery names topics by 8-byte keys packed in one bin ([2, 3, keys] is a query).
    ['topic keys as a list of ids', [2, 3, [topic]]],
    ['topic keys not a whole number of keys', [2, 3, new Uint8Array(12)]],
    ['more topic keys than a message carries', [2, 3, new Uint8Array(8 * (codecLimits.maxTopics + 1))]],
    ['topic keys as a hex string', [2, 3, 'ab'.repeat(8)]]
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

// IHAVE frames in the shape our encoder writes are read without msgpackr (ids made on demand);
// whatever is read that way must be exactly what the general decoding accepts, and gives.
const Reference = new Unpackr({ useRecords: false, mapsAsObjects: true })

/** The entries the general decoding gives for an IHAVE frame, or 'refused' (msgpackr and the limits, as readIHaves). */
function referenceIHave (bytes: Uint8Array): Array<{ id: string, round: number }> | 'refused' | 'other' {
  let wire: unknown
  try { wire = Reference.unpack(bytes) } catch { return 'refused' }
  if (!Array.isArray(wire) || wire[0] !== 1 || wire[2] !== 8) return 'other'
  if (wire.length !== 4 || !(wire[1] instanceof Uint8Array) || wire[1].byteLength !== 32) return 'refused'
  const flat: unknown = wire[3]
  if (!Array.isArray(flat) || flat.length % 2 !== 0 || flat.length > codecLimits.maxIHaveEntries * 2) return 'refused'
  const out: Array<{ id: string, round: number }> = []
  for (let i = 0; i < flat.length; i += 2) {
    const id: unknown = flat[i]
    const round: unknown = flat[i + 1]
    if (typeof id !== 'string' || id.length === 0 || id.length > codecLimits.maxIdLength) return 'refused'
    if (typeof round !== 'number' || !Number.isInteger(round) || round < 0 || round > codecLimits.maxRound) return 'refused'
    out.push({ id, round })
  }
  return out
}

/** How decodeFrame differs from the general decoding on these bytes, or undefined if it does not. */
function ihaveMismatch (bytes: Uint8Array): string | undefined {
  const expected = referenceIHave(bytes)
  if (expected === 'other') return undefined
  let decoded: Frame
  try {
    decoded = decodeFrame(bytes)
  } catch (err) {
    if (!(err instanceof CodecError)) return `threw ${String(err)}`
    return expected === 'refused' ? undefined : `refused (${err.message}), the general decoding accepts it`
  }
  if (expected === 'refused') return 'accepted, the general decoding refuses it'
  if (decoded.type !== 'proto' || decoded.message.body.type !== 'ihave') return 'not an IHAVE'
  const entries = decoded.message.body.entries
  const read = Array.from({ length: entries.length }, (_, i) => Array.isArray(entries) ? entries[i]! : { id: entries.id(i), round: entries.round(i) })
  if (JSON.stringify(read) !== JSON.stringify(expected)) return `entries ${JSON.stringify(read)}, expected ${JSON.stringify(expected)}`
  if (JSON.stringify([...entries]) !== JSON.stringify(expected)) return `iterated ${JSON.stringify([...entries])}, expected ${JSON.stringify(expected)}`
  return undefined
}

const ihaveBytes = (...parts: Array<number | string | Uint8Array | number[]>): Buffer => Buffer.concat(parts.map(p =>
  typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))
const topicBin = [0xc4, 32, ...Buffer.from(hex(7), 'hex')]

t.test('an IHAVE decodes to the entries the general decoding gives, however its values are encoded', async t => {
  // [1, topic, 8, [id, round, ...]] by hand: 0x94 array of 4, fixint 1, bin8 topic, fixint 8;
  // `items` are the list's values, each as its MessagePack bytes.
  const frame = (items: number[][], header?: number[]): Buffer =>
    ihaveBytes(0x94, 1, topicBin, 8, header ?? [0x90 | items.length], items.flat())
  const str = (s: string): number[] => {
    const b = Buffer.from(s, 'utf8')
    return b.length < 32 ? [0xa0 | b.length, ...b] : b.length < 256 ? [0xd9, b.length, ...b] : [0xda, b.length >> 8, b.length & 0xff, ...b]
  }
  const cases: Array<[string, Buffer]> = [
    ['canonical', frame([str('ab.1'), [0], str('ab.2'), [0x7f]])],
    ['rounds as uint8 and uint16', frame([str('a'), [0xcc, 200], str('b'), [0xcd, 0xff, 0xff]])],
    ['round as uint32', frame([str('a'), [0xce, 0, 0, 0, 5]])],
    ['round as uint64', frame([str('a'), [0xcf, 0, 0, 0, 0, 0, 0, 0, 5]])],
    ['round as float', frame([str('a'), [0xcb, ...Buffer.from(new Float64Array([3]).buffer).reverse()]])],
    ['round above the limit as uint32', frame([str('a'), [0xce, 0, 1, 0, 0]])],
    ['negative round', frame([str('a'), [0xff]])],
    ['round nil', frame([str('a'), [0xc0]])],
    ['id as str16', frame([[0xda, 0, 3, ...Buffer.from('abc')], [1]])],
    ['id as str8 of 5 bytes', frame([[0xd9, 5, ...Buffer.from('abcde')], [1]])],
    ['id of 31 ASCII bytes', frame([str('i'.repeat(31)), [1]])],
    ['id of 32 ASCII bytes', frame([str('i'.repeat(32)), [1]])],
    ['id of 128 ASCII bytes', frame([str('i'.repeat(128)), [1]])],
    ['id of 129 ASCII bytes', frame([str('i'.repeat(129)), [1]])],
    ['id of 2 non-ASCII characters', frame([str('éa'), [1]])],
    ['id of 128 non-ASCII characters', frame([str('é'.repeat(128)), [1]])],
    ['id of 129 non-ASCII characters', frame([str('é'.repeat(129)), [1]])],
    ['id with a byte that is not UTF-8', frame([[0xa2, 0x61, 0xff], [1]])],
    ['empty id', frame([[0xa0], [1]])],
    ['id as bin', frame([[0xc4, 1, 0x61], [1]])],
    ['odd list', frame([str('a')])],
    ['no entries', frame([])],
    ['entries as array16', frame([str('a'), [1], str('b'), [2]], [0xdc, 0, 4])],
    ['entries as array32', frame([str('a'), [1]], [0xdd, 0, 0, 0, 2])],
    ['entries claiming more than there are', frame([str('a'), [1]], [0x94])],
    ['entries claiming fewer than there are', frame([str('a'), [1], str('b'), [2]], [0x92])],
    ['trailing byte', Buffer.concat([frame([str('a'), [1]]), Buffer.from([0])])],
    ['topic as bin16', ihaveBytes(0x94, 1, [0xc5, 0, 32], Buffer.from(hex(7), 'hex'), 8, 0x92, str('a'), 1)],
    ['code 1 as uint8', ihaveBytes(0x94, 0xcc, 1, topicBin, 8, 0x92, str('a'), 1)]
  ]
  const whole = frame([str('ab.1'), [0xcd, 1, 0], str('x'), [3]])
  for (let cut = 0; cut < whole.length; cut++) cases.push([`cut at ${cut}`, whole.subarray(0, cut)])
  const decodedCases = cases.filter(([, bytes]) => Array.isArray(referenceIHave(bytes))).map(([what]) => what)
  t.same(decodedCases, ['canonical', 'rounds as uint8 and uint16', 'round as uint32', 'round as float', 'id as str16', 'id as str8 of 5 bytes',
    'id of 31 ASCII bytes', 'id of 32 ASCII bytes', 'id of 128 ASCII bytes', 'id of 2 non-ASCII characters', 'id of 128 non-ASCII characters', 'id with a byte that is not UTF-8',
    'no entries', 'entries as array16', 'entries as array32', 'topic as bin16', 'code 1 as uint8'], 'the cases the general decoding accepts')
  const canonical = decodeFrame(cases[0]![1])
  t.ok(canonical.type === 'proto' && canonical.message.body.type === 'ihave' && !Array.isArray(canonical.message.body.entries), 'our own encoding is read by position, without an object per entry')
  for (const [what, bytes] of cases) t.equal(ihaveMismatch(bytes), undefined, `${what}: ${referenceIHave(bytes) === 'refused' ? 'refused' : 'decoded'} as the general decoding does`)
})

t.test('random IHAVE frames and mutations of them decode as the general decoding does', async t => {
  const id = fc.oneof(fc.string({ minLength: 0, maxLength: 130 }), fc.string({ unit: 'binary', minLength: 0, maxLength: 130 }), fc.stringMatching(/^[0-9a-f]{32}\.[0-9a-f]{1,8}$/))
  const entries = fc.array(fc.tuple(id, fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: codecLimits.maxRound + 2 }))), { maxLength: 40, size: 'max' })
  const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { maxLength: 3 })
  let runs = 0
  fc.assert(fc.property(entries, edits, (list, changes) => {
    const bytes = [...pack([1, Buffer.from(hex(7), 'hex'), 8, list.flat()])]
    for (const [position, value, kind] of changes) {
      const at = position % (bytes.length + 1)
      if (kind === 'set' && at < bytes.length) bytes[at] = value
      else if (kind === 'insert') bytes.splice(at, 0, value)
      else bytes.splice(at, 1)
    }
    runs++
    const mismatch = ihaveMismatch(Buffer.from(bytes))
    if (mismatch !== undefined) throw new Error(mismatch)
  }), { numRuns: 3000 })
  t.pass(`${runs} frames`)
})
