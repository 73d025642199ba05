/**
 * HyParView membership for one topic (Leitão, Pereira, Rodrigues, DSN 2007): a small symmetric
 * active view of connected neighbours and a larger passive view of known, reachable peers used to
 * repair the active one. Sans-IO: effects go to the shared outbox, time comes in as `now`.
 */
import { defaultConfig } from './config.js'
import type { HyParViewConfig } from './config.js'
import { isDue } from './deadline.js'
import { isWirePeerData, peersWithin, wireTtl } from './limits.js'
import type { LinkNeeds } from './link-needs.js'
import type { Outbox } from './outbox.js'
import { pick, randomInt, sample } from './random.js'
import type { DownReason, HyParViewMessage, PeerData, PeerInfo, Priority, Rng, TopicId } from './types.js'

/** What the broadcast layer needs to hear about the active view. */
export interface ActiveViewListener<PI> {
  neighborUp (peer: PI): void
  neighborDown (peer: PI): void
}

interface PendingNeighbor {
  /** Time after which the request counts as failed; a stale timer for an older request is ignored. */
  deadline: number
  priority: Priority
  /** Sent a second time because the first crossed the peer's close of an idle link. */
  resent: boolean
}

export class HyParView<PI> {
  readonly active: PI[] = []
  readonly passive: PI[] = []
  /** Addressing data of the peers in either view (only those: it is bounded by the views). */
  private readonly data = new Map<PI, PeerData>()
  private readonly pendingNeighbor = new Map<PI, PendingNeighbor>()
  private readonly pendingJoin = new Set<PI>()
  /** Passive peers asked since the active view last changed: a round of refusals ends the round. */
  private readonly tried = new Set<PI>()
  /** Those of `tried` that refused a low-priority request: alive, and bound to accept a high one. */
  private readonly refusedLow = new Set<PI>()
  /** Peers we sent in our last SHUFFLE: the first to make room for what the reply brings. */
  private lastShuffle: PI[] = []
  /** A SHUFFLE of ours is unanswered: a SHUFFLE_REPLY that comes otherwise is a joiner's sample. */
  private shuffleOut = false
  private joinContacts: PI[] = []
  private joinDeadline = -Infinity
  private neighborSinceJoin = false
  private awaitingJoined = false
  /** When the pending SHUFFLE timer is due; a timer firing earlier is a stale one (ignored). */
  private shuffleDue = -Infinity
  /** Multiplies `shuffleInterval` while shuffles teach us nothing (see `shuffleSlowdownMax`). */
  private shuffleSlowdown = 1
  /** Time of the input being handled, for deadlines of timers scheduled while handling it. */
  private now = 0
  /**
   * PeerInfos one SHUFFLE, SHUFFLE_REPLY or DISCONNECT sample may carry: the configured counts are
   * clamped to it, so no setting can build a frame over the byte budget or the decoder's limit.
   */
  private readonly maxListPeers: number
  private readonly forwardJoinTtl: number
  private readonly shuffleTtl: number

  constructor (
    private readonly me: PI,
    private readonly topic: TopicId,
    private readonly config: HyParViewConfig,
    private readonly rng: Rng,
    private readonly self: () => PeerInfo<PI>,
    private readonly out: Outbox<PI>,
    /** The node's count of topics needing each link: this topic's share changes only through `settle`. */
    private readonly linkNeeds: LinkNeeds<PI>,
    private readonly listener: ActiveViewListener<PI>,
    maxFrameBytes: number = defaultConfig.maxFrameBytes
  ) {
    this.maxListPeers = peersWithin(maxFrameBytes)
    this.forwardJoinTtl = wireTtl(config.activeRandomWalkLength)
    this.shuffleTtl = wireTtl(config.shuffleRandomWalkLength)
  }

  /** True while this topic needs a link to `peer`. */
  needs (peer: PI): boolean {
    return this.active.includes(peer) || this.pendingNeighbor.has(peer) || this.pendingJoin.has(peer)
  }

  /** After `active`, `pendingNeighbor` or `pendingJoin` changed for `peer`: keep the node's count. */
  private settle (peer: PI, was: boolean): void {
    const now = this.needs(peer)
    if (now !== was) this.linkNeeds.change(peer, now ? 1 : -1)
  }

  pendingCount (): number {
    return this.pendingNeighbor.size + this.pendingJoin.size
  }

  // -------------------------------------------------------------------------------------------
  // Commands and timers
  // -------------------------------------------------------------------------------------------

  join (contacts: PeerInfo<PI>[], now: number): void {
    this.now = now
    if (this.active.length === 0) {
      this.awaitingJoined = true
      this.neighborSinceJoin = false
    }
    this.ensureShuffleTimer()
    let sent = false
    for (const contact of contacts) {
      if (contact.id === this.me || this.active.includes(contact.id)) continue
      this.out.send(contact.id, this.topic, { type: 'join', ...dataField(this.selfData()) })
      const was = this.needs(contact.id)
      this.pendingJoin.add(contact.id)
      this.settle(contact.id, was)
      if (!this.joinContacts.includes(contact.id)) this.joinContacts.push(contact.id)
      sent = true
    }
    if (sent) {
      this.joinDeadline = now + this.config.joinTimeout
      this.out.schedule(this.config.joinTimeout, { type: 'joinTimeout', topic: this.topic })
    }
  }

  onJoinTimeout (now: number): void {
    this.now = now
    if (!isDue(now, this.joinDeadline)) return // a later join command moved the deadline
    const contacts = this.joinContacts
    this.joinContacts = []
    for (const peer of this.pendingJoin) {
      this.out.touch(peer)
      this.pendingJoin.delete(peer)
      this.settle(peer, true)
    }
    if (!this.neighborSinceJoin && contacts.length > 0) {
      this.out.emit(this.topic, { type: 'joinFailed', peers: contacts })
    }
  }

  onShuffleTimer (now: number): void {
    this.now = now
    if (!isDue(now, this.shuffleDue)) return
    this.shuffleDue = -Infinity
    this.ensureShuffleTimer()
    this.forgetTried()
    const target = pick(this.rng, this.active)
    if (target !== undefined) {
      const others = this.active.filter(p => p !== target)
      const nodes = sample(this.rng, others, Math.min(this.config.shuffleActiveViewCount, this.maxListPeers))
      const passiveCount = Math.min(this.config.shufflePassiveViewCount, this.maxListPeers - nodes.length)
      for (const p of sample(this.rng, this.passive, passiveCount)) nodes.push(p)
      this.lastShuffle = nodes
      this.shuffleOut = true
      this.out.send(target, this.topic, {
        type: 'shuffle', origin: wirePeer(this.me, this.self().data), nodes: nodes.map(p => this.info(p)), ttl: this.shuffleTtl
      })
    }
    // A periodic chance to repair a view that lost peers while every candidate refused.
    this.refill()
  }

  onNeighborTimeout (peer: PI, now: number): void {
    this.now = now
    const pending = this.pendingNeighbor.get(peer)
    if (pending === undefined || !isDue(now, pending.deadline)) return
    this.pendingNeighbor.delete(peer)
    this.settle(peer, true)
    this.removePassive(peer)
    this.out.touch(peer)
    this.refill()
  }

  /**
   * The link to `peer` broke: an active neighbour failed, or a request to it cannot be answered.
   * `graceful`: the peer closed the link itself, so it is alive.
   */
  peerDisconnected (peer: PI, now: number, graceful = false): void {
    this.now = now
    const pending = this.pendingNeighbor.get(peer)
    if (graceful && pending !== undefined && !pending.resent && !this.active.includes(peer)) {
      // A peer that refused us closes the link it no longer needs; a request we sent before its
      // close arrived is lost with the link. Counting that as a failure forgot healthy candidates:
      // a node whose neighbours then died asked exactly those refusers (high priority, on the
      // closing links), lost them all and stayed alone for good (kill50, 10,000 nodes). Once more,
      // on a new link; a peer that closes that one too has failed.
      const was = this.needs(peer)
      this.pendingJoin.delete(peer)
      this.settle(peer, was)
      this.askNeighbor(peer, pending.priority, true)
      return
    }
    let changed = false
    if (this.active.includes(peer)) {
      this.removeActive(peer, 'failure')
      this.data.delete(peer)
      changed = true
    }
    const was = this.needs(peer)
    if (this.pendingNeighbor.delete(peer)) {
      this.removePassive(peer)
      changed = true
    }
    this.pendingJoin.delete(peer)
    this.settle(peer, was)
    if (changed) this.refill()
  }

  /** Leave gracefully: every neighbour hears DISCONNECT(alive=false). The caller drops this object. */
  quit (): void {
    for (const peer of this.active) {
      this.out.send(peer, this.topic, { type: 'disconnect', alive: false })
      this.out.touch(peer)
    }
    for (const peer of this.pendingNeighbor.keys()) this.out.touch(peer)
    for (const peer of this.pendingJoin) this.out.touch(peer)
    const needed = new Set([...this.active, ...this.pendingNeighbor.keys(), ...this.pendingJoin])
    for (const peer of needed) this.linkNeeds.change(peer, -1)
    this.active.length = 0
    this.passive.length = 0
    this.pendingNeighbor.clear()
    this.pendingJoin.clear()
    this.data.clear()
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  handle (from: PI, msg: HyParViewMessage<PI>, now: number): void {
    this.now = now
    if (from === this.me) return
    switch (msg.type) {
      case 'join': return this.onJoin(from, msg.data)
      case 'forwardJoin': return this.onForwardJoin(from, msg.peer, msg.ttl)
      case 'neighbor': return this.onNeighbor(from, msg.priority, msg.data)
      case 'neighborReply': return this.onNeighborReply(from, msg.accepted)
      case 'shuffle': return this.onShuffle(from, msg.origin, msg.nodes, msg.ttl)
      case 'shuffleReply': return this.onShuffleReply(msg.nodes)
      case 'disconnect': return this.onDisconnect(from, msg.alive, msg.sample)
    }
  }

  private onJoin (from: PI, data: PeerData | undefined): void {
    this.learn(from, data)
    if (this.active.includes(from)) {
      // The joiner may have restarted and forgotten us: tell it again, but do not walk again.
      this.sendNeighbor(from, 'high')
      return
    }
    this.addActive(from, data)
    // A high-priority NEIGHBOR makes the joiner add us, so that the active views are symmetric.
    this.sendNeighbor(from, 'high')
    // The joiner knows nobody else yet, and forward joins teach it only of nodes that join after
    // it: the last to join had 0 to 4 passive peers a shuffle period later, and a kill that took
    // those and its neighbours left it alone for good (kill50). So it gets what a shuffle of its
    // own would bring, now.
    const known = this.sampleFor(from, this.shuffleSize())
    if (known.length > 0) this.out.send(from, this.topic, { type: 'shuffleReply', nodes: known })
    const peer = wirePeer(from, data)
    for (const p of this.active) {
      if (p === from) continue
      this.out.send(p, this.topic, { type: 'forwardJoin', peer, ttl: this.forwardJoinTtl })
    }
  }

  private onForwardJoin (from: PI, peer: PeerInfo<PI>, ttl: number): void {
    if (peer.id === this.me) return
    this.learn(peer.id, peer.data)
    if (this.active.includes(peer.id)) return
    // A walk past its first hop also ends at a node another topic already links to the joiner:
    // the node is as random a pick for this topic, and the link exists. With every topic walking
    // on its own, a node in 50 topics linked to most of a 1,000-node cluster within minutes, and
    // each new link costs a handshake and a topic snapshot each way.
    if (ttl <= 0 || this.active.length <= 1 || (ttl < this.forwardJoinTtl && this.linkedElsewhere(peer.id))) {
      this.addActive(peer.id, peer.data)
      this.sendNeighbor(peer.id, 'high')
      return
    }
    if (ttl === this.config.passiveRandomWalkLength) this.addPassive(peer.id, peer.data)
    const next = this.pickActive(from, peer.id)
    if (next === undefined) {
      this.addActive(peer.id, peer.data)
      this.sendNeighbor(peer.id, 'high')
      return
    }
    this.out.send(next, this.topic, { type: 'forwardJoin', peer: wirePeer(peer.id, peer.data), ttl: wireTtl(ttl - 1) })
  }

  private onNeighbor (from: PI, priority: Priority, data: PeerData | undefined): void {
    this.learn(from, data)
    if (this.active.includes(from)) {
      // Still active, so still needed: the count does not change.
      this.pendingNeighbor.delete(from)
      this.pendingJoin.delete(from)
      this.out.send(from, this.topic, { type: 'neighborReply', accepted: true })
      return
    }
    // Slots promised to our own pending requests are not free: accepting into them let three
    // nodes ask each other at once, all accept, all find themselves full when the replies came
    // back, all undo, and start again, forever (found by the cluster property test).
    if (priority === 'high' || this.active.length + this.pendingNeighbor.size < this.config.activeViewCapacity) {
      this.addActive(from, data)
      this.out.send(from, this.topic, { type: 'neighborReply', accepted: true })
      return
    }
    this.addPassive(from, data)
    this.out.send(from, this.topic, { type: 'neighborReply', accepted: false })
    this.out.touch(from)
  }

  private onNeighborReply (from: PI, accepted: boolean): void {
    const was = this.needs(from)
    const pending = this.pendingNeighbor.get(from)
    this.pendingNeighbor.delete(from)
    this.settle(from, was)
    if (accepted) {
      if (this.active.includes(from)) return
      if (this.active.length < this.config.activeViewCapacity) {
        this.addActive(from, undefined)
        return
      }
      // Filled up while the request was out: the peer already added us, so undo that for symmetry.
      this.out.send(from, this.topic, { type: 'disconnect', alive: true, sample: this.sampleFor(from) })
      this.addPassive(from, undefined)
      this.out.touch(from)
      return
    }
    if (pending === undefined) return
    if (pending.priority === 'low') this.refusedLow.add(from)
    this.out.touch(from)
    // A refusal means the peer is healthy and full; in a steady overlay most are. Asking the next
    // one at once would walk the whole passive view on every eviction, so only a node left with no
    // neighbour keeps asking; the others try again on their shuffle timer.
    if (this.active.length === 0) this.refill()
  }

  private onShuffle (from: PI, origin: PeerInfo<PI>, nodes: PeerInfo<PI>[], ttl: number): void {
    if (origin.id === this.me) return
    this.learn(origin.id, origin.data)
    for (const n of nodes) this.learn(n.id, n.data)
    if (ttl > 0 && this.active.length > 1) {
      const next = this.pickActive(from, origin.id)
      if (next !== undefined) {
        const forward = nodes.length > this.maxListPeers ? nodes.slice(0, this.maxListPeers) : nodes
        this.out.send(next, this.topic, {
          type: 'shuffle', origin: wirePeer(origin.id, origin.data), nodes: forward.map(n => wirePeer(n.id, n.data)), ttl: wireTtl(ttl - 1)
        })
        return
      }
    }
    // As many as a full shuffle carries, not only as many as came: a node with a small view sends
    // a small shuffle, and answered in kind it stayed small for many shuffle periods.
    const reply = sample(this.rng, this.passive, Math.min(Math.max(nodes.length, this.shuffleSize()), this.maxListPeers))
    this.out.send(origin.id, this.topic, { type: 'shuffleReply', nodes: reply.map(p => this.info(p)) })
    this.out.touch(origin.id)
    this.integrate(origin, reply)
    for (const n of nodes) this.integrate(n, reply)
  }

  private onShuffleReply (nodes: PeerInfo<PI>[]): void {
    for (const n of nodes) this.learn(n.id, n.data)
    if (!this.shuffleOut) {
      // The sample a contact hands a joiner: it fills free room only. A node that joins again
      // (the healer's joins across a mended partition) keeps the view it has; letting the sample
      // displace it doubled the mean time to heal a partition at 1,000 nodes.
      for (const n of nodes) if (this.passive.length < this.config.passiveViewCapacity) this.integrate(n, [])
      return
    }
    this.shuffleOut = false
    const news = nodes.some(n => n.id !== this.me && !this.active.includes(n.id) && !this.passive.includes(n.id))
    // Nothing new, and nothing the timer's refill could do: the next shuffle can wait longer.
    const idle = this.active.length >= this.config.activeViewCapacity || this.passive.length === 0
    const before = this.shuffleSlowdown
    this.shuffleSlowdown = news || !idle ? 1 : Math.min(this.shuffleSlowdown * 2, Math.max(1, this.config.shuffleSlowdownMax))
    if (this.shuffleSlowdown > before && this.shuffleDue !== -Infinity) {
      // The timer set when this shuffle left knew nothing of its answer: from now, at the new pace.
      this.shuffleDue = -Infinity
      this.ensureShuffleTimer()
    }
    const sent = this.lastShuffle
    this.lastShuffle = []
    for (const n of nodes) this.integrate(n, sent)
  }

  /** The active view changed: shuffle at the normal pace again, starting now rather than after a long wait. */
  private resetShuffleSlowdown (): void {
    if (this.shuffleSlowdown === 1) return
    this.shuffleSlowdown = 1
    if (this.shuffleDue > this.now + this.config.shuffleInterval * 1.25) {
      this.shuffleDue = -Infinity
      this.ensureShuffleTimer()
    }
  }

  private onDisconnect (from: PI, alive: boolean, peers: PeerInfo<PI>[] | undefined): void {
    const was = this.needs(from)
    const wasActive = this.active.includes(from)
    const wasPending = this.pendingNeighbor.delete(from)
    if (this.pendingJoin.delete(from)) this.out.touch(from)
    this.settle(from, was)
    if (wasPending) this.out.touch(from)
    if (wasActive) this.removeActive(from, alive ? 'eviction' : 'leave')
    // It just told us to go: asking it straight back would only bounce.
    this.tried.add(from)
    if (alive) this.addPassive(from, undefined)
    else this.removePassive(from)
    if (peers !== undefined) {
      for (const p of peers) {
        this.learn(p.id, p.data)
        this.addPassive(p.id, p.data)
      }
    }
    if (wasActive || wasPending) this.refill()
  }

  // -------------------------------------------------------------------------------------------
  // Views
  // -------------------------------------------------------------------------------------------

  /** Put `peer` in the active view, evicting a random neighbour when full. */
  private addActive (peer: PI, data: PeerData | undefined): void {
    if (peer === this.me || this.active.includes(peer)) return
    const was = this.needs(peer)
    this.pendingNeighbor.delete(peer)
    this.pendingJoin.delete(peer)
    const i = this.passive.indexOf(peer)
    if (i >= 0) this.passive.splice(i, 1)
    this.keepData(peer, data)
    while (this.active.length >= this.config.activeViewCapacity && this.active.length > 0) {
      this.evict(this.active[randomInt(this.rng, this.active.length)] as PI)
    }
    this.active.push(peer)
    this.settle(peer, was)
    this.forgetTried()
    this.resetShuffleSlowdown()
    this.neighborSinceJoin = true
    this.listener.neighborUp(peer)
    this.out.emit(this.topic, { type: 'neighborUp', peer })
    if (this.awaitingJoined) {
      this.awaitingJoined = false
      this.out.emit(this.topic, { type: 'joined', peers: this.active.slice() })
    }
  }

  /** We drop `peer` to make room: it stays passive and gets a sample so it does not starve. */
  private evict (peer: PI): void {
    this.out.send(peer, this.topic, { type: 'disconnect', alive: true, sample: this.sampleFor(peer) })
    this.removeActive(peer, 'eviction')
    this.addPassive(peer, undefined)
  }

  private removeActive (peer: PI, reason: DownReason): void {
    const i = this.active.indexOf(peer)
    if (i < 0) return
    this.active.splice(i, 1)
    // Not pending either (addActive cleared that, and nothing asks an active peer): no longer needed.
    this.settle(peer, true)
    this.forgetTried()
    this.resetShuffleSlowdown()
    this.out.touch(peer)
    this.listener.neighborDown(peer)
    this.out.emit(this.topic, { type: 'neighborDown', peer, reason })
  }

  private addPassive (peer: PI, data: PeerData | undefined): void {
    if (peer === this.me || this.active.includes(peer)) return
    this.keepData(peer, data)
    if (this.passive.includes(peer)) return
    if (this.config.passiveViewCapacity <= 0) return
    if (this.passive.length >= this.config.passiveViewCapacity) {
      const j = randomInt(this.rng, this.passive.length)
      this.dropPassiveAt(j)
    }
    this.passive.push(peer)
    this.keepData(peer, data)
  }

  private removePassive (peer: PI): void {
    const i = this.passive.indexOf(peer)
    if (i >= 0) this.dropPassiveAt(i)
    else if (!this.active.includes(peer)) this.data.delete(peer)
  }

  private dropPassiveAt (i: number): void {
    const [gone] = this.passive.splice(i, 1)
    if (gone !== undefined && !this.active.includes(gone)) this.data.delete(gone)
  }

  /** Add a peer learnt from a shuffle, making room by preference with peers we just handed out. */
  private integrate (node: PeerInfo<PI>, preferDrop: PI[]): void {
    const id = node.id
    if (id === this.me || this.active.includes(id)) return
    if (this.passive.includes(id)) {
      this.keepData(id, node.data)
      return
    }
    if (this.config.passiveViewCapacity <= 0) return
    if (this.passive.length >= this.config.passiveViewCapacity) {
      let j = -1
      while (j < 0 && preferDrop.length > 0) {
        j = this.passive.indexOf(preferDrop.pop() as PI)
        // Never drop a peer we are waiting on: its reply would find no trace of it.
        if (j >= 0 && this.pendingNeighbor.has(this.passive[j] as PI)) j = -1
      }
      if (j < 0) j = randomInt(this.rng, this.passive.length)
      this.dropPassiveAt(j)
    }
    this.passive.push(id)
    this.keepData(id, node.data)
  }

  /** Ask passive peers to become neighbours until the active view (with requests out) is full. */
  private refill (): void {
    let slots = this.config.activeViewCapacity - this.active.length - this.pendingNeighbor.size
    if (slots <= 0) return
    let candidates = this.passive.filter(p => !this.pendingNeighbor.has(p) && !this.tried.has(p))
    let highOut = false
    for (const p of this.pendingNeighbor.values()) if (p.priority === 'high') highOut = true
    if (candidates.length === 0 && this.active.length === 0 && !highOut) {
      // Alone, and every passive peer has been tried: those that refused a low-priority request
      // made while we still had a neighbour cannot refuse a high one. Ask them again rather than
      // wait a shuffle period alone (kill50 at 10,000 nodes: a survivor waited 8 s).
      candidates = this.passive.filter(p => this.refusedLow.has(p) && !this.pendingNeighbor.has(p))
    }
    while (slots > 0 && candidates.length > 0) {
      const j = this.pickCandidate(candidates)
      const peer = candidates[j] as PI
      candidates[j] = candidates[candidates.length - 1] as PI
      candidates.pop()
      this.tried.add(peer)
      // Asked again at most once per round: a peer that refuses even a high request is not asked in a loop.
      this.refusedLow.delete(peer)
      // With no neighbour at all one request must get through: the paper's high priority.
      const priority: Priority = this.active.length === 0 && !highOut ? 'high' : 'low'
      if (priority === 'high') highOut = true
      this.askNeighbor(peer, priority, false)
      slots--
    }
  }

  /**
   * A random candidate, one another topic already links to when there is one: the link exists
   * (see `onForwardJoin`), and a passive peer is as random as the next.
   */
  private pickCandidate (candidates: readonly PI[]): number {
    const linked: number[] = []
    for (let i = 0; i < candidates.length; i++) if (this.linkedElsewhere(candidates[i] as PI)) linked.push(i)
    if (linked.length === 0 || linked.length === candidates.length) return randomInt(this.rng, candidates.length)
    return linked[randomInt(this.rng, linked.length)] as number
  }

  /** Another topic of this node needs a link to `peer` (so it is open, or being opened). */
  private linkedElsewhere (peer: PI): boolean {
    return this.linkNeeds.has(peer) && !this.needs(peer)
  }

  /** The active view changed, or a shuffle period passed: every passive peer may be asked again. */
  private forgetTried (): void {
    // clear() gives a Set a new table even when it is empty, as these mostly are.
    if (this.tried.size > 0) this.tried.clear()
    if (this.refusedLow.size > 0) this.refusedLow.clear()
  }

  private askNeighbor (peer: PI, priority: Priority, resent: boolean): void {
    this.sendNeighbor(peer, priority)
    const was = this.needs(peer)
    this.pendingNeighbor.set(peer, { deadline: this.now + this.config.neighborRequestTimeout, priority, resent })
    this.settle(peer, was)
    this.out.schedule(this.config.neighborRequestTimeout, { type: 'neighborTimeout', topic: this.topic, peer })
  }

  /** Peers one SHUFFLE of ours carries when the views are full. */
  private shuffleSize (): number {
    return this.config.shuffleActiveViewCount + this.config.shufflePassiveViewCount
  }

  private sendNeighbor (peer: PI, priority: Priority): void {
    this.out.send(peer, this.topic, { type: 'neighbor', priority, ...dataField(this.selfData()) })
  }

  private pickActive (not1: PI, not2: PI): PI | undefined {
    let n = 0
    for (const p of this.active) if (p !== not1 && p !== not2) n++
    if (n === 0) return undefined
    let k = randomInt(this.rng, n)
    for (const p of this.active) {
      if (p === not1 || p === not2) continue
      if (k-- === 0) return p
    }
    return undefined
  }

  /** A sample of the views for a peer we disconnect, so it keeps enough candidates to repair. */
  private sampleFor (peer: PI, size = this.config.disconnectSampleSize): PeerInfo<PI>[] {
    const pool: PI[] = []
    for (const p of this.active) if (p !== peer) pool.push(p)
    for (const p of this.passive) if (p !== peer) pool.push(p)
    return sample(this.rng, pool, Math.min(size, this.maxListPeers)).map(p => this.info(p))
  }

  private info (peer: PI): PeerInfo<PI> {
    return wirePeer(peer, this.data.get(peer))
  }

  private selfData (): PeerData | undefined {
    return wireData(this.self().data)
  }

  private keepData (peer: PI, data: PeerData | undefined): void {
    const d = wireData(data)
    if (d !== undefined) this.data.set(peer, d)
  }

  private learn (peer: PI, data: PeerData | undefined): void {
    const d = wireData(data)
    if (d === undefined || peer === this.me) return
    this.out.peerData(this.topic, peer, d)
  }

  private ensureShuffleTimer (): void {
    if (this.shuffleDue !== -Infinity) return
    // Jitter keeps the nodes of a cluster started together from shuffling in lockstep.
    const after = Math.round(this.config.shuffleInterval * this.shuffleSlowdown * (0.75 + 0.5 * this.rng.next()))
    this.shuffleDue = this.now + after
    this.out.schedule(after, { type: 'shuffle', topic: this.topic })
  }
}

/**
 * Peer data as the decoder would accept it, or none: data from a driver other than the codec (or a
 * misconfigured own address) must not make a frame unencodable.
 */
function wireData (data: PeerData | undefined): PeerData | undefined {
  return data !== undefined && isWirePeerData(data) ? data : undefined
}

function wirePeer<PI> (id: PI, data: PeerData | undefined): PeerInfo<PI> {
  return { id, ...dataField(wireData(data)) }
}

function dataField (data: PeerData | undefined): { data?: PeerData } {
  return data === undefined ? {} : { data }
}
