/**
 * A bounded set whose members expire: the seen-id window. Same ordering argument as
 * `ExpiringMap` (insertion order is expiry order) and the same insertion-order queue, so that
 * dropping the oldest never walks over the holes a JS Map leaves at its front. A member costs a
 * Map entry and two array slots, no object: it sits on the hot path of every delivered message.
 */
export class ExpiringSet<K> {
  /** Member -> its slot in the queue below. */
  private readonly slots = new Map<K, number>()
  /** Members in insertion order (`undefined`: refreshed or dropped) and their expiry times. */
  private order: Array<K | undefined> = []
  private expiries: number[] = []
  private head = 0
  readonly capacity: number

  constructor (capacity: number) {
    this.capacity = Math.max(0, capacity)
  }

  get size (): number {
    return this.slots.size
  }

  has (key: K): boolean {
    return this.slots.has(key)
  }

  /** Add (or refresh, moving it to the back) `key`; past capacity the oldest members go. */
  add (key: K, expires: number): void {
    if (this.capacity === 0) return
    const previous = this.slots.get(key)
    if (previous !== undefined) this.order[previous] = undefined
    this.slots.set(key, this.order.length)
    this.order.push(key)
    this.expiries.push(expires)
    while (this.slots.size > this.capacity) this.dropOldest()
    this.compact()
  }

  /** Drop every member that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    let dropped = 0
    while (this.skipStale() && (this.expiries[this.head] as number) <= now) {
      this.dropOldest()
      dropped++
    }
    this.compact()
    return dropped
  }

  /** Expiry time of the oldest member, or undefined when empty. */
  oldestExpiry (): number | undefined {
    return this.skipStale() ? this.expiries[this.head] : undefined
  }

  /** Moves `head` to the oldest live slot; false when there is none. */
  private skipStale (): boolean {
    while (this.head < this.order.length) {
      const key = this.order[this.head]
      if (key !== undefined && this.slots.get(key) === this.head) return true
      this.head++
    }
    return false
  }

  private dropOldest (): void {
    if (!this.skipStale()) return
    this.slots.delete(this.order[this.head] as K)
    this.order[this.head] = undefined
    this.head++
  }

  /** Reclaim stale slots now and then so the queue stays within a constant factor of the members. */
  private compact (): void {
    const used = this.order.length - this.head
    const frontIsLarge = this.head >= 1024 && this.head * 2 >= this.order.length
    if (!frontIsLarge && used <= 2 * this.slots.size + 1024) return
    const order: Array<K | undefined> = []
    const expiries: number[] = []
    for (let i = this.head; i < this.order.length; i++) {
      const key = this.order[i]
      if (key === undefined || this.slots.get(key) !== i) continue
      this.slots.set(key, order.length)
      order.push(key)
      expiries.push(this.expiries[i] as number)
    }
    this.order = order
    this.expiries = expiries
    this.head = 0
  }
}
