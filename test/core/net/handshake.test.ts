import t, { type Test } from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import { SECRET, eventually, listeningTransport, nextLink, noisePeer, recordingLogger } from '../../fixtures/net.js'
import { helloProof } from '../../../src/core/net/handshake.js'
import { generateKeyPair, nodeIdOf, normalizeKeyPair } from '../../../src/core/net/identity.js'
import { PROTOCOL_VERSION } from '../../../src/core/net/frames.js'
import { frameBytes } from '../../../src/core/net/framing.js'
import { pack } from 'msgpackr'
import { Transport } from '../../../src/core/net/transport.js'

t.test('a correct hello from a hand-driven peer is accepted, and the transport proves itself in return', async t => {
  const a = await listeningTransport(t)
  const peer = await noisePeer(t, a.address!)
  const linked = nextLink(a)
  peer.send({ type: 'hello', version: PROTOCOL_VERSION, proof: helloProof(SECRET, peer.handshakeHash, peer.keyPair.publicKey), addr: '127.0.0.1:1', incarnation: new Uint8Array(8) })
  const link = await linked
  t.equal(link.peerId, nodeIdOf(peer.keyPair.publicKey), 'the node id is the hex of the Noise static key')
  t.equal(link.remoteAddr, '127.0.0.1:1')
  await eventually(() => peer.frames.length > 0, 'the transport sends its hello')
  const hello = peer.frames[0]!
  t.equal(hello.type, 'hello')
  if (hello.type !== 'hello') return
  t.equal(hello.version, PROTOCOL_VERSION)
  t.equal(hello.addr, a.address)
  t.same([...hello.proof], [...helloProof(SECRET, peer.handshakeHash, a.keyPair.publicKey)], 'proof = HMAC(secret, hash || own key)')
})

async function refused (t: Test, send: (peer: Awaited<ReturnType<typeof noisePeer>>) => void, reason: RegExp): Promise<void> {
  const { entries, logger } = recordingLogger()
  const a = await listeningTransport(t, { logger })
  const peer = await noisePeer(t, a.address!)
  send(peer)
  await peer.closed
  t.equal(a.links.size, 0, 'no link')
  const bye = peer.frames.find((f) => f.type === 'bye')
  t.match(bye?.type === 'bye' ? bye.reason : '', reason, 'the peer is told why in a bye')
  t.ok(entries.some((e) => e.level === 'warn' && reason.test(e.msg ?? '')), 'the reason is logged')
}

t.test('a hello with another protocol version is refused', async t => {
  await refused(t, (peer) => peer.send({ type: 'hello', version: PROTOCOL_VERSION + 1, proof: helloProof(SECRET, peer.handshakeHash, peer.keyPair.publicKey), addr: null, incarnation: new Uint8Array(8) }),
    new RegExp(`protocol version ${PROTOCOL_VERSION + 1} not supported`))
})

t.test('a hello of a node from before version 4 (no incarnation) is refused, naming both versions', async t => {
  await refused(t, (peer) => peer.sendRaw(frameBytes(pack([0, 3, helloProof(SECRET, peer.handshakeHash, peer.keyPair.publicKey), null]))),
    new RegExp(`protocol version 3 not supported \\(want ${PROTOCOL_VERSION}\\)`))
})

t.test('a proof made for another session is refused (no replay)', async t => {
  await refused(t, (peer) => peer.send({ type: 'hello', version: PROTOCOL_VERSION, proof: helloProof(SECRET, new Uint8Array(64), peer.keyPair.publicKey), addr: null, incarnation: new Uint8Array(8) }),
    /bad proof/)
})

t.test('a proof made over the listener\'s own key is refused (no reflection)', async t => {
  await refused(t, (peer) => {
    const listenerKey = peer.stream.remotePublicKey!
    peer.send({ type: 'hello', version: PROTOCOL_VERSION, proof: helloProof(SECRET, peer.handshakeHash, listenerKey), addr: null, incarnation: new Uint8Array(8) })
  }, /bad proof/)
})

t.test('a frame other than hello first is refused', async t => {
  await refused(t, (peer) => peer.send({ type: 'bye', reason: 'hi' }), /refused by peer: hi|expected hello/)
  await refused(t, (peer) => peer.send({ type: 'direct', topic: 'ab'.repeat(32), content: new Uint8Array(1) }), /expected hello, got direct/)
})

t.test('a hello frame announced over the size limit is refused before its body arrives', async t => {
  await refused(t, (peer) => peer.sendRaw(Buffer.from([0x7f, 0xff, 0xff, 0xff])), /bad hello: frame of \d+ bytes exceeds/)
})

t.test('a flood of bytes before hello is cut off', async t => {
  // A frame within the size limit that never completes: only the byte budget stops it.
  await refused(t, (peer) => {
    const header = Buffer.alloc(4)
    header.writeUInt32BE(200_000)
    peer.sendRaw(header)
    for (let i = 0; i < 5; i++) peer.sendRaw(Buffer.alloc(64 * 1024))
  }, /more than 262144 bytes before hello/)
})

t.test('sockets that announce a 16 MiB message before the Noise handshake are cut off without it being allocated', async t => {
  const a = await listeningTransport(t)
  const [host, port] = a.address!.split(':') as [string, string]
  const before = process.memoryUsage().arrayBuffers
  const sockets = await Promise.all(Array.from({ length: 20 }, async () => {
    const socket = net.connect(Number(port), host)
    socket.on('error', () => {})
    t.teardown(() => { socket.destroy() })
    await once(socket, 'connect')
    // The 24-bit length of a message of 16 MiB - 1, and its first byte.
    socket.write(Buffer.from([0xff, 0xff, 0xff, 0]))
    return socket
  }))
  await Promise.all(sockets.map(async (socket) => { if (!socket.closed) await once(socket, 'close') }))
  t.pass('the transport closed all 20')
  // secret-stream allocated each announced message on its first byte: 320 MiB here.
  const grown = process.memoryUsage().arrayBuffers - before
  t.ok(grown < 16 * 1024 * 1024, `buffer memory grew by ${(grown / 1024 / 1024).toFixed(1)} MiB, less than one such message`)
})

t.test('a peer that completes Noise but never says hello is closed at the handshake timeout', async t => {
  const { entries, logger } = recordingLogger()
  const a = await listeningTransport(t, { handshakeTimeout: 200, logger })
  const peer = await noisePeer(t, a.address!)
  await peer.closed
  t.ok(entries.some((e) => /timed out/.test(e.msg ?? '')))
})

t.test('a node:crypto Ed25519 key pair works as an identity', async t => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')
  const seed = Buffer.from(jwk.d!, 'base64url')
  const normalized = normalizeKeyPair({ publicKey: pub, secretKey: seed })
  t.equal(normalized.secretKey.byteLength, 64)
  const a = await listeningTransport(t, { keyPair: { publicKey: pub, secretKey: seed } })
  t.equal(a.nodeId, pub.toString('hex'))
  const b = await listeningTransport(t)
  const link = await b.dial(a.address!, a.nodeId)
  t.equal(link.peerId, a.nodeId, 'the peer authenticated that identity')
})

t.test('a key pair whose halves do not match is refused', async t => {
  const one = generateKeyPair()
  const two = generateKeyPair()
  t.throws(() => new Transport({ secret: 's', keyPair: { publicKey: one.publicKey, secretKey: two.secretKey } }), { code: 'ERR_GOSSIP_INVALID_OPTION' })
  t.throws(() => new Transport({ secret: '' }), { code: 'ERR_GOSSIP_INVALID_OPTION' })
})

t.test('dialling oneself is refused', async t => {
  const a = await listeningTransport(t)
  await t.rejects(a.dial(a.address!), { code: 'ERR_GOSSIP_HANDSHAKE' })
  await eventually(() => a.links.size === 0, 'no link to self')
})
