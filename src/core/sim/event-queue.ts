/**
 * The simulator's agenda, ordered by (time, sequence): earlier time first, and at equal times the
 * order of insertion. That tie-break is what makes a run reproducible byte for byte.
 *
 * Built as a binary min-heap of the distinct pending times, each with a FIFO bucket of its events.
 * Latencies and timer delays are whole milliseconds, so thousands of events share a few hundred
 * distinct times: a push or pop is then O(1) on a bucket most of the time instead of O(log n)
 * object comparisons, and there is no per-event wrapper to allocate. The order is exactly that
 * of a heap on (time, sequence).
 */

interface Bucket<E> {
  items: E[]
  head: number
}

export class EventQueue<E> {
  /** Min-heap of the times that have a bucket. */
  private readonly times: number[] = []
  private readonly buckets = new Map<number, Bucket<E>>()
  private count = 0
  private popped = Number.NaN
  /** The bucket of `times[0]`, kept to skip a Map lookup per pop while a bucket drains. */
  private head: Bucket<E> | undefined

  get size (): number {
    return this.count
  }

  /** Time of the earliest event, or undefined when empty. */
  peekTime (): number | undefined {
    return this.times[0]
  }

  /** Time of the event `pop()` returned last. */
  get lastTime (): number {
    return this.popped
  }

  push (time: number, event: E): void {
    this.count++
    const bucket = this.buckets.get(time)
    if (bucket !== undefined) {
      bucket.items.push(event)
      return
    }
    this.buckets.set(time, { items: [event], head: 0 })
    // A new earliest time takes over the head.
    if (this.times.length > 0 && time < (this.times[0] as number)) this.head = undefined
    const heap = this.times
    let i = heap.length
    heap.push(time)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as number
      if (p <= time) break
      heap[i] = p
      i = parent
    }
    heap[i] = time
  }

  /** Removes and returns the earliest event (its time is then `lastTime`), or undefined when empty. */
  pop (): E | undefined {
    const time = this.times[0]
    if (time === undefined) return undefined
    let bucket = this.head
    if (bucket === undefined) {
      bucket = this.buckets.get(time) as Bucket<E>
      this.head = bucket
    }
    const event = bucket.items[bucket.head] as E
    bucket.items[bucket.head++] = undefined as E // let the event be collected
    if (bucket.head === bucket.items.length) {
      this.buckets.delete(time)
      this.head = undefined
      this.popTime()
    }
    this.count--
    this.popped = time
    return event
  }

  private popTime (): void {
    const heap = this.times
    const last = heap.pop() as number
    const n = heap.length
    if (n === 0) return
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      let c = l
      let child = heap[l] as number
      if (r < n) {
        const right = heap[r] as number
        if (right < child) { c = r; child = right }
      }
      if (child >= last) break
      heap[i] = child
      i = c
    }
    heap[i] = last
  }
}
