import t, { type Test } from 'tap'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { SECRET, closed, eventually, gossipFrame, listeningTransport, nextFrame, nextLink, noisePeer, recordingLogger } from '../../fixtures/net.js'
import { encodeFrame } from '../../../src/core/net/codec.js'
import { frameBytes } from '../../../src/core/net/framing.js'
import { BYE_GRACE_MS, helloProof } from '../../../src/core/net/handshake.js'
import { DRAIN_GRACE_MS } from '../../../src/core/net/link.js'
import { relay } from '../../fixtures/relay.js'
import { generateKeyPair, nodeIdOf } from '../../../src/core/net/identity.js'
import { Transport } from '../../../src/core/net/transport.js'
import { PROTOCOL_VERSION } from '../../../src/core/net/frames.js'
import type { Frame } from '../../../src/core/net/frames.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const contentOf = (frame: Frame): string => frame.type === 'proto' && frame.message.body.type === 'gossip'
  ? new TextDecoder().decode(frame.message.body.content)
  : ''

/** A plain TCP socket to a transport, closed at teardown. */
async function rawSocket (t: Test, addr: string): Promise<Socket> {
  const [host, port] = addr.split(':') as [string, string]
  const socket = connect({ host, port: Number(port) })
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

async function socketClosed (socket: Socket): Promise<void> {
  if (socket.closed) return
  await new Promise((resolve) => socket.once('close', resolve))
}

t.test('two transports link up and exchange frames both ways', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const inbound = nextLink(b, a.nodeId)
  const link = await a.dial(b.address!, b.nodeId)
  t.equal(link.peerId, b.nodeId, 'the dialled link is to the expected peer')
  t.equal(link.remoteAddr, b.address, 'the peer announced its listen address')
  const back = await inbound
  t.equal(back.peerId, a.nodeId)
  t.equal(back.remoteAddr, a.address)

  const atB = nextFrame(back)
  link.send(gossipFrame(text('ping')))
  t.equal(contentOf(await atB), 'ping')
  const atA = nextFrame(link)
  back.send(gossipFrame(text('pong')))
  t.equal(contentOf(await atA), 'pong')
  t.equal(a.links.get(b.nodeId), link)
  t.equal(b.links.get(a.nodeId), back)
})

t.test('frames sent in one tick arrive in order, all of them', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const link = await a.dial(b.address!)
  const back = await nextLink(b, a.nodeId)
  const got: string[] = []
  back.on('frame', (frame) => got.push(contentOf(frame)))
  const sent: string[] = []
  for (let i = 0; i < 1000; i++) {
    sent.push(`m${i}`)
    link.send(gossipFrame(text(`m${i}`)))
  }
  await eventually(() => got.length === sent.length, '1000 frames delivered')
  t.same(got, sent)
})

t.test('three transports link pairwise and each link delivers both ways', async t => {
  const nodes = [await listeningTransport(t), await listeningTransport(t), await listeningTransport(t)]
  for (const [i, from] of nodes.entries()) {
    for (const [j, to] of nodes.entries()) {
      if (i >= j) continue
      await from.dial(to.address!, to.nodeId)
    }
  }
  await eventually(() => nodes.every((n) => n.links.size === 2), 'every node has two links')
  for (const from of nodes) {
    for (const to of nodes) {
      if (from === to) continue
      const arrived = nextFrame(to.links.get(from.nodeId)!)
      from.links.get(to.nodeId)!.send(gossipFrame(text(`${from.nodeId}->${to.nodeId}`)))
      t.equal(contentOf(await arrived), `${from.nodeId}->${to.nodeId}`)
    }
  }
})

t.test('a transport emits every frame with its peer id, and a dial to a linked peer returns the existing link', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const link = await a.dial(b.address!, b.nodeId)
  t.equal(await a.dial(b.address!, b.nodeId), link)
  const seen = new Promise<[string, Frame]>((resolve) => b.once('frame', (peer, frame) => resolve([peer, frame])))
  link.send(gossipFrame(text('via transport')))
  const [peer, frame] = await seen
  t.equal(peer, a.nodeId)
  t.equal(contentOf(frame), 'via transport')
})

t.test('simultaneous dials leave exactly one link per pair, the same one on both sides, and lose no frame', async t => {
  for (let round = 0; round < 5; round++) {
    const a = await listeningTransport(t)
    const b = await listeningTransport(t)
    const atA: string[] = []
    const atB: string[] = []
    a.on('frame', (_peer, frame) => atA.push(contentOf(frame)))
    b.on('frame', (_peer, frame) => atB.push(contentOf(frame)))
    const [ab, ba] = await Promise.all([
      a.dial(b.address!, b.nodeId).then((link) => { link.send(gossipFrame(text('from a'))); return link }),
      b.dial(a.address!, a.nodeId).then((link) => { link.send(gossipFrame(text('from b'))); return link })
    ])
    t.ok(ab.peerId === b.nodeId && ba.peerId === a.nodeId)
    // Whichever link each dial returned, even one about to lose the race, its frame arrives.
    await eventually(() => atA.includes('from b') && atB.includes('from a'), 'frames sent during the race arrive')
    await eventually(() => {
      const x = a.links.get(b.nodeId)
      const y = b.links.get(a.nodeId)
      return x !== undefined && y !== undefined && Buffer.from(x.handshakeHash).equals(y.handshakeHash) &&
        [...a.links.values()].length === 1 && [...b.links.values()].length === 1
    }, 'both sides keep the same single link')
    const kept = a.links.get(b.nodeId)!
    const smaller = a.nodeId < b.nodeId ? a : b
    t.equal(kept.isInitiator, smaller === a, 'the kept link is the one dialled by the smaller id')
    const arrived = nextFrame(b.links.get(a.nodeId)!)
    kept.send(gossipFrame(text('after the race')))
    t.equal(contentOf(await arrived), 'after the race')
    await a.close()
    await b.close()
  }
})

t.test('a link closed as the losing duplicate still delivers what the peer sent on it, even seconds late (held up in TCP after losses)', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const path = await relay(b.address!)
  t.teardown(async () => { await path.close() })
  const atA: string[] = []
  a.on('frame', (_peer, frame) => atA.push(contentOf(frame)))
  const ab = await a.dial(path.address, b.nodeId)
  await eventually(() => b.links.has(a.nodeId), 'the link is up at b')
  const ba = b.links.get(a.nodeId)!
  ba.send(gossipFrame(text('before')))
  await eventually(() => atA.includes('before'), 'a frame before the stall')

  path.stall()
  ba.send(gossipFrame(text('held up')))
  ab.close('duplicate', { keepReading: true })
  // Longer than the grace of an ordinary close: b's frame and its end are still on their way.
  await new Promise(resolve => setTimeout(resolve, BYE_GRACE_MS + 500))
  path.release()
  await eventually(() => atA.includes('held up'), 'the held-up frame arrives')
  t.pass('delivered by the draining link')
  await eventually(() => ab.closed && !a.links.has(b.nodeId), 'the link is gone at a')
})

t.test('transport.close() does not wait out a link that is draining', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const path = await relay(b.address!)
  t.teardown(async () => { await path.close() })
  const ab = await a.dial(path.address, b.nodeId)
  path.stall()
  ab.close('duplicate', { keepReading: true })
  // The peer's end is held up for good: only the usual grace ends the socket.
  const closed = a.close().then(() => 'closed')
  const drained = new Promise(resolve => setTimeout(resolve, DRAIN_GRACE_MS - 2_000)).then(() => 'waited for the drain')
  t.equal(await Promise.race([closed, drained]), 'closed')
})

t.test('a peer with the wrong secret is refused, logged, and the listener keeps serving', async t => {
  const { entries, logger } = recordingLogger()
  const a = await listeningTransport(t, { logger })
  const intruder = await listeningTransport(t, { secret: 'not the secret' })
  await t.rejects(intruder.dial(a.address!, a.nodeId), { code: 'ERR_GOSSIP_HANDSHAKE' })
  await eventually(() => entries.some((e) => e.level === 'warn' && /bad proof/.test(e.msg ?? '')), 'the refusal is logged with its reason')
  t.equal(a.links.size, 0)
  t.equal(intruder.links.size, 0)
  const friend = await listeningTransport(t)
  const link = await friend.dial(a.address!, a.nodeId)
  const arrived = nextFrame(await nextLink(a, friend.nodeId))
  link.send(gossipFrame(text('still serving')))
  t.equal(contentOf(await arrived), 'still serving')
})

t.test('a dial is refused when the node at the address is not the expected one', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const other = new Transport({ secret: 'x' })
  await t.rejects(a.dial(b.address!, other.nodeId), { code: 'ERR_GOSSIP_HANDSHAKE', message: /expected/ })
  t.equal(a.links.size, 0)
  await eventually(() => b.links.size === 0, 'the listener drops it too')
})

t.test('garbage instead of a handshake closes that socket only', async t => {
  const a = await listeningTransport(t)
  const socket = await rawSocket(t, a.address!)
  socket.write(randomBytes(4096))
  await socketClosed(socket)
  t.equal(a.links.size, 0)
  const friend = await listeningTransport(t)
  const link = await friend.dial(a.address!, a.nodeId)
  t.equal(link.peerId, a.nodeId, 'a good peer still connects')
})

t.test('a socket that connects and says nothing is closed at the handshake timeout', async t => {
  const { entries, logger } = recordingLogger()
  const a = await listeningTransport(t, { handshakeTimeout: 200, logger })
  const socket = await rawSocket(t, a.address!)
  await socketClosed(socket)
  t.ok(entries.some((e) => /timed out/.test(e.msg ?? '')), 'the timeout is logged')
  const friend = await listeningTransport(t)
  t.equal((await friend.dial(a.address!, a.nodeId)).peerId, a.nodeId, 'a good peer still connects')
})

t.test('silent connections cannot hold the handshake slots: a newcomer takes the slot of the oldest pending one', async t => {
  const { logger, entries } = recordingLogger()
  const cap = 16
  const a = await listeningTransport(t, { maxPendingHandshakes: cap, handshakeTimeout: 60_000, logger })
  const pending = (): number => (a as unknown as { pendingInbound: unknown[] }).pendingInbound.length
  const silent: Socket[] = []
  for (let i = 0; i < 40; i++) silent.push(await rawSocket(t, a.address!))
  // All of them come from 127.0.0.1: one address may hold a quarter of the slots.
  await eventually(() => silent.filter(s => s.closed).length >= 40 - cap / 4, 'the oldest silent sockets dropped')
  t.ok(pending() <= cap / 4, `one address never holds more than its share (${pending()})`)
  t.notOk(silent.slice(-1)[0]!.closed, 'the newest is still waiting')
  t.ok(entries.some(e => e.level === 'warn' && /make room for a newer connection/.test(e.msg ?? '')), 'each drop is logged')
  // The flood goes on while an honest node dials: it gets in.
  const flood = setInterval(() => { void rawSocket(t, a.address!) }, 10)
  t.teardown(() => clearInterval(flood))
  const friend = await listeningTransport(t)
  // On loopback the flood shares the honest peer's address, so a slow handshake can still lose
  // its slot; an honest node dials again, as its seed backoff does.
  let linked = false
  for (let attempt = 0; attempt < 10 && !linked; attempt++) {
    linked = await friend.dial(a.address!, a.nodeId).then(link => link.peerId === a.nodeId, () => false)
  }
  clearInterval(flood)
  t.ok(linked, 'an honest peer links during the flood')
})

t.test('transport.close() closes every link and leaves no handle behind', async t => {
  const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap')
  const a = new Transport({ secret: 's' })
  const b = new Transport({ secret: 's' })
  await a.listen()
  await b.listen()
  const link = await a.dial(b.address!, b.nodeId)
  const back = await nextLink(b, a.nodeId)
  const arrived = nextFrame(back)
  link.send(gossipFrame(text('x')))
  await arrived
  const disconnected = new Promise((resolve) => b.once('disconnect', (peer, info) => resolve([peer, info.reason])))
  await a.close()
  t.same(await disconnected, [a.nodeId, 'closed by peer: transport closing'], 'the peer learns why')
  t.equal((await closed(link)).reason, 'transport closing')
  await b.close()
  await t.rejects(a.dial(b.address!), { code: 'ERR_GOSSIP_CLOSED' })
  await eventually(() => {
    const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap')
    return after.length <= before.length
  }, 'no sockets, servers or timers left')
  t.pass()
})

t.test('a frame larger than maxFrameSize is refused at send and the link stays up', async t => {
  const a = await listeningTransport(t, { maxFrameSize: 1024 })
  const b = await listeningTransport(t)
  const link = await a.dial(b.address!, b.nodeId)
  t.throws(() => link.send(gossipFrame(new Uint8Array(2048))), { code: 'ERR_GOSSIP_FRAME_TOO_LARGE' })
  t.throws(() => link.send({ type: 'bye', reason: 42 as unknown as string }), { code: 'ERR_GOSSIP_CODEC' })
  const arrived = nextFrame(await nextLink(b, a.nodeId))
  link.send(gossipFrame(text('small')))
  t.equal(contentOf(await arrived), 'small')
})

t.test('a dial to a port nobody listens on rejects, and close() does not wait for pending dials', async t => {
  const gone = await listeningTransport(t)
  const addr = gone.address!
  await gone.close()
  const a = await listeningTransport(t)
  await t.rejects(a.dial(addr), { code: 'ECONNREFUSED' })
  // 192.0.2.0/24 is TEST-NET-1: never routed, so the connect hangs until close() ends it.
  const pending = a.dial('192.0.2.1:9')
  await a.close()
  await t.rejects(pending, { code: 'ERR_GOSSIP_CLOSED' })
})

t.test('closing a link deliberately tells the peer and disconnects it on both sides; the peer learns it was closed on purpose by a live node', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const link = await a.dial(b.address!, b.nodeId)
  await nextLink(b, a.nodeId)
  const atA = new Promise((resolve) => a.once('disconnect', (peer, info) => resolve([peer, info])))
  const atB = new Promise((resolve) => b.once('disconnect', (peer, info) => resolve([peer, info])))
  link.close('not needed any more')
  t.same(await atA, [b.nodeId, { reason: 'not needed any more', error: false }], 'our own close is not by the peer')
  t.same(await atB, [a.nodeId, { reason: 'closed by peer: not needed any more', error: false, byPeer: true }])
  t.equal(a.links.size + b.links.size, 0)
  const again = await a.dial(b.address!, b.nodeId)
  t.not(again, link, 'a new dial makes a new link')
})

t.test('an inbound link whose owner throws while adopting it is still read: the peer is served, not left hanging', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  const { logger, entries } = recordingLogger()
  const c = await listeningTransport(t, { logger })
  const inbound = nextLink(c, a.nodeId)
  let thrown = 0
  c.on('link', () => { thrown++; throw new Error('owner bug while adopting a link') })
  const link = await a.dial(c.address!, c.nodeId)
  const atC = await inbound
  const arrived = nextFrame(atC)
  link.send(gossipFrame(text('still read')))
  t.equal(contentOf(await arrived), 'still read', 'frames on the link arrive')
  t.equal(thrown, 1, 'the owner did throw')
  t.ok(entries.some(e => e.level === 'error'), 'and it was logged')
  // The listener keeps accepting others.
  const other = await b.dial(c.address!, c.nodeId)
  t.equal(other.peerId, c.nodeId)
})

t.test('a refused peer is turned away both ways until its time is up, then linked again', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  a.refuse(b.nodeId, 300)
  const inbound = await b.dial(a.address!, a.nodeId).catch((err: Error) => err)
  const inboundReason = inbound instanceof Error ? inbound.message : (await closed(inbound)).reason
  t.match(inboundReason, /refused/, `its dial is refused: ${inboundReason}`)
  await t.rejects(a.dial(b.address!, b.nodeId), /refused/, 'and we do not link to it either')
  await new Promise(resolve => setTimeout(resolve, 350))
  const link = await b.dial(a.address!, a.nodeId)
  await eventually(() => a.links.has(b.nodeId), 'the link adopted once the refusal expired')
  t.notOk(link.closed, 'after that, it links')
})

t.test('a refused peer that keeps sending is not read on: it is told why, and what it sends after is left unread', async t => {
  const a = await listeningTransport(t)
  const peer = await noisePeer(t, a.address!)
  a.refuse(nodeIdOf(peer.keyPair.publicKey), 60_000)
  const before = a.bytesReceived
  // Its hello and, without waiting for an answer, 16 MB in frames of 128 KiB (as the insider of
  // bench:hostile does after each of its dials).
  peer.send({ type: 'hello', version: PROTOCOL_VERSION, proof: helloProof(SECRET, peer.handshakeHash, peer.keyPair.publicKey), addr: null, incarnation: new Uint8Array(8) })
  const frame = frameBytes(encodeFrame({ type: 'direct', topic: 'ab'.repeat(32), content: new Uint8Array(128 * 1024) }))
  let sent = 0
  for (let i = 0; i < 128; i++) {
    peer.sendRaw(frame)
    sent += frame.byteLength
  }
  await peer.closed
  const bye = peer.frames.find(f => f.type === 'bye')
  t.match(bye?.type === 'bye' ? bye.reason : '', /refused/, 'told why')
  await eventually(() => (a as unknown as { sockets: Set<Socket> }).sockets.size === 0, 'its socket gone at a')
  const read = a.bytesReceived - before
  t.ok(read < sent / 16, `a read ${read} of the ${sent} bytes it sent`)
})

t.test('a peer that restarted with the same identity while we still hold its old link: its new link wins whatever the ids, and the old one is reported gone first', async t => {
  const a = await listeningTransport(t)
  // The tie-break alone would keep the old link here: it was dialled by the smaller id.
  let keyPair = generateKeyPair()
  while (nodeIdOf(keyPair.publicKey) < a.nodeId) keyPair = generateKeyPair()
  const before = await listeningTransport(t, { keyPair })
  const old = await a.dial(before.address!, before.nodeId)
  t.ok(a.nodeId < old.peerId && old.isInitiator, 'the old link was dialled by the smaller id')

  // The old process is still there (as after a crash nobody has noticed yet), holding its end.
  const order: string[] = []
  a.on('disconnect', (peer, info) => { if (peer === before.nodeId) order.push(`disconnect: ${info.reason}${info.byPeer === true ? ' (alive)' : ''}`) })
  a.on('link', link => { if (link.peerId === before.nodeId) order.push('link') })
  const after = new Transport({ secret: SECRET, keyPair })
  t.teardown(async () => { await after.close() })
  t.not(Buffer.from(after.incarnation).toString('hex'), Buffer.from(before.incarnation).toString('hex'), 'another incarnation')
  const fresh = await after.dial(a.address!, a.nodeId)
  await eventually(() => order.length === 2, 'the restart is seen')
  t.same(order, ['disconnect: the peer restarted (alive)', 'link'], 'gone first, then back, and alive to be asked again')
  t.equal(a.links.get(before.nodeId)?.isInitiator, false, 'the live link is the one the restarted peer dialled')
  await eventually(() => old.closed, 'the old link is closed')

  const atAfter = nextFrame(fresh)
  a.links.get(before.nodeId)!.send(gossipFrame(text('to the new incarnation')))
  t.equal(contentOf(await atAfter), 'to the new incarnation')
  const atA = new Promise<string>(resolve => a.once('frame', (_peer, frame) => { resolve(contentOf(frame)) }))
  fresh.send(gossipFrame(text('from the new incarnation')))
  t.equal(await atA, 'from the new incarnation')
})
