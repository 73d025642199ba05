import t from 'tap'
import { gossipFrame, listeningTransport, nextLink } from '../../fixtures/net.js'
import { relay } from '../../fixtures/relay.js'

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

t.test('a peer streaming to us faster than its path carries is not called silent: its ping waits behind the stream', async t => {
  const a = await listeningTransport(t, { keepaliveTimeout: 400 })
  const b = await listeningTransport(t, { keepaliveTimeout: 400 })
  // a -> b carries 10 kB/s, b -> a is free. b hears a's stream all the time, so it never needs to
  // ping; a's ping queues behind its own backlog and its answer comes back long after the timeout.
  const path = await relay(b.address!, { bytesPerSecondToTarget: 10_000 })
  t.teardown(async () => { await path.close() })
  const link = await a.dial(path.address, b.nodeId)
  const back = await nextLink(b, a.nodeId)
  let received = 0
  back.on('frame', () => { received++ })
  const stream = setInterval(() => { link.send(gossipFrame(new Uint8Array(1024))) }, 20)
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  clearInterval(stream)
  t.equal(link.closeInfo?.reason, undefined, 'the streaming end keeps its link')
  t.equal(back.closeInfo?.reason, undefined, 'and so does the receiving end')
  t.ok(received > 5, `the stream arrives (${received} frames so far)`)
})
