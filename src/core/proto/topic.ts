/**
 * One topic of one node: a HyParView overlay and the Plumtree broadcast running over its active
 * view, wired so that every change of the active view reaches the broadcast layer at once.
 */
import type { ProtoConfig } from './config.js'
import { HyParView } from './hyparview.js'
import type { LinkNeeds } from './link-needs.js'
import type { Outbox } from './outbox.js'
import { Plumtree } from './plumtree.js'
import type { MessageId, PeerInfo, Rng, Timer, TopicId, TopicMessage } from './types.js'

/** A snapshot of one topic's views, for metrics, tests and `handle.neighbours()`. */
export interface TopicView<PI> {
  active: PI[]
  passive: PI[]
  eager: PI[]
  lazy: PI[]
}

export class Topic<PI> {
  readonly membership: HyParView<PI>
  readonly broadcast: Plumtree<PI>

  constructor (
    me: PI,
    readonly id: TopicId,
    config: ProtoConfig,
    rng: Rng,
    self: () => PeerInfo<PI>,
    private readonly out: Outbox<PI>,
    linkNeeds: LinkNeeds<PI>,
    hashSeed = 0
  ) {
    const broadcast = new Plumtree<PI>(me, id, config.broadcast, out, config.maxFrameBytes, hashSeed)
    this.broadcast = broadcast
    this.membership = new HyParView<PI>(me, id, config.membership, rng, self, out, linkNeeds, {
      neighborUp: peer => broadcast.neighborUp(peer),
      neighborDown: peer => broadcast.neighborDown(peer)
    }, config.maxFrameBytes)
  }

  handleMessage (from: PI, body: TopicMessage<PI>, now: number): void {
    switch (body.type) {
      case 'gossip':
      case 'ihave':
      case 'graft':
      case 'prune':
        this.broadcast.handle(from, body, now)
        return
      default:
        this.membership.handle(from, body, now)
    }
  }

  handleTimer (timer: Timer<PI>, now: number): void {
    switch (timer.type) {
      case 'shuffle': return this.membership.onShuffleTimer(now)
      case 'neighborTimeout': return this.membership.onNeighborTimeout(timer.peer, now)
      case 'joinTimeout': return this.membership.onJoinTimeout(now)
      case 'dispatchIHave': return this.broadcast.onDispatchIHave()
      case 'graftTimeout': return this.broadcast.onGraftTimeout(timer.id, now)
      case 'evictCache': return this.broadcast.onEvictCache(now)
    }
  }

  join (peers: PeerInfo<PI>[], now: number): void {
    this.membership.join(peers, now)
  }

  publish (id: MessageId, content: Uint8Array, now: number, sig?: Uint8Array): boolean {
    return this.broadcast.broadcast(id, content, now, sig)
  }

  peerDisconnected (peer: PI, now: number, graceful: boolean): void {
    this.membership.peerDisconnected(peer, now, graceful)
  }

  /** Tell the neighbours we leave and emit `left`; the caller forgets this topic afterwards. */
  quit (): void {
    this.membership.quit()
    this.out.emit(this.id, { type: 'left' })
  }

  needs (peer: PI): boolean {
    return this.membership.needs(peer)
  }

  view (): TopicView<PI> {
    return {
      active: this.membership.active.slice(),
      passive: this.membership.passive.slice(),
      eager: [...this.broadcast.eager],
      lazy: [...this.broadcast.lazy]
    }
  }
}
