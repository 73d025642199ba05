/**
 * What the runtime counts for `gossip.stats()`: the protocol frames it sends and receives, the
 * messages it delivers and publishes, the messages slow subscribers lose. Counted here, as frames
 * pass, so that the state machines stay free of bookkeeping. Counters only grow; the node's total
 * keeps what topics counted before they were left.
 */
import type { MessageCounters, TopicId } from './api.js'
import type { TopicMessage } from './proto/types.js'

export function zeroCounters (): MessageCounters {
  return {
    published: 0,
    delivered: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    duplicates: 0,
    graftsSent: 0,
    graftsReceived: 0,
    prunesSent: 0,
    prunesReceived: 0,
    lagged: 0
  }
}

type Key = keyof MessageCounters

export class Counters {
  /** Every topic's counts together, topics left included. */
  readonly total: MessageCounters = zeroCounters()
  private readonly byTopic = new Map<TopicId, MessageCounters>()

  /** `joined(topic)`: whether the node is in `topic` (frames of other topics count in the total only). */
  constructor (private readonly joined: (topic: TopicId) => boolean) {}

  of (topic: TopicId): MessageCounters {
    return { ...(this.byTopic.get(topic) ?? zeroCounters()) }
  }

  /** The node left `topic`: its counts end (they stay in the total). */
  forget (topic: TopicId): void {
    this.byTopic.delete(topic)
  }

  sent (topic: TopicId, body: TopicMessage<unknown>): void {
    switch (body.type) {
      case 'gossip':
        this.add(topic, 'messagesOut', 1)
        this.add(topic, 'bytesOut', body.content.byteLength)
        return
      case 'graft':
        this.add(topic, 'graftsSent', 1)
        return
      case 'prune':
        this.add(topic, 'prunesSent', 1)
    }
  }

  /** `duplicate`: a payload whose message was already delivered here. */
  received (topic: TopicId, body: TopicMessage<unknown>, duplicate: boolean): void {
    switch (body.type) {
      case 'gossip':
        this.add(topic, 'messagesIn', 1)
        this.add(topic, 'bytesIn', body.content.byteLength)
        if (duplicate) this.add(topic, 'duplicates', 1)
        return
      case 'graft':
        this.add(topic, 'graftsReceived', 1)
        return
      case 'prune':
        this.add(topic, 'prunesReceived', 1)
    }
  }

  delivered (topic: TopicId): void { this.add(topic, 'delivered', 1) }
  published (topic: TopicId): void { this.add(topic, 'published', 1) }
  lagged (topic: TopicId, dropped: number): void { this.add(topic, 'lagged', dropped) }

  private add (topic: TopicId, key: Key, n: number): void {
    this.total[key] += n
    if (!this.joined(topic)) return
    let counts = this.byTopic.get(topic)
    if (counts === undefined) this.byTopic.set(topic, counts = zeroCounters())
    counts[key] += n
  }
}
