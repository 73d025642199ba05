import t from 'tap'
import { performance } from 'node:perf_hooks'
import { EarliestTimer } from '../../src/core/earliest-timer.js'

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

t.test('fires once, for the earliest time it was armed for', async t => {
  let fired = 0
  const timer = new EarliestTimer(() => performance.now(), () => { fired++ })
  const now = performance.now()
  timer.arm(now + 10_000)
  timer.arm(now + 5)
  timer.arm(now + 20_000)
  await sleep(100)
  t.equal(fired, 1, 'the earlier time replaced the later one; a later one changed nothing')
  await sleep(50)
  t.equal(fired, 1)
})

t.test('once fired it can be armed again; cleared it does not fire', async t => {
  let fired = 0
  const timer = new EarliestTimer(() => performance.now(), () => { fired++ })
  timer.arm(performance.now())
  await sleep(30)
  timer.arm(performance.now() + 5)
  await sleep(60)
  t.equal(fired, 2)
  timer.arm(performance.now() + 5)
  timer.clear()
  await sleep(60)
  t.equal(fired, 2, 'cleared')
  timer.arm(performance.now() + 1_000_000)
  timer.clear()
})
