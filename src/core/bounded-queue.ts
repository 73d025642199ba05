import type { Lagged } from './api.js'

/**
 * A single-consumer async queue with a fixed capacity. A producer never waits and memory never
 * grows: when the consumer falls behind, the oldest items are dropped and the consumer reads one
 * `{ type: 'lagged', dropped }` item in their place before the rest, the way a tokio broadcast
 * receiver reports `Lagged(n)`.
 */
export class BoundedQueue<T> implements AsyncIterable<T | Lagged> {
  private readonly items: T[] = []
  private head = 0
  private dropped = 0
  private waiter: ((r: IteratorResult<T | Lagged>) => void) | undefined
  private ended = false

  /** `onDrop` is told of each item dropped for a consumer that fell behind (for counters). */
  constructor (readonly capacity: number, private readonly onClose?: () => void, private readonly onDrop?: () => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
  }

  get closed (): boolean { return this.ended }
  get size (): number { return this.items.length - this.head }

  push (item: T): void {
    if (this.ended) return
    const w = this.waiter
    if (w !== undefined) {
      this.waiter = undefined
      w({ value: item, done: false })
      return
    }
    if (this.size >= this.capacity) {
      this.head++
      this.dropped++
      this.onDrop?.()
    }
    this.items.push(item)
    // Compact now and then so the array does not grow with the number of items ever queued.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head)
      this.head = 0
    }
  }

  close (): void {
    if (this.ended) return
    this.ended = true
    this.items.length = 0
    this.head = 0
    const w = this.waiter
    this.waiter = undefined
    w?.({ value: undefined, done: true })
    this.onClose?.()
  }

  private take (): IteratorResult<T | Lagged> | undefined {
    if (this.dropped > 0) {
      const lagged: Lagged = { type: 'lagged', dropped: this.dropped }
      this.dropped = 0
      return { value: lagged, done: false }
    }
    if (this.head < this.items.length) {
      const value = this.items[this.head] as T
      this.items[this.head] = undefined as T
      this.head++
      if (this.head === this.items.length) {
        this.items.length = 0
        this.head = 0
      }
      return { value, done: false }
    }
    if (this.ended) return { value: undefined, done: true }
    return undefined
  }

  [Symbol.asyncIterator] (): AsyncIterator<T | Lagged> {
    return {
      // Not an async function: that wrapped each item in a promise of its own besides the one
      // returned, on the path of every message a subscriber reads.
      next: () => {
        const r = this.take()
        if (r !== undefined) return Promise.resolve(r)
        return new Promise(resolve => { this.waiter = resolve })
      },
      return: async () => {
        this.close()
        return { value: undefined, done: true }
      }
    }
  }
}
