import t from 'tap'
import { SenderOrder } from '../../src/adapter/sender-order.js'
import type { SenderOrderOptions } from '../../src/adapter/sender-order.js'

/** A SenderOrder on a manual clock: `advance(ms)` fires the timers that fall due. */
function harness (overrides: Partial<SenderOrderOptions<string>> = {}) {
  let now = 0
  let timers: Array<{ at: number, fn: () => void, id: number }> = []
  let ids = 0
  const delivered: string[] = []
  const skips: Array<[string, number, number]> = []
  const late: Array<[string, number]> = []
  const order = new SenderOrder<string>({
    gapTimeout: 1000,
    maxHeld: 100,
    deliver: (sender, item) => { delivered.push(`${sender}:${item}`) },
    skipped: (sender, from, count) => { skips.push([sender, from, count]) },
    late: (sender, seq) => { late.push([sender, seq]) },
    now: () => now,
    setTimer: (fn, ms) => { const id = ++ids; timers.push({ at: now + ms, fn, id }); return id },
    clearTimer: (id) => { timers = timers.filter(x => x.id !== id) },
    ...overrides
  })
  const advance = (ms: number): void => {
    const until = now + ms
    for (;;) {
      const due = timers.filter(x => x.at <= until).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      timers = timers.filter(x => x !== due)
      now = due.at
      due.fn()
    }
    now = until
  }
  return { order, delivered, skips, late, advance, pendingTimers: () => timers.length }
}

t.test('in-order messages are delivered at once', async t => {
  const h = harness()
  h.order.receive('a', 7, 'x')
  h.order.receive('a', 8, 'y')
  t.same(h.delivered, ['a:x', 'a:y'])
  t.equal(h.pendingTimers(), 0)
})

t.test('the first message heard from a sender sets where its sequence starts', async t => {
  const h = harness()
  h.order.receive('a', 500, 'first')
  t.same(h.delivered, ['a:first'])
})

t.test('a number before the first one heard, arriving soon after it by a slower path, is delivered out of turn, not dropped', async t => {
  const early: number[] = []
  const h = harness({ outOfTurn: (_sender, seq, _item, why) => { if (why === 'beforeStart') early.push(seq) } })
  h.order.receive('a', 7, 'm7')      // straight from the sender
  h.advance(400)
  h.order.receive('a', 0, 'm0')      // its first message, through the overlay
  h.order.receive('a', 1, 'm1')
  h.order.receive('a', 0, 'm0 again')
  h.order.receive('a', 8, 'm8')
  t.same(h.delivered, ['a:m7', 'a:m0', 'a:m1', 'a:m8'])
  t.same(early, [0, 1])
  t.same(h.late, [['a', 0]], 'a second copy is late')
  t.match(h.order.stats, { beforeStart: 2, late: 1, skipped: 0 })
})

t.test('past gapTimeout after the first one heard, an earlier number is late', async t => {
  const h = harness()
  h.order.receive('a', 7, 'm7')
  h.advance(1001)
  h.order.receive('a', 6, 'm6')
  t.same(h.delivered, ['a:m7'])
  t.same(h.late, [['a', 6]])
  t.match(h.order.stats, { beforeStart: 0, late: 1 })
})

t.test('a number at or after the first one heard, once delivered, is late even early on', async t => {
  const h = harness()
  h.order.receive('a', 7, 'm7')
  h.order.receive('a', 8, 'm8')
  h.order.receive('a', 8, 'm8 again')
  t.same(h.delivered, ['a:m7', 'a:m8'])
  t.same(h.late, [['a', 8]])
})

t.test('a message after a gap is held back until the gap is filled, then both go in order', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 3, 'm3')
  t.same(h.delivered, ['a:m0'])
  t.equal(h.order.stats.held, 2)
  h.order.receive('a', 1, 'm1')
  t.same(h.delivered, ['a:m0', 'a:m1', 'a:m2', 'a:m3'])
  t.equal(h.order.stats.held, 0)
  t.equal(h.pendingTimers(), 0, 'no timer is left once nothing is held')
})

t.test('senders are ordered independently: a gap of one does not hold back another', async t => {
  const h = harness()
  h.order.receive('a', 0, 'a0')
  h.order.receive('b', 0, 'b0')
  h.order.receive('a', 2, 'a2')
  h.order.receive('b', 1, 'b1')
  t.same(h.delivered, ['a:a0', 'b:b0', 'b:b1'])
})

t.test('a gap is given up after the timeout, counted, and what follows is delivered', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 3, 'm3')
  h.advance(999)
  t.same(h.delivered, ['a:m0'], 'still waiting just before the timeout')
  h.advance(1)
  t.same(h.delivered, ['a:m0', 'a:m3'])
  t.same(h.skips, [['a', 1, 2]])
  t.equal(h.order.stats.skipped, 2)
})

t.test('no held message waits longer than the timeout, even behind several gaps', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 5, 'm5')
  h.advance(500)
  h.order.receive('a', 2, 'm2')
  h.advance(500)
  t.same(h.delivered, ['a:m0', 'a:m2', 'a:m5'], 'm5 waited its full timeout, so every gap before it is given up')
  t.same(h.skips, [['a', 1, 1], ['a', 3, 2]])
})

t.test('a message that arrives after its gap was given up is delivered out of turn, not dropped (a stalled link, overtaken by another path)', async t => {
  const cameLate: number[] = []
  const h = harness({ outOfTurn: (_sender, seq, _item, why) => { if (why === 'givenUp') cameLate.push(seq) } })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 4, 'm4')      // by another path, while 1 to 3 sit on a stalled link
  h.advance(1000)
  t.same(h.skips, [['a', 1, 3]])
  h.order.receive('a', 1, 'm1')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 3, 'm3')
  t.same(h.delivered, ['a:m0', 'a:m4', 'a:m1', 'a:m2', 'a:m3'])
  t.same(cameLate, [1, 2, 3])
  t.same(h.late, [])
  t.match(h.order.stats, { skipped: 3, lateDelivered: 3, late: 0 })
})

t.test('a number given up is delivered once: a second copy of it is dropped as late', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 5, 'm5')
  h.advance(1000)
  h.order.receive('a', 3, 'm3')      // from the middle of the run given up: it splits
  h.order.receive('a', 3, 'm3 again')
  h.order.receive('a', 1, 'm1')
  h.order.receive('a', 4, 'm4')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 2, 'm2 again')
  h.order.receive('a', 5, 'm5 again')
  t.same(h.delivered, ['a:m0', 'a:m5', 'a:m3', 'a:m1', 'a:m4', 'a:m2'])
  t.same(h.late, [['a', 3], ['a', 2], ['a', 5]])
  t.match(h.order.stats, { lateDelivered: 4, late: 3 })
})

t.test('a number given up and come later than lateFor is dropped as late', async t => {
  const h = harness({ lateFor: 5000 })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 3, 'm3')
  h.advance(1000)                    // 1 and 2 given up
  h.advance(4999)
  h.order.receive('a', 1, 'm1')
  h.advance(2)
  h.order.receive('a', 2, 'm2')
  t.same(h.delivered, ['a:m0', 'a:m3', 'a:m1'])
  t.same(h.late, [['a', 2]])
})

t.test('lateFor defaults to ten times gapTimeout', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 3, 'm3')
  h.advance(1000 + 10_000)
  h.order.receive('a', 1, 'm1')
  h.advance(1)
  h.order.receive('a', 2, 'm2')
  t.same(h.delivered, ['a:m0', 'a:m3', 'a:m1'])
})

t.test('the runs of numbers given up are bounded per sender: the oldest are forgotten', async t => {
  const h = harness({ lateFor: 1e9 })
  h.order.receive('a', 0, 'm0')
  // 70 gaps of one number each, given up one after the other.
  for (let k = 1; k <= 70; k++) {
    h.order.receive('a', 2 * k, `m${2 * k}`)
    h.advance(1000)
  }
  t.equal(h.order.stats.skipped, 70)
  h.order.receive('a', 1, 'm1')       // among the 6 oldest runs: forgotten
  h.order.receive('a', 139, 'm139')   // the newest: remembered
  t.same(h.late, [['a', 1]])
  t.equal(h.delivered.at(-1), 'a:m139')
  t.equal(h.order.stats.lateDelivered, 1)
})

t.test('a filler uses up its number without delivering anything', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 1, undefined)
  t.same(h.delivered, ['a:m0', 'a:m2'])
  t.equal(h.order.stats.skipped, 0)
})

t.test('past maxHeld the oldest gap is given up at once', async t => {
  const h = harness({ maxHeld: 2 })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 3, 'm3')
  t.same(h.delivered, ['a:m0'])
  h.order.receive('a', 5, 'm5')
  t.same(h.delivered, ['a:m0', 'a:m2', 'a:m3'])
  t.equal(h.order.stats.held, 1)
})

t.test('a duplicate of a held message is held once', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 2, 'm2 again')
  h.order.receive('a', 1, 'm1')
  t.same(h.delivered, ['a:m0', 'a:m1', 'a:m2'])
})

t.test('flush delivers everything held in order and forgets the sender', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 4, 'm4')
  h.order.receive('a', 2, 'm2')
  h.order.flush('a')
  t.same(h.delivered, ['a:m0', 'a:m2', 'a:m4'])
  t.equal(h.pendingTimers(), 0)
  h.order.receive('a', 0, 'again')
  t.same(h.delivered.at(-1), 'a:again', 'a forgotten sender starts afresh')
})

t.test('forgetting a sender while its messages are being delivered stops the delivery', async t => {
  const delivered: string[] = []
  const order: SenderOrder<string> = new SenderOrder<string>({
    gapTimeout: 1000,
    maxHeld: 100,
    deliver: (sender, item) => {
      delivered.push(item)
      if (item === 'close') order.forget(sender)
    }
  })
  order.receive('a', 0, 'm0')
  order.receive('a', 2, 'after close')
  order.receive('a', 1, 'close')
  t.same(delivered, ['m0', 'close'])
  t.equal(order.stats.held, 0)
  order.close()
})

t.test('close clears every timer', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('b', 0, 'b0')
  h.order.receive('b', 5, 'b5')
  t.equal(h.pendingTimers(), 2)
  h.order.close()
  t.equal(h.pendingTimers(), 0)
})

t.test('a number beyond the window is held aside: it neither stalls the sender nor moves its sequence', async t => {
  const h = harness({ window: 100, resyncAfter: 5000 })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', Number.MAX_SAFE_INTEGER, 'forged')
  h.order.receive('a', 1, 'm1')
  t.same(h.delivered, ['a:m0', 'a:m1'], 'the next number is delivered at once')
  h.advance(10_000)
  h.order.receive('a', Number.MAX_SAFE_INTEGER - 1, 'forged again')
  h.order.receive('a', 2, 'm2')
  t.same(h.delivered, ['a:m0', 'a:m1', 'a:m2'], 'while the sender keeps talking within the window, the jump is never believed')
  t.same(h.order.stats, { skipped: 0, late: 0, lateDelivered: 0, held: 0, outOfWindow: 2, resyncs: 0, beforeStart: 0 })
  t.same(h.skips, [])
})

t.test('a number far behind is held aside too (it is not merely late)', async t => {
  const h = harness({ window: 100 })
  h.order.receive('a', 5_000, 'm5000')
  h.order.receive('a', 3, 'old')
  h.order.receive('a', 5_001, 'm5001')
  t.same(h.delivered, ['a:m5000', 'a:m5001'])
  t.same(h.order.stats, { skipped: 0, late: 0, lateDelivered: 0, held: 0, outOfWindow: 1, resyncs: 0, beforeStart: 0 })
})

t.test('when only out-of-window numbers come for resyncAfter, the sequence restarts at the lowest, in order', async t => {
  const resyncs: Array<[string, number, number]> = []
  const h = harness({ window: 100, resyncAfter: 3000, resynced: (s, from, previous) => { resyncs.push([s, from, previous]) } })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 20_005, 'n5')
  h.order.receive('a', 20_003, 'n3')
  h.advance(2999)
  h.order.receive('a', 20_006, 'n6')
  t.same(h.delivered, ['a:m0', 'a:m2'], 'the held gap was given up at its timeout; the far numbers wait')
  h.advance(1)
  h.order.receive('a', 20_004, 'n4')
  t.same(h.delivered, ['a:m0', 'a:m2', 'a:n3', 'a:n4', 'a:n5', 'a:n6'])
  t.same(resyncs, [['a', 20_003, 3]])
  t.same(h.order.stats, { skipped: 1, late: 0, lateDelivered: 0, held: 0, outOfWindow: 4, resyncs: 1, beforeStart: 0 })
  h.order.receive('a', 20_007, 'n7')
  t.same(h.delivered.at(-1), 'a:n7', 'and goes on from there')
})

t.test('a restart delivers first what the old window still held', async t => {
  const h = harness({ window: 100, resyncAfter: 500, gapTimeout: 1000 })
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 2, 'm2')
  h.order.receive('a', 9_000, 'far')
  h.advance(500)
  h.order.receive('a', 9_001, 'far+1')
  t.same(h.delivered, ['a:m0', 'a:m2', 'a:far', 'a:far+1'])
})

t.test('a restart at a forged number is undone by the sender\'s real numbers', async t => {
  const h = harness({ window: 100, resyncAfter: 1000 })
  // The first number heard sets the start: a forger that got there first sets a far one.
  h.order.receive('a', Number.MAX_SAFE_INTEGER, 'forged')
  h.order.receive('a', 7, 'm7')
  h.advance(1000)
  h.order.receive('a', 8, 'm8')
  h.order.receive('a', 9, 'm9')
  t.same(h.delivered, ['a:forged', 'a:m7', 'a:m8', 'a:m9'])
  t.equal(h.order.stats.resyncs, 1)
})

t.test('out-of-window numbers held aside are bounded by maxHeld, keeping the lowest', async t => {
  const h = harness({ window: 10, maxHeld: 3, resyncAfter: 100 })
  h.order.receive('a', 0, 'm0')
  for (const seq of [500, 400, 300, 200, 100]) h.order.receive('a', seq, `n${seq}`)
  t.equal(h.order.stats.held, 3)
  h.advance(100)
  h.order.receive('a', 600, 'n600')
  t.same(h.delivered, ['a:m0', 'a:n100'], 'the restart begins at the lowest; the rest is beyond its window')
})

t.test('after the receiver lagged, a jump as far as what it dropped is an ordinary gap, for resyncAfter', async t => {
  const h = harness({ window: 100, resyncAfter: 5000 })
  h.order.receive('a', 0, 'a0')
  h.order.receive('b', 0, 'b0')
  h.order.missed(30_000)
  h.order.receive('a', 25_000, 'a after the lag')
  h.order.receive('b', 60_000, 'b beyond it')
  t.equal(h.order.stats.outOfWindow, 1, 'the slack is what was dropped, no more')
  h.advance(1000)
  t.same(h.delivered, ['a:a0', 'b:b0', 'a:a after the lag'], 'given up after gapTimeout, as any gap')
  h.advance(4001)
  h.order.receive('a', 25_500, 'a much later')
  t.equal(h.order.stats.outOfWindow, 2, 'past resyncAfter the window is back to its size')
})

t.test('a message that says which earlier numbers were not sent here (`from`) stands for them', async t => {
  const h = harness()
  h.order.receive('a', 0, 'm0')
  h.order.receive('a', 5, 'm5', 3)      // 3 and 4 went elsewhere; 1 and 2 came here and are late
  t.same(h.delivered, ['a:m0'], 'held for 1 and 2')
  h.order.receive('a', 2, 'm2', 2)
  t.same(h.delivered, ['a:m0'])
  h.order.receive('a', 1, 'm1')
  t.same(h.delivered, ['a:m0', 'a:m1', 'a:m2', 'a:m5'], 'then in order, without waiting for 3 and 4')
  h.order.receive('a', 9, 'm9', 6)
  t.same(h.delivered.at(-1), 'a:m9', 'a message standing for everything since the last one is delivered at once')
  t.equal(h.order.position('a'), 10)
  t.same(h.skips, [])
  t.equal(h.pendingTimers(), 0)
})
