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
    pullsSent: 0,
    pullsReceived: 0,
    prunesSent: 0,
    prunesReceived: 0,
    lagged: 0
  }
}

type Key = keyof MessageCounters

/** Which counters a frame goes to, by direction. */
interface Direction { messages: Key, bytes: Key, grafts: Key, pulls: Key, prunes: Key }
const OUT: Direction = { messages: 'messagesOut', bytes: 'bytesOut', grafts: 'graftsSent', pulls: 'pullsSent', prunes: 'prunesSent' }
const IN: Direction = { messages: 'messagesIn', bytes: 'bytesIn', grafts: 'graftsReceived', pulls: 'pullsReceived', prunes: 'prunesReceived' }

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
    this.frame(topic, body, OUT)
  }

  /** `duplicate`: a payload whose message was already delivered here. */
  received (topic: TopicId, body: TopicMessage<unknown>, duplicate: boolean): void {
    this.frame(topic, body, IN)
    if (duplicate && body.type === 'gossip') this.add(topic, 'duplicates', 1)
  }

  delivered (topic: TopicId): void { this.add(topic, 'delivered', 1) }
  published (topic: TopicId): void { this.add(topic, 'published', 1) }
  lagged (topic: TopicId, dropped: number): void { this.add(topic, 'lagged', dropped) }

  /** One frame of the topic, counted under the keys of its direction (a map lookup or two per frame). */
  private frame (topic: TopicId, body: TopicMessage<unknown>, keys: Direction): void {
    switch (body.type) {
      case 'gossip': {
        const counts = this.bucket(topic)
        const bytes = body.content.byteLength
        this.total[keys.messages]++
        this.total[keys.bytes] += bytes
        if (counts !== undefined) {
          counts[keys.messages]++
          counts[keys.bytes] += bytes
        }
        return
      }
      case 'graft': return this.add(topic, body.pull === true ? keys.pulls : keys.grafts, 1)
      case 'prune': return this.add(topic, keys.prunes, 1)
    }
  }

  private add (topic: TopicId, key: Key, n: number): void {
    this.total[key] += n
    const counts = this.bucket(topic)
    if (counts !== undefined) counts[key] += n
  }

  /** The topic's counts, made on first use; undefined for a topic the node is not in. */
  private bucket (topic: TopicId): MessageCounters | undefined {
    let counts = this.byTopic.get(topic)
    if (counts === undefined) {
      if (!this.joined(topic)) return undefined
      this.byTopic.set(topic, counts = zeroCounters())
    }
    return counts
  }
}
