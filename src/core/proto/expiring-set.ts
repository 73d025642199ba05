import { ExpiringMap } from './expiring-map.js'

/**
 * A bounded set whose members expire: the seen-id window. An `ExpiringMap` whose values do not
 * matter, with the set's vocabulary.
 */
export class ExpiringSet<K> {
  private readonly map: ExpiringMap<K, true>

  constructor (capacity: number) {
    this.map = new ExpiringMap(capacity)
  }

  get capacity (): number {
    return this.map.capacity
  }

  get size (): number {
    return this.map.size
  }

  has (key: K): boolean {
    return this.map.has(key)
  }

  /** Add (or refresh, moving it to the back) `key`; past capacity the oldest members go. */
  add (key: K, expires: number): void {
    this.map.set(key, true, expires)
  }

  /** Drop every member that expired at or before `now`; returns how many were dropped. */
  evictExpired (now: number): number {
    return this.map.evictExpired(now)
  }

  /** Expiry time of the oldest member, or undefined when empty. */
  oldestExpiry (): number | undefined {
    return this.map.oldestExpiry()
  }
}
