/**
 * The protocol sometimes answers a node it has no link to and needs none with afterwards: the end
 * of a shuffle's random walk replies to the shuffle's origin directly. The reply must still reach
 * it when the link has to be dialled first, and the link must not outlive the reply.
 */
import t from 'tap'
import type { Frame } from '../../src/core/net/frames.js'
import { Transport } from '../../src/core/net/transport.js'
import { HOSTILE_SECRET, hostileScene } from '../fixtures/hostile-scene.js'
import { closed, nextFrame, nextLink } from '../fixtures/net.js'

t.test('a shuffle reply to an origin we have no link to is dialled, delivered, and the link then closed', async t => {
  const s = await hostileScene(t, { honest: 1 })
  const origin = new Transport({ secret: HOSTILE_SECRET })
  t.teardown(async () => { await origin.close() })
  await origin.listen()

  // A neighbour forwards a shuffle that ends its walk at the victim (ttl 0): the victim must answer
  // the origin, a node it has never been linked to.
  const shuffle: Frame = {
    type: 'proto',
    message: {
      topic: s.topic,
      body: { type: 'shuffle', origin: { id: origin.nodeId, data: Buffer.from(origin.address!) }, nodes: [], ttl: 0 }
    }
  }
  const incoming = nextLink(origin, s.victim.node.nodeId)
  s.sendFrames(await s.link(), [shuffle])

  const link = await incoming
  const reply = await nextFrame(link, f => f.type === 'proto' && f.message.body.type === 'shuffleReply')
  t.equal(reply.type === 'proto' ? reply.message.topic : undefined, s.topic, 'the origin gets the shuffle reply for the topic')
  const info = await closed(link)
  t.match(info.reason, /no topic needs this link/, 'and the victim closes the link once it is sent')
})
