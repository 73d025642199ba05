/**
 * A bounded set whose members expire: the seen-id window. Same ordering argument as
 * `ExpiringMap` (insertion order is expiry order), but the expiry is the map value itself, so a
 * member costs no extra object: it sits on the hot path of every delivered message.
 */
export class ExpiringSet<K> {
  private readonly expiries = new Map<K, number>()
  readonly capacity: number

  constructor (capacity: number) {
    this.capacity = Math.max(0, capacity)
  }

  get size (): number {
    return this.expiries.size
  }

  has (key: K): boolean {
    return this.expiries.has(key)
  }

  /** Add (or refresh, moving it to the back) `key`; past capacity the oldest members go. */
  add (key: K, expires: number): void {
    if (this.capacity === 0) return
    if (this.expiries.has(key)) this.expiries.delete(key)
    this.expiries.set(key, expires)
    while (this.expiries.size > this.capacity) {
      const oldest = this.expiries.keys().next()
      if (oldest.done === true) break
      this.expiries.delete(oldest.value)
    }
  }

  /** Drop every member that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    let dropped = 0
    for (const [key, expires] of this.expiries) {
      if (expires > now) break
      this.expiries.delete(key)
      dropped++
    }
    return dropped
  }

  /** Expiry time of the oldest member, or undefined when empty. */
  oldestExpiry (): number | undefined {
    const first = this.expiries.values().next()
    return first.done === true ? undefined : first.value
  }
}
