/**
 * Variable-length spans in a queue of typed-array chunks, allocated and released first in, first
 * out: what the delivered log keeps of each message (its id's characters, its payload's bytes)
 * without one heap object per message. A span lives in one chunk and never moves; a chunk goes
 * when its last span is released. Chunks start small (most topics deliver little) and double up
 * to `maxChunk`, so a busy topic allocates a new chunk now and then instead of copying what it
 * holds into a larger one (a ring that doubled by copying stalled a 4 KiB stream for tens of ms).
 */
export type Units = Uint8Array | Uint16Array

export class SpanChunks<T extends Units> {
  /** The chunk of the last `alloc` (a number for the caller's columns), -1 for an empty span. */
  lastChunk = -1
  /** Chunks still holding live spans, oldest first; chunk number `base + i` is `chunks[i]`. */
  private chunks: T[] = []
  private live: number[] = []
  private base = 0
  /** Where the next span goes in the newest chunk. */
  private fill = 0
  /** An emptied chunk of the largest size, kept for the next one. */
  private spare: T | undefined
  /**
   * `make` gives a chunk of a length (0 for the array an empty span reads); pass one function for
   * all instances, not a closure each: a simulated node has thousands of these.
   */
  constructor (private readonly make: (length: number) => T, private readonly empty: T, private readonly minChunk: number, private readonly maxChunk: number) {}

  /** Units allocated in chunks (live spans, and the room around them). */
  get units (): number {
    let n = 0
    for (const c of this.chunks) n += c.length
    return n
  }

  /** Room for `n` units: returns the offset in chunk `lastChunk`. */
  alloc (n: number): number {
    if (n === 0) {
      this.lastChunk = -1
      return 0
    }
    const newest = this.chunks.length - 1
    let chunk = this.chunks[newest]
    if (chunk === undefined || this.fill + n > chunk.length) {
      chunk = this.newChunk(n, chunk?.length ?? 0)
      this.chunks.push(chunk)
      this.live.push(0)
      this.fill = 0
    }
    const index = this.chunks.length - 1
    this.live[index] = (this.live[index] as number) + 1
    this.lastChunk = this.base + index
    const at = this.fill
    this.fill += n
    return at
  }

  /** The units of chunk `number` (an empty array for -1). */
  chunk (number: number): T {
    return number < 0 ? this.empty : this.chunks[number - this.base] as T
  }

  /** Release the oldest live span of `n` units, allocated in chunk `number`. */
  release (number: number, n: number): void {
    if (n === 0 || number < 0) return
    const index = number - this.base
    this.live[index] = (this.live[index] as number) - 1
    // Spans go in the order they came, so only the oldest chunks can empty; the newest stays to be filled.
    while (this.chunks.length > 1 && this.live[0] === 0) {
      const gone = this.chunks.shift() as T
      this.live.shift()
      this.base++
      if (gone.length === this.maxChunk) this.spare = gone
    }
    if (this.chunks.length === 1 && this.live[0] === 0) {
      // All released: the chunk is filled again from the start, unless one outsized span made it.
      this.fill = 0
      if ((this.chunks[0] as T).length > this.maxChunk) {
        this.chunks = []
        this.live = []
        this.base++
      }
    }
  }

  private newChunk (n: number, previous: number): T {
    const size = Math.max(n, Math.min(this.maxChunk, Math.max(this.minChunk, previous * 2)))
    if (this.spare !== undefined && this.spare.length >= size) {
      const reused = this.spare
      this.spare = undefined
      return reused
    }
    return this.make(size)
  }
}
