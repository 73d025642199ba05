import t from 'tap'
import { isIP } from 'node:net'
import { reachableHost } from '../../src/core/net/transport.js'
import { collect, spawnNode, waitFor } from '../fixtures/cluster.js'

t.test('a node listening on every interface never announces 0.0.0.0: it announces an interface address', async t => {
  const node = await spawnNode({ host: '0.0.0.0' })
  t.teardown(async () => await node.close())
  const host = node.address.slice(0, node.address.lastIndexOf(':'))
  t.not(host, '0.0.0.0')
  t.ok(isIP(host) !== 0, `an IP address: ${node.address}`)
})

t.test('the announced host of an unspecified listener: POD_IP when given, else an interface, never unspecified', async t => {
  t.equal(reachableHost('0.0.0.0', { POD_IP: '10.1.2.3' }), '10.1.2.3', 'POD_IP first')
  t.equal(reachableHost('::', { POD_IP: 'fd00::7' }), 'fd00::7')
  t.not(reachableHost('0.0.0.0', { POD_IP: 'not an ip' }), '0.0.0.0', 'a malformed POD_IP is ignored')
  t.not(reachableHost('::', {}), '::')
  t.equal(reachableHost('192.168.7.7', { POD_IP: '10.1.2.3' }), '192.168.7.7', 'a specific listen address is announced as it is')
})

t.test('a loopback listener with a seed on another host is refused at start, naming both', async t => {
  await t.rejects(spawnNode({ seeds: ['10.0.0.5:7000'] }), {
    code: 'ERR_GOSSIP_INVALID_OPTION',
    message: /"host" is 127\.0\.0\.1 \(the default\).*"10\.0\.0\.5:7000"/
  })
  await t.rejects(spawnNode({ host: '::1', seeds: ['grapevine.default.svc.cluster.local:7000'] }), {
    code: 'ERR_GOSSIP_INVALID_OPTION',
    message: /::1.*grapevine\.default\.svc\.cluster\.local:7000/
  })
  await t.rejects(spawnNode({ host: '0.0.0.0', advertise: '0.0.0.0:7000' }), { code: 'ERR_GOSSIP_INVALID_OPTION', message: /advertise/ })
})

t.test('IPv6: nodes on [::1] link through a seed given as [::1]:port and deliver', async t => {
  let first
  try {
    first = await spawnNode({ host: '::1' })
  } catch (err) {
    t.comment(`skipped: no IPv6 loopback here: ${(err as Error).message}`)
    return
  }
  t.teardown(async () => await first.close())
  t.match(first.address, /^\[::1\]:\d+$/)
  const second = await spawnNode({ host: '::1', seeds: [first.address] })
  t.teardown(async () => await second.close())
  const a = await first.stream('v6')
  const b = await second.stream('v6')
  const inbox = collect(b)
  await waitFor(() => a.neighbours().length > 0, 'a neighbour over IPv6')
  await a.publish('over ::1')
  await waitFor(() => inbox.texts().includes('over ::1'), 'delivery over IPv6')
  t.pass()
})
