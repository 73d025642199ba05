/**
 * The membership messages' token bucket: a burst goes at once, then one per interval.
 */
import t from 'tap'
import { Pacer } from '../../src/adapter/pacer.js'

t.test('a burst goes at once, the next waits for a token', async t => {
  const pacer = new Pacer(3, 1000, 0)
  for (let i = 0; i < 3; i++) {
    t.equal(pacer.wait(10), 0, `message ${i + 1} of the burst goes now`)
    pacer.take(10)
  }
  t.equal(pacer.wait(10), 1000, 'the fourth waits a whole interval')
  t.equal(pacer.wait(510), 500, 'half an interval later, half of it')
  t.equal(pacer.wait(1010), 0, 'an interval later, one token is back')
  pacer.take(1010)
  t.equal(pacer.wait(1010), 1000, 'and spent')
})

t.test('tokens refill up to the burst, never past it', async t => {
  const pacer = new Pacer(2, 100, 0)
  pacer.take(0)
  pacer.take(0)
  t.equal(pacer.wait(1_000_000), 0)
  pacer.take(1_000_000)
  pacer.take(1_000_000)
  t.equal(pacer.wait(1_000_000), 100, 'a long quiet spell buys two, not ten thousand')
})

t.test('a clock that steps back neither refills nor breaks the bucket', async t => {
  const pacer = new Pacer(1, 100, 1000)
  pacer.take(1000)
  t.equal(pacer.wait(500), 100, 'earlier than the last reading: nothing refilled')
  t.equal(pacer.wait(1100), 0, 'an interval after the last reading: one token')
})
