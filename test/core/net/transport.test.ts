import t from 'tap'
import { closed, eventually, gossipFrame, listeningTransport, nextFrame, nextLink } from '../../fixtures/net.js'
import type { Frame } from '../../../src/core/net/frames.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const contentOf = (frame: Frame): string => frame.type === 'proto' && frame.message.body.type === 'gossip'
  ? new TextDecoder().decode(frame.message.body.content)
  : ''

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
