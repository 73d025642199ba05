/**
 * The bridge's view of topics on this instance: one node handle and one subscription per topic,
 * shared by every connection that uses it, opened by the first and closed with the last.
 *
 * A node never delivers a publish back to the handle that made it, so a publish from one
 * connection is handed to the overlay (for other instances and the node's other handles of the
 * topic) and fanned out here to the other local connections. The sender does not get its own
 * message back.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { GossipApi, GossipHandle, Subscription } from '../core/api.js'
import { GossipError } from '../core/errors.js'
import { OutboundMessage, type ErrorCode, type PayloadFormat } from './protocol.js'

/**
 * Messages the node may hold for the hub's subscription of one topic. A node delivers a whole
 * TCP chunk's worth of messages in one go, faster than an async iterator is drained, so the
 * default (1024) reports bursts as LAGGED that the hub could easily have sent on.
 */
const SUBSCRIPTION_BUFFER = 16_384

/** What the hub needs from a connection. */
export interface TopicMember {
  deliver (message: OutboundMessage, format: PayloadFormat): void
  notice (code: ErrorCode, reason: string, topic: string): void
}

interface Topic {
  readonly name: string
  readonly handle: Promise<GossipHandle>
  readonly members: Set<TopicMember>
  readonly subscribers: Map<TopicMember, PayloadFormat>
  subscription: Subscription | undefined
}

export class TopicHub {
  private readonly topics = new Map<string, Topic>()
  private closed = false

  constructor (private readonly node: GossipApi, private readonly log: FastifyBaseLogger) {}

  /** Makes `member` a user of `name`, joining the topic on the node if it is the first. */
  async join (name: string, member: TopicMember): Promise<void> {
    let topic = this.topics.get(name)
    if (topic === undefined) {
      topic = this.open(name)
    }
    topic.members.add(member)
    try {
      await topic.handle
    } catch (err) {
      this.leave(name, member)
      throw err
    }
  }

  /** Removes `member` from `name`; the topic is left on the node once nobody here uses it. */
  leave (name: string, member: TopicMember): void {
    const topic = this.topics.get(name)
    if (topic === undefined) return
    topic.members.delete(member)
    topic.subscribers.delete(member)
    if (topic.members.size === 0) {
      this.topics.delete(name)
      this.shut(topic)
    }
  }

  subscribe (name: string, member: TopicMember, format: PayloadFormat): void {
    const topic = this.topics.get(name)
    if (topic?.members.has(member) === true) topic.subscribers.set(member, format)
  }

  unsubscribe (name: string, member: TopicMember): void {
    this.topics.get(name)?.subscribers.delete(member)
  }

  /** Hands `content` to the overlay, then to the other subscribers on this instance. Rejects as the node's publish does. */
  async publish (name: string, content: Uint8Array, sender: TopicMember): Promise<void> {
    const topic = this.topics.get(name)
    if (topic === undefined) throw new Error(`topic ${name} is not joined`)
    const handle = await topic.handle
    try {
      await handle.publish(content)
    } catch (err) {
      // A topic no other instance has joined yet queues publishes for later, up to a limit;
      // past it the overlay drops them, but this instance's own subscribers are still here.
      if (!(err instanceof GossipError && err.code === 'ERR_GOSSIP_QUEUE_FULL')) throw err
      this.log.debug({ topic: name }, 'topic has no neighbour and its publish queue is full; delivered locally only')
    }
    if (topic.subscribers.size === 0) return
    const message = new OutboundMessage(name, content, this.node.nodeId)
    for (const [member, format] of topic.subscribers) {
      if (member !== sender) member.deliver(message, format)
    }
  }

  get size (): number {
    return this.topics.size
  }

  /** Leaves every topic this hub joined. The node itself is not closed here. */
  async close (): Promise<void> {
    this.closed = true
    const topics = [...this.topics.values()]
    this.topics.clear()
    await Promise.all(topics.map(async topic => { await this.shut(topic) }))
  }

  private open (name: string): Topic {
    const handle = this.node.stream(name)
    const topic: Topic = { name, handle, members: new Set(), subscribers: new Map(), subscription: undefined }
    this.topics.set(name, topic)
    handle.then(h => {
      if (this.topics.get(name) !== topic || this.closed) return
      topic.subscription = h.subscribe({ bufferSize: SUBSCRIPTION_BUFFER })
      this.pump(topic, topic.subscription).catch(err => this.log.error({ err, topic: name }, 'bridge topic delivery failed'))
    }, (err: unknown) => {
      this.log.warn({ err, topic: name }, 'bridge could not join topic')
    })
    return topic
  }

  private async pump (topic: Topic, subscription: Subscription): Promise<void> {
    for await (const item of subscription) {
      if (topic.subscribers.size === 0) continue
      if (item.type === 'lagged') {
        for (const member of topic.subscribers.keys()) {
          member.notice('LAGGED', `this instance fell behind and missed ${item.dropped} messages`, topic.name)
        }
        continue
      }
      const message = new OutboundMessage(topic.name, item.content, item.origin)
      for (const [member, format] of topic.subscribers) member.deliver(message, format)
    }
  }

  private async shut (topic: Topic): Promise<void> {
    topic.subscription?.close()
    let handle: GossipHandle
    try {
      handle = await topic.handle
    } catch {
      return
    }
    // The subscription may have been created after shut() began.
    topic.subscription?.close()
    await handle.close().catch((err: unknown) => this.log.warn({ err, topic: topic.name }, 'closing a bridge topic failed'))
  }
}
