import t, { type Test } from 'tap'
import { pack } from 'msgpackr'
import { closed, gossipFrame, listeningTransport, nextFrame, nextLink, recordingLogger } from '../../fixtures/net.js'
import { encodeFrame } from '../../../src/core/net/codec.js'
import { frameBytes } from '../../../src/core/net/framing.js'
import type { Link } from '../../../src/core/net/link.js'
import type { Transport, TransportOptions } from '../../../src/core/net/transport.js'

const MAX_FRAME = 64 * 1024

interface Scene {
  victim: Transport
  /** The victim's end of the attacker's link. */
  attacked: Link
  /** The attacker's end: authenticated, so it can push any bytes through the encrypted channel. */
  attacker: Link
  /** A well-behaved peer of the victim, linked before and after. */
  friend: Link
  friendAtVictim: Link
  entries: ReturnType<typeof recordingLogger>['entries']
}

async function scene (t: Test, victimOptions: Partial<TransportOptions> = {}): Promise<Scene> {
  const { entries, logger } = recordingLogger()
  const victim = await listeningTransport(t, { maxFrameSize: MAX_FRAME, logger, ...victimOptions })
  const friendNode = await listeningTransport(t)
  const attackerNode = await listeningTransport(t)
  const friend = await friendNode.dial(victim.address!, victim.nodeId)
  const friendAtVictim = await nextLink(victim, friendNode.nodeId)
  const attacker = await attackerNode.dial(victim.address!, victim.nodeId)
  const attacked = await nextLink(victim, attackerNode.nodeId)
  return { victim, attacked, attacker, friend, friendAtVictim, entries }
}

/** The friend's link keeps delivering both ways after the attacker's link went down. */
async function friendStillServed (t: Test, s: Scene): Promise<void> {
  t.equal(s.victim.links.get(s.friendAtVictim.peerId), s.friendAtVictim, 'the friend is still linked')
  const there = nextFrame(s.friendAtVictim)
  s.friend.send(gossipFrame(new Uint8Array([1])))
  t.ok(await there, 'the friend reaches the victim')
  const back = nextFrame(s.friend)
  s.friendAtVictim.send(gossipFrame(new Uint8Array([2])))
  t.ok(await back, 'the victim reaches the friend')
}

async function expectRefused (t: Test, s: Scene, reason: RegExp): Promise<void> {
  const info = await closed(s.attacked)
  t.match(info.reason, reason, `the victim closes the link: ${info.reason}`)
  t.equal(info.error, true, 'as a failure')
  t.equal(s.victim.links.has(s.attacked.peerId), false, 'and forgets it')
  const told = await closed(s.attacker)
  t.match(told.reason, /^closed by peer: /, `the attacker is told why: ${told.reason}`)
  t.ok(s.entries.some((e) => e.level === 'warn' && reason.test(e.msg ?? '')), 'the reason is logged')
  await friendStillServed(t, s)
}

t.test('a frame announced over the size limit closes that link only, before its body is sent', async t => {
  const s = await scene(t)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(MAX_FRAME + 1)
  s.attacker.writeRaw(header)
  await expectRefused(t, s, /exceeds the limit/)
})

t.test('valid MessagePack with wrong field types closes that link only', async t => {
  const s = await scene(t)
  s.attacker.writeRaw(frameBytes(pack([3, 'not a topic', 42])))
  await expectRefused(t, s, /bad frame: direct.topic must be 32 bytes/)
})

t.test('an unknown frame type closes that link only', async t => {
  const s = await scene(t)
  s.attacker.writeRaw(frameBytes(pack([99, 'surprise'])))
  await expectRefused(t, s, /unknown frame type 99/)
})

t.test('bytes that are not MessagePack close that link only', async t => {
  const s = await scene(t)
  s.attacker.writeRaw(frameBytes(Buffer.from([0x93, 0xc1, 0xc1, 0xc1])))
  await expectRefused(t, s, /bad frame/)
})

t.test('a second hello after the handshake closes that link only', async t => {
  const s = await scene(t)
  s.attacker.writeRaw(frameBytes(encodeFrame({ type: 'hello', version: 1, proof: new Uint8Array(32), addr: null, incarnation: new Uint8Array(8) })))
  await expectRefused(t, s, /unexpected hello/)
})

t.test('a truncated frame followed by the end of the stream closes that link as failed', async t => {
  const s = await scene(t)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(1000)
  s.attacker.writeRaw(Buffer.concat([header, Buffer.alloc(10)]))
  // The attacker's own close (bye, end) lands inside the announced 1000 bytes: the victim sees a
  // stream that ends in the middle of a frame.
  s.attacker.close('leaving mid-frame')
  const info = await closed(s.attacked)
  t.match(info.reason, /truncated frame/)
  t.equal(info.error, true)
  await friendStillServed(t, s)
})

t.test('frames that arrived before the bad one are still delivered', async t => {
  const s = await scene(t)
  const got: string[] = []
  s.attacked.on('frame', (frame) => { got.push(frame.type) })
  s.attacker.send({ type: 'direct', topic: 'ab'.repeat(32), content: new Uint8Array([1]) })
  s.attacker.writeRaw(frameBytes(pack([99])))
  await closed(s.attacked)
  t.same(got, ['direct'])
})

t.test('a peer that stops reading has its link closed on write buffer overflow, not our memory grown', async t => {
  const limit = 1024 * 1024
  const s = await scene(t, { linkWriteBufferBytes: limit })
  s.attacker.pause()
  const chunk = new Uint8Array(32 * 1024)
  let sent = 0
  // Bounded: the kernel buffers of a loopback socket hold a few MiB at most.
  while (!s.attacked.closed && sent < 256 * 1024 * 1024) {
    for (let i = 0; i < 8 && s.attacked.send(gossipFrame(chunk)); i++) sent += chunk.byteLength
    t.ok(s.attacked.bufferedBytes <= limit, 'never more than the limit queued') || t.bailout()
    await new Promise((resolve) => setImmediate(resolve))
  }
  const info = await closed(s.attacked)
  t.equal(info.reason, 'write buffer overflow')
  t.equal(info.error, true)
  t.equal(s.attacked.send(gossipFrame(chunk)), false, 'a closed link refuses frames')
  t.ok(s.entries.some((e) => e.level === 'warn' && /write buffer overflow/.test(e.msg ?? '')), 'the overflow is logged')
  await friendStillServed(t, s)
})
