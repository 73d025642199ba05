import t from 'tap'
import { MessageType } from 'socket.io-adapter'
import type { ClusterMessage, ClusterResponse } from 'socket.io-adapter'
import { Packr } from 'msgpackr'
import { decodeEnvelope, encodeFiller, encodeMessage, encodeResponse } from '../../src/adapter/envelope.js'

t.test('a broadcast with binary, dates and undefined round-trips intact', async t => {
  const message: ClusterMessage = {
    uid: 'abc',
    nsp: '/',
    type: MessageType.BROADCAST,
    data: {
      opts: { rooms: ['r', '42'], except: [], flags: { volatile: true, compress: false, timeout: 100 } },
      packet: { type: 2, nsp: '/', data: ['ev', Buffer.from([1, 2, 3]), { at: new Date(5), n: undefined, deep: [Buffer.from('x')] }] }
    }
  }
  const decoded = decodeEnvelope(encodeMessage(17, message))
  t.equal(decoded.kind, 'message')
  if (decoded.kind !== 'message') return
  t.equal(decoded.seq, 17)
  const packet = (decoded.message as { data: { packet: { data: unknown[] } } }).data.packet
  t.ok(Buffer.isBuffer(packet.data[1]), 'a Buffer stays a Buffer')
  t.same(decoded.message, message)
})

t.test('responses and fillers round-trip', async t => {
  const response: ClusterResponse = { uid: 'u', nsp: '/x', type: MessageType.SERVER_SIDE_EMIT_RESPONSE, data: { requestId: 'r', packet: [1] } }
  t.same(decodeEnvelope(encodeResponse(response)), { kind: 'response', response })
  t.same(decodeEnvelope(encodeFiller(3, 'u')), { kind: 'filler', seq: 3, uid: 'u' })
})

t.test('decoded Buffers do not alias the received bytes', async t => {
  const message: ClusterMessage = { uid: 'u', nsp: '/', type: MessageType.SERVER_SIDE_EMIT, data: { packet: [Buffer.from('abcdefgh')] } }
  const bytes = encodeMessage(0, message)
  const decoded = decodeEnvelope(bytes)
  bytes.fill(0)
  if (decoded.kind !== 'message') return t.fail('not a message')
  t.equal(((decoded.message as { data: { packet: Buffer[] } }).data.packet[0]!).toString(), 'abcdefgh')
})

t.test('anything that is not a well-formed envelope is rejected with ERR_GOSSIP_INVALID_MESSAGE', async t => {
  const packr = new Packr({ useRecords: false })
  const bad = [
    Buffer.from([0xc1]),
    packr.pack('hello'),
    packr.pack([2, 1, 0, { uid: 'u', nsp: '/', type: 3 }]),
    packr.pack([1, 9, 0]),
    packr.pack([1, 1, -1, { uid: 'u', nsp: '/', type: 3 }]),
    packr.pack([1, 1, 0, { uid: 5, nsp: '/', type: 3 }]),
    packr.pack([1, 2, 0, 7]),
    packr.pack([1, 3, null])
  ]
  for (const bytes of bad) t.throws(() => decodeEnvelope(bytes), { code: 'ERR_GOSSIP_INVALID_MESSAGE' })
})
