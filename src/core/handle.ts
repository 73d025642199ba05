/**
 * What `gossip.stream(topic)` returns. Several handles on one topic share one overlay; each has
 * its own subscriptions, each subscription its own bounded buffer, so one slow consumer lags
 * alone and never holds memory or other consumers back.
 */
import type { GossipHandle, GossipMessage, NodeId, Subscription, SubscriptionItem, TopicId } from './api.js'
import { BoundedQueue } from './bounded-queue.js'
import { ClosedError } from './errors.js'

/** What a handle needs from the node that made it. */
export interface HandleHost {
  /** `from` is the publishing handle: the node delivers to its other handles of the topic. */
  publish(topic: TopicId, data: Uint8Array | string, from: TopicHandle): Promise<void>
  neighbours(topic: TopicId): NodeId[]
  release(handle: TopicHandle): Promise<void>
  readonly subscriberBufferSize: number
  /** A subscription of the topic dropped a message it had no room for. */
  lagged?(topic: TopicId): void
}

export class TopicHandle implements GossipHandle {
  private readonly subscriptions = new Set<BoundedQueue<GossipMessage>>()
  private closed = false

  constructor (private readonly host: HandleHost, readonly topic: TopicId) {}

  async publish (data: Uint8Array | string): Promise<void> {
    if (this.closed) throw new ClosedError('gossip handle')
    await this.host.publish(this.topic, data, this)
  }

  subscribe (options: { bufferSize?: number } = {}): Subscription {
    if (this.closed) throw new ClosedError('gossip handle')
    const queue: BoundedQueue<GossipMessage> = new BoundedQueue<GossipMessage>(
      options.bufferSize ?? this.host.subscriberBufferSize,
      () => this.subscriptions.delete(queue),
      () => this.host.lagged?.(this.topic)
    )
    this.subscriptions.add(queue)
    return queue as AsyncIterable<SubscriptionItem> & { close(): void }
  }

  neighbours (): NodeId[] {
    return this.closed ? [] : this.host.neighbours(this.topic)
  }

  /** @internal messages buffered in this handle's subscriptions, not read yet. */
  buffered (): number {
    let n = 0
    for (const q of this.subscriptions) n += q.size
    return n
  }

  /** @internal called by the node for every message of this topic. */
  deliver (message: GossipMessage): void {
    for (const q of this.subscriptions) q.push(message)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const q of [...this.subscriptions]) q.close()
    await this.host.release(this)
  }

  /** @internal the node is closing: end subscriptions without leaving the topic twice. */
  terminate (): void {
    this.closed = true
    for (const q of [...this.subscriptions]) q.close()
  }
}
