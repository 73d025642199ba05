/**
 * A bounded map whose entries expire. Entries are kept in insertion order, which is expiry order
 * as long as every entry of one map gets the same lifetime and time does not run backwards: so
 * both eviction of expired entries and dropping the oldest when full only ever touch the front.
 */
/*
 * Why a queue beside the Map: deleting the oldest key of a large JS Map and asking for the next
 * oldest with `keys().next()` walks over every deleted slot until V8 rehashes, which measured ~20 µs
 * per message once a 10,000-entry cache was full. The queue makes both eviction paths O(1)
 * amortised. An entry costs a Map entry and three array slots, no object: the seen-id window
 * (`ExpiringSet`) sits on the hot path of every delivered message.
 */
export class ExpiringMap<K, V> {
  /** Key -> its slot in the arrays below. */
  private readonly slots = new Map<K, number>()
  /** Keys in insertion order (`undefined`: refreshed or deleted), with their values and expiries. */
  private order: Array<K | undefined> = []
  private values: Array<V | undefined> = []
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

  get (key: K): V | undefined {
    const slot = this.slots.get(key)
    return slot === undefined ? undefined : this.values[slot]
  }

  /**
   * Insert (or refresh) `key`; a refreshed key moves to the back. Past capacity the oldest entries
   * are dropped, so memory stays bounded even when the eviction timer falls behind.
   */
  set (key: K, value: V, expires: number): void {
    if (this.capacity === 0) return
    const previous = this.slots.get(key)
    if (previous !== undefined) this.clearSlot(previous)
    this.slots.set(key, this.order.length)
    this.order.push(key)
    this.values.push(value)
    this.expiries.push(expires)
    while (this.slots.size > this.capacity) this.dropOldest()
    this.compact()
  }

  delete (key: K): boolean {
    const slot = this.slots.get(key)
    if (slot === undefined) return false
    this.clearSlot(slot)
    this.slots.delete(key)
    this.compact()
    return true
  }

  /** Drop every entry that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    let dropped = 0
    while (this.skipStale() && (this.expiries[this.head] as number) <= now) {
      this.dropOldest()
      dropped++
    }
    this.compact()
    return dropped
  }

  /** Expiry time of the oldest entry, or undefined when empty. */
  oldestExpiry (): number | undefined {
    return this.skipStale() ? this.expiries[this.head] : undefined
  }

  keys (): IterableIterator<K> {
    return this.slots.keys()
  }

  clear (): void {
    this.slots.clear()
    this.order = []
    this.values = []
    this.expiries = []
    this.head = 0
  }

  private clearSlot (slot: number): void {
    this.order[slot] = undefined
    this.values[slot] = undefined
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
    this.clearSlot(this.head)
    this.head++
  }

  /**
   * Reclaim stale slots now and then (a consumed front, or keys refreshed or deleted in the
   * middle), so the arrays stay within a constant factor of the live entries; slots are renumbered.
   */
  private compact (): void {
    const used = this.order.length - this.head
    const frontIsLarge = this.head >= 1024 && this.head * 2 >= this.order.length
    if (!frontIsLarge && used <= 2 * this.slots.size + 1024) return
    const order: Array<K | undefined> = []
    const values: Array<V | undefined> = []
    const expiries: number[] = []
    for (let i = this.head; i < this.order.length; i++) {
      const key = this.order[i]
      if (key === undefined || this.slots.get(key) !== i) continue
      this.slots.set(key, order.length)
      order.push(key)
      values.push(this.values[i])
      expiries.push(this.expiries[i] as number)
    }
    this.order = order
    this.values = values
    this.expiries = expiries
    this.head = 0
  }
}
