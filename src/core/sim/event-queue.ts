/**
 * The simulator's agenda: a binary min-heap ordered by (time, sequence). The sequence number is
 * the insertion order, so two events at the same time come out in the order they were scheduled;
 * that tie-break is what makes a run reproducible byte for byte.
 */

interface Entry<E> {
  time: number
  seq: number
  event: E
}

function before<E> (a: Entry<E>, b: Entry<E>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq)
}

export class EventQueue<E> {
  private readonly heap: Array<Entry<E>> = []
  private nextSeq = 0

  get size (): number {
    return this.heap.length
  }

  /** Time of the earliest event, or undefined when empty. */
  peekTime (): number | undefined {
    return this.heap[0]?.time
  }

  push (time: number, event: E): void {
    const heap = this.heap
    const entry: Entry<E> = { time, seq: this.nextSeq++, event }
    let i = heap.length
    heap.push(entry)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent] as Entry<E>
      if (!before(entry, p)) break
      heap[i] = p
      i = parent
    }
    heap[i] = entry
  }

  /** Removes and returns the earliest event (with its time), or undefined when empty. */
  pop (): { time: number, event: E } | undefined {
    const heap = this.heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop() as Entry<E>
    const n = heap.length
    if (n > 0) {
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        let c = l
        let child = heap[l] as Entry<E>
        if (r < n) {
          const right = heap[r] as Entry<E>
          if (before(right, child)) { c = r; child = right }
        }
        if (!before(child, last)) break
        heap[i] = child
        i = c
      }
      heap[i] = last
    }
    return { time: top.time, event: top.event }
  }
}
