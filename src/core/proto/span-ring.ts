/**
 * A ring of variable-length spans in one typed array, allocated and released first in, first out:
 * what the delivered log keeps of each message (its id's characters, its payload's bytes) without
 * one heap object per message. A span that does not fit before the end starts again at 0; when
 * nothing fits, the ring doubles and its live spans move to the front (`relocate` says where).
 */
export type Units = Uint8Array | Uint16Array

export class SpanRing<T extends Units> {
  buf: T
  /** Whether the last `alloc` had to grow the ring (every live span moved: see `relocate`). */
  grew = false
  /** Start of the oldest live span, and where the next one goes. */
  private head = 0
  private tail = 0
  /** Where the data before the wrap ends, while the live spans wrap round (-1: they do not). */
  private wrapAt = -1
  private live = 0
  /** How the last growth moved spans: `relocate` maps an offset from before it to after it. */
  private movedHead = 0
  private movedFirst = 0
  private movedWrapped = false

  constructor (private readonly make: (length: number) => T, initial: number) {
    this.buf = make(initial)
  }

  /**
   * Room for `n` units; returns the offset. Sets `grew` when the ring had to double: every live
   * span moved, and `relocate` gives its new offset. An empty span takes no room and has no place
   * (offset 0, never to be relocated). A number and a flag, not an object: this runs per message.
   */
  alloc (n: number): number {
    this.grew = false
    if (n === 0) return 0
    if (this.live === 0) {
      this.head = 0
      this.tail = 0
      this.wrapAt = -1
    }
    let at = this.place(n)
    if (at < 0) {
      this.grow(n)
      this.grew = true
      at = this.place(n)
    }
    this.live++
    return at
  }

  /** Release the oldest live span (`at`, `n` as allocated). */
  release (at: number, n: number): void {
    if (n === 0) return
    this.live--
    this.head = at + n
    if (this.wrapAt >= 0 && this.head >= this.wrapAt) {
      this.head = 0
      this.wrapAt = -1
    }
  }

  /** Where a (non-empty) span that was at `at` before the last growth is now. */
  relocate (at: number): number {
    return this.movedWrapped && at < this.movedHead ? at + this.movedFirst : at - this.movedHead
  }

  private place (n: number): number {
    const at = this.tail
    if (this.wrapAt < 0) {
      if (at + n <= this.buf.length) {
        this.tail += n
        return at
      }
      if (n <= this.head && this.live > 0) {
        this.wrapAt = at
        this.tail = n
        return 0
      }
      return -1
    }
    if (at + n <= this.head) {
      this.tail += n
      return at
    }
    return -1
  }

  private grow (n: number): void {
    const old = this.buf
    const first = this.wrapAt < 0 ? this.tail - this.head : this.wrapAt - this.head
    const second = this.wrapAt < 0 ? 0 : this.tail
    let length = Math.max(1, old.length)
    while (length < first + second + n) length *= 2
    if (length === old.length) length *= 2
    const next = this.make(length)
    next.set(old.subarray(this.head, this.head + first), 0)
    if (second > 0) next.set(old.subarray(0, second), first)
    this.movedHead = this.head
    this.movedFirst = first
    this.movedWrapped = this.wrapAt >= 0
    this.buf = next
    this.head = 0
    this.tail = first + second
    this.wrapAt = -1
  }
}
