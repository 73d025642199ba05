import t from 'tap'
import { closed, eventually, gossipFrame, listeningTransport, nextFrame, nextLink, SECRET } from '../../fixtures/net.js'
import { Gossip } from '../../../src/core/gossip.js'

t.test('byte counters move when frames flow, and keep what closed links carried', async t => {
  const a = await listeningTransport(t)
  const b = await listeningTransport(t)
  t.equal(a.bytesSent, 0)
  t.equal(b.bytesReceived, 0)
  const link = await a.dial(b.address!, b.nodeId)
  const back = await nextLink(b, a.nodeId)
  const afterHandshake = { sent: a.bytesSent, received: b.bytesReceived }
  t.ok(afterHandshake.sent > 0, 'the handshake is counted')

  const arrived = nextFrame(back)
  link.send(gossipFrame(new Uint8Array(10_000).fill(1)))
  await arrived
  t.ok(a.bytesSent - afterHandshake.sent >= 10_000, 'the sender counts the frame (encrypted, so a little more)')
  t.ok(b.bytesReceived - afterHandshake.received >= 10_000, 'the receiver counts it too')

  link.close('done')
  await closed(back)
  await eventually(() => a.links.size === 0 && b.links.size === 0, 'both ends dropped the link')
  // Every socket is gone at the end, and nothing either side wrote is lost from the counters.
  await eventually(() => a.bytesSent === b.bytesReceived && b.bytesSent === a.bytesReceived, 'what one side sent, the other received')
  t.ok(a.bytesSent - afterHandshake.sent >= 10_000, 'a closed link still counts')
})

t.test('Gossip.traffic() reports the transport counters and the live links', async t => {
  const a = await Gossip.spawn({ secret: SECRET })
  t.teardown(async () => { await a.close() })
  const b = await Gossip.spawn({ secret: SECRET, seeds: [a.address] })
  t.teardown(async () => { await b.close() })
  await eventually(() => a.traffic().links === 1 && b.traffic().links === 1, 'the seed link is up')
  const before = a.traffic()
  const beforeB = b.traffic()
  await a.sendDirect(b.nodeId, 'room', new Uint8Array(5_000))
  await eventually(() => b.traffic().bytesReceived - beforeB.bytesReceived >= 5_000, 'the direct message is counted')
  t.ok(a.traffic().bytesSent - before.bytesSent >= 5_000)
})
