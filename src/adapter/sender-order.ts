/**
 * Restores each sender's publish order. Plumtree delivers every message once but not necessarily in
 * the order it was published (a message repaired through GRAFT overtakes nothing, the ones after it
 * overtake it). Each sender numbers its messages; a receiver delivers them in that order, holding
 * back a message that arrives after a gap until the gap is filled or until `gapTimeout` has passed
 * since it arrived, then gives up on the gap (counted in `skipped`) so one lost message cannot stall
 * a sender for ever.
 *
 * The first message heard from a sender sets where its sequence starts: whatever it published
 * before we were listening is not ours to wait for.
 */

export interface SenderOrderOptions<T> {
  /** Longest time a message is held back waiting for an earlier one, ms. */
  gapTimeout: number
  /** Messages held per sender at most; past it the oldest gap is given up at once. */
  maxHeld: number
  /** Called in order for each message (`item` undefined for a filler that takes a number's place). */
  deliver: (sender: string, item: T) => void
  /** Called when a gap is given up. */
  skipped?: (sender: string, from: number, count: number) => void
  /** Called for a message older than what was already delivered (it arrived after its gap was given up). */
  late?: (sender: string, seq: number) => void
  /** Clock and timers, injectable so the logic can be tested without waiting. */
  now?: () => number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (timer: unknown) => void
}

interface Held<T> {
  item: T | undefined
  at: number
}

interface SenderState<T> {
  next: number
  held: Map<number, Held<T>>
  timer: unknown
}

export interface OrderStats {
  /** Sequence numbers given up after waiting. */
  skipped: number
  /** Messages dropped because they arrived after their gap was given up. */
  late: number
  /** Messages currently held back. */
  held: number
}

export class SenderOrder<T> {
  private readonly senders = new Map<string, SenderState<T>>()
  private readonly now: () => number
  private readonly setTimer: (fn: () => void, ms: number) => unknown
  private readonly clearTimer: (timer: unknown) => void
  private skippedTotal = 0
  private lateTotal = 0

  constructor (private readonly options: SenderOrderOptions<T>) {
    this.now = options.now ?? Date.now
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
    this.clearTimer = options.clearTimer ?? (t => { clearTimeout(t as NodeJS.Timeout) })
  }

  get stats (): OrderStats {
    let held = 0
    for (const s of this.senders.values()) held += s.held.size
    return { skipped: this.skippedTotal, late: this.lateTotal, held }
  }

  /** `item` undefined marks a filler: the number is used up but there is nothing to deliver. */
  receive (sender: string, seq: number, item: T | undefined): void {
    let state = this.senders.get(sender)
    if (state === undefined) {
      state = { next: seq, held: new Map(), timer: undefined }
      this.senders.set(sender, state)
    }
    if (seq < state.next) {
      this.lateTotal++
      this.options.late?.(sender, seq)
      return
    }
    if (seq > state.next) {
      if (!state.held.has(seq)) state.held.set(seq, { item, at: this.now() })
      if (state.held.size > this.options.maxHeld) this.giveUpGap(sender, state)
      else this.armTimer(sender, state)
      return
    }
    state.next++
    if (item !== undefined) this.options.deliver(sender, item)
    this.drain(sender, state)
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
    this.senders.delete(sender)
  }

  close (): void {
    for (const sender of [...this.senders.keys()]) this.forget(sender)
  }

  private drain (sender: string, state: SenderState<T>): void {
    let next = state.held.get(state.next)
    while (next !== undefined) {
      state.held.delete(state.next)
      state.next++
      if (next.item !== undefined) this.options.deliver(sender, next.item)
      next = state.held.get(state.next)
    }
    this.rearm(sender, state)
  }

  /** Skip to the lowest held number and deliver the run that starts there. */
  private giveUpGap (sender: string, state: SenderState<T>): void {
    const lowest = Math.min(...state.held.keys())
    const count = lowest - state.next
    this.skippedTotal += count
    this.options.skipped?.(sender, state.next, count)
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
