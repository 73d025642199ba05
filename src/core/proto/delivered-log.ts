/**
 * What one topic delivered recently, in delivery order: every id for as long as duplicates must be
 * recognised, and the payload with it for the shorter time it may be asked for by GRAFT. The id
 * window and the payload cache are two suffixes of the same sequence, so one Map (id -> position)
 * serves both; a payload ages out by clearing its slot, without touching the Map.
 */
/*
 * Why one structure: as a seen-id set beside a payload cache, every delivered message cost seven
 * operations on two large Maps (look up, insert and evict in each, and a look-up before each
 * insert) - about a tenth of a busy node's CPU time. Here it costs three: `has`, one insert, and
 * one eviction once the window is full.
 */
import type { MessageId } from './types.js'

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

export class DeliveredLog<V> {
  /** Id -> its position: the number of ids added before it over the log's life (see `base`). */
  private readonly slots = new Map<MessageId, number>()
  /** Ids, payloads and delivery times, oldest first; `values` is cleared below `payloadHead`. */
  private ids: MessageId[] = []
  private values: Array<V | undefined> = []
  private times: number[] = []
  /** The position of `ids[0]`: cutting off the front renumbers nothing. */
  private base = 0
  /** Index of the oldest id still remembered. */
  private head = 0
  /** Index of the oldest payload still kept (never below `head`). */
  private payloadHead = 0
  private readonly maxIds: number
  private readonly maxPayloads: number

  constructor (private readonly limits: DeliveredLogLimits) {
    // A payload is only asked for by id: one kept longer than its id would never be found.
    this.maxIds = Math.max(0, limits.maxIds, limits.maxPayloads)
    this.maxPayloads = Math.max(0, limits.maxPayloads)
  }

  /** Ids remembered. */
  get size (): number {
    return this.ids.length - this.head
  }

  /** Payloads kept. */
  get payloads (): number {
    return this.ids.length - this.payloadHead
  }

  has (id: MessageId): boolean {
    return this.slots.has(id)
  }

  /** The payload delivered with `id`, while it is kept. */
  get (id: MessageId): V | undefined {
    const slot = this.slots.get(id)
    return slot === undefined ? undefined : this.values[slot - this.base]
  }

  /**
   * Record a delivery. `id` must not be remembered already (the caller has just asked `has`): not
   * checking again saves a look-up per message. One added twice anyway is forgotten when its
   * first copy ages out, which is early, but breaks no bound.
   */
  add (id: MessageId, value: V, now: number): void {
    if (this.maxIds === 0) return
    this.slots.set(id, this.base + this.ids.length)
    this.ids.push(id)
    this.values.push(this.maxPayloads > 0 ? value : undefined)
    this.times.push(now)
    if (this.ids.length - this.head > this.maxIds) this.dropId()
    if (this.ids.length - this.payloadHead > this.maxPayloads) this.dropPayload()
    this.compact()
  }

  /** Forget what expired at or before `now`. */
  evictExpired (now: number): void {
    const times = this.times
    const idLimit = now - this.limits.idRetention
    while (this.head < times.length && (times[this.head] as number) <= idLimit) this.dropId()
    const payloadLimit = now - this.limits.payloadTimeout
    while (this.payloadHead < times.length && (times[this.payloadHead] as number) <= payloadLimit) this.dropPayload()
    this.compact()
  }

  /** When the next id or payload expires, or undefined when nothing is held. */
  nextExpiry (): number | undefined {
    const times = this.times
    if (this.head >= times.length) return undefined
    const id = (times[this.head] as number) + this.limits.idRetention
    if (this.payloadHead >= times.length) return id
    return Math.min(id, (times[this.payloadHead] as number) + this.limits.payloadTimeout)
  }

  private dropId (): void {
    const id = this.ids[this.head] as MessageId
    // An id added twice goes with its first copy (see `add`).
    this.slots.delete(id)
    if (this.payloadHead === this.head) this.dropPayload()
    this.head++
  }

  private dropPayload (): void {
    this.values[this.payloadHead++] = undefined
  }

  /** Cut off the consumed front now and then, so the arrays stay within twice the live ids. */
  private compact (): void {
    const head = this.head
    if (head < 1024 || head * 2 < this.ids.length) return
    this.ids = this.ids.slice(head)
    this.values = this.values.slice(head)
    this.times = this.times.slice(head)
    this.base += head
    this.payloadHead -= head
    this.head = 0
  }
}
