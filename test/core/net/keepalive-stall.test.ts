import t from 'tap'
import { gossipFrame, listeningTransport, nextLink } from '../../fixtures/net.js'

/** Keep this process from turning its event loop, as a long burst of timers or frames does. */
function busy (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* spin */ }
}

t.test('a busy stretch longer than the keepalive timeout does not fail a link whose peer spoke', async t => {
  const a = await listeningTransport(t, { keepaliveTimeout: 300 })
  const b = await listeningTransport(t, { keepaliveTimeout: 300 })
  const link = await a.dial(b.address!, b.nodeId)
  const back = await nextLink(b, a.nodeId)
  await new Promise((resolve) => setTimeout(resolve, 150))
  // Both ends speak (the bytes wait in the sockets), then this process is busy past the timeout:
  // the keepalive timers fire before the socket is read, and must not call the links silent.
  link.send(gossipFrame(new Uint8Array([1])))
  back.send(gossipFrame(new Uint8Array([2])))
  await new Promise((resolve) => setImmediate(resolve))
  busy(450)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(back.closeInfo, null, 'the links that heard their peers are still up')
  t.equal(link.closeInfo, null)
})
