/**
 * Heartbeats are numbered with the data, so a broadcast sent straight to a server after a heartbeat
 * waits there for that heartbeat. A heartbeat whose overlay copy takes the slow way (an IHAVE and a
 * GRAFT, 80 ms, as right after start-up in about one 3-server cluster in four) must not hold the
 * broadcasts behind it: in a small cluster heartbeats also go straight to each server, and the copy
 * that comes second is dropped. Two Socket.IO servers on real gossip nodes (TCP on 127.0.0.1); the
 * receiver's node is wrapped so the test holds the overlay copies of the sender's heartbeats.
 */
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { MessageType } from 'socket.io-adapter'
import { createAdapter } from '../../src/adapter/index.js'
import type { AdapterOptions, GossipAdapter } from '../../src/adapter/index.js'
import { decodeEnvelope } from '../../src/adapter/envelope.js'
import type { GossipMessage } from '../../src/core/api.js'
import { Gossip } from '../../src/core/gossip.js'
import { ShapedGossip } from '../fixtures/shaped-gossip.js'
import { serverPair, waitFor } from '../fixtures/socketio-cluster.js'

/** The number of a heartbeat, or undefined for anything else. */
function heartbeatSeq (m: GossipMessage): number | undefined {
  try {
    const envelope = decodeEnvelope(m.content)
    return envelope.kind === 'message' && envelope.message.type === MessageType.HEARTBEAT ? envelope.seq : undefined
  } catch {
    return undefined
  }
}

for (const roomRouting of [false, true]) {
  t.test(`a broadcast sent after a heartbeat whose overlay copy is held back reaches the client without waiting for it${roomRouting ? ' (room routing on)' : ''}`, async t => {
    const secret = randomBytes(16).toString('hex')
    // A gap is never given up during the test: a broadcast held behind the heartbeat would stay held.
    const options: AdapterOptions = { heartbeatInterval: 200, reorderTimeout: 60_000, roomRouting }
    const senderFactory = createAdapter({ secret, host: '127.0.0.1', port: 0, ...options })
    const senderNode = await senderFactory.node()
    const shaped = new ShapedGossip(await Gossip.spawn({ secret, host: '127.0.0.1', port: 0, seeds: [senderNode.address] }))
    const { sender, receiver, client } = await serverPair(t, senderFactory, createAdapter({ gossip: shaped, ...options }), () => shaped.close())

    const held: Array<() => void> = []
    // Heartbeats published from now on, once each counts the other. One published before (the
    // answer to the receiver's announcement, sent before the receiver's node answered a ping)
    // went through the overlay only, and may still come the lazy way.
    const from = (sender.io.of('/').adapter as unknown as { seq: number }).seq
    shaped.inbound = (m, deliver) => {
      // Through the overlay a message is at least one hop from its origin; sent directly, none.
      if (m.hops > 0 && m.origin === senderNode.nodeId && (heartbeatSeq(m) ?? -1) >= from) held.push(() => { deliver(m) })
      else deliver(m)
    }
    await waitFor('an overlay copy of a heartbeat held back', () => held.length >= 1)
    sender.io.emit('after', 1)
    await waitFor('the broadcast', () => client.got('after').length === 1)
    t.ok(held.length >= 1, 'the heartbeat\'s overlay copy was still held back when the broadcast arrived')

    shaped.inbound = (m, deliver) => { deliver(m) }
    for (const release of held.splice(0)) release()
    sender.io.emit('after', 2)
    await waitFor('the next broadcast', () => client.got('after').length === 2)
    t.same(client.got('after'), [[1], [2]], 'each once, in order')
    const adapter = receiver.io.of('/').adapter as GossipAdapter
    t.match(adapter.orderStats, { skipped: 0, late: 0 }, 'the late copies were dropped quietly: nothing given up, nothing counted late')
  })
}
