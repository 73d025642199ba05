/**
 * One node's protocol state across all its topics: the single entry point of the pure protocol.
 * `handle(input, now)` returns the effects to carry out. No IO, no clock, no Math.random.
 */
import type { ProtoConfig } from './config.js'
import type { InEvent, OutEvent, PeerData, Rng, TopicId } from './types.js'

/** A snapshot of one topic's views, for metrics, tests and `handle.neighbours()`. */
export interface TopicView<PI> {
  active: PI[]
  passive: PI[]
  eager: PI[]
  lazy: PI[]
}

export class State<PI> {
  readonly me: PI

  constructor (me: PI, config: ProtoConfig, rng: Rng, myData?: PeerData) {
    this.me = me
    void config; void rng; void myData
    throw new Error('not implemented yet')
  }

  /** Feed one input at time `now` (ms, any monotonic origin); returns the effects in order. */
  handle (input: InEvent<PI>, now: number): OutEvent<PI>[] {
    void input; void now
    throw new Error('not implemented yet')
  }

  /** Update what this node advertises about itself (its address). */
  setMyData (data: PeerData): void {
    void data
  }

  /** Topics this node is part of. */
  topics (): TopicId[] {
    return []
  }

  /** Views of one topic, or undefined if the node is not in it. */
  view (topic: TopicId): TopicView<PI> | undefined {
    void topic
    return undefined
  }

  /** True while some topic needs a link to `peer` (it is active, or a join/neighbor request is pending). */
  needsLink (peer: PI): boolean {
    void peer
    return false
  }
}
