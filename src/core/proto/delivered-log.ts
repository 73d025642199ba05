/**
 * What one topic delivered recently, in delivery order: every id for as long as duplicates must be
 * recognised, and the payload with it for the shorter time it may be asked for by GRAFT. The id
 * window and the payload cache are two suffixes of the same sequence; a payload ages out before
 * its id does.
 */
/*
 * Why typed arrays and not a Map of strings: the log holds 100,000 ids and 10,000 payloads per busy
 * topic, and as heap objects (an id string, a record, a view of the payload) every one of them
 * survived the young-generation collections that ran while it was kept. A receiver at 20,000
 * messages a second spent a median 4.2-4.7 ms per scavenge copying them, and they were the p99
 * latency: with the log cut to 1,000 ids and 100 payloads, scavenges took 1.6-1.8 ms and p99 fell
 * from 9-22 ms to 3-6 ms. Here an entry is numbers in columns, its id's characters and its
 * payload's bytes are copied into chunks (span-chunks.ts), and ids are found through an open-addressing table of
 * hashes: nothing per message is left for the collector. The hash is keyed (`hashSeed`), so that
 * a peer cannot choose ids that all land in one probe chain.
 */
import type { MessageId } from './types.js'
import { SpanChunks } from './span-chunks.js'

export interface DeliveredLogLimits {
  /** Ids remembered at most; past it the oldest go. */
  maxIds: number
  /** How long an id is remembered, ms. */
  idRetention: number
  /** Payloads kept at most (the most recent ones). */
  maxPayloads: number
  /** How long a payload is kept, ms. */
  payloadTimeout: number
}

/** A delivered payload as the log gives it back: a copy, the caller's to keep. */
export interface DeliveredPayload<PI> {
  origin: PI
  content: Uint8Array
  /**
   * Hops at which we delivered it (0 at the origin); lowered when the tree is optimised. Saturated
   * at the wire's largest round, so it can be sent on as it is.
   */
  hops: number
  /** The neighbour we got it from (our parent in the tree for this message), none at the origin. */
  from: PI | undefined
  /** The origin's signature, forwarded as it came. */
  sig: Uint8Array | undefined
}

/** Entries a log starts with room for: most topics deliver little. */
const INITIAL_ENTRIES = 16

function newChars (): SpanChunks<Uint16Array> {
  return new SpanChunks(n => new Uint16Array(n), INITIAL_ENTRIES * 32, 1 << 18)
}

function newBytes (): SpanChunks<Uint8Array> {
  return new SpanChunks(n => new Uint8Array(n), 1024, 1 << 20)
}

export class DeliveredLog<PI> {
  private readonly maxIds: number
  private readonly maxPayloads: number
  /** Entries in a ring of `mask + 1` (a power of two); positions count every entry ever added. */
  private mask = 0
  private head = 0
  private tail = 0
  /** Position of the oldest entry whose payload is still kept (never below `head`). */
  private payloadHead = 0
  // The columns, `mask + 1` long (set by `allocate`).
  private hashes!: Int32Array
  private times!: Float64Array
  private idChunk!: Int32Array
  private idAt!: Int32Array
  private idLength!: Int32Array
  private hops!: Int32Array
  /** Payload and signature spans; a length of -1: none. */
  private contentChunk!: Int32Array
  private contentAt!: Int32Array
  private contentLength!: Int32Array
  private sigChunk!: Int32Array
  private sigAt!: Int32Array
  private sigLength!: Int32Array
  /** Peer ids are long-lived (one per neighbour or origin), so holding them costs the collector nothing new. */
  private origins!: Array<PI | undefined>
  private froms!: Array<PI | undefined>
  private chars = newChars()
  private bytes = newBytes()
  /** Open addressing, linear probing: ring index + 1 of the entry, 0 when free; twice the ring's size. */
  private table!: Int32Array

  constructor (private readonly limits: DeliveredLogLimits, private readonly hashSeed = 0) {
    // A payload is only asked for by id: one kept longer than its id would never be found.
    this.maxIds = Math.max(0, limits.maxIds, limits.maxPayloads)
    this.maxPayloads = Math.max(0, limits.maxPayloads)
    this.allocate(INITIAL_ENTRIES)
  }

  /** Ids remembered. */
  get size (): number {
    return this.tail - this.head
  }

  /** Payloads kept. */
  get payloads (): number {
    return this.tail - this.payloadHead
  }

  has (id: MessageId): boolean {
    return this.find(id) >= 0
  }

  /**
   * The entry of `id` while it is remembered (an index for the accessors below), else -1. Valid
   * until the log changes.
   */
  find (id: MessageId): number {
    if (this.tail === this.head) return -1
    const h = this.hash(id)
    const table = this.table
    const tmask = table.length - 1
    for (let k = h & tmask; ; k = (k + 1) & tmask) {
      const slot = table[k] as number
      if (slot === 0) return -1
      const e = slot - 1
      if (this.hashes[e] === h && this.idIs(e, id)) return e
    }
  }

  /** Whether entry `e` still has its payload. */
  hasPayload (e: number): boolean {
    return this.positionOf(e) >= this.payloadHead
  }

  /** The hops and parent recorded with entry `e`'s payload (meaningless once it went). */
  hopsOf (e: number): number {
    return this.hops[e] as number
  }

  fromOf (e: number): PI | undefined {
    return this.froms[e]
  }

  /** The tree was reshaped: entry `e` now counts as delivered by `from` at `hops`. */
  reroute (e: number, from: PI, hops: number): void {
    this.froms[e] = from
    this.hops[e] = hops
  }

  /** A copy of entry `e`'s payload while it is kept. */
  payloadOf (e: number): DeliveredPayload<PI> | undefined {
    if (!this.hasPayload(e)) return undefined
    const at = this.contentAt[e] as number
    const sigLength = this.sigLength[e] as number
    const sigAt = this.sigAt[e] as number
    return {
      origin: this.origins[e] as PI,
      content: this.bytes.chunk(this.contentChunk[e] as number).slice(at, at + (this.contentLength[e] as number)),
      hops: this.hops[e] as number,
      from: this.froms[e],
      sig: sigLength < 0 ? undefined : this.bytes.chunk(this.sigChunk[e] as number).slice(sigAt, sigAt + sigLength)
    }
  }

  /**
   * Record a delivery; the content and signature are copied. `id` must not be remembered already
   * (the caller has just asked `has`); one added twice anyway is found as its latest copy, and
   * breaks no bound.
   */
  add (id: MessageId, payload: DeliveredPayload<PI>, now: number): void {
    if (this.maxIds === 0) return
    if (this.size >= this.maxIds) this.dropId()
    if (this.size > this.mask) this.growEntries()
    const e = this.tail & this.mask
    this.hashes[e] = this.hash(id)
    this.times[e] = now
    const at = this.chars.alloc(id.length)
    const chars = this.chars.chunk(this.chars.lastChunk)
    for (let i = 0; i < id.length; i++) chars[at + i] = id.charCodeAt(i)
    this.idChunk[e] = this.chars.lastChunk
    this.idAt[e] = at
    this.idLength[e] = id.length
    this.insert(e)
    this.hops[e] = payload.hops
    this.contentLength[e] = -1
    this.sigLength[e] = -1
    this.tail++
    if (this.maxPayloads > 0) {
      this.origins[e] = payload.origin
      this.froms[e] = payload.from
      this.contentAt[e] = this.copyIn(payload.content)
      this.contentChunk[e] = this.bytes.lastChunk
      this.contentLength[e] = payload.content.length
      if (payload.sig !== undefined) {
        this.sigAt[e] = this.copyIn(payload.sig)
        this.sigChunk[e] = this.bytes.lastChunk
        this.sigLength[e] = payload.sig.length
      }
    } else {
      this.payloadHead = this.tail
    }
    if (this.tail - this.payloadHead > this.maxPayloads) this.dropPayload()
  }

  /**
   * Forget what expired at or before `now`. The columns never shrink while in use; a
   * topic that went quiet gets small ones back once its payloads, then its ids, have all expired.
   */
  evictExpired (now: number): void {
    const idLimit = now - this.limits.idRetention
    while (this.head < this.tail && (this.times[this.head & this.mask] as number) <= idLimit) this.dropId()
    const payloadLimit = now - this.limits.payloadTimeout
    while (this.payloadHead < this.tail && (this.times[this.payloadHead & this.mask] as number) <= payloadLimit) this.dropPayload()
    if (this.payloadHead === this.tail && this.bytes.units > 0) this.bytes = newBytes()
    if (this.head === this.tail && this.mask >= INITIAL_ENTRIES) this.shrink()
  }

  /** When the next id or payload expires, or undefined when nothing is held. */
  nextExpiry (): number | undefined {
    if (this.head >= this.tail) return undefined
    const id = (this.times[this.head & this.mask] as number) + this.limits.idRetention
    if (this.payloadHead >= this.tail) return id
    return Math.min(id, (this.times[this.payloadHead & this.mask] as number) + this.limits.payloadTimeout)
  }

  // -------------------------------------------------------------------------------------------

  /** FNV-1a over the UTF-16 units, keyed by the seed. */
  private hash (id: MessageId): number {
    let h = (0x811c9dc5 ^ this.hashSeed) | 0
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
    return h ^ (h >>> 15)
  }

  private idIs (e: number, id: MessageId): boolean {
    const n = this.idLength[e] as number
    if (n !== id.length) return false
    const chars = this.chars.chunk(this.idChunk[e] as number)
    const at = this.idAt[e] as number
    for (let i = 0; i < n; i++) if (chars[at + i] !== id.charCodeAt(i)) return false
    return true
  }

  private sameId (a: number, b: number): boolean {
    const n = this.idLength[a] as number
    if (n !== this.idLength[b]) return false
    const xs = this.chars.chunk(this.idChunk[a] as number)
    const ys = this.chars.chunk(this.idChunk[b] as number)
    const x = this.idAt[a] as number
    const y = this.idAt[b] as number
    for (let i = 0; i < n; i++) if (xs[x + i] !== ys[y + i]) return false
    return true
  }

  private positionOf (e: number): number {
    return this.head + ((e - this.head) & this.mask)
  }

  /**
   * Put entry `e` (its id already in the ring) into the table. A remembered copy of the same id
   * gives up its slot: it stays in the ring until it ages out, and is found no more.
   */
  private insert (e: number): void {
    const table = this.table
    const tmask = table.length - 1
    const h = this.hashes[e] as number
    for (let k = h & tmask; ; k = (k + 1) & tmask) {
      const slot = table[k] as number
      if (slot === 0 || (this.hashes[slot - 1] === h && this.sameId(slot - 1, e))) {
        table[k] = e + 1
        return
      }
    }
  }

  /** Take entry `e` out of the table, shifting back the entries of its probe chain (no tombstones). */
  private unlink (e: number): void {
    const table = this.table
    const tmask = table.length - 1
    let k = (this.hashes[e] as number) & tmask
    for (;;) {
      const slot = table[k] as number
      // Not there: a later copy of the same id took its slot.
      if (slot === 0) return
      if (slot === e + 1) break
      k = (k + 1) & tmask
    }
    let free = k
    for (let j = (free + 1) & tmask; ; j = (j + 1) & tmask) {
      const slot = table[j] as number
      if (slot === 0) break
      const home = (this.hashes[slot - 1] as number) & tmask
      // The entry at j may move to `free` unless its home lies cyclically in (free, j].
      const stays = free <= j ? home > free && home <= j : home > free || home <= j
      if (!stays) {
        table[free] = slot
        free = j
      }
    }
    table[free] = 0
  }

  private dropId (): void {
    if (this.payloadHead === this.head) this.dropPayload()
    const e = this.head & this.mask
    this.unlink(e)
    this.chars.release(this.idChunk[e] as number, this.idLength[e] as number)
    this.head++
  }

  private dropPayload (): void {
    const e = this.payloadHead & this.mask
    const n = this.contentLength[e] as number
    if (n >= 0) {
      this.bytes.release(this.contentChunk[e] as number, n)
      const s = this.sigLength[e] as number
      if (s >= 0) this.bytes.release(this.sigChunk[e] as number, s)
    }
    this.contentLength[e] = -1
    this.sigLength[e] = -1
    this.origins[e] = undefined
    this.froms[e] = undefined
    this.payloadHead++
  }

  private copyIn (data: Uint8Array): number {
    const at = this.bytes.alloc(data.length)
    this.bytes.chunk(this.bytes.lastChunk).set(data, at)
    return at
  }

  /** Back to the initial size; the log is empty. */
  private shrink (): void {
    this.allocate(INITIAL_ENTRIES)
    this.chars = newChars()
  }

  /** Fresh columns and table for `size` entries (a power of two); what was in them is the caller's to copy. */
  private allocate (size: number): void {
    this.mask = size - 1
    this.hashes = new Int32Array(size)
    this.times = new Float64Array(size)
    this.idChunk = new Int32Array(size)
    this.idAt = new Int32Array(size)
    this.idLength = new Int32Array(size)
    this.hops = new Int32Array(size)
    this.contentChunk = new Int32Array(size)
    this.contentAt = new Int32Array(size)
    this.contentLength = new Int32Array(size)
    this.sigChunk = new Int32Array(size)
    this.sigAt = new Int32Array(size)
    this.sigLength = new Int32Array(size)
    this.origins = new Array<PI | undefined>(size)
    this.froms = new Array<PI | undefined>(size)
    this.table = new Int32Array(size * 2)
  }

  /**
   * Double the ring (its entries keep their positions, not their indexes) and rebuild the table.
   * Columns are copied a run of indexes at a time: entry by entry, growing to 131,072 entries took
   * 11-13 ms, a stall in the stream that made the log grow.
   */
  private growEntries (): void {
    const oldMask = this.mask
    const int32 = [this.hashes, this.idChunk, this.idAt, this.idLength, this.hops, this.contentChunk, this.contentAt, this.contentLength, this.sigChunk, this.sigAt, this.sigLength]
    const times = this.times
    const origins = this.origins
    const froms = this.froms
    this.allocate((oldMask + 1) * 2)
    const fresh = [this.hashes, this.idChunk, this.idAt, this.idLength, this.hops, this.contentChunk, this.contentAt, this.contentLength, this.sigChunk, this.sigAt, this.sigLength]
    for (let c = 0; c < int32.length; c++) this.copyRuns(int32[c] as Int32Array, fresh[c] as Int32Array, oldMask)
    this.copyRuns(times, this.times, oldMask)
    // Peer ids are held only with payloads.
    for (let p = this.payloadHead; p < this.tail; p++) {
      this.origins[p & this.mask] = origins[p & oldMask]
      this.froms[p & this.mask] = froms[p & oldMask]
    }
    // Oldest first, so that of an id added twice the latest copy is the one found.
    for (let p = this.head; p < this.tail; p++) this.insert(p & this.mask)
  }

  /** Copy the entries' slots of a column from the ring of `oldMask + 1` to the current one. */
  private copyRuns<A extends Int32Array | Float64Array> (from: A, to: A, oldMask: number): void {
    for (let p = this.head; p < this.tail;) {
      const o = p & oldMask
      const n = p & this.mask
      const run = Math.min(this.tail - p, oldMask + 1 - o, this.mask + 1 - n)
      to.set(from.subarray(o, o + run), n)
      p += run
    }
  }
}
