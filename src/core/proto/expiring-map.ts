/**
 * A bounded map whose entries expire. Entries are kept in insertion order, which is expiry order
 * as long as every entry of one map gets the same lifetime and time does not run backwards: so
 * both eviction of expired entries and dropping the oldest when full only ever touch the front.
 */
interface Entry<V> {
  value: V
  expires: number
}

export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, Entry<V>>()
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
    if (this.entries.has(key)) this.entries.delete(key)
    this.entries.set(key, { value, expires })
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next()
      if (oldest.done === true) break
      this.entries.delete(oldest.value)
    }
  }

  delete (key: K): boolean {
    return this.entries.delete(key)
  }

  /** Drop every entry that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    let dropped = 0
    for (const [key, entry] of this.entries) {
      if (entry.expires > now) break
      this.entries.delete(key)
      dropped++
    }
    return dropped
  }

  /** Expiry time of the oldest entry, or undefined when empty. */
  oldestExpiry (): number | undefined {
    const first = this.entries.values().next()
    return first.done === true ? undefined : first.value.expires
  }

  keys (): IterableIterator<K> {
    return this.entries.keys()
  }

  clear (): void {
    this.entries.clear()
  }
}
