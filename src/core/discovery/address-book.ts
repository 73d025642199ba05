/**
 * Known nodes, where they listen and which topics they want. Filled from seeds, links, the
 * membership protocol's peer data and topic discovery; read by the healer and by discovery's
 * answers. Pure: time is passed in.
 *
 * Bounded three ways, because most of what fills it is what peers say: nodes (past `maxNodes`
 * the failing, least recently heard of goes), topics per node, and interests in all. What a node
 * declared itself over a live link lasts while the link does, and `interestTtl` after it went,
 * all of it together (one expiry per record: at 1,000 simulated nodes the books were most of the
 * heap, and an expiry per topic plus the link's own copy of the list cost three times a set); what
 * a third party said lasts `interestTtl` from when it was heard, topic by topic.
 */
import type { TopicKey } from './topic-key.js'

/** Records looked at to choose one to evict. */
const EVICTION_CANDIDATES = 32
/** Holder lists up to this length grow by a copy of their exact size. */
const SHORT_LIST = 16
/** The holders of a topic nobody is known to want. */
const NOBODY: readonly never[] = Object.freeze([])

export interface AddressRecord<PI> {
  id: PI
  addr: string | undefined
  /**
   * Topics heard of from third parties (answers, the membership protocol) -> when that expires.
   * Made at the first one: most records of a large book never get any (at 1,000 simulated nodes,
   * a million records, an empty Map and Set each were 6 % of the heap).
   */
  heard: Map<TopicKey, number> | undefined
  /**
   * Topics the node declared itself over a link; never also in `heard`. Made at the first one. A
   * list, not a Set: whether it holds a topic is asked of the shorter of it and the topic's
   * holders (the index below), and at 200 simulated nodes these Sets were a quarter of the heap
   * at about 30 bytes a topic.
   */
  declared: TopicKey[] | undefined
  /** When `declared` expires: Infinity while the link is up (or none was ever made). */
  declaredUntil: number
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
   * nodes these lists were a fifth of the heap). A topic with one holder keeps the holder itself:
   * at 400 simulated nodes the index was a third of the heap, 1.2 million lists averaging 117
   * bytes, and most held one or two nodes. (A node id is never an array.)
   */
  private readonly holders = new Map<TopicKey, Holders<PI>>()
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
      r = { id, addr, heard: undefined, declared: undefined, declaredUntil: Infinity, lastSeen: now, failures: 0, firsthand: false, linked: false, nextExpiry: Infinity }
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

  /** Topics recorded for `id`, declared and heard of. */
  topicCount (id: PI): number {
    const r = this.records.get(id)
    return r === undefined ? 0 : topicsOf(r)
  }

  /** Topics `id` declared itself. */
  declaredCount (id: PI): number {
    return this.records.get(id)?.declared?.length ?? 0
  }

  hasDeclared (id: PI, topic: TopicKey): boolean {
    const r = this.records.get(id)
    return r !== undefined && this.declares(r, topic, this.holders.get(topic))
  }

  /**
   * Whether `r`'s node declared `topic`. Its holders name it exactly when it declared the topic or
   * was heard of in it, so the shorter list answers: a popular topic has many holders, and a node
   * in many topics declared many.
   */
  private declares (r: AddressRecord<PI>, topic: TopicKey, holders: Holders<PI> | undefined): boolean {
    const declared = r.declared
    if (declared === undefined || holders === undefined) return false
    if (!isList(holders)) return declared.length <= 1 ? declared.includes(topic) : r.heard?.has(topic) !== true && holders === r.id
    return declared.length <= holders.length ? declared.includes(topic) : r.heard?.has(topic) !== true && holders.includes(r.id)
  }

  /**
   * A third party says `id` wants `topic`, until `expires`. A longer-lived claim replaces a
   * shorter one, never the other way round; what the node declared itself stands as it is.
   * Returns true if the interest is new.
   */
  addInterest (id: PI, topic: TopicKey, expires: number): boolean {
    const r = this.records.get(id)
    if (r === undefined) return false
    const heard = r.heard
    const known = heard?.get(topic)
    if (heard !== undefined && known !== undefined) {
      if (expires > known) heard.set(topic, expires)
      return false
    }
    // Heard and declared never share a topic, so the (cheaper) question above could come first.
    // The topic's holders are looked up once, for both this question and the index: the index is
    // large, and this runs for every node named in an answer.
    const holders = this.holders.get(topic)
    if (this.declares(r, topic, holders)) return false
    if (this.full(r)) return false
    r.heard ??= new Map()
    r.heard.set(topic, expires)
    if (expires < r.nextExpiry) r.nextExpiry = expires
    this.index(id, topic, holders)
    return true
  }

  /**
   * `id` itself says, over its link, that it wants `topic`: that lasts until `unpin`. 'new': not
   * even heard of before; 'heard': it was hearsay until now; 'declared': nothing changes;
   * 'full': not recorded (the node's topics or the interests in all are at their bound).
   */
  declare (id: PI, topic: TopicKey): 'new' | 'heard' | 'declared' | 'full' {
    const r = this.records.get(id)
    if (r === undefined) return 'full'
    const holders = this.holders.get(topic)
    if (this.declares(r, topic, holders)) return 'declared'
    if (r.heard?.delete(topic) === true) {
      if (r.heard.size === 0) r.heard = undefined
      r.declared ??= []
      r.declared.push(topic)
      return 'heard'
    }
    if (this.full(r)) return 'full'
    r.declared ??= []
    r.declared.push(topic)
    if (r.declaredUntil < r.nextExpiry) r.nextExpiry = r.declaredUntil
    this.index(id, topic, holders)
    return 'new'
  }

  private full (r: AddressRecord<PI>): boolean {
    return topicsOf(r) >= this.limits.maxTopicsPerNode || this.interests >= this.limits.maxInterests
  }

  /** `holders`: the topic's list as it is now (looked up by the caller). */
  private index (id: PI, topic: TopicKey, holders: Holders<PI> | undefined): void {
    this.interests++
    // `push` leaves room for 16 more: short lists are copied at their size instead.
    if (holders === undefined) this.holders.set(topic, id)
    else if (!isList(holders)) this.holders.set(topic, [holders, id])
    else if (holders.length < SHORT_LIST) this.holders.set(topic, withOneMore(holders, id))
    else holders.push(id)
  }

  /** `id` no longer wants `topic`, whoever said it did. */
  removeInterest (id: PI, topic: TopicKey): void {
    const r = this.records.get(id)
    if (r === undefined) return
    if (r.heard?.delete(topic) === true) {
      if (r.heard.size === 0) r.heard = undefined
    } else {
      const at = r.declared?.indexOf(topic) ?? -1
      if (r.declared === undefined || at < 0) return
      r.declared.splice(at, 1)
      if (r.declared.length === 0) r.declared = undefined
    }
    this.unindex(id, topic)
  }

  /** Forget everything `r`'s node was heard of in. */
  private dropHeard (r: AddressRecord<PI>): void {
    const heard = r.heard
    if (heard === undefined) return
    r.heard = undefined
    for (const topic of heard.keys()) this.unindex(r.id, topic)
  }

  /** Forget everything `r`'s node declared (all at once: one by one, each was a walk of the list). */
  private dropDeclared (r: AddressRecord<PI>): void {
    const declared = r.declared
    if (declared === undefined) return
    r.declared = undefined
    for (const topic of declared) this.unindex(r.id, topic)
  }

  /** The interest of `id` in `topic` is gone from its record: now from the count and the index. */
  private unindex (id: PI, topic: TopicKey): void {
    this.interests--
    const holders = this.holders.get(topic)
    if (holders === undefined) return
    if (!isList(holders)) {
      if (holders === id) this.holders.delete(topic)
      return
    }
    const at = holders.indexOf(id)
    if (at >= 0) holders.splice(at, 1)
    if (holders.length === 0) this.holders.delete(topic)
    else if (holders.length === 1) this.holders.set(topic, holders[0] as PI)
  }

  clearInterests (id: PI): void {
    const r = this.records.get(id)
    if (r === undefined) return
    this.dropHeard(r)
    this.dropDeclared(r)
  }

  /** The node's link went: what it declared lasts until `expires`, all of it. */
  unpin (id: PI, expires: number): void {
    const r = this.records.get(id)
    if (r === undefined) return
    r.declaredUntil = expires
    if (expires < r.nextExpiry) r.nextExpiry = expires
  }

  /**
   * A link to `id` is up. `resume`: it continues one that closed within `interestTtl` (or one
   * still up), so what the node declared over that one stands again, and what others said of it
   * meanwhile goes (the node's own changes since come as a delta). Otherwise what it declared
   * long ago goes (its snapshot comes).
   */
  pin (id: PI, resume: boolean): void {
    const r = this.records.get(id)
    if (r === undefined) return
    if (resume) this.dropHeard(r)
    else this.dropDeclared(r)
    r.declaredUntil = Infinity
  }

  /** Forget interests that expired by `now` (looking only at records with one due). */
  evictExpired (now: number): void {
    for (const r of this.records.values()) {
      if (r.nextExpiry > now) continue
      let next = Infinity
      if (r.heard !== undefined) {
        for (const [topic, at] of r.heard) {
          if (at <= now) this.removeInterest(r.id, topic)
          else if (at < next) next = at
        }
      }
      if (r.declaredUntil <= now) {
        this.dropDeclared(r)
        r.declaredUntil = Infinity
      } else if (r.declaredUntil < next) {
        next = r.declaredUntil
      }
      r.nextExpiry = next
    }
  }

  setLinked (id: PI, linked: boolean): void {
    const r = this.records.get(id)
    if (r === undefined) return
    r.linked = linked
    // Linked nodes are never evicted, so the book may have grown past maxNodes while this one
    // was: with its link gone, it is brought back within the bound.
    if (!linked) while (this.evictIfFull(undefined)) { /* one at a time, while over the bound */ }
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
    const holders = this.holders.get(topic)
    return holders === undefined ? [] : isList(holders) ? holders.slice() : [holders]
  }

  /**
   * The same, as the book holds it: read it before the book changes, never change it. For callers
   * that only look (the heal timers asked for every topic's holders and copied them each time).
   */
  holdersOf (topic: TopicKey): readonly PI[] {
    const holders = this.holders.get(topic)
    return holders === undefined ? NOBODY : isList(holders) ? holders : [holders]
  }

  /** How many nodes are known to want `topic`. */
  interestCountOf (topic: TopicKey): number {
    const holders = this.holders.get(topic)
    return holders === undefined ? 0 : isList(holders) ? holders.length : 1
  }

  /**
   * Past capacity, a node goes: among the oldest few records, the one failing most, then heard
   * of least recently; never a linked node. Looking at a few rather than all keeps a flood of
   * made-up nodes from costing a scan of the whole book each. Returns whether one went.
   */
  private evictIfFull (keep: PI | undefined): boolean {
    if (this.records.size <= this.limits.maxNodes) return false
    let worst: AddressRecord<PI> | undefined
    let looked = 0
    for (const r of this.records.values()) {
      if (r.id === keep || r.linked) continue
      if (worst === undefined || r.failures > worst.failures || (r.failures === worst.failures && r.lastSeen < worst.lastSeen)) worst = r
      if (++looked >= EVICTION_CANDIDATES) break
    }
    if (worst === undefined) return false
    this.forget(worst.id)
    return true
  }
}

/** A topic's holders: one node, or a list of two or more. */
type Holders<PI> = PI | PI[]

function isList<PI> (holders: Holders<PI>): holders is PI[] {
  return Array.isArray(holders)
}

function topicsOf<PI> (r: AddressRecord<PI>): number {
  return (r.heard?.size ?? 0) + (r.declared?.length ?? 0)
}

/**
 * A copy of `list` with `item` at the end, of exactly that size. A loop, not `concat`: measured on
 * lists of 0-5, concat took ten times as long (it was the largest item of a 1,000-node profile).
 */
function withOneMore<T> (list: readonly T[], item: T): T[] {
  const n = list.length
  const out = new Array<T>(n + 1)
  for (let i = 0; i < n; i++) out[i] = list[i] as T
  out[n] = item
  return out
}
