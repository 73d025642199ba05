/**
 * Restores each sender's publish order. Plumtree delivers every message once but not necessarily in
 * the order it was published (a message repaired through GRAFT overtakes nothing, the ones after it
 * overtake it). Each sender numbers its messages; a receiver delivers them in that order, holding
 * back a message that arrives after a gap until the gap is filled or until `gapTimeout` has passed
 * since it arrived, then gives up on the gap (counted in `skipped`) so one lost message cannot stall
 * a sender for ever.
 *
 * A number given up is not necessarily lost, only slow: a link that stalls (TCP backing off after
 * losses) holds everything sent on it, while a later number comes by another path (a heartbeat
 * through the overlay) and starts the wait. When the held ones come after all, they are delivered
 * out of turn (counted in `lateDelivered`) rather than dropped: each number given up is remembered
 * for `lateFor`, and delivered at most once.
 *
 * The first message heard from a sender sets where its sequence starts: whatever it published
 * before we were listening is not ours to wait for. But what it published just before may still be
 * on its way by a slower path (a restarted server's first messages go through the overlay, two hops
 * and maybe a GRAFT, while a later one comes straight): the `maxHeld` numbers before the first one
 * are remembered in the same way, for `gapTimeout`, and delivered out of turn if they come
 * (counted in `beforeStart`).
 *
 * A number further than `window` from the next expected one (ahead or behind) is not taken at its
 * word: a sender does not skip ten thousand numbers, so it is held aside, never delivered out of
 * turn, and never moves where the sequence stands. Messages within the window keep flowing
 * meanwhile, so a stray `MAX_SAFE_INTEGER` silences nobody. Only when nothing but out-of-window
 * numbers has come from the sender for `resyncAfter` (this receiver really did miss more than the
 * window, say) does its sequence restart at the lowest of them: the gap is bounded in time. A
 * receiver that knows it dropped messages (its subscription lagged) says so with `missed(count)`:
 * for `resyncAfter` the window is that much wider, and such a jump is an ordinary gap.
 */

export interface SenderOrderOptions<T> {
  /** Longest time a message is held back waiting for an earlier one, ms. */
  gapTimeout: number
  /** Messages held per sender at most; past it the oldest gap is given up at once. */
  maxHeld: number
  /** Largest distance from the next expected number a message may be at and still be ordered. Default 10 000. */
  window?: number
  /** How long only out-of-window numbers must keep coming before the sequence restarts at them, ms. Default `gapTimeout`. */
  resyncAfter?: number
  /** Called in order for each message (`item` undefined for a filler that takes a number's place). */
  deliver: (sender: string, item: T) => void
  /** Called when a gap is given up. */
  skipped?: (sender: string, from: number, count: number) => void
  /** How long a number given up may still come and be delivered out of turn, ms. Default 10 × `gapTimeout`. */
  lateFor?: number
  /** Called for a message older than what was already delivered, and dropped: a second copy, or later than `lateFor`. */
  late?: (sender: string, seq: number) => void
  /**
   * Called once a message below the next expected number was delivered out of turn: its number
   * was given up and it came after all, or it is from just before the first one heard.
   */
  outOfTurn?: (sender: string, seq: number, item: T | undefined, why: 'givenUp' | 'beforeStart') => void
  /** Called when a sender's sequence restarts at `from` (`previous` was the number expected). */
  resynced?: (sender: string, from: number, previous: number) => void
  /** Clock and timers, injectable so the logic can be tested without waiting. */
  now?: () => number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (timer: unknown) => void
}

interface Held<T> {
  item: T | undefined
  at: number
  /** The message's own number (a held message is keyed by the first number it stands for). */
  seq: number
  /** The first number it stands for (`receive`'s `from`). */
  from: number
}

interface SenderState<T> {
  next: number
  held: Map<number, Held<T>>
  timer: unknown
  /** Out-of-window messages since the last one within the window, the first of them at `since`. */
  stray: { since: number, items: Map<number, Held<T>> } | undefined
  /** Numbers this receiver may have missed (it lagged): the window is that much wider until `slackUntil`. */
  slack: number
  slackUntil: number
  /** Numbers below `next` not delivered that may still come, oldest first (see `Missing`). */
  missing: Missing[]
}

/**
 * Numbers [from, to) that may still come and be delivered out of turn until `until`: given up
 * (for `lateFor`), or just before the first number heard (for `gapTimeout`).
 */
interface Missing { from: number, to: number, until: number, why: 'givenUp' | 'beforeStart' }

/** Runs of missing numbers remembered per sender; past it the oldest is forgotten. */
const MAX_MISSING_RUNS = 64

export interface OrderStats {
  /** Sequence numbers given up after waiting. */
  skipped: number
  /** Messages dropped because they were older than what was delivered: second copies, or past `lateFor`. */
  late: number
  /** Messages whose number had been given up, delivered out of turn when they came after all. */
  lateDelivered: number
  /** Messages currently held back (within the window or out of it). */
  held: number
  /** Messages whose number was out of the window when they arrived. */
  outOfWindow: number
  /** Times a sender's sequence restarted after only out-of-window numbers came for `resyncAfter`. */
  resyncs: number
  /** Messages numbered before the first one heard from their sender, delivered out of turn. */
  beforeStart: number
}

const DEFAULT_WINDOW = 10_000

export class SenderOrder<T> {
  private readonly senders = new Map<string, SenderState<T>>()
  private readonly now: () => number
  private readonly setTimer: (fn: () => void, ms: number) => unknown
  private readonly clearTimer: (timer: unknown) => void
  private readonly window: number
  private readonly resyncAfter: number
  private skippedTotal = 0
  private lateTotal = 0
  private outOfWindowTotal = 0
  private resyncTotal = 0
  private beforeStartTotal = 0
  private lateDeliveredTotal = 0
  private readonly lateFor: number

  constructor (private readonly options: SenderOrderOptions<T>) {
    this.now = options.now ?? Date.now
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.clearTimer = options.clearTimer ?? (t => { clearTimeout(t as NodeJS.Timeout) })
    this.window = options.window ?? DEFAULT_WINDOW
    this.resyncAfter = options.resyncAfter ?? options.gapTimeout
    this.lateFor = options.lateFor ?? 10 * options.gapTimeout
  }

  get stats (): OrderStats {
    let held = 0
    for (const s of this.senders.values()) held += s.held.size + (s.stray?.items.size ?? 0)
    return { skipped: this.skippedTotal, late: this.lateTotal, lateDelivered: this.lateDeliveredTotal, held, outOfWindow: this.outOfWindowTotal, resyncs: this.resyncTotal, beforeStart: this.beforeStartTotal }
  }

  /** The next number expected from `sender`: every earlier one was delivered or given up. */
  position (sender: string): number | undefined {
    return this.senders.get(sender)?.next
  }

  /** `position` of every sender heard from. */
  positions (): Map<string, number> {
    const positions = new Map<string, number>()
    for (const [sender, state] of this.senders) positions.set(sender, state.next)
    return positions
  }

  /**
   * `item` undefined marks a filler: the number is used up but there is nothing to deliver. `from`
   * (room routing): the sender says numbers `from` to `seq - 1` were not sent to this receiver, so
   * the message stands for all of them and is held back only for numbers before `from`.
   */
  receive (sender: string, seq: number, item: T | undefined, from = seq): void {
    let state = this.senders.get(sender)
    if (state === undefined) {
      const beforeStart: Missing = { from: seq - this.options.maxHeld, to: seq, until: this.now() + this.options.gapTimeout, why: 'beforeStart' }
      state = { next: seq, held: new Map(), timer: undefined, stray: undefined, slack: 0, slackUntil: 0, missing: [beforeStart] }
      this.senders.set(sender, state)
    }
    const reach = this.window + (state.slack > 0 && this.now() < state.slackUntil ? state.slack : 0)
    if (Math.abs(seq - state.next) > reach) {
      this.strayed(sender, state, seq, item, from)
      return
    }
    state.stray = undefined
    if (seq < state.next) {
      if (this.cameAfterAll(sender, state, seq, item)) return
      this.lateTotal = saturatingIncrement(this.lateTotal)
      this.options.late?.(sender, seq)
      return
    }
    // Held under the first number it stands for (never past its own, nor before what is expected).
    const key = Math.max(Math.min(from, seq), state.next)
    if (key > state.next) {
      if (!state.held.has(key)) state.held.set(key, { item, at: this.now(), seq, from })
      if (state.held.size > this.options.maxHeld) this.giveUpGap(sender, state)
      else this.armTimer(sender, state)
      return
    }
    state.next = seq + 1
    if (item !== undefined) this.options.deliver(sender, item)
    this.drain(sender, state)
  }

  /**
   * This receiver dropped `count` messages (its subscription lagged): any sender may be up to that
   * many numbers further on, so for `resyncAfter` a jump that far is an ordinary gap.
   */
  missed (count: number): void {
    const until = this.now() + this.resyncAfter
    for (const state of this.senders.values()) {
      state.slack = Math.min(Number.MAX_SAFE_INTEGER, (this.now() < state.slackUntil ? state.slack : 0) + count)
      state.slackUntil = until
    }
  }

  /** Deliver everything held for `sender` in order, giving up every gap, and forget the sender. */
  flush (sender: string): void {
    const state = this.senders.get(sender)
    if (state === undefined) return
    while (state.held.size > 0) this.giveUpGap(sender, state)
    this.forget(sender)
  }

  /** Drop what is known about `sender` (it left or was declared dead). */
  forget (sender: string): void {
    const state = this.senders.get(sender)
    if (state === undefined) return
    if (state.timer !== undefined) this.clearTimer(state.timer)
    // A drain in progress (delivering the sender's ADAPTER_CLOSE, say) stops at an emptied state.
    state.held.clear()
    state.stray = undefined
    this.senders.delete(sender)
  }

  close (): void {
    for (const sender of [...this.senders.keys()]) this.forget(sender)
  }

  /** Delivers a number below `next` if it is remembered as missing (and forgets it). */
  private cameAfterAll (sender: string, state: SenderState<T>, seq: number, item: T | undefined): boolean {
    const runs = state.missing
    const now = this.now()
    while (runs.length > 0 && runs[0]!.until < now) runs.shift()
    const i = runs.findIndex(r => seq >= r.from && seq < r.to && r.until >= now)
    if (i < 0) return false
    const run = runs[i]!
    if (run.to - run.from === 1) runs.splice(i, 1)
    else if (seq === run.from) run.from++
    else if (seq === run.to - 1) run.to--
    else {
      runs.splice(i, 1, { ...run, to: seq }, { ...run, from: seq + 1 })
      if (runs.length > MAX_MISSING_RUNS) runs.shift()
    }
    if (run.why === 'givenUp') this.lateDeliveredTotal = saturatingIncrement(this.lateDeliveredTotal)
    else this.beforeStartTotal = saturatingIncrement(this.beforeStartTotal)
    if (item !== undefined) this.options.deliver(sender, item)
    this.options.outOfTurn?.(sender, seq, item, run.why)
    return true
  }

  /** Keeps an out-of-window message aside; restarts the sequence once they alone have come for `resyncAfter`. */
  private strayed (sender: string, state: SenderState<T>, seq: number, item: T | undefined, from: number): void {
    this.outOfWindowTotal = saturatingIncrement(this.outOfWindowTotal)
    const now = this.now()
    state.stray ??= { since: now, items: new Map() }
    const items = state.stray.items
    if (!items.has(seq)) {
      // Bounded: past maxHeld the highest number makes room (the lowest is where a restart begins).
      if (items.size >= this.options.maxHeld) {
        const highest = Math.max(...items.keys())
        if (seq < highest) items.delete(highest)
      }
      if (items.size < this.options.maxHeld) items.set(seq, { item, at: now, seq, from })
    }
    if (now - state.stray.since < this.resyncAfter) return
    this.resync(sender, state)
  }

  /** Deliver what the old window still holds, then continue from the lowest out-of-window number. */
  private resync (sender: string, state: SenderState<T>): void {
    const stray = state.stray
    state.stray = undefined
    if (stray === undefined || stray.items.size === 0) return
    while (state.held.size > 0 && this.senders.get(sender) === state) this.giveUpGap(sender, state)
    if (this.senders.get(sender) !== state) return
    const entries = [...stray.items].sort((a, b) => a[0] - b[0])
    const previous = state.next
    state.next = entries[0]![0]
    this.resyncTotal = saturatingIncrement(this.resyncTotal)
    this.options.resynced?.(sender, state.next, previous)
    for (const [seq, held] of entries) {
      if (this.senders.get(sender) !== state) return
      this.receive(sender, seq, held.item, held.from)
    }
  }

  private drain (sender: string, state: SenderState<T>): void {
    let next = state.held.get(state.next)
    while (next !== undefined) {
      state.held.delete(state.next)
      state.next = next.seq + 1
      if (next.item !== undefined) this.options.deliver(sender, next.item)
      next = state.held.get(state.next)
    }
    this.rearm(sender, state)
  }

  /** Skip to the lowest held number and deliver the run that starts there. */
  private giveUpGap (sender: string, state: SenderState<T>): void {
    const lowest = Math.min(...state.held.keys())
    const count = lowest - state.next
    this.skippedTotal = Math.min(Number.MAX_SAFE_INTEGER, this.skippedTotal + count)
    this.options.skipped?.(sender, state.next, count)
    if (count > 0) {
      state.missing.push({ from: state.next, to: lowest, until: this.now() + this.lateFor, why: 'givenUp' })
      if (state.missing.length > MAX_MISSING_RUNS) state.missing.shift()
    }
    state.next = lowest
    this.drain(sender, state)
  }

  private rearm (sender: string, state: SenderState<T>): void {
    if (state.timer !== undefined) {
      this.clearTimer(state.timer)
      state.timer = undefined
    }
    this.armTimer(sender, state)
  }

  /** The timer runs for the message that has waited longest: no held message waits past gapTimeout. */
  private armTimer (sender: string, state: SenderState<T>): void {
    if (state.timer !== undefined || state.held.size === 0) return
    let oldest = Infinity
    for (const h of state.held.values()) oldest = Math.min(oldest, h.at)
    const wait = Math.max(0, oldest + this.options.gapTimeout - this.now())
    state.timer = this.setTimer(() => {
      state.timer = undefined
      if (this.senders.get(sender) !== state || state.held.size === 0) return
      this.giveUpGap(sender, state)
    }, wait)
  }
}

function saturatingIncrement (n: number): number {
  return n < Number.MAX_SAFE_INTEGER ? n + 1 : n
}
