/**
 * Per-sender order when the overlay delivers out of order or loses a message. The overlay's
 * misbehaviour is staged with ShapedGossip over the in-process stand-in, so it happens every run.
 */
import t from 'tap'
import type { Test } from 'tap'
import { MessageType } from 'socket.io-adapter'
import { createAdapter } from '../../src/adapter/index.js'
import type { GossipAdapter } from '../../src/adapter/index.js'
import { decodeEnvelope } from '../../src/adapter/envelope.js'
import type { GossipMessage } from '../../src/core/api.js'
import { memoryNodes } from '../fixtures/adapter-nodes.js'
import { ShapedGossip } from '../fixtures/shaped-gossip.js'
import { serverPair, waitFor } from '../fixtures/socketio-cluster.js'

/** The `i` of a broadcast of event `seq`, or undefined for any other message. */
function seqOf (m: GossipMessage): number | undefined {
  const envelope = decodeEnvelope(m.content)
  if (envelope.kind !== 'message' || envelope.message.type !== MessageType.BROADCAST) return undefined
  const data = (envelope.message.data.packet as { data: unknown[] }).data
  return data[0] === 'seq' ? data[1] as number : undefined
}

async function pair (t: Test, receiverOptions: { reorderTimeout: number }) {
  const set = memoryNodes(2)
  const shaped = new ShapedGossip(set.nodes[1]!)
  const { sender, receiver, client } = await serverPair(t, createAdapter({ gossip: set.nodes[0]! }), createAdapter({ gossip: shaped, ...receiverOptions }), () => set.close())
  return { sender, receiver, client, shaped, adapter: receiver.io.of('/').adapter as GossipAdapter }
}

t.test('broadcasts the overlay delivers out of order reach clients in the order they were sent', async t => {
  const { sender, client, shaped, adapter } = await pair(t, { reorderTimeout: 600_000 })
  const released: number[] = []
  let batch: GossipMessage[] = []
  shaped.inbound = (m, deliver) => {
    if (seqOf(m) === undefined) return deliver(m)
    batch.push(m)
    if (batch.length < 10) return
    for (const held of batch.reverse()) { released.push(seqOf(held)!); deliver(held) }
    batch = []
  }
  for (let i = 0; i < 30; i++) sender.io.emit('seq', i)
  await waitFor('30 events', () => client.got('seq').length === 30)
  t.not(released.join(), [...released].sort((a, b) => a - b).join(), 'the overlay really did deliver out of order')
  t.same(client.got('seq').map(args => args[0]), Array.from({ length: 30 }, (_, i) => i))
  t.same(adapter.orderStats, { skipped: 0, late: 0, lateDelivered: 0, held: 0, outOfWindow: 0, resyncs: 0, beforeStart: 0 })
})

t.test('a message the overlay loses is given up after the reorder timeout; later ones still arrive in order', async t => {
  const { sender, client, shaped, adapter } = await pair(t, { reorderTimeout: 200 })
  shaped.inbound = (m, deliver) => { if (seqOf(m) !== 5) deliver(m) }
  for (let i = 0; i < 10; i++) sender.io.emit('seq', i)
  await waitFor('nine events', () => client.got('seq').length === 9)
  t.same(client.got('seq').map(args => args[0]), [0, 1, 2, 3, 4, 6, 7, 8, 9])
  t.equal(adapter.orderStats.skipped, 1)
})
