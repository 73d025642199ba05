/**
 * Room routing on the wire: a routed message is encoded once and prefixed per receiver with what
 * that receiver was not sent (`skip`), and RouteChain decides that skip. A receiver trusts a skip
 * only as far as the envelope checks go: every number it names is before the message's own.
 */
import t from 'tap'
import { MessageType } from 'socket.io-adapter'
import type { ClusterMessage } from 'socket.io-adapter'
import { Packr } from 'msgpackr'
import { decodeEnvelope, encodeMessage, encodeRouted, encodeRoutedBody, nodePrefix } from '../../src/adapter/envelope.js'
import type { RouteSkip } from '../../src/adapter/envelope.js'
import { RouteChain, skippedUpTo } from '../../src/adapter/route-chain.js'

const packr = new Packr({ useRecords: false })
const NODE_A = 'a'.repeat(64)
const NODE_B = 'b'.repeat(64)
const NODE_C = 'c'.repeat(64)

const broadcast: ClusterMessage = {
  uid: 'server-1',
  nsp: '/',
  type: MessageType.BROADCAST,
  data: { opts: { rooms: ['room'], except: [], flags: {} }, packet: { type: 2, nsp: '/', data: ['ev', Buffer.from([1, 2])] } }
}

t.test('a direct header is written by hand byte for byte as MessagePack would pack it', async t => {
  const body = encodeRoutedBody(broadcast)
  const numbers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40]
  for (const seq of numbers) {
    for (const skip of [-1, 0, Math.max(0, seq - 1), 127, 128]) {
      if (skip >= seq && seq > 0) continue
      const header = packr.pack([1, 6, seq, skip])
      const expected = Buffer.concat([header, body])
      expected[0] = 0x95
      t.same(Buffer.from(encodeRouted(seq, skip, body)), expected, `seq ${seq}, skip ${skip}`)
    }
  }
  t.same(decodeEnvelope(encodeRouted(2 ** 32, 2 ** 32 - 1, body)), { kind: 'message', seq: 2 ** 32, message: broadcast, skip: 2 ** 32 - 1 }, 'past 32 bits through the packer')
})

t.test('one body, a header per receiver: each decodes to the message with its own skip', async t => {
  const body = encodeRoutedBody(broadcast)
  const direct = decodeEnvelope(encodeRouted(9, 4, body))
  const overlay = decodeEnvelope(encodeRouted(9, [2, [[nodePrefix(NODE_A), 7]]], body))
  t.same(direct, { kind: 'message', seq: 9, message: broadcast, skip: 4 })
  t.same(overlay, { kind: 'message', seq: 9, message: broadcast, skip: [2, [[nodePrefix(NODE_A), 7]]] })
  const plain = decodeEnvelope(encodeMessage(9, broadcast))
  t.same(plain, { kind: 'message', seq: 9, message: broadcast }, 'an unrouted message carries no skip')
  t.same(decodeEnvelope(encodeRouted(0, -1, body)), { kind: 'message', seq: 0, message: broadcast, skip: -1 }, '-1: nothing was sent before')
})

t.test('a skip that names a number at or after the message\'s own, or a malformed one, is refused', async t => {
  const prefix = nodePrefix(NODE_A)
  const bad: Array<[string, unknown]> = [
    ['the message\'s own number', 9],
    ['a later number', 10],
    ['below -1', -2],
    ['not an integer', 3.5],
    ['a string', '3'],
    ['an overlay base at the message\'s number', [9, []]],
    ['a node entry at the message\'s number', [2, [[prefix, 9]]]],
    ['a node named by a prefix of the wrong length', [2, [['abc', 1]]]],
    ['a node entry of three fields', [2, [[prefix, 1, 1]]]],
    ['an overlay skip of three fields', [2, [], 1]],
    ['more nodes than a frontier may list', [2, Array.from({ length: 4_097 }, (_, i) => [i.toString(16).padStart(16, '0'), 1])]]
  ]
  // A real routed frame, unpacked, with its skip replaced: only the skip differs from a good one.
  const frame = packr.unpack(encodeRouted(9, 8, encodeRoutedBody(broadcast))) as unknown[]
  const withSkip = (skip: unknown): Uint8Array => packr.pack([...frame.slice(0, 3), skip, ...frame.slice(4)])
  t.same(decodeEnvelope(withSkip(8)).kind, 'message', 'the frame as sent is accepted')
  for (const [why, skip] of bad) t.throws(() => decodeEnvelope(withSkip(skip)), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, why)
})

t.test('skippedUpTo: a direct skip is the receiver\'s; an overlay skip names the receiver or falls back on its base', async t => {
  const skip: RouteSkip = [3, [[nodePrefix(NODE_A), 6], [nodePrefix(NODE_B), 5]]]
  t.equal(skippedUpTo(4, NODE_C), 4)
  t.equal(skippedUpTo(skip, NODE_A), 6)
  t.equal(skippedUpTo(skip, NODE_B), 5)
  t.equal(skippedUpTo(skip, NODE_C), 3, 'a node not named was sent nothing since the base')
})

t.test('RouteChain: what each node is told it was not sent follows what it was sent', async t => {
  const chain = new RouteChain()
  t.equal(chain.direct(0, NODE_A, 0), -1, 'the first message to a node: nothing before it')
  t.equal(chain.direct(1, NODE_B, 0), -1)
  t.equal(chain.direct(2, NODE_A, 0), 0, 'A was sent 0, not 1')
  const skip = chain.overlay(3, 10)
  t.same(skip, [-1, [[nodePrefix(NODE_A), 2], [nodePrefix(NODE_B), 1]]], 'every node gets an overlay message: each is told its own last number')
  t.equal(skippedUpTo(skip, NODE_A), 2)
  t.equal(skippedUpTo(skip, NODE_C), -1, 'C was sent nothing before')
  t.equal(chain.direct(4, NODE_C, 20), 3, 'after an overlay message every node was last sent its number')
  t.equal(chain.lastTo(NODE_A), 3)
  t.same(chain.overlay(5, 30), [3, [[nodePrefix(NODE_C), 4]]])
})

t.test('RouteChain: nodes sent nothing for a while are found, so they still hear from the server', async t => {
  const chain = new RouteChain()
  chain.direct(0, NODE_A, 1_000)
  chain.direct(1, NODE_B, 5_000)
  t.same(chain.silentSince([NODE_A, NODE_B, NODE_C], 2_000), [NODE_A, NODE_C])
  chain.overlay(2, 6_000)
  t.same(chain.silentSince([NODE_A, NODE_B, NODE_C], 2_000), [], 'an overlay message reached everyone')
  chain.forget(NODE_B)
  t.equal(chain.lastTo(NODE_B), 2, 'a forgotten node is told the base if it comes back')
})
