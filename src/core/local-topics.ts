/**
 * The application's side of each topic on this node: its handles, the publishes waiting for a
 * first neighbour, and delivery to handles. No sockets and no protocol here; the node decides
 * when a topic is entered or left.
 */
import type { GossipMessage, NodeId, TopicId } from './api.js'
import { GossipError } from './errors.js'
import type { TopicHandle } from './handle.js'

interface TopicEntry {
  handles: Set<TopicHandle>
  /** Publishes made while the topic has no neighbour; sent when the first one comes up. */
  pending: Uint8Array[]
}

export class LocalTopics {
  private readonly entries = new Map<TopicId, TopicEntry>()
  private localSeq = 0

  constructor (private readonly nodeId: NodeId, private readonly pendingLimit: number) {}

  get size (): number { return this.entries.size }

  has (topic: TopicId): boolean {
    return this.entries.has(topic)
  }

  ids (): IterableIterator<TopicId> {
    return this.entries.keys()
  }

  /** Add a handle; true when it is the topic's first (the node must enter the topic). */
  add (handle: TopicHandle): boolean {
    let entry = this.entries.get(handle.topic)
    const created = entry === undefined
    if (entry === undefined) {
      entry = { handles: new Set(), pending: [] }
      this.entries.set(handle.topic, entry)
    }
    entry.handles.add(handle)
    return created
  }

  /** Remove a handle; true when it was the topic's last (the node must leave the topic). */
  remove (handle: TopicHandle): boolean {
    const entry = this.entries.get(handle.topic)
    if (entry === undefined || !entry.handles.delete(handle)) return false
    if (entry.handles.size > 0) return false
    this.entries.delete(handle.topic)
    return true
  }

  /** p2panda-net's promise: a publish before the first neighbour is queued (bounded), not lost. */
  hold (topic: TopicId, content: Uint8Array): void {
    const entry = this.entries.get(topic)
    if (entry === undefined) return
    if (entry.pending.length >= this.pendingLimit) {
      throw new GossipError('ERR_GOSSIP_QUEUE_FULL', 'the topic has no neighbour yet and its queue of pending publishes is full')
    }
    entry.pending.push(content)
  }

  /** Publishes held for `topic`, and messages its subscribers have not read yet. */
  depths (topic: TopicId): { pendingPublishes: number, subscriberBuffered: number } {
    const entry = this.entries.get(topic)
    if (entry === undefined) return { pendingPublishes: 0, subscriberBuffered: 0 }
    let subscriberBuffered = 0
    for (const h of entry.handles) subscriberBuffered += h.buffered()
    return { pendingPublishes: entry.pending.length, subscriberBuffered }
  }

  takePending (topic: TopicId): Uint8Array[] {
    const entry = this.entries.get(topic)
    if (entry === undefined || entry.pending.length === 0) return []
    return entry.pending.splice(0)
  }

  deliver (topic: TopicId, message: GossipMessage): void {
    const entry = this.entries.get(topic)
    if (entry === undefined) return
    for (const h of entry.handles) h.deliver(message)
  }

  /**
   * Other handles of the topic on this node are subscribers too (a route's handle and the
   * WebSocket bridge's, two adapters on one node): they get the publish at once, at hop 0. The
   * network never sends a node its own message back, so this is their only way to see it.
   */
  deliverLocally (from: TopicHandle, content: Uint8Array): void {
    const entry = this.entries.get(from.topic)
    if (entry === undefined || entry.handles.size < 2) return
    const message: GossipMessage = { type: 'message', id: `${this.nodeId}:local:${this.localSeq++}`, topic: from.topic, content, origin: this.nodeId, from: this.nodeId, hops: 0 }
    for (const h of entry.handles) if (h !== from) h.deliver(message)
  }

  /** End every handle (the node is closing); returns the topics that were open. */
  terminateAll (): TopicId[] {
    const topics = [...this.entries.keys()]
    for (const entry of this.entries.values()) for (const h of entry.handles) h.terminate()
    this.entries.clear()
    return topics
  }
}
