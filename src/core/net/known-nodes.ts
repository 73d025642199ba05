/**
 * The batch-tree nodes an OriginVerifier has proven, each with the origin it was proven for: a
 * bounded set, forgotten oldest first, kept in typed arrays rather than on the JS heap. A Map keyed
 * by each node's bytes as a string made a string and a table entry per remembered node, and both
 * lived long enough to be copied by the young generation's collections: at 20,000 signed
 * messages a second a receiver's scavenges took 2.4 ms each, against 0.7 ms with the checks off.
 *
 * Rows are written in a ring (row `next` is the oldest once the ring is full) and found through an
 * open-addressing table of row numbers, deleted by backward shifting. A node is a BLAKE2b output,
 * so its first four bytes are already uniform; they are multiplied by a secret odd number before
 * the table is indexed, so that a signer cannot grind nodes that all land in one probe chain.
 */
import { randomInt } from 'node:crypto'

export const NODE_BYTES = 32

export class KnownNodes {
  /** Row r's 32 bytes at r * NODE_BYTES, in the order they were remembered (a ring). */
  private readonly rows: Uint8Array
  /** Row r's origin, as its number in `origins`. */
  private readonly owners: Int32Array
  /** Open addressing: row + 1, or 0 for an empty slot. At most half full. */
  private readonly table: Int32Array
  private readonly mask: number
  private readonly shift: number
  private readonly multiplier: number
  private count = 0
  private next = 0
  /** Origins of the rows held, by number, with how many rows each has; freed numbers are reused. */
  private readonly numbers = new Map<string, number>()
  private readonly origins: string[] = []
  private readonly uses: number[] = []
  private readonly free: number[] = []

  constructor (readonly capacity: number) {
    const rows = Math.max(0, Math.floor(capacity))
    let size = 2
    while (size < rows * 2) size *= 2
    this.rows = new Uint8Array(rows * NODE_BYTES)
    this.owners = new Int32Array(rows)
    this.table = new Int32Array(size)
    this.mask = size - 1
    this.shift = 32 - Math.log2(size)
    this.multiplier = randomInt(0, 2 ** 30) * 2 + 1
  }

  get size (): number {
    return this.count
  }

  /** True when `node` (32 bytes at `at`) is held for `origin`; a node held for another origin vouches for nothing of this one. */
  vouches (node: Uint8Array, at: number, origin: string): boolean {
    const row = this.find(node, at)
    return row >= 0 && this.origins[this.owners[row] as number] === origin
  }

  /** Remember `node` for `origin`, forgetting the oldest when full. A node already held keeps its first origin. */
  remember (node: Uint8Array, at: number, origin: string): void {
    const capacity = this.owners.length
    if (capacity === 0 || this.find(node, at) >= 0) return
    const row = this.next
    if (this.count === capacity) {
      this.unlink(row)
      this.release(this.owners[row] as number)
    } else {
      this.count++
    }
    this.rows.set(node.subarray(at, at + NODE_BYTES), row * NODE_BYTES)
    this.owners[row] = this.acquire(origin)
    let slot = this.home(this.rows, row * NODE_BYTES)
    while (this.table[slot] !== 0) slot = (slot + 1) & this.mask
    this.table[slot] = row + 1
    this.next = row + 1 === capacity ? 0 : row + 1
  }

  private home (bytes: Uint8Array, at: number): number {
    const word = (bytes[at] as number) | ((bytes[at + 1] as number) << 8) | ((bytes[at + 2] as number) << 16) | ((bytes[at + 3] as number) << 24)
    return Math.imul(word, this.multiplier) >>> this.shift
  }

  private find (node: Uint8Array, at: number): number {
    if (this.count === 0) return -1
    const rows = this.rows
    for (let slot = this.home(node, at); ; slot = (slot + 1) & this.mask) {
      const entry = this.table[slot] as number
      if (entry === 0) return -1
      const base = (entry - 1) * NODE_BYTES
      let i = 0
      while (i < NODE_BYTES && rows[base + i] === node[at + i]) i++
      if (i === NODE_BYTES) return entry - 1
    }
  }

  /** Take row `row` out of the table, moving later entries of its probe chain back into the gap. */
  private unlink (row: number): void {
    const table = this.table
    const mask = this.mask
    let hole = this.home(this.rows, row * NODE_BYTES)
    while (table[hole] !== row + 1) hole = (hole + 1) & mask
    for (let j = (hole + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const entry = table[j] as number
      const home = this.home(this.rows, (entry - 1) * NODE_BYTES)
      // The entry may fill the hole only if the hole lies on its way from its home slot to j.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole] = entry
        hole = j
      }
    }
    table[hole] = 0
  }

  private acquire (origin: string): number {
    let n = this.numbers.get(origin)
    if (n === undefined) {
      n = this.free.pop() ?? this.origins.length
      this.numbers.set(origin, n)
      this.origins[n] = origin
      this.uses[n] = 0
    }
    this.uses[n] = (this.uses[n] as number) + 1
    return n
  }

  private release (n: number): void {
    const left = (this.uses[n] as number) - 1
    this.uses[n] = left
    if (left > 0) return
    this.numbers.delete(this.origins[n] as string)
    this.origins[n] = ''
    this.free.push(n)
  }
}
