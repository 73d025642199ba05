/**
 * A bounded map whose entries expire. Entries are kept in insertion order, which is expiry order
 * as long as every entry of one map gets the same lifetime and time does not run backwards: so
 * both eviction of expired entries and dropping the oldest when full only ever touch the front.
 */
interface Entry<V> {
  value: V
  expires: number
  /** Position of this entry's record in `order`; older records of a refreshed key are stale. */
  slot: number
}

/*
 * Why a separate queue: deleting the oldest key of a large JS Map and asking for the next oldest
 * with `keys().next()` walks over every deleted slot until V8 rehashes, which measured ~20 µs per
 * message once a 10,000-entry cache was full. The queue makes both eviction paths O(1) amortised.
 */
export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>()
  /** Keys in insertion order; `undefined` marks a slot whose key was refreshed or deleted. */
  private order: Array<K | undefined> = []
  private head = 0
  readonly capacity: number

  constructor (capacity: number) {
    this.capacity = Math.max(0, capacity)
  }

  get size (): number {
    return this.entries.size
  }

  has (key: K): boolean {
    return this.entries.has(key)
  }

  get (key: K): V | undefined {
    return this.entries.get(key)?.value
  }

  /**
   * Insert (or refresh) `key`; a refreshed key moves to the back. Past capacity the oldest entries
   * are dropped, so memory stays bounded even when the eviction timer falls behind.
   */
  set (key: K, value: V, expires: number): void {
    if (this.capacity === 0) return
    const previous = this.entries.get(key)
    if (previous !== undefined) this.order[previous.slot] = undefined
    this.entries.set(key, { value, expires, slot: this.order.length })
    this.order.push(key)
    while (this.entries.size > this.capacity) this.dropOldest()
    this.compact()
  }

  delete (key: K): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    this.order[entry.slot] = undefined
    this.entries.delete(key)
    this.compact()
    return true
  }

  /** Drop every entry that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    let dropped = 0
    for (;;) {
      const entry = this.oldest()
      if (entry === undefined || entry.expires > now) break
      this.dropOldest()
      dropped++
    }
    this.compact()
    return dropped
  }

  /** Expiry time of the oldest entry, or undefined when empty. */
  oldestExpiry (): number | undefined {
    return this.oldest()?.expires
  }

  keys (): IterableIterator<K> {
    return this.entries.keys()
  }

  clear (): void {
    this.entries.clear()
    this.order = []
    this.head = 0
  }

  /** The oldest live entry; skips (and consumes) stale slots at the front. */
  private oldest (): Entry<V> | undefined {
    while (this.head < this.order.length) {
      const key = this.order[this.head]
      if (key !== undefined) {
        const entry = this.entries.get(key)
        if (entry !== undefined && entry.slot === this.head) return entry
      }
      this.head++
    }
    return undefined
  }

  private dropOldest (): void {
    if (this.oldest() === undefined) return
    this.entries.delete(this.order[this.head] as K)
    this.order[this.head] = undefined
    this.head++
  }

  /**
   * Reclaim stale slots now and then (a consumed front, or keys refreshed or deleted in the
   * middle), so the queue stays within a constant factor of the live entries; slots are renumbered.
   */
  private compact (): void {
    const slots = this.order.length - this.head
    const frontIsLarge = this.head >= 1024 && this.head * 2 >= this.order.length
    if (!frontIsLarge && slots <= 2 * this.entries.size + 1024) return
    const live: Array<K | undefined> = []
    for (let i = this.head; i < this.order.length; i++) {
      const key = this.order[i]
      if (key === undefined) continue
      const entry = this.entries.get(key)
      if (entry === undefined || entry.slot !== i) continue
      entry.slot = live.length
      live.push(key)
    }
    this.order = live
    this.head = 0
  }
}
