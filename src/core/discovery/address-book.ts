/**
 * Known nodes, where they listen and which topics they want. Filled from seeds, links, the
 * membership protocol's peer data and topic discovery; read by the healer and by discovery's
 * answers. Pure: time is passed in.
 *
 * Bounded three ways, because most of what fills it is what peers say: nodes (past `maxNodes`
 * the failing, least recently heard of goes), topics per node, and interests in all. An interest
 * a node declared itself over a live link lasts while the link does; one heard from a third party,
 * or kept after the link went, lasts `interestTtl`.
 */
import type { TopicKey } from './topic-key.js'

/** Records looked at to choose one to evict. */
const EVICTION_CANDIDATES = 32
/** Holder lists up to this length grow by a copy of their exact size. */
const SHORT_LIST = 16

export interface AddressRecord<PI> {
  id: PI
  addr: string | undefined
  /** Topic -> when the interest expires (Infinity: declared by the node over a live link). */
  topics: Map<TopicKey, number>
  /** Last time anything told us about this node. */
  lastSeen: number
  /** Failed dials since the last success. */
  failures: number
  /** The address came from the node itself (its link's hello): hearsay never replaces it. */
  firsthand: boolean
  /** A live link goes to this node: it is never evicted. */
  linked: boolean
  /** No interest of this node expires before this (a lower bound: the sweep skips the record until then). */
  nextExpiry: number
}

export interface AddressBookLimits {
  maxNodes: number
  maxTopicsPerNode: number
  maxInterests: number
}

export class AddressBook<PI> {
  private readonly records = new Map<PI, AddressRecord<PI>>()
  /**
   * Topic -> nodes wanting it, in the order first heard of: answers "who is in T" without a walk
   * over every record. Arrays, not Sets: a topic has a few holders as a rule, and a node keeps
   * one list per topic it has heard of (a small Set took twice the memory; at 1,000 simulated
   * nodes these lists were a fifth of the heap).
   */
  private readonly index = new Map<TopicKey, PI[]>()
  private interests = 0

  constructor (private readonly self: PI, private readonly limits: AddressBookLimits) {}

  get size (): number { return this.records.size }

  /** (node, topic) interests recorded. */
  get interestCount (): number { return this.interests }

  get (id: PI): AddressRecord<PI> | undefined {
    return this.records.get(id)
  }

  /**
   * Record that `id` exists, and where it listens when `addr` is given. `firsthand`: the node
   * itself said so; an address a third party gives never replaces one the node gave.
   */
  learn (id: PI, addr: string | undefined, now: number, firsthand = false): AddressRecord<PI> | undefined {
    if (id === this.self) return undefined
    let r = this.records.get(id)
    if (r === undefined) {
      r = { id, addr, topics: new Map(), lastSeen: now, failures: 0, firsthand: false, linked: false, nextExpiry: Infinity }
      this.records.set(id, r)
      this.evictIfFull(id)
    }
    if (addr !== undefined && (firsthand || !r.firsthand)) {
      r.addr = addr
      if (firsthand) r.firsthand = true
    }
    if (now > r.lastSeen) r.lastSeen = now
    return r
  }

  /**
   * `id` wants `topic` until `expires`. A longer-lived claim replaces a shorter one, never the
   * other way round. Returns true if the interest is new.
   */
  addInterest (id: PI, topic: TopicKey, expires: number): boolean {
    const r = this.records.get(id)
    if (r === undefined) return false
    const known = r.topics.get(topic)
    if (known !== undefined) {
      if (expires > known) r.topics.set(topic, expires)
      return false
    }
    if (r.topics.size >= this.limits.maxTopicsPerNode || this.interests >= this.limits.maxInterests) return false
    r.topics.set(topic, expires)
    if (expires < r.nextExpiry) r.nextExpiry = expires
    this.interests++
    const holders = this.index.get(topic)
    // `push` leaves room for 16 more: short lists are copied at their size instead.
    if (holders === undefined) this.index.set(topic, [id])
    else if (holders.length < SHORT_LIST) this.index.set(topic, holders.concat(id))
    else holders.push(id)
    return true
  }

  removeInterest (id: PI, topic: TopicKey): void {
    const r = this.records.get(id)
    if (r === undefined || !r.topics.delete(topic)) return
    this.interests--
    const holders = this.index.get(topic)
    if (holders === undefined) return
    const at = holders.indexOf(id)
    if (at >= 0) holders.splice(at, 1)
    if (holders.length === 0) this.index.delete(topic)
  }

  clearInterests (id: PI): void {
    const r = this.records.get(id)
    if (r === undefined) return
    for (const topic of [...r.topics.keys()]) this.removeInterest(id, topic)
  }

  /** The node's link went: what it declared now ages like hearsay. */
  unpin (id: PI, expires: number): void {
    const r = this.records.get(id)
    if (r === undefined) return
    for (const [topic, at] of r.topics) if (at === Infinity) r.topics.set(topic, expires)
    if (expires < r.nextExpiry) r.nextExpiry = expires
  }

  /** Forget interests that expired by `now` (looking only at records with one due). */
  evictExpired (now: number): void {
    for (const r of this.records.values()) {
      if (r.nextExpiry > now) continue
      let next = Infinity
      for (const [topic, at] of r.topics) {
        if (at <= now) this.removeInterest(r.id, topic)
        else if (at < next) next = at
      }
      r.nextExpiry = next
    }
  }

  setLinked (id: PI, linked: boolean): void {
    const r = this.records.get(id)
    if (r !== undefined) r.linked = linked
  }

  success (id: PI, now: number): void {
    const r = this.records.get(id)
    if (r === undefined) return
    if (now > r.lastSeen) r.lastSeen = now
    r.failures = 0
  }

  failure (id: PI): void {
    const r = this.records.get(id)
    if (r !== undefined) r.failures++
  }

  forget (id: PI): void {
    this.clearInterests(id)
    this.records.delete(id)
  }

  /** Nodes known to want `topic` (a fresh array the caller may keep). */
  interestedIn (topic: TopicKey): PI[] {
    return this.index.get(topic)?.slice() ?? []
  }

  /** How many nodes are known to want `topic`. */
  interestCountOf (topic: TopicKey): number {
    return this.index.get(topic)?.length ?? 0
  }

  /**
   * Past capacity, a node goes: among the oldest few records, the one failing most, then heard
   * of least recently; never a linked node. Looking at a few rather than all keeps a flood of
   * made-up nodes from costing a scan of the whole book each.
   */
  private evictIfFull (keep: PI): void {
    if (this.records.size <= this.limits.maxNodes) return
    let worst: AddressRecord<PI> | undefined
    let looked = 0
    for (const r of this.records.values()) {
      if (r.id === keep || r.linked) continue
      if (worst === undefined || r.failures > worst.failures || (r.failures === worst.failures && r.lastSeen < worst.lastSeen)) worst = r
      if (++looked >= EVICTION_CANDIDATES) break
    }
    if (worst !== undefined) this.forget(worst.id)
  }
}
