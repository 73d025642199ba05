import t from 'tap'
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { listeningTransport, nextLink } from '../../fixtures/net.js'

t.test('a dial that fails while the peer dialled us resolves with the live link', async t => {
  // A plain TCP server that accepts and never speaks: the dial to it fails on the handshake timeout.
  const silent: Socket[] = []
  const server = createServer((socket) => { silent.push(socket) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of silent) s.destroy()
    server.close()
  })
  const silentAddr = `127.0.0.1:${(server.address() as AddressInfo).port}`

  const a = await listeningTransport(t, { handshakeTimeout: 500 })
  const b = await listeningTransport(t)
  const failing = a.dial(silentAddr, b.nodeId)
  // Meanwhile the peer dials us: the link the caller of `dial` wanted now exists.
  const inbound = nextLink(a, b.nodeId)
  await b.dial(a.address!, a.nodeId)
  const live = await inbound
  t.equal(await failing, live, 'the dial resolves with the link the peer made')

  // Without a live link to the expected peer, the failure stands.
  await t.rejects(a.dial(silentAddr, 'ab'.repeat(32)), { code: 'ERR_GOSSIP_HANDSHAKE' })
})
