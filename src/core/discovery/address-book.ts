/**
 * Known nodes, where they listen and which topics they want. Filled from seeds, from the links we
 * make and from topic discovery; read by the healer to find interested nodes the overlay cannot
 * reach. Pure: time is passed in. Bounded: past `capacity`, the record heard of least recently
 * (failures first) is forgotten.
 */
import type { TopicId } from './proto/types.js'
import type { NodeId, NodeRecord } from './net/frames.js'

export interface AddressRecord {
  id: NodeId
  addr: string
  topics: Set<TopicId>
  /** Last time anything told us about this node. */
  lastSeen: number
  /** Last time a link to it was established. */
  lastSuccess: number | undefined
  /** Last time dialling it failed. */
  lastFailure: number | undefined
  /** Failed dials since the last success. */
  failures: number
}

export class AddressBook {
  private readonly records = new Map<NodeId, AddressRecord>()

  constructor (private readonly self: NodeId, private readonly capacity = 10_000) {}

  get size (): number { return this.records.size }

  get (id: NodeId): AddressRecord | undefined {
    return this.records.get(id)
  }

  /** Record what we heard of a node. `topics` replaces the known set when given (its owner said so). */
  learn (id: NodeId, addr: string | null | undefined, topics: Iterable<TopicId> | undefined, now: number): void {
    if (id === this.self) return
    let r = this.records.get(id)
    if (r === undefined) {
      if (addr == null) return
      r = { id, addr, topics: new Set(), lastSeen: now, lastSuccess: undefined, lastFailure: undefined, failures: 0 }
      this.records.set(id, r)
      this.evictIfFull()
    }
    if (addr != null) r.addr = addr
    if (topics !== undefined) r.topics = new Set(topics)
    r.lastSeen = Math.max(r.lastSeen, now)
  }

  /** Add topics a third party says `id` wants, without forgetting the ones we know. */
  addTopics (id: NodeId, topics: Iterable<TopicId>): void {
    const r = this.records.get(id)
    if (r === undefined) return
    for (const t of topics) r.topics.add(t)
  }

  success (id: NodeId, now: number): void {
    const r = this.records.get(id)
    if (r === undefined) return
    r.lastSuccess = now
    r.lastSeen = Math.max(r.lastSeen, now)
    r.failures = 0
  }

  failure (id: NodeId, now: number): void {
    const r = this.records.get(id)
    if (r === undefined) return
    r.lastFailure = now
    r.failures++
  }

  forget (id: NodeId): void {
    this.records.delete(id)
  }

  /** Nodes known to want `topic`. */
  interestedIn (topic: TopicId): NodeId[] {
    const out: NodeId[] = []
    for (const r of this.records.values()) if (r.topics.has(topic)) out.push(r.id)
    return out
  }

  /** Records to hand to another node in topic discovery: the most recently heard of first. */
  sample (limit: number): NodeRecord[] {
    const all = [...this.records.values()].filter(r => r.failures === 0)
    all.sort((a, b) => b.lastSeen - a.lastSeen)
    return all.slice(0, limit).map(r => ({ id: r.id, addr: r.addr, topics: [...r.topics] }))
  }

  private evictIfFull (): void {
    if (this.records.size <= this.capacity) return
    let worst: AddressRecord | undefined
    for (const r of this.records.values()) {
      if (worst === undefined || r.failures > worst.failures || (r.failures === worst.failures && r.lastSeen < worst.lastSeen)) worst = r
    }
    if (worst !== undefined) this.records.delete(worst.id)
  }
}
