import t from 'tap'
import { MessageType } from 'socket.io-adapter'
import type { ClusterMessage, ClusterResponse } from 'socket.io-adapter'
import { Packr } from 'msgpackr'
import { RESTORE_SESSION, RESTORE_SESSION_RESPONSE, decodeEnvelope, encodeFiller, encodeMessage, encodePing, encodePong, encodeResponse, isFromEmitter } from '../../src/adapter/envelope.js'
import type { EmitterMessage, RestoreRequest, RestoreResponse } from '../../src/adapter/envelope.js'
import { malformedEnvelopes } from '../fixtures/adapter-hostile.js'

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

t.test('responses, fillers, pings and pongs round-trip', async t => {
  const response: ClusterResponse = { uid: 'u', nsp: '/x', type: MessageType.SERVER_SIDE_EMIT_RESPONSE, data: { requestId: 'r', packet: [1] } }
  t.same(decodeEnvelope(encodeResponse(response)), { kind: 'response', response })
  t.same(decodeEnvelope(encodeFiller(3, 'u')), { kind: 'filler', seq: 3, uid: 'u' })
  t.same(decodeEnvelope(encodePing()), { kind: 'ping' })
  t.same(decodeEnvelope(encodePong('u')), { kind: 'pong', uid: 'u' })
})

t.test('every message and response a server sends is accepted', async t => {
  // Rooms named by numbers work in Socket.IO though its types say string.
  const opts = { rooms: ['r', 42 as unknown as string], except: ['x'], flags: { local: false, timeout: 1000, expectSingleResponse: true } }
  const messages: ClusterMessage[] = [
    { uid: 'u', nsp: '/', type: MessageType.INITIAL_HEARTBEAT },
    { uid: 'u', nsp: '/', type: MessageType.HEARTBEAT },
    { uid: 'u', nsp: '/', type: MessageType.ADAPTER_CLOSE },
    { uid: 'u', nsp: '/', type: MessageType.BROADCAST, data: { opts, packet: { type: 2, data: ['ev', 1, 'offset'], nsp: '/', id: 4 }, requestId: 'q' } },
    { uid: 'u', nsp: '/', type: MessageType.SOCKETS_JOIN, data: { opts, rooms: ['a', 'b'] } },
    { uid: 'u', nsp: '/', type: MessageType.SOCKETS_LEAVE, data: { opts, rooms: ['a'] } },
    { uid: 'u', nsp: '/', type: MessageType.DISCONNECT_SOCKETS, data: { opts, close: true } },
    { uid: 'u', nsp: '/', type: MessageType.FETCH_SOCKETS, data: { opts, requestId: 'q' } },
    { uid: 'u', nsp: '/', type: MessageType.SERVER_SIDE_EMIT, data: { packet: ['ev', { a: 1 }], requestId: 'q' } }
  ]
  for (const message of messages) t.same(decodeEnvelope(encodeMessage(1, message)), { kind: 'message', seq: 1, message }, `type ${message.type}`)
  const responses: ClusterResponse[] = [
    { uid: 'u', nsp: '/', type: MessageType.FETCH_SOCKETS_RESPONSE, data: { requestId: 'q', sockets: [{ id: 's', handshake: { auth: {} }, rooms: ['s', 'r'], data: { name: 'n' } }] } },
    { uid: 'u', nsp: '/', type: MessageType.BROADCAST_CLIENT_COUNT, data: { requestId: 'q', clientCount: 3 } },
    { uid: 'u', nsp: '/', type: MessageType.BROADCAST_ACK, data: { requestId: 'q', packet: 'answer' } }
  ]
  for (const response of responses) t.same(decodeEnvelope(encodeResponse(response)), { kind: 'response', response }, `type ${response.type}`)
})

t.test('an envelope a server would never send is malformed, whatever it claims', async t => {
  const bad = malformedEnvelopes('abcdef0123456789', 5)
  for (const [i, bytes] of bad.entries()) t.throws(() => decodeEnvelope(bytes), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, `template ${i}`)
  const packr = new Packr({ useRecords: false })
  t.throws(() => decodeEnvelope(packr.pack([1, 4, 'extra'])), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, 'a ping with a payload')
  t.throws(() => decodeEnvelope(packr.pack([1, 5, 7])), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, 'a pong without a uid')
  t.throws(() => decodeEnvelope(packr.pack([1, 1, 0, { uid: 'x'.repeat(65), nsp: '/', type: 2 }])), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, 'a uid too long')
  t.throws(() => decodeEnvelope(packr.pack([1, 1, 0, { uid: 'u', nsp: '/', type: 9, data: { packet: ['connection'] } }])), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, 'a reserved event')
  t.throws(() => decodeEnvelope(packr.pack([1, 1, 0, { uid: 'u', nsp: '/', type: 3, data: { packet: { type: 2, data: ['e'] }, opts: { rooms: [], except: [], flags: { timeout: 'soon' } } } }])), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, 'a flag of the wrong type')
})

t.test('an emitter says so, and may send only what asks for no answer', async t => {
  const opts = { rooms: ['r'], except: [], flags: { volatile: true } }
  const sent: EmitterMessage[] = [
    { uid: 'e', nsp: '/', type: MessageType.BROADCAST, data: { opts, packet: { type: 2, data: ['ev', 1], nsp: '/' } }, emitter: true },
    { uid: 'e', nsp: '/', type: MessageType.SOCKETS_JOIN, data: { opts, rooms: ['a'] }, emitter: true },
    { uid: 'e', nsp: '/', type: MessageType.SOCKETS_LEAVE, data: { opts, rooms: ['a'] }, emitter: true },
    { uid: 'e', nsp: '/', type: MessageType.DISCONNECT_SOCKETS, data: { opts, close: false }, emitter: true },
    { uid: 'e', nsp: '/', type: MessageType.SERVER_SIDE_EMIT, data: { packet: ['ev', 2] }, emitter: true },
    { uid: 'e', nsp: '/', type: MessageType.ADAPTER_CLOSE, emitter: true }
  ]
  for (const message of sent) {
    const decoded = decodeEnvelope(encodeMessage(1, message))
    t.same(decoded, { kind: 'message', seq: 1, message }, `type ${message.type}`)
    t.ok(decoded.kind === 'message' && isFromEmitter(decoded.message))
  }
  const refused: Array<[string, unknown]> = [
    ['a heartbeat', { uid: 'e', nsp: '/', type: MessageType.HEARTBEAT, emitter: true }],
    ['an announcement', { uid: 'e', nsp: '/', type: MessageType.INITIAL_HEARTBEAT, emitter: true }],
    ['fetchSockets', { uid: 'e', nsp: '/', type: MessageType.FETCH_SOCKETS, data: { opts, requestId: 'q' }, emitter: true }],
    ['a broadcast with acks', { uid: 'e', nsp: '/', type: MessageType.BROADCAST, data: { opts, packet: { type: 2, data: ['ev'] }, requestId: 'q' }, emitter: true }],
    ['a server-side emit with acks', { uid: 'e', nsp: '/', type: MessageType.SERVER_SIDE_EMIT, data: { packet: ['ev'], requestId: 'q' }, emitter: true }],
    ['a flag that is not true', { uid: 'e', nsp: '/', type: MessageType.ADAPTER_CLOSE, emitter: 1 }]
  ]
  for (const [what, message] of refused) {
    t.throws(() => decodeEnvelope(encodeMessage(1, message as ClusterMessage)), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, what)
  }
  t.notOk(isFromEmitter({ uid: 'u', nsp: '/', type: MessageType.HEARTBEAT }), 'a server\'s message carries no flag')
})

t.test('decoded Buffers do not alias the received bytes', async t => {
  const message: ClusterMessage = { uid: 'u', nsp: '/', type: MessageType.SERVER_SIDE_EMIT, data: { packet: ['ev', Buffer.from('abcdefgh')] } }
  const bytes = encodeMessage(0, message)
  const decoded = decodeEnvelope(bytes)
  bytes.fill(0)
  if (decoded.kind !== 'message') return t.fail('not a message')
  t.equal(((decoded.message as { data: { packet: Buffer[] } }).data.packet[1]!).toString(), 'abcdefgh')
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

t.test('connection state recovery: a request and both answers round-trip; malformed ones are refused', async t => {
  const request: RestoreRequest = { uid: 'u', nsp: '/', type: RESTORE_SESSION, data: { requestId: 'r', pid: 'p'.repeat(20), offset: 'u-3', frontier: [['u', 4], ['v', 0]] } }
  t.same(decodeEnvelope(encodeMessage(5, request)), { kind: 'message', seq: 5, message: request })
  const notHere: RestoreResponse = { uid: 'v', nsp: '/', type: RESTORE_SESSION_RESPONSE, data: { requestId: 'r', found: false } }
  t.same(decodeEnvelope(encodeResponse(notHere)), { kind: 'response', response: notHere })
  const found: RestoreResponse = {
    uid: 'v',
    nsp: '/',
    type: RESTORE_SESSION_RESPONSE,
    data: {
      requestId: 'r',
      found: true,
      session: { sid: 's', pid: 'p', rooms: ['s', 'red', 7], data: { name: 'n', bin: Buffer.from([1]) } },
      packets: [['ev', 1, 'u-4'], ['ev', { deep: true }, 'v~0']],
      frontier: [['u', 5]]
    }
  }
  t.same(decodeEnvelope(encodeResponse(found)), { kind: 'response', response: found })

  const bad = (change: (copy: any) => void): Uint8Array => {
    const copy = structuredClone({ ...found, data: { ...found.data, session: { sid: 's', pid: 'p', rooms: ['s'], data: {} } } })
    change(copy)
    return encodeResponse(copy)
  }
  for (const [why, bytes] of [
    ['a request without a pid', encodeMessage(1, { ...request, data: { ...request.data, pid: '' } })],
    ['a request with a frontier that is not [uid, seq] pairs', encodeMessage(1, { ...request, data: { ...request.data, frontier: [['u', -1]] } })],
    ['an answer whose packet is not an event', bad(copy => { copy.data.packets = [[1, 'u-4']] })],
    ['an answer whose packet is a reserved event', bad(copy => { copy.data.packets = [['connect', 'u-4']] })],
    ['an answer whose packet has no offset last', bad(copy => { copy.data.packets = [['ev', 1]] })],
    ['an answer whose session has no rooms list', bad(copy => { copy.data.session.rooms = 'red' })],
    ['an answer without a frontier', bad(copy => { delete copy.data.frontier })]
  ] as const) {
    t.throws(() => decodeEnvelope(bytes), { code: 'ERR_GOSSIP_INVALID_MESSAGE' }, why)
  }
})
