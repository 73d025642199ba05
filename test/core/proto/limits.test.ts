/**
 * The cost constants are upper bounds of what the codec writes, so a state machine that sums them
 * stays within its byte budget without encoding anything.
 */
import t from 'tap'
import fc from 'fast-check'
import { encodeFrame } from '../../../src/core/net/codec.js'
import {
  MESSAGE_OVERHEAD, MIN_FRAME_BYTES, PEER_INFO_COST, ihaveEntryCost, peersWithin, saturatingRound, utf8Bytes, wireLimits
} from '../../../src/core/proto/limits.js'
import type { IHaveEntry, PeerInfo, TopicMessage } from '../../../src/core/proto/types.js'

const TOPIC = 'ab'.repeat(32)
const NODE = '01'.repeat(32)
const size = (body: TopicMessage<string>): number => encodeFrame({ type: 'proto', message: { topic: TOPIC, body } }).byteLength
const fullPeer: PeerInfo<string> = { id: NODE, data: new Uint8Array(wireLimits.maxPeerDataBytes) }
const id = fc.oneof(
  fc.string({ minLength: 1, maxLength: wireLimits.maxIdLength }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: wireLimits.maxIdLength / 2 }),
  // Lone surrogates: the decoder takes them, encoders write 3 bytes each.
  fc.constantFrom('\ud800'.repeat(wireLimits.maxIdLength), '\udc00x\ud800')
)

t.test('utf8Bytes is the length the encoder writes, for any string', async t => {
  fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.integer({ min: 0xd7f0, max: 0xe010 }).map(c => String.fromCharCode(c)) })),
    s => utf8Bytes(s) === Buffer.byteLength(s)), { numRuns: 2000 })
  t.pass()
})

t.test('an IHAVE of any ids and rounds encodes within MESSAGE_OVERHEAD plus the cost of its entries', async t => {
  fc.assert(fc.property(fc.array(fc.record({ id, round: fc.nat({ max: wireLimits.maxRound }) }), { maxLength: 300, size: 'max' }), (entries: IHaveEntry[]) => {
    const bound = MESSAGE_OVERHEAD + entries.reduce((sum, e) => sum + ihaveEntryCost(e.id), 0)
    return size({ type: 'ihave', entries }) <= bound
  }), { numRuns: 300 })
  t.pass()
})

t.test('every PeerInfo list message encodes within MESSAGE_OVERHEAD plus PEER_INFO_COST a peer, origin included', async t => {
  for (let n = 0; n <= wireLimits.maxPeers; n += 16) {
    const nodes = new Array<PeerInfo<string>>(n).fill(fullPeer)
    const bound = MESSAGE_OVERHEAD + (n + 1) * PEER_INFO_COST
    t.ok(size({ type: 'shuffle', origin: fullPeer, nodes, ttl: wireLimits.maxTtl }) <= bound, `shuffle of ${n}`)
    t.ok(size({ type: 'shuffleReply', nodes }) <= bound, `shuffleReply of ${n}`)
    t.ok(size({ type: 'disconnect', alive: true, sample: nodes }) <= bound, `disconnect of ${n}`)
  }
})

t.test('the smallest budget carries every single-item message', async t => {
  t.ok(peersWithin(MIN_FRAME_BYTES) >= 1, 'a SHUFFLE of one node')
  t.ok(MESSAGE_OVERHEAD + ihaveEntryCost('\u20ac'.repeat(wireLimits.maxIdLength)) <= MIN_FRAME_BYTES, 'an IHAVE of the widest id')
  t.ok(size({ type: 'forwardJoin', peer: fullPeer, ttl: wireLimits.maxTtl }) <= MIN_FRAME_BYTES, 'a FORWARD_JOIN')
  t.equal(peersWithin(1 << 30), wireLimits.maxPeers, 'and no budget makes a list longer than the decoder takes')
})

t.test('rounds saturate at the largest the wire carries', async t => {
  t.same([0, 7, wireLimits.maxRound - 1, wireLimits.maxRound, wireLimits.maxRound + 1].map(saturatingRound), [0, 7, wireLimits.maxRound - 1, wireLimits.maxRound, wireLimits.maxRound])
})
