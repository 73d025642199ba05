/**
 * One node's protocol state across all its topics: the single entry point of the pure protocol.
 * `handle(input, now)` returns the effects to carry out, in order. No IO, no clock, no Math.random.
 *
 * What a driver (the simulator, the runtime) must know:
 * - Carry out the outputs in the order given. A `send` to a peer without a link means "dial it"
 *   (its address came earlier as `peerData`, or with the join command).
 * - Links: one per peer, shared by every topic. A topic needs the link while the peer is in its
 *   active view or a JOIN / NEIGHBOR to it is unanswered (`needsLink`). At the end of a `handle`,
 *   every peer that was just dropped from a view, or sent a one-off message (a refusal, a
 *   SHUFFLE_REPLY, a DISCONNECT, an answer to a stranger), and that no topic needs gets a
 *   `disconnect` output, after the sends to it: flush them, then close. The remote side should
 *   then see `peerDisconnected` only after every message sent before the close.
 * - `peerDisconnected` is a failure for every topic that has the peer active or a request pending
 *   (neighborDown 'failure', the peer is forgotten, a passive peer is asked instead); for a peer
 *   that is only passive it changes nothing, so closing idle links is safe.
 * - Timers: each `schedule` must come back once as a `timer` input after `after` ms. Timers carry
 *   no generation; a timer that fires well before the deadline the state keeps for it is stale
 *   and ignored, so the driver never needs to cancel one.
 * - Messages and contents in the outputs are shared (one GOSSIP object goes to several peers):
 *   never mutate them.
 * - Message ids made here are `<32 hex chars of this node's random prefix>.<sequence in hex>`.
 */
import type { ProtoConfig } from './config.js'
import { MessageIds } from './message-id.js'
import { LinkNeeds } from './link-needs.js'
import { Outbox } from './outbox.js'
import { Topic } from './topic.js'
import type { TopicView } from './topic.js'
import type { Command, InEvent, Message, MessageId, OutEvent, PeerData, PeerInfo, Rng, TopicId } from './types.js'

export type { TopicView } from './topic.js'

export class State<PI> {
  readonly me: PI
  private readonly config: ProtoConfig
  private readonly rng: Rng
  private selfInfo: PeerInfo<PI>
  private readonly topicMap = new Map<TopicId, Topic<PI>>()
  private readonly out = new Outbox<PI>()
  private readonly ids: MessageIds
  /** Per peer: ids announced in the current second (see `maxIHavesPerSecond`), from when. */
  private readonly announced = new Map<PI, { since: number, count: number }>()
  /** How many topics need each link, kept by the topics themselves. */
  private readonly linkNeeds = new LinkNeeds<PI>()
  private readonly self = (): PeerInfo<PI> => this.selfInfo

  /**
   * `idPrefix`: 128 bits from a strong random source, as text (see message-id.ts); drawn from
   * `rng` when absent.
   * `hashSeed`: keys the hash by which each topic finds the ids it delivered; from a strong random
   * source in the runtime, so that a peer cannot pick ids that collide (any value will do in the
   * simulator, and it is not drawn from `rng`, which would move every simulated figure).
   */
  constructor (me: PI, config: ProtoConfig, rng: Rng, myData?: PeerData, idPrefix?: string, private readonly hashSeed = 0) {
    this.me = me
    this.config = config
    this.rng = rng
    this.selfInfo = myData === undefined ? { id: me } : { id: me, data: myData }
    this.ids = new MessageIds(rng, idPrefix)
  }

  /** Feed one input at time `now` (ms, any monotonic origin); returns the effects in order. */
  handle (input: InEvent<PI>, now: number): OutEvent<PI>[] {
    let gone: PI | undefined
    switch (input.type) {
      case 'recv':
        this.onRecv(input.from, input.message, now)
        break
      case 'command':
        this.onCommand(input.topic, input.command, now)
        break
      case 'timer':
        this.topicMap.get(input.timer.topic)?.handleTimer(input.timer, now)
        break
      case 'peerDisconnected':
        gone = input.peer
        this.announced.delete(input.peer)
        for (const topic of this.topicMap.values()) topic.peerDisconnected(input.peer, now, input.graceful === true)
        break
    }
    if (this.out.touched.length > 0) this.releaseLinks(gone)
    return this.out.take()
  }

  /** Update what this node advertises about itself (its address). */
  setMyData (data: PeerData): void {
    // A new object: the old one may sit in messages not yet delivered.
    this.selfInfo = { id: this.me, data }
  }

  /** Topics this node is part of. */
  topics (): TopicId[] {
    return [...this.topicMap.keys()]
  }

  /**
   * The active and passive views of one topic as they are, not copies (read them before the next
   * input), or undefined if the node is not in it. For callers that only look: `view` copies four
   * lists, and the heal timers of a node in 1,000 topics asked for it often enough to show.
   */
  membership (topic: TopicId): { readonly active: readonly PI[], readonly passive: readonly PI[] } | undefined {
    return this.topicMap.get(topic)?.membership
  }

  /** Views of one topic, or undefined if the node is not in it. */
  view (topic: TopicId): TopicView<PI> | undefined {
    return this.topicMap.get(topic)?.view()
  }

  /** True while some topic needs a link to `peer` (it is active, or a join/neighbor request is pending). */
  needsLink (peer: PI): boolean {
    return this.linkNeeds.has(peer)
  }

  /** `needsLink` the slow way, asking every topic: the property tests check that both agree. */
  needsLinkByAnyTopic (peer: PI): boolean {
    for (const topic of this.topicMap.values()) if (topic.needs(peer)) return true
    return false
  }

  /** Whether `id` was delivered in `topic` recently: a copy of it changes nothing. */
  hasSeen (topic: TopicId, id: MessageId): boolean {
    return this.topicMap.get(topic)?.broadcast.hasDelivered(id) ?? false
  }

  /** The id prefix of this node's messages (ids are `<prefix>.<sequence>`). */
  messageIdPrefix (): string {
    return this.ids.prefix
  }

  /** Sizes of the bounded caches and queues of one topic, for metrics and tests. */
  stats (topic: TopicId): { cached: number, seen: number, missing: number, pendingIHaves: number, pendingRequests: number } | undefined {
    const t = this.topicMap.get(topic)
    if (t === undefined) return undefined
    return { ...t.broadcast.stats(), pendingRequests: t.membership.pendingCount() }
  }

  // -------------------------------------------------------------------------------------------

  private onRecv (from: PI, message: Message<PI>, now: number): void {
    if (from === this.me) return
    if (message.body.type === 'ihave') this.countAnnounced(from, message.body.entries.length, now)
    const topic = this.topicMap.get(message.topic)
    if (topic !== undefined) {
      topic.handleMessage(from, message.body, now)
      return
    }
    // Not (or no longer) in this topic: whoever counts on us there should stop, and keep us out of
    // its views. A DISCONNECT is never answered, so two nodes cannot bounce these forever.
    if (message.body.type === 'disconnect') return
    this.out.send(from, message.topic, { type: 'disconnect', alive: false })
    this.out.touch(from)
  }

  private onCommand (topicId: TopicId, command: Command<PI>, now: number): void {
    switch (command.type) {
      case 'join': {
        let topic = this.topicMap.get(topicId)
        if (topic === undefined) {
          if (this.topicMap.size >= this.config.maxTopics) {
            this.out.emit(topicId, { type: 'joinFailed', peers: command.peers.map(p => p.id) })
            return
          }
          topic = new Topic<PI>(this.me, topicId, this.config, this.rng, this.self, this.out, this.linkNeeds, this.hashSeed)
          this.topicMap.set(topicId, topic)
        }
        topic.join(command.peers, now)
        return
      }
      case 'broadcast': {
        const topic = this.topicMap.get(topicId)
        if (topic === undefined) return
        const id: MessageId = command.id ?? this.ids.next()
        topic.publish(id, command.content, now, command.sig)
        return
      }
      case 'quit': {
        const topic = this.topicMap.get(topicId)
        if (topic === undefined) return
        topic.quit()
        this.topicMap.delete(topicId)
      }
    }
  }

  /** One throttle per second and peer, once it has announced more than its budget in that second. */
  private countAnnounced (from: PI, count: number, now: number): void {
    const limit = this.config.broadcast.maxIHavesPerSecond
    let window = this.announced.get(from)
    if (window === undefined || now - window.since >= 1000) {
      window = { since: now, count: 0 }
      this.announced.set(from, window)
    }
    const before = window.count
    window.count += count
    if (before <= limit && window.count > limit) this.out.throttle(from, window.since + 1000 - now)
  }

  /** Close the links that the peers touched by this input no longer need. */
  private releaseLinks (gone: PI | undefined): void {
    const touched = this.out.touched
    const done = touched.length > 1 ? new Set<PI>() : undefined
    for (const peer of touched) {
      if (peer === gone) continue
      if (done !== undefined) {
        if (done.has(peer)) continue
        done.add(peer)
      }
      if (!this.needsLink(peer)) this.out.events.push({ type: 'disconnect', peer })
    }
  }
}
