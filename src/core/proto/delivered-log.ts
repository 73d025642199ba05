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
 * from 9-22 ms to 3-6 ms. Here an id is a row of numbers in a typed array (and its payload, while
 * kept, a row in another: there are ten times fewer), its characters and the payload's bytes are
 * copied into chunks (span-chunks.ts), and ids are found through an open-addressing table of
 * hashes: nothing per message is left for the collector. The hash is keyed (`hashSeed`), so that
 * a peer cannot choose ids that all land in one probe chain.
 */
import type { MessageId } from './types.js'
import { SpanChunks } from './span-chunks.js'
import { FNV1A_BASIS, fnv1a } from './fnv1a.js'

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

// An id's row: int32 fields at these offsets (one array, not a column each: a quiet topic's log
// was 14 typed arrays, 3 KB, and a simulated node has thousands).
const HASH = 0
const ID_CHUNK = 1
const ID_AT = 2
const ID_LENGTH = 3
const ID_FIELDS = 4
// A kept payload's row. The payload and signature spans; a signature length of -1: none.
const HOPS = 0
const CONTENT_CHUNK = 1
const CONTENT_AT = 2
const CONTENT_LENGTH = 3
const SIG_CHUNK = 4
const SIG_AT = 5
const SIG_LENGTH = 6
const PAYLOAD_FIELDS = 7
/**
 * Slots of the previous table moved per delivery after the ring doubled: the table has twice as
 * many slots as the ring had entries, so at 4 the move is done after half the deliveries that
 * could fill the ring again.
 */
const MIGRATE_SLOTS = 4

/**
 * A table slot: position + 1 (0: free), then the id's hash, so that a probe reads an id's row only
 * on a likely match (it cost a cache miss per slot probed). The table is twice the ring's size, so
 * this is 32 bytes per id held: 4 MiB at 131,072.
 */
const SLOT_FIELDS = 2

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

/**
 * Copy the slots of positions [from, to) of a ring of `oldMask + 1` entries, `fields` numbers
 * each, into one of `mask + 1`: a run of positions at a time (entry by entry, growing to 131,072
 * entries took 11-13 ms, a stall in the stream that made the log grow).
 */
function copyRuns (source: Int32Array | Float64Array, target: Int32Array | Float64Array, fields: number, from: number, to: number, oldMask: number, mask: number): void {
  for (let p = from; p < to;) {
    const o = p & oldMask
    const n = p & mask
    const run = Math.min(to - p, oldMask + 1 - o, mask + 1 - n)
    target.set(source.subarray(o * fields, (o + run) * fields), n * fields)
    p += run
  }
}

export class DeliveredLog<PI> {
  private readonly maxIds: number
  private readonly maxPayloads: number
  /**
   * Positions count every id ever added; the ids remembered are positions [head, tail), in a
   * ring of `mask + 1` rows (a power of two; -1 while the log has none) at `p & mask`.
   */
  private head = 0
  private tail = 0
  private mask = -1
  private ids = NO_INT32
  private times = NO_FLOAT64
  /** Payloads are kept for positions [payloadHead, tail), in a ring of their own at `p & payloadMask`. */
  private payloadHead = 0
  private payloadMask = -1
  private payloadRows = NO_INT32
  /** Peer ids are long-lived (one per neighbour or origin), so holding them costs the collector nothing new. */
  private origins: Array<PI | undefined> = []
  private froms: Array<PI | undefined> = []
  /** Made at the first id and the first payload (most logs of a simulated node never get one). */
  private chars: SpanChunks<Uint16Array> | undefined
  private bytes: SpanChunks<Uint8Array> | undefined
  /**
   * Open addressing, linear probing: position + 1 of an id, 0 when free; twice the ring's size.
   * Positions, not ring indexes, so that the ring can double without touching the table.
   */
  private table = NO_FLOAT64
  /**
   * The table before the ring last doubled, moved into `table` a few slots per delivery from
   * `migrateAt` on (rebuilding it in one go was a third of the stall of a doubling); it is
   * searched after `table`, and what died meanwhile (a position below `head`) is skipped.
   */
  private previous = NO_FLOAT64
  private migrateAt = 0
  /**
   * The last id looked up, and where it was: the runtime and then Plumtree ask about each
   * delivered message. Forgotten whenever an id comes or goes.
   */
  private foundId: MessageId | undefined
  private foundAt = -1
  /** The last id hashed, and its hash (see `hash`). */
  private hashedId: MessageId | undefined
  private hashedTo = 0

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

  /** The position of `id` while it is remembered (for the accessors below), else -1. */
  find (id: MessageId): number {
    if (this.tail === this.head) return -1
    if (id === this.foundId) return this.foundAt
    const h = this.hash(id)
    let p = this.search(this.table, h, id, 0)
    if (p < 0 && this.previous.length > 0) p = this.search(this.previous, h, id, this.head)
    this.foundId = id
    this.foundAt = p
    return p
  }

  /** Whether the delivery at position `p` still has its payload. */
  hasPayload (p: number): boolean {
    return p >= this.payloadHead && p < this.tail
  }

  /** The hops and parent recorded with the payload at `p` (while `hasPayload`). */
  hopsOf (p: number): number {
    return this.payloadRows[(p & this.payloadMask) * PAYLOAD_FIELDS + HOPS] as number
  }

  fromOf (p: number): PI | undefined {
    return this.froms[p & this.payloadMask]
  }

  originOf (p: number): PI | undefined {
    return this.origins[p & this.payloadMask]
  }

  /** The tree was reshaped: the payload at `p` now counts as delivered by `from` at `hops`. */
  reroute (p: number, from: PI, hops: number): void {
    this.froms[p & this.payloadMask] = from
    this.payloadRows[(p & this.payloadMask) * PAYLOAD_FIELDS + HOPS] = hops
  }

  /** A copy of the payload at position `p` while it is kept. */
  payloadOf (p: number): DeliveredPayload<PI> | undefined {
    if (!this.hasPayload(p)) return undefined
    const i = p & this.payloadMask
    const r = i * PAYLOAD_FIELDS
    const rows = this.payloadRows
    const bytes = this.payloadBytes
    const at = rows[r + CONTENT_AT] as number
    const sigAt = rows[r + SIG_AT] as number
    const sigLength = rows[r + SIG_LENGTH] as number
    return {
      origin: this.origins[i] as PI,
      content: bytes.chunk(rows[r + CONTENT_CHUNK] as number).slice(at, at + (rows[r + CONTENT_LENGTH] as number)),
      hops: rows[r + HOPS] as number,
      from: this.froms[i],
      sig: sigLength < 0 ? undefined : bytes.chunk(rows[r + SIG_CHUNK] as number).slice(sigAt, sigAt + sigLength)
    }
  }

  /**
   * Record a delivery; the content and signature are copied. `id` must not be remembered already
   * (the caller has just asked `has`); one added twice anyway is found as its latest copy, and
   * breaks no bound.
   */
  add (id: MessageId, payload: DeliveredPayload<PI>, now: number): void {
    if (this.maxIds === 0) return
    this.foundId = undefined
    if (this.size >= this.maxIds) this.dropId()
    if (this.size > this.mask) this.grow()
    const p = this.tail
    const r = (p & this.mask) * ID_FIELDS
    const rows = this.ids
    rows[r + HASH] = this.hash(id)
    this.times[p & this.mask] = now
    const chars = this.idChars
    const at = chars.alloc(id.length)
    const chunk = chars.chunk(chars.lastChunk)
    for (let i = 0; i < id.length; i++) chunk[at + i] = id.charCodeAt(i)
    rows[r + ID_CHUNK] = chars.lastChunk
    rows[r + ID_AT] = at
    rows[r + ID_LENGTH] = id.length
    this.insert(p, rows[r + HASH] as number)
    if (this.previous.length > 0) this.migrate(MIGRATE_SLOTS)
    this.tail++
    if (this.maxPayloads === 0) {
      this.payloadHead = this.tail
      return
    }
    if (this.tail - this.payloadHead > this.maxPayloads) this.dropPayload()
    if (this.tail - this.payloadHead > this.payloadMask + 1) this.growPayloads()
    const i = p & this.payloadMask
    const q = i * PAYLOAD_FIELDS
    const payloadRows = this.payloadRows
    this.origins[i] = payload.origin
    this.froms[i] = payload.from
    payloadRows[q + HOPS] = payload.hops
    payloadRows[q + CONTENT_AT] = this.copyIn(payload.content)
    payloadRows[q + CONTENT_CHUNK] = this.payloadBytes.lastChunk
    payloadRows[q + CONTENT_LENGTH] = payload.content.length
    payloadRows[q + SIG_LENGTH] = -1
    if (payload.sig !== undefined) {
      payloadRows[q + SIG_AT] = this.copyIn(payload.sig)
      payloadRows[q + SIG_CHUNK] = this.payloadBytes.lastChunk
      payloadRows[q + SIG_LENGTH] = payload.sig.length
    }
  }

  /**
   * Forget what expired at or before `now`. The rings never shrink while in use; a topic that went
   * quiet gives them back once its payloads, then its ids, have all expired.
   */
  evictExpired (now: number): void {
    const idLimit = now - this.limits.idRetention
    while (this.head < this.tail && (this.times[this.head & this.mask] as number) <= idLimit) this.dropId()
    const payloadLimit = now - this.limits.payloadTimeout
    while (this.payloadHead < this.tail && (this.times[this.payloadHead & this.mask] as number) <= payloadLimit) this.dropPayload()
    if (this.payloadHead === this.tail && this.payloadMask >= 0) {
      this.allocatePayloads(0)
      this.bytes = undefined
    }
    if (this.head === this.tail && this.mask >= 0) {
      this.allocateIds(0)
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

  /**
   * FNV-1a keyed by the seed, high bits folded into the low ones the table indexes by. The last
   * id is remembered: a delivered message's id is asked about by the runtime, then by Plumtree,
   * then added, and hashing it once serves all three.
   */
  private hash (id: MessageId): number {
    if (id === this.hashedId) return this.hashedTo
    const h = fnv1a(id, (FNV1A_BASIS ^ this.hashSeed) >>> 0)
    this.hashedId = id
    this.hashedTo = h ^ (h >>> 15)
    return this.hashedTo
  }

  private hashAt (p: number): number {
    return this.ids[(p & this.mask) * ID_FIELDS + HASH] as number
  }

  private idIs (p: number, id: MessageId): boolean {
    const r = (p & this.mask) * ID_FIELDS
    const n = this.ids[r + ID_LENGTH] as number
    if (n !== id.length) return false
    const chars = this.idChars.chunk(this.ids[r + ID_CHUNK] as number)
    const at = this.ids[r + ID_AT] as number
    for (let i = 0; i < n; i++) if (chars[at + i] !== id.charCodeAt(i)) return false
    return true
  }

  private sameId (a: number, b: number): boolean {
    const ra = (a & this.mask) * ID_FIELDS
    const rb = (b & this.mask) * ID_FIELDS
    const n = this.ids[ra + ID_LENGTH] as number
    if (n !== this.ids[rb + ID_LENGTH]) return false
    const xs = this.idChars.chunk(this.ids[ra + ID_CHUNK] as number)
    const ys = this.idChars.chunk(this.ids[rb + ID_CHUNK] as number)
    const x = this.ids[ra + ID_AT] as number
    const y = this.ids[rb + ID_AT] as number
    for (let i = 0; i < n; i++) if (xs[x + i] !== ys[y + i]) return false
    return true
  }

  /** The position of `id` (hash `h`) in `table`, among positions from `oldest` on, else -1. */
  private search (table: Float64Array, h: number, id: MessageId, oldest: number): number {
    const tmask = table.length / SLOT_FIELDS - 1
    for (let k = h & tmask; ; k = (k + 1) & tmask) {
      const slot = table[SLOT_FIELDS * k] as number
      if (slot === 0) return -1
      const p = slot - 1
      if (table[SLOT_FIELDS * k + 1] === h && p >= oldest && this.idIs(p, id)) return p
    }
  }

  /**
   * Put position `p` (its id already in the chunks) into the table. Of two copies of one id the
   * later one is kept: the earlier stays in the ring until it ages out, found no more.
   */
  private insert (p: number, h: number): void {
    const table = this.table
    const tmask = table.length / SLOT_FIELDS - 1
    for (let k = h & tmask; ; k = (k + 1) & tmask) {
      const slot = table[SLOT_FIELDS * k] as number
      if (slot === 0) {
        table[SLOT_FIELDS * k] = p + 1
        table[SLOT_FIELDS * k + 1] = h
        return
      }
      if (table[SLOT_FIELDS * k + 1] === h && this.sameId(slot - 1, p)) {
        if (slot - 1 < p) table[SLOT_FIELDS * k] = p + 1
        return
      }
    }
  }

  /** Take position `p` out of the table, shifting back the entries of its probe chain (no tombstones). */
  private unlink (p: number): void {
    const table = this.table
    const tmask = table.length / SLOT_FIELDS - 1
    let k = this.hashAt(p) & tmask
    for (;;) {
      const slot = table[SLOT_FIELDS * k] as number
      // Not there: a later copy of the same id took its slot, or it is still in `previous`.
      if (slot === 0) return
      if (slot === p + 1) break
      k = (k + 1) & tmask
    }
    let free = k
    for (let j = (free + 1) & tmask; ; j = (j + 1) & tmask) {
      const slot = table[SLOT_FIELDS * j] as number
      if (slot === 0) break
      const h = table[SLOT_FIELDS * j + 1] as number
      const home = h & tmask
      // The entry at j may move to `free` unless its home lies cyclically in (free, j].
      const stays = free <= j ? home > free && home <= j : home > free || home <= j
      if (!stays) {
        table[SLOT_FIELDS * free] = slot
        table[SLOT_FIELDS * free + 1] = h
        free = j
      }
    }
    table[SLOT_FIELDS * free] = 0
  }

  /** Move `slots` slots of `previous` into `table` (all that are left when `slots` is Infinity). */
  private migrate (slots: number): void {
    const previous = this.previous
    const count = previous.length / SLOT_FIELDS
    const end = Math.min(count, this.migrateAt + slots)
    for (let k = this.migrateAt; k < end; k++) {
      const slot = previous[SLOT_FIELDS * k] as number
      if (slot !== 0 && slot - 1 >= this.head) this.insert(slot - 1, previous[SLOT_FIELDS * k + 1] as number)
    }
    this.migrateAt = end
    if (end === count) this.previous = NO_FLOAT64
  }

  private dropId (): void {
    if (this.payloadHead === this.head) this.dropPayload()
    this.foundId = undefined
    const r = (this.head & this.mask) * ID_FIELDS
    this.unlink(this.head)
    this.idChars.release(this.ids[r + ID_CHUNK] as number, this.ids[r + ID_LENGTH] as number)
    this.head++
  }

  private dropPayload (): void {
    if (this.payloadMask >= 0) {
      const i = this.payloadHead & this.payloadMask
      const q = i * PAYLOAD_FIELDS
      const rows = this.payloadRows
      this.payloadBytes.release(rows[q + CONTENT_CHUNK] as number, rows[q + CONTENT_LENGTH] as number)
      const s = rows[q + SIG_LENGTH] as number
      if (s >= 0) this.payloadBytes.release(rows[q + SIG_CHUNK] as number, s)
      this.origins[i] = undefined
      this.froms[i] = undefined
    }
    this.payloadHead++
  }

  private copyIn (data: Uint8Array): number {
    const bytes = this.payloadBytes
    const at = bytes.alloc(data.length)
    bytes.chunk(bytes.lastChunk).set(data, at)
    return at
  }

  /** Fresh id rows and table for `size` entries (a power of two, or 0: none). */
  private allocateIds (size: number): void {
    this.mask = size - 1
    this.ids = size === 0 ? NO_INT32 : new Int32Array(size * ID_FIELDS)
    this.times = size === 0 ? NO_FLOAT64 : new Float64Array(size)
    this.table = size === 0 ? NO_FLOAT64 : new Float64Array(size * 2 * SLOT_FIELDS)
    this.previous = NO_FLOAT64
    this.migrateAt = 0
  }

  private allocatePayloads (size: number): void {
    this.payloadMask = size - 1
    this.payloadRows = size === 0 ? NO_INT32 : new Int32Array(size * PAYLOAD_FIELDS)
    this.origins = size === 0 ? [] : new Array<PI | undefined>(size)
    this.froms = size === 0 ? [] : new Array<PI | undefined>(size)
  }

  /**
   * Double the id ring (ids keep their positions, not their indexes) and start a table of twice
   * the size, into which the current one moves a few slots per delivery.
   */
  private grow (): void {
    const oldMask = this.mask
    const ids = this.ids
    const times = this.times
    // Not reached with MIGRATE_SLOTS 4 (the move ends within half the deliveries that can fill the
    // ring again); here so that a smaller step could not lose the entries still to move.
    if (this.previous.length > 0) this.migrate(Infinity)
    const table = this.table
    this.allocateIds(oldMask < 0 ? INITIAL_ENTRIES : (oldMask + 1) * 2)
    this.previous = table
    copyRuns(ids, this.ids, ID_FIELDS, this.head, this.tail, oldMask, this.mask)
    copyRuns(times, this.times, 1, this.head, this.tail, oldMask, this.mask)
  }

  private growPayloads (): void {
    const oldMask = this.payloadMask
    const rows = this.payloadRows
    const origins = this.origins
    const froms = this.froms
    this.allocatePayloads(oldMask < 0 ? INITIAL_ENTRIES : (oldMask + 1) * 2)
    // The payloads kept are positions [payloadHead, tail - 1): the one being added has no row yet.
    copyRuns(rows, this.payloadRows, PAYLOAD_FIELDS, this.payloadHead, this.tail - 1, oldMask, this.payloadMask)
    for (let p = this.payloadHead; p < this.tail - 1; p++) {
      this.origins[p & this.payloadMask] = origins[p & oldMask]
      this.froms[p & this.payloadMask] = froms[p & oldMask]
    }
  }
}
