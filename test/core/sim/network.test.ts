import t from 'tap'
import { Network } from '../../../src/core/sim/network.js'

function net (seed = 1): Network {
  const n = new Network({ seed, latency: { min: 10, max: 100 }, loss: 0, failureDelay: 'latency' })
  for (let i = 0; i < 50; i++) n.addNode(i)
  return n
}

t.test('a pair has one latency, the same both ways, within the bounds', async t => {
  const n = net()
  const seen = new Set<number>()
  for (let a = 0; a < 50; a++) {
    for (let b = a + 1; b < 50; b++) {
      const l = n.latency(a, b)
      t.equal(n.latency(b, a), l)
      t.equal(n.latency(a, b), l, 'asking again gives the same value')
      t.ok(Number.isInteger(l) && l >= 10 && l <= 100)
      seen.add(l)
    }
  }
  t.ok(seen.size > 60, `latencies spread over the range (${seen.size} distinct values)`)
  t.equal(seen.has(10) || seen.has(100), true, 'the bounds are reachable')
})

t.test('the latency map depends on the seed', async t => {
  const a = net(1)
  const b = net(2)
  let differ = 0
  for (let i = 1; i < 50; i++) if (a.latency(0, i) !== b.latency(0, i)) differ++
  t.ok(differ > 40)
})

t.test('the failure delay is the latency unless fixed', async t => {
  t.equal(net().failureDelay(3, 4), net().latency(3, 4))
  const fixed = new Network({ seed: 1, latency: { min: 10, max: 100 }, loss: 0, failureDelay: 250 })
  t.equal(fixed.failureDelay(3, 4), 250)
})

t.test('dialing reuses an open connection and opens a new epoch after a close', async t => {
  const n = net()
  const e1 = n.dial(0, 1)
  t.equal(n.dial(0, 1), e1)
  t.equal(n.hangUp(0, 1), e1)
  t.equal(n.hangUp(0, 1), undefined, 'a closed end cannot be closed twice')
  const e2 = n.dial(0, 1)
  t.ok(e2 > e1)
})

t.test('the receiving end accepts a new connection and drops data on one it closed', async t => {
  const n = net()
  const e1 = n.dial(0, 1)
  t.ok(n.accept(1, 0, e1), 'first message opens the receiving end')
  t.ok(n.accept(1, 0, e1))
  t.equal(n.hangUp(1, 0), e1)
  t.notOk(n.accept(1, 0, e1), 'data still in flight on a connection the receiver closed is lost')
  t.equal(n.dial(0, 1), e1, 'until told, the sender keeps writing into the old connection')
  t.ok(n.close(0, 1, e1), 'the close notice reaches the sender')
  const e2 = n.dial(0, 1)
  t.ok(e2 > e1)
  t.ok(n.accept(1, 0, e2), 'a fresh connection gets through')
  t.notOk(n.accept(1, 0, e1), 'an older connection stays dead')
})

t.test('a close notice only reports a link the end believed open', async t => {
  const n = net()
  const e1 = n.dial(0, 1)
  n.accept(1, 0, e1)
  t.ok(n.close(1, 0, e1), 'open end: the node must be told')
  t.notOk(n.close(1, 0, e1), 'told once')
  t.notOk(n.close(2, 0, n.dial(0, 2)), 'a connection whose first message has not arrived is not reported...')
  t.notOk(n.accept(2, 0, n.end(0, 2)?.epoch as number), '...and its late data is dropped')
  const e3 = n.dial(3, 4)
  n.accept(4, 3, e3)
  n.hangUp(3, 4)
  const e4 = n.dial(3, 4)
  n.accept(4, 3, e4)
  t.notOk(n.close(4, 3, e3), 'the close of a replaced connection is stale')
  t.ok(n.end(4, 3)?.open)
})

t.test('a partition separates groups until mended; unlisted nodes form one more group', async t => {
  const n = net()
  n.partition([[0, 1], [2, 3]], 50)
  t.ok(n.partitioned)
  t.ok(n.reachable(0, 1))
  t.ok(n.reachable(2, 3))
  t.notOk(n.reachable(1, 2))
  t.ok(n.reachable(10, 11))
  t.notOk(n.reachable(10, 0))
  n.mend()
  t.notOk(n.partitioned)
  t.ok(n.reachable(1, 2))
})
