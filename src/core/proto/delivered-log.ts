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
 * from 9-22 ms to 3-6 ms. Here an entry is a row of numbers in one typed array, its id's characters
 * and its payload's bytes are copied into chunks (span-chunks.ts), and ids are found through an
 * open-addressing table of hashes: nothing per message is left for the collector. The hash is keyed (`hashSeed`), so that
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

/**
 * Entries a log makes room for at its first delivery: most topics deliver little (a simulated
 * node holds 50 topics, most of them quiet), so a log has no rows at all until then, and starts
 * small enough for V8 to keep its arrays on the heap (64 bytes or less: no backing store each).
 */
const INITIAL_ENTRIES = 1

// An entry's row: int32 fields at these offsets (one array, not a column each: a quiet topic's
// log was 14 typed arrays, 3 KB, and a simulated node has thousands).
const HASH = 0
const ID_CHUNK = 1
const ID_AT = 2
const ID_LENGTH = 3
const HOPS = 4
/** Payload and signature spans; a length of -1: none. */
const CONTENT_CHUNK = 5
const CONTENT_AT = 6
const CONTENT_LENGTH = 7
const SIG_CHUNK = 8
const SIG_AT = 9
const SIG_LENGTH = 10
const FIELDS = 11

const NO_INT32 = new Int32Array(0)
const NO_FLOAT64 = new Float64Array(0)
const NO_UNITS = new Uint16Array(0)
const NO_BYTES = new Uint8Array(0)
const makeUnits = (n: number): Uint16Array => new Uint16Array(n)
const makeBytes = (n: number): Uint8Array => new Uint8Array(n)

/** Chunks start at 64 bytes (on V8's heap) and double up to 512 KiB of characters, 1 MiB of payloads. */
function newChars (): SpanChunks<Uint16Array> {
  return new SpanChunks(makeUnits, NO_UNITS, 32, 1 << 18)
}

function newBytes (): SpanChunks<Uint8Array> {
  return new SpanChunks(makeBytes, NO_BYTES, 64, 1 << 20)
}

export class DeliveredLog<PI> {
  private readonly maxIds: number
  private readonly maxPayloads: number
  /**
   * Entries in a ring of `mask + 1` (a power of two; -1 while the log has no rows); positions
   * count every entry ever added, entry `e` is position `p` with `e = p & mask`.
   */
  private mask = -1
  private head = 0
  private tail = 0
  /** Position of the oldest entry whose payload is still kept (never below `head`). */
  private payloadHead = 0
  /** Rows of FIELDS int32s, and the delivery times beside them (set by `allocate`). */
  private rows = NO_INT32
  private times = NO_FLOAT64
  /** Peer ids are long-lived (one per neighbour or origin), so holding them costs the collector nothing new. */
  private origins: Array<PI | undefined> = []
  private froms: Array<PI | undefined> = []
  /** Made at the first id and the first payload (most logs of a simulated node never get one). */
  private chars: SpanChunks<Uint16Array> | undefined
  private bytes: SpanChunks<Uint8Array> | undefined
  /** Open addressing, linear probing: entry + 1, 0 when free; twice the ring's size. */
  private table = NO_INT32

  constructor (private readonly limits: DeliveredLogLimits, private readonly hashSeed = 0) {
    // A payload is only asked for by id: one kept longer than its id would never be found.
    this.maxIds = Math.max(0, limits.maxIds, limits.maxPayloads)
    this.maxPayloads = Math.max(0, limits.maxPayloads)
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
      if (this.rows[e * FIELDS + HASH] === h && this.idIs(e, id)) return e
    }
  }

  /** Whether entry `e` still has its payload. */
  hasPayload (e: number): boolean {
    return this.head + ((e - this.head) & this.mask) >= this.payloadHead
  }

  /** The hops and parent recorded with entry `e`'s payload (meaningless once it went). */
  hopsOf (e: number): number {
    return this.rows[e * FIELDS + HOPS] as number
  }

  fromOf (e: number): PI | undefined {
    return this.froms[e]
  }

  /** The tree was reshaped: entry `e` now counts as delivered by `from` at `hops`. */
  reroute (e: number, from: PI, hops: number): void {
    this.froms[e] = from
    this.rows[e * FIELDS + HOPS] = hops
  }

  /** A copy of entry `e`'s payload while it is kept. */
  payloadOf (e: number): DeliveredPayload<PI> | undefined {
    if (!this.hasPayload(e)) return undefined
    const r = e * FIELDS
    const rows = this.rows
    const at = rows[r + CONTENT_AT] as number
    const sigAt = rows[r + SIG_AT] as number
    const sigLength = rows[r + SIG_LENGTH] as number
    return {
      origin: this.origins[e] as PI,
      content: this.payloadBytes.chunk(rows[r + CONTENT_CHUNK] as number).slice(at, at + (rows[r + CONTENT_LENGTH] as number)),
      hops: rows[r + HOPS] as number,
      from: this.froms[e],
      sig: sigLength < 0 ? undefined : this.payloadBytes.chunk(rows[r + SIG_CHUNK] as number).slice(sigAt, sigAt + sigLength)
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
    if (this.size > this.mask) this.grow()
    const e = this.tail & this.mask
    const r = e * FIELDS
    const rows = this.rows
    rows[r + HASH] = this.hash(id)
    this.times[e] = now
    const ids = this.idChars
    const at = ids.alloc(id.length)
    const chars = ids.chunk(ids.lastChunk)
    for (let i = 0; i < id.length; i++) chars[at + i] = id.charCodeAt(i)
    rows[r + ID_CHUNK] = ids.lastChunk
    rows[r + ID_AT] = at
    rows[r + ID_LENGTH] = id.length
    this.insert(e)
    rows[r + HOPS] = payload.hops
    rows[r + CONTENT_LENGTH] = -1
    rows[r + SIG_LENGTH] = -1
    this.tail++
    if (this.maxPayloads > 0) {
      this.origins[e] = payload.origin
      this.froms[e] = payload.from
      rows[r + CONTENT_AT] = this.copyIn(payload.content)
      rows[r + CONTENT_CHUNK] = this.payloadBytes.lastChunk
      rows[r + CONTENT_LENGTH] = payload.content.length
      if (payload.sig !== undefined) {
        rows[r + SIG_AT] = this.copyIn(payload.sig)
        rows[r + SIG_CHUNK] = this.payloadBytes.lastChunk
        rows[r + SIG_LENGTH] = payload.sig.length
      }
    } else {
      this.payloadHead = this.tail
    }
    if (this.tail - this.payloadHead > this.maxPayloads) this.dropPayload()
  }

  /**
   * Forget what expired at or before `now`. The rows never shrink while in use; a topic that went
   * quiet gives them back once its payloads, then its ids, have all expired.
   */
  evictExpired (now: number): void {
    const idLimit = now - this.limits.idRetention
    while (this.head < this.tail && (this.times[this.head & this.mask] as number) <= idLimit) this.dropId()
    const payloadLimit = now - this.limits.payloadTimeout
    while (this.payloadHead < this.tail && (this.times[this.payloadHead & this.mask] as number) <= payloadLimit) this.dropPayload()
    if (this.payloadHead === this.tail) this.bytes = undefined
    if (this.head === this.tail && this.mask >= 0) {
      this.allocate(0)
      this.chars = undefined
    }
  }

  /** When the next id or payload expires, or undefined when nothing is held. */
  nextExpiry (): number | undefined {
    if (this.head >= this.tail) return undefined
    const id = (this.times[this.head & this.mask] as number) + this.limits.idRetention
    if (this.payloadHead >= this.tail) return id
    return Math.min(id, (this.times[this.payloadHead & this.mask] as number) + this.limits.payloadTimeout)
  }

  // -------------------------------------------------------------------------------------------

  private get idChars (): SpanChunks<Uint16Array> {
    return (this.chars ??= newChars())
  }

  private get payloadBytes (): SpanChunks<Uint8Array> {
    return (this.bytes ??= newBytes())
  }

  /** FNV-1a over the UTF-16 units, keyed by the seed. */
  private hash (id: MessageId): number {
    let h = (0x811c9dc5 ^ this.hashSeed) | 0
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
    return h ^ (h >>> 15)
  }

  private idIs (e: number, id: MessageId): boolean {
    const r = e * FIELDS
    const n = this.rows[r + ID_LENGTH] as number
    if (n !== id.length) return false
    const chars = this.idChars.chunk(this.rows[r + ID_CHUNK] as number)
    const at = this.rows[r + ID_AT] as number
    for (let i = 0; i < n; i++) if (chars[at + i] !== id.charCodeAt(i)) return false
    return true
  }

  private sameId (a: number, b: number): boolean {
    const ra = a * FIELDS
    const rb = b * FIELDS
    const n = this.rows[ra + ID_LENGTH] as number
    if (n !== this.rows[rb + ID_LENGTH]) return false
    const xs = this.idChars.chunk(this.rows[ra + ID_CHUNK] as number)
    const ys = this.idChars.chunk(this.rows[rb + ID_CHUNK] as number)
    const x = this.rows[ra + ID_AT] as number
    const y = this.rows[rb + ID_AT] as number
    for (let i = 0; i < n; i++) if (xs[x + i] !== ys[y + i]) return false
    return true
  }

  /**
   * Put entry `e` (its id already in the chunks) into the table. A remembered copy of the same id
   * gives up its slot: it stays in the ring until it ages out, and is found no more.
   */
  private insert (e: number): void {
    const table = this.table
    const tmask = table.length - 1
    const h = this.rows[e * FIELDS + HASH] as number
    for (let k = h & tmask; ; k = (k + 1) & tmask) {
      const slot = table[k] as number
      if (slot === 0 || (this.rows[(slot - 1) * FIELDS + HASH] === h && this.sameId(slot - 1, e))) {
        table[k] = e + 1
        return
      }
    }
  }

  /** Take entry `e` out of the table, shifting back the entries of its probe chain (no tombstones). */
  private unlink (e: number): void {
    const table = this.table
    const tmask = table.length - 1
    let k = (this.rows[e * FIELDS + HASH] as number) & tmask
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
      const home = (this.rows[(slot - 1) * FIELDS + HASH] as number) & tmask
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
    this.idChars.release(this.rows[e * FIELDS + ID_CHUNK] as number, this.rows[e * FIELDS + ID_LENGTH] as number)
    this.head++
  }

  private dropPayload (): void {
    const e = this.payloadHead & this.mask
    const r = e * FIELDS
    const rows = this.rows
    const n = rows[r + CONTENT_LENGTH] as number
    if (n >= 0) {
      this.payloadBytes.release(rows[r + CONTENT_CHUNK] as number, n)
      const s = rows[r + SIG_LENGTH] as number
      if (s >= 0) this.payloadBytes.release(rows[r + SIG_CHUNK] as number, s)
    }
    rows[r + CONTENT_LENGTH] = -1
    rows[r + SIG_LENGTH] = -1
    this.origins[e] = undefined
    this.froms[e] = undefined
    this.payloadHead++
  }

  private copyIn (data: Uint8Array): number {
    const bytes = this.payloadBytes
    const at = bytes.alloc(data.length)
    bytes.chunk(bytes.lastChunk).set(data, at)
    return at
  }

  /** Fresh rows and table for `size` entries (a power of two, or 0: none); what was in them is the caller's to copy. */
  private allocate (size: number): void {
    this.mask = size - 1
    this.rows = size === 0 ? NO_INT32 : new Int32Array(size * FIELDS)
    this.times = size === 0 ? NO_FLOAT64 : new Float64Array(size)
    this.origins = size === 0 ? [] : new Array<PI | undefined>(size)
    this.froms = size === 0 ? [] : new Array<PI | undefined>(size)
    this.table = size === 0 ? NO_INT32 : new Int32Array(size * 2)
  }

  /**
   * Double the ring (its entries keep their positions, not their indexes) and rebuild the table.
   * Rows are copied a run of entries at a time: entry by entry, growing to 131,072 entries took
   * 11-13 ms, a stall in the stream that made the log grow.
   */
  private grow (): void {
    const oldMask = this.mask
    const rows = this.rows
    const times = this.times
    const origins = this.origins
    const froms = this.froms
    this.allocate(oldMask < 0 ? INITIAL_ENTRIES : (oldMask + 1) * 2)
    for (let p = this.head; p < this.tail;) {
      const o = p & oldMask
      const n = p & this.mask
      const run = Math.min(this.tail - p, oldMask + 1 - o, this.mask + 1 - n)
      this.rows.set(rows.subarray(o * FIELDS, (o + run) * FIELDS), n * FIELDS)
      this.times.set(times.subarray(o, o + run), n)
      p += run
    }
    // Peer ids are held only with payloads.
    for (let p = this.payloadHead; p < this.tail; p++) {
      this.origins[p & this.mask] = origins[p & oldMask]
      this.froms[p & this.mask] = froms[p & oldMask]
    }
    // Oldest first, so that of an id added twice the latest copy is the one found.
    for (let p = this.head; p < this.tail; p++) this.insert(p & this.mask)
  }
}
