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
 * (`ExpiringSet`) sits on the hot path of every delivered message, and so does the payload cache.
 */
export class ExpiringMap<K, V> {
  /**
   * Key -> its position: the number of entries set before it (over the map's life), so that
   * dropping the front of the arrays renumbers nothing: `base` moves instead.
   */
  private readonly slots = new Map<K, number>()
  /** Keys in insertion order (`undefined`: refreshed or deleted), with their values and expiries. */
  private order: Array<K | undefined> = []
  private values: Array<V | undefined> = []
  private expiries: number[] = []
  /** The position of `order[0]`. */
  private base = 0
  /** Index of the oldest slot not yet consumed. */
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
    return slot === undefined ? undefined : this.values[slot - this.base]
  }

  /**
   * Insert (or refresh) `key`; a refreshed key moves to the back. Past capacity the oldest entries
   * are dropped, so memory stays bounded even when the eviction timer falls behind.
   */
  set (key: K, value: V, expires: number): void {
    if (this.capacity === 0) return
    const previous = this.slots.get(key)
    if (previous !== undefined) this.clearSlot(previous - this.base)
    this.slots.set(key, this.base + this.order.length)
    this.order.push(key)
    this.values.push(value)
    this.expiries.push(expires)
    while (this.slots.size > this.capacity) this.dropOldest()
    this.compact()
  }

  delete (key: K): boolean {
    const slot = this.slots.get(key)
    if (slot === undefined) return false
    this.clearSlot(slot - this.base)
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
    this.base = 0
    this.head = 0
  }

  /** A slot whose key was refreshed, deleted or dropped: `order` says so (`undefined`), and only there. */
  private clearSlot (slot: number): void {
    this.order[slot] = undefined
    this.values[slot] = undefined
  }

  /** Moves `head` to the oldest live slot; false when there is none. */
  private skipStale (): boolean {
    while (this.head < this.order.length) {
      if (this.order[this.head] !== undefined) return true
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
   * Reclaim stale slots now and then, so the arrays stay within a constant factor of the live
   * entries. A consumed front is cut off and `base` moves: nothing in `slots` changes (the entries
   * of a full cache are dropped at the front one per insert, and renumbering every key each time
   * the front was cut was a Map write per insert). Only when refreshed or deleted keys leave as
   * many holes as live entries further back are the live ones renumbered.
   */
  private compact (): void {
    const used = this.order.length - this.head
    if (used > 2 * this.slots.size + 1024) {
      this.renumber()
      return
    }
    if (this.head < 1024 || this.head * 2 < this.order.length) return
    this.order = this.order.slice(this.head)
    this.values = this.values.slice(this.head)
    this.expiries = this.expiries.slice(this.head)
    this.base += this.head
    this.head = 0
  }

  private renumber (): void {
    const order: Array<K | undefined> = []
    const values: Array<V | undefined> = []
    const expiries: number[] = []
    const base = this.base + this.order.length
    for (let i = this.head; i < this.order.length; i++) {
      const key = this.order[i]
      if (key === undefined) continue
      this.slots.set(key, base + order.length)
      order.push(key)
      values.push(this.values[i])
      expiries.push(this.expiries[i] as number)
    }
    this.order = order
    this.values = values
    this.expiries = expiries
    this.base = base
    this.head = 0
  }
}
