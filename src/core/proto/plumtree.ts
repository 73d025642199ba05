/**
 * Plumtree broadcast for one topic (Leitão, Pereira, Rodrigues, SRDS 2007) over the HyParView
 * active view: payloads travel eagerly along a spanning tree that duplicates prune, ids travel
 * lazily along every other link so that a lost payload is pulled back with GRAFT.
 *
 * One origin shapes the tree (`shaperTimeout`). In the paper every message reshapes it: a
 * duplicate prunes the link it came over, a timed-out announcement grafts one. With many senders
 * at once, messages from different origins cut different links of the same cycle, the tree falls
 * apart, and the grafts that mend it bring duplicates: 1,000 simulated nodes with random senders
 * received 0.85 redundant copies per delivery. Here only the messages of the lowest-ranked origin
 * heard from lately prune; every node ranks origins alike, so every node follows the same one,
 * and the tree becomes that origin's shortest-path tree. A missed message is pulled (PULL: the
 * payload only); the link joins the tree when the pulled copy is the first to come, that is when
 * the tree's way here is cut or much slower. The first wait is learnt from how late the tree's
 * copies come after their announcements (see `firstWait`), since the tree's path from another
 * origin is longer than the path its announcements take, and short (`repairTimeout`) while a tree
 * link was lost and nothing came over the tree since.
 */
import { defaultConfig } from './config.js'
import type { PlumtreeConfig } from './config.js'
import { isDue } from './deadline.js'
import { DeliveredLog } from './delivered-log.js'
import { fnv1a } from './fnv1a.js'
import type { DeliveredPayload } from './delivered-log.js'
import { MESSAGE_OVERHEAD, ihaveEntryCost, saturatingRound, wireLimits } from './limits.js'
import type { Outbox } from './outbox.js'
import type { IHaveEntries, IHaveEntry, Message, MessageId, PlumtreeMessage, Timer, TopicId } from './types.js'

/** Entry `i` of an IHAVE, whichever form it came in (a decoded one makes the id's string here). */
function idAt (entries: IHaveEntries, i: number): MessageId {
  return Array.isArray(entries) ? (entries[i] as IHaveEntry).id : entries.id(i)
}

function roundAt (entries: IHaveEntries, i: number): number {
  return Array.isArray(entries) ? (entries[i] as IHaveEntry).round : entries.round(i)
}

interface Announcement<PI> {
  peer: PI
  round: number
}

interface Missing<PI> {
  /** Announcers not yet grafted, first come first asked. */
  queue: Announcement<PI>[]
  /** When the pending graft timer for this id is due. */
  due: number
  /** Who announced it first (counts against that peer's `maxMissingPerPeer`). */
  by: PI
  /** The announcer we last grafted for it, if any: still missing at the next timeout, it failed us. */
  grafted: PI | undefined
  /** The announcer it waits for room at (see `maxGraftsInFlight`), if any. */
  parked?: PI
  /** When it was first announced. */
  since: number
}

/** GRAFTs one neighbour left unanswered (see `isDemoted`). */
interface Unanswered {
  count: number
  /** When `count` last reached `maxUnansweredGrafts`. */
  since: number
  /** Ids of those GRAFTs, the most recent `maxGraftsInFlight`: an answer that comes late still counts. */
  ids: Set<MessageId>
}

/** Tree gaps remembered to learn the first wait from, and how (see `firstWait`). */
const TREE_GAPS = 64
const TREE_GAP_QUANTILE = 0.9
const TREE_GAP_MARGIN = 2
/** Announcers of an id after which its wait is cut to EARLY_SHARE of the first (see `announcedAgain`). */
const EARLY_ANNOUNCERS = 3
const EARLY_SHARE = 0.6

export class Plumtree<PI> {
  readonly eager = new Set<PI>()
  readonly lazy = new Set<PI>()
  /** Neighbours we sent a PRUNE and have not grafted since: they push to us no more (see `makeEager`). */
  private readonly pruned = new Set<PI>()
  /** Ids delivered recently, so duplicates are recognised, with their payloads for a shorter while, to answer GRAFTs. */
  private readonly delivered: DeliveredLog<PI>
  /** Ids announced by IHAVE and not received yet (insertion-ordered: the first is the oldest). */
  private readonly missing = new Map<MessageId, Missing<PI>>()
  /**
   * Per neighbour: ids in `missing` it announced first, and GRAFTs it left unanswered (less one
   * per payload it delivered) with when that count last reached `maxUnansweredGrafts`.
   */
  private readonly missingBy = new Map<PI, number>()
  private readonly unanswered = new Map<PI, Unanswered>()
  /** Per peer: ids in `missing` whose GRAFT went to it and is neither answered nor timed out. */
  private readonly graftsTo = new Map<PI, number>()
  /** Per neighbour at `maxGraftsInFlight`: ids parked until it has room (some may be gone since). */
  private readonly parkedAt = new Map<PI, MessageId[]>()
  /** Neighbours with parked ids that got room for a GRAFT, to be taken up by `resumeParked`. */
  private withRoom: PI[] = []
  /** Per demoted neighbour: entries it announced since, unheard. */
  private readonly ignoredBy = new Map<PI, number>()
  /**
   * IHAVEs waiting for the dispatch timer, as two parallel queues (no object per entry);
   * `ihaveHead` skips the ones dropped for the bound.
   */
  private ihaveTo: PI[] = []
  private ihaveEntry: IHaveEntry[] = []
  /** Encoded size bound of each queued entry, counted once per message rather than once per peer. */
  private ihaveCost: number[] = []
  private ihaveHead = 0
  /** Bytes the entries of one IHAVE may take so that the whole frame stays within the budget. */
  private readonly ihaveBytes: number
  private dispatchScheduled = false
  /** When the pending eviction timer is due (-Infinity: none pending); earlier firings are stale. */
  private evictDue = -Infinity
  /** Timer objects are immutable: one per topic serves every scheduling. */
  private readonly dispatchTimer: Timer<PI>
  private readonly evictTimer: Timer<PI>
  /** The origin whose messages shape the tree, its rank and when it was last heard from. */
  private shaper: PI | undefined
  private shaperRank = Infinity
  private shaperHeard = -Infinity
  /** Ranks depend on the topic, so that different topics follow different origins. */
  private readonly rankBasis: number
  /** A tree link was lost and no tree link has delivered since (see `repairTimeout`). */
  private repairing = false
  /**
   * How long the tree's copy came after the first announcement, for the last TREE_GAPS ids
   * announced first (a ring), and the first wait learnt from them (0: not enough yet).
   */
  private readonly treeGaps: number[] = []
  private treeGapAt = 0
  private learntWait = 0
  /** Ids pulled and delivered before the tree's copy, with when first announced (oldest first). */
  private readonly pulledSince = new Map<MessageId, number>()

  constructor (
    private readonly me: PI,
    private readonly topic: TopicId,
    private readonly config: PlumtreeConfig,
    private readonly out: Outbox<PI>,
    maxFrameBytes: number = defaultConfig.maxFrameBytes,
    hashSeed = 0
  ) {
    this.ihaveBytes = maxFrameBytes - MESSAGE_OVERHEAD
    this.delivered = new DeliveredLog({
      maxIds: config.maxSeenIds,
      idRetention: Math.max(config.messageIdRetention, config.messageCacheTimeout),
      maxPayloads: config.maxCachedMessages,
      payloadTimeout: config.messageCacheTimeout
    }, hashSeed)
    this.dispatchTimer = { type: 'dispatchIHave', topic }
    this.evictTimer = { type: 'evictCache', topic }
    this.rankBasis = fnv1a(topic)
  }

  // -------------------------------------------------------------------------------------------
  // Active view changes
  // -------------------------------------------------------------------------------------------

  neighborUp (peer: PI): void {
    this.lazy.delete(peer)
    this.eager.add(peer)
    this.pruned.delete(peer)
  }

  neighborDown (peer: PI): void {
    if (this.eager.delete(peer)) this.repairing = true
    this.lazy.delete(peer)
    this.pruned.delete(peer)
    this.unanswered.delete(peer)
    this.ignoredBy.delete(peer)
  }

  private isNeighbor (peer: PI): boolean {
    return this.eager.has(peer) || this.lazy.has(peer)
  }

  // -------------------------------------------------------------------------------------------
  // Commands and timers
  // -------------------------------------------------------------------------------------------

  /** Publish. Returns false when the id was already seen (nothing is sent then). */
  broadcast (id: MessageId, content: Uint8Array, now: number, sig?: Uint8Array): boolean {
    if (this.hasSeen(id)) return false
    this.noteOrigin(this.me, now)
    this.remember(id, { origin: this.me, content, hops: 0, from: undefined, sig }, now)
    this.push(id, this.me, content, 0, undefined, sig)
    return true
  }

  onDispatchIHave (): void {
    this.dispatchScheduled = false
    const to = this.ihaveTo
    const entries = this.ihaveEntry
    const costs = this.ihaveCost
    const head = this.ihaveHead
    this.ihaveTo = []
    this.ihaveEntry = []
    this.ihaveCost = []
    this.ihaveHead = 0
    // Group by peer. Queues are short (one entry per lazy peer per message), so a linear scan for
    // the peers already seen beats a Map; every peer's entries keep their queue order.
    // A batch is cut by bytes (a count cap let long ids build frames the transport refused) and
    // by the count the decoder takes.
    const peers: PI[] = []
    const groups: IHaveEntry[][] = []
    const groupBytes: number[] = []
    for (let i = head; i < to.length; i++) {
      const peer = to[i] as PI
      let g = peers.indexOf(peer)
      if (g < 0) {
        if (!this.isNeighbor(peer)) continue
        g = peers.length
        peers.push(peer)
        groups.push([])
        groupBytes.push(0)
      }
      const cost = costs[i] as number
      let group = groups[g] as IHaveEntry[]
      if (group.length > 0 && (group.length >= wireLimits.maxIHaveEntries || (groupBytes[g] as number) + cost > this.ihaveBytes)) {
        this.out.send(peer, this.topic, { type: 'ihave', entries: group })
        group = []
        groups[g] = group
        groupBytes[g] = 0
      }
      group.push(entries[i] as IHaveEntry)
      groupBytes[g] = (groupBytes[g] as number) + cost
    }
    for (let g = 0; g < peers.length; g++) {
      const group = groups[g] as IHaveEntry[]
      if (group.length > 0) this.out.send(peers[g] as PI, this.topic, { type: 'ihave', entries: group })
    }
  }

  onGraftTimeout (id: MessageId, now: number): void {
    const missing = this.missing.get(id)
    if (missing === undefined || !isDue(now, missing.due)) return
    if (this.hasSeen(id)) {
      this.dropMissing(id, missing)
      this.resumeParked(now)
      return
    }
    // Counted for a neighbour only: one that left had its record cleared and must not get a new one.
    if (missing.grafted !== undefined && this.isNeighbor(missing.grafted)) {
      let record = this.unanswered.get(missing.grafted)
      if (record === undefined) this.unanswered.set(missing.grafted, record = { count: 1, since: now, ids: new Set() })
      // The clock of demotion starts when the count reaches the bar (again, after deliveries
      // brought it under): a count that lingered below it must not demote at once in a burst.
      else if (++record.count === this.config.maxUnansweredGrafts) record.since = now
      record.ids.add(id)
      if (record.ids.size > this.config.maxGraftsInFlight) record.ids.delete(record.ids.values().next().value as MessageId)
    }
    this.setGrafted(missing, undefined)
    this.graftNext(id, missing, now)
    this.resumeParked(now)
  }

  /**
   * Ask the first announcer still a neighbour and with room for one more pending GRAFT. If every
   * announcer left is at its bound, the id is parked at the first of them, without a timer: it is
   * taken up again when that neighbour has room (a flooder's thousand ids would otherwise each
   * keep a timer going). With nobody left to ask, it is given up.
   */
  private graftNext (id: MessageId, missing: Missing<PI>, now: number): void {
    const queue = missing.queue
    let full: PI | undefined
    for (let i = 0; i < queue.length;) {
      const next = queue[i] as Announcement<PI>
      if (!this.isNeighbor(next.peer)) {
        queue.splice(i, 1)
        continue
      }
      if ((this.graftsTo.get(next.peer) ?? 0) >= this.config.maxGraftsInFlight) {
        full ??= next.peer
        i++
        continue
      }
      queue.splice(i, 1)
      if (this.config.shaperTimeout > 0) {
        // Whether the link joins the tree is decided when the payload comes (see onGossip).
        this.out.send(next.peer, this.topic, { type: 'graft', id, round: saturatingRound(next.round), pull: true })
      } else {
        this.graft(next.peer, id, next.round)
        this.lazy.delete(next.peer)
        this.eager.add(next.peer)
      }
      this.setGrafted(missing, next.peer)
      missing.due = now + this.config.graftTimeout2
      this.out.schedule(this.config.graftTimeout2, { type: 'graftTimeout', topic: this.topic, id })
      return
    }
    if (full === undefined) {
      this.dropMissing(id, missing)
      return
    }
    missing.parked = full
    // A timer still pending for this id finds it not due, and does nothing.
    missing.due = Infinity
    let ids = this.parkedAt.get(full)
    if (ids === undefined) this.parkedAt.set(full, ids = [])
    ids.push(id)
  }

  /** Take up parked ids of the neighbours that have room for GRAFTs again. */
  private resumeParked (now: number): void {
    while (this.withRoom.length > 0) {
      const peer = this.withRoom.pop() as PI
      const ids = this.parkedAt.get(peer)
      if (ids === undefined) continue
      let head = 0
      while (head < ids.length && (this.graftsTo.get(peer) ?? 0) < this.config.maxGraftsInFlight) {
        const id = ids[head++] as MessageId
        const missing = this.missing.get(id)
        // Delivered or given up meanwhile: nothing to take up.
        if (missing === undefined || missing.parked !== peer) continue
        missing.parked = undefined
        if (this.hasSeen(id)) this.dropMissing(id, missing)
        else this.graftNext(id, missing, now)
      }
      if (head >= ids.length) this.parkedAt.delete(peer)
      else ids.splice(0, head)
    }
  }

  onEvictCache (now: number): void {
    // A timer left over from an earlier life of this topic must not start a second chain.
    if (!isDue(now, this.evictDue)) return
    this.evictDue = -Infinity
    this.delivered.evictExpired(now)
    this.scheduleEvict(now)
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  handle (from: PI, msg: PlumtreeMessage<PI>, now: number): void {
    switch (msg.type) {
      case 'gossip': return this.onGossip(from, msg.id, msg.origin, msg.content, msg.round, now, msg.sig)
      case 'ihave': return this.onIHave(from, msg.entries, now)
      case 'graft': return this.onGraft(from, msg.id, msg.pull === true)
      case 'prune': return this.onPrune(from)
    }
  }

  private onGossip (from: PI, id: MessageId, origin: PI, content: Uint8Array, round: number, now: number, sig: Uint8Array | undefined): void {
    const neighbor = this.isNeighbor(from)
    if (this.hasSeen(id)) {
      const pulledAt = this.pulledSince.size === 0 ? undefined : this.pulledSince.get(id)
      if (pulledAt !== undefined && this.eager.has(from)) {
        this.pulledSince.delete(id)
        this.noteTreeGap(now - pulledAt)
      }
      // The first copy noted the origin; a copy of it says nothing new about who shapes the tree.
      if (neighbor && (this.config.shaperTimeout <= 0 || origin === this.shaper)) {
        // A second eager path to us: cut it, the ids still flow lazily. Only the shaper's
        // messages cut: two origins' messages would cut two links of one cycle.
        this.eager.delete(from)
        this.lazy.add(from)
        this.prune(from)
      }
      // The answer to a GRAFT that timed out, after another path delivered: it did answer. Under
      // packet loss an honest neighbour's answers come late and are mostly duplicates by then;
      // counting only new payloads demoted it (and its announcements went unheard).
      const record = this.unanswered.get(from)
      if (record?.ids.delete(id) === true) this.answered(from, record)
      return
    }
    this.noteOrigin(origin, now)
    // At the largest round the wire carries a message still travels: its hop count stops growing.
    const hops = saturatingRound(round + 1)
    this.remember(id, { origin, content, hops, from: neighbor ? from : undefined, sig }, now)
    const missing = this.missing.get(id)
    const pulled = missing !== undefined && missing.grafted === from && this.config.shaperTimeout > 0
    if (pulled) {
      // The tree's copy may still come: how late it is tells the wait too (without it, only
      // gaps shorter than the wait would ever be seen).
      this.pulledSince.set(id, missing.since)
      if (this.pulledSince.size > TREE_GAPS) this.pulledSince.delete(this.pulledSince.keys().next().value as MessageId)
    } else if (missing !== undefined && this.eager.has(from)) {
      this.noteTreeGap(now - missing.since)
    }
    if (missing !== undefined) {
      this.dropMissing(id, missing)
      this.resumeParked(now)
    }
    // Each payload it delivers makes up for one GRAFT it left unanswered; once it has made up for
    // all of them it is trusted again. Forgiving everything at once let a flooder that delivers
    // one real message every 100 ms leave thousands of GRAFTs a second unanswered, never demoted.
    const record = this.unanswered.get(from)
    if (record !== undefined) {
      record.ids.delete(id)
      this.answered(from, record)
    }
    if (neighbor && pulled) {
      // Pulled, and no other copy came first: the tree's way here is cut or much slower.
      this.graft(from, undefined, round)
      this.lazy.delete(from)
      this.eager.add(from)
      this.repairing = false
    } else if (neighbor) {
      if (this.eager.has(from)) this.repairing = false
      this.makeEager(from)
    }
    this.out.emit(this.topic, { type: 'received', id, content, from, origin, hops })
    this.push(id, origin, content, hops, from, sig)
  }

  private onIHave (from: PI, entries: IHaveEntries, now: number): void {
    if (!this.isNeighbor(from)) return
    const count = entries.length
    // A neighbour that keeps announcing what it never delivers is not listened to until it does;
    // one that announces as many ids again that nobody delivered while ignored is lying on purpose:
    // its link goes. Ids we have are not counted: an honest neighbour slowed down by a flood
    // answers GRAFTs too late and gets ignored, but what it announces is real.
    if (this.isDemoted(from, now)) {
      let unheard = 0
      for (let i = 0; i < count; i++) if (!this.hasSeen(idAt(entries, i))) unheard++
      const ignored = (this.ignoredBy.get(from) ?? 0) + unheard
      if (ignored < this.config.maxMissingPerPeer) {
        this.ignoredBy.set(from, ignored)
        return
      }
      this.ignoredBy.delete(from)
      this.out.drop(from, `announced ${ignored} ids while ignored for leaving its GRAFTs unanswered`)
      return
    }
    for (let i = 0; i < count; i++) {
      // A neighbour we await `maxMissingPerPeer` ids from is not listened to: the rest of what it
      // announces is not read, so the ids of a decoded IHAVE are never made into strings. What
      // that skips is an optimisation at most (an id we have: a shorter tree path; an id we
      // await from another: one more announcer to graft), and a flooder sits at its cap for
      // nearly all it announces.
      if ((this.missingBy.get(from) ?? 0) >= this.config.maxMissingPerPeer) return
      const id = idAt(entries, i)
      if (this.hasSeen(id)) {
        this.optimize(from, id, roundAt(entries, i))
        continue
      }
      const missing = this.missing.get(id)
      if (missing !== undefined) {
        if (missing.queue.some(a => a.peer === from)) continue
        if (missing.queue.length === 0) {
          // Every announcer was grafted: the entry waits only to learn whether the last one
          // answers. A new announcer gets the first timeout, as for a fresh id: grafting it after
          // the short second one would pull a copy the last GRAFT is still bringing.
          const wait = this.firstWait()
          missing.due = now + wait
          this.out.schedule(wait, { type: 'graftTimeout', topic: this.topic, id })
        }
        missing.queue.push({ peer: from, round: roundAt(entries, i) })
        this.announcedAgain(id, missing, now)
        continue
      }
      if (this.config.maxMissingMessages <= 0) continue
      if (this.missing.size >= this.config.maxMissingMessages) {
        const oldest = this.missing.entries().next()
        if (oldest.done !== true) {
          this.dropMissing(oldest.value[0], oldest.value[1])
          this.resumeParked(now)
        }
      }
      const wait = this.firstWait()
      this.missing.set(id, { queue: [{ peer: from, round: roundAt(entries, i) }], due: now + wait, by: from, grafted: undefined, since: now })
      this.missingBy.set(from, (this.missingBy.get(from) ?? 0) + 1)
      this.out.schedule(wait, { type: 'graftTimeout', topic: this.topic, id })
    }
  }

  /**
   * Tree optimisation: a lazy link that would have delivered this payload at least
   * `optimizationThreshold` hops earlier than the eager one replaces it.
   */
  private optimize (from: PI, id: MessageId, round: number): void {
    const at = this.delivered.find(id)
    if (at < 0 || !this.delivered.hasPayload(at)) return
    const parent = this.delivered.fromOf(at)
    if (parent === undefined || parent === from || !this.eager.has(parent)) return
    const viaAnnouncer = saturatingRound(round + 1)
    if (this.delivered.hopsOf(at) - viaAnnouncer < this.config.optimizationThreshold) return
    // A shorter path for another origin's messages would be a longer one for the shaper's.
    if (this.config.shaperTimeout > 0 && this.delivered.originOf(at) !== this.shaper) return
    this.graft(from, undefined, round)
    this.lazy.delete(from)
    this.eager.add(from)
    this.prune(parent)
    this.eager.delete(parent)
    this.lazy.add(parent)
    this.delivered.reroute(at, from, viaAnnouncer)
  }

  private onGraft (from: PI, id: MessageId | undefined, pull: boolean): void {
    const neighbor = this.isNeighbor(from)
    if (neighbor && !pull) {
      this.lazy.delete(from)
      this.eager.add(from)
      // It pushes to us again too (a GRAFT makes each end eager).
      this.pruned.delete(from)
    }
    if (id === undefined) return
    const at = this.delivered.find(id)
    const cached = at < 0 ? undefined : this.delivered.payloadOf(at)
    if (cached === undefined) return
    this.out.send(from, this.topic, { type: 'gossip', id, origin: cached.origin, content: cached.content, round: cached.hops, sig: cached.sig })
    // A GRAFT from outside the active view is answered once; the link is not ours to keep.
    if (!neighbor) this.out.touch(from)
  }

  private onPrune (from: PI): void {
    if (!this.eager.delete(from)) return
    this.lazy.add(from)
  }

  /**
   * `peer` delivered to us: it is our eager peer. If we told it to prune and have not grafted it
   * since, what it sent crossed our PRUNE, and it is about to stop pushing to us while we count
   * on it: a GRAFT keeps both ends agreed. Without it, at the start of a busy stream (messages in
   * flight both ways while the tree forms), about one start in eight of a 3-node benchmark left a
   * receiver that believed itself fed with no eager link at all: it grafted some 90 messages one
   * graft timeout late (p99 85-110 ms at 1,000 msgs/s).
   */
  private makeEager (peer: PI): void {
    this.lazy.delete(peer)
    this.eager.add(peer)
    if (this.pruned.has(peer)) this.graft(peer, undefined, 0)
  }

  private prune (peer: PI): void {
    this.out.send(peer, this.topic, { type: 'prune' })
    this.pruned.add(peer)
  }

  private graft (peer: PI, id: MessageId | undefined, round: number): void {
    this.out.send(peer, this.topic, id === undefined ? { type: 'graft', round: saturatingRound(round) } : { type: 'graft', id, round: saturatingRound(round) })
    this.pruned.delete(peer)
  }

  // -------------------------------------------------------------------------------------------
  // Internals
  // -------------------------------------------------------------------------------------------

  /**
   * Notes a new message from `origin` for the choice of the shaper: the lowest-ranked origin
   * heard from within `shaperTimeout`; one not heard from for that long is replaced by the next
   * origin heard from, and that by any lower-ranked one.
   */
  private noteOrigin (origin: PI, now: number): void {
    const timeout = this.config.shaperTimeout
    if (timeout <= 0) return
    if (origin === this.shaper) {
      this.shaperHeard = now
      return
    }
    const rank = fnv1a(String(origin), this.rankBasis)
    if (rank >= this.shaperRank && now - this.shaperHeard <= timeout) return
    this.shaper = origin
    this.shaperRank = rank
    this.shaperHeard = now
  }

  /**
   * The first wait for an announced id: `repairTimeout` while the tree is known cut; else learnt,
   * TREE_GAP_MARGIN times the TREE_GAP_QUANTILE of how late the tree's copies came after the
   * first announcement, between `repairTimeout` and `graftTimeout1`. Over the simulator's 10-100
   * ms links that is hundreds of ms (the tree's path from another origin is longer than the
   * announcements'); on a LAN, `repairTimeout`, so a copy held up by a lost packet is pulled as
   * soon as before. (A margin of 1.5 let random-sender RMR reach 0.34 on one seed of four.)
   */
  private firstWait (): number {
    if (this.config.shaperTimeout <= 0) return this.config.graftTimeout1
    if (this.repairing) return this.config.repairTimeout
    return this.learntWait > 0 ? this.learntWait : this.config.graftTimeout1
  }

  /**
   * Three neighbours have announced an id whose tree copy has not come: the tree is more likely cut
   * above this node than slow, so the id is pulled EARLY_SHARE of the first wait after its first
   * announcement instead of the whole wait. A node has about three lazy links, so in a whole tree
   * this happens to copies that are late anyway. Measured over the simulator's scenarios (1,000
   * nodes, 4 seeds): the last delivery 3-7 % sooner in random, kill50 and churn, where the shaper
   * had made kill50 and churn 4-6 % later than the papers' rules; random-sender RMR 0.19 -> 0.23.
   */
  private announcedAgain (id: MessageId, missing: Missing<PI>, now: number): void {
    if (this.config.shaperTimeout <= 0 || missing.grafted !== undefined || missing.parked !== undefined || missing.queue.length !== EARLY_ANNOUNCERS) return
    const due = Math.max(now, missing.since + Math.max(this.config.repairTimeout, Math.ceil(EARLY_SHARE * this.firstWait())))
    if (due >= missing.due) return
    missing.due = due
    this.out.schedule(due - now, { type: 'graftTimeout', topic: this.topic, id })
  }

  private noteTreeGap (gap: number): void {
    if (this.config.shaperTimeout <= 0) return
    const gaps = this.treeGaps
    if (gaps.length < TREE_GAPS) gaps.push(gap)
    else gaps[this.treeGapAt] = gap
    this.treeGapAt = (this.treeGapAt + 1) % TREE_GAPS
    // Sorted again every 16 gaps, not on each: a busy topic sees one per message.
    if (gaps.length < 16 || this.treeGapAt % 16 !== 0) return
    const sorted = [...gaps].sort((a, b) => a - b)
    const quantile = sorted[Math.floor(TREE_GAP_QUANTILE * (sorted.length - 1))] as number
    this.learntWait = Math.min(this.config.graftTimeout1, Math.max(this.config.repairTimeout, Math.ceil(quantile * TREE_GAP_MARGIN)))
  }

  /** Eager push to the eager peers, lazy announcement to the others; never back to `from` or the origin. */
  private push (id: MessageId, origin: PI, content: Uint8Array, hops: number, from: PI | undefined, sig: Uint8Array | undefined): void {
    let message: Message<PI> | undefined
    for (const peer of this.eager) {
      if (peer === from || peer === origin) continue
      message ??= { topic: this.topic, body: { type: 'gossip', id, origin, content, round: hops, sig } }
      this.out.sendMessage(peer, message)
    }
    if (this.lazy.size === 0) return
    const entry: IHaveEntry = { id, round: hops }
    const cost = ihaveEntryCost(id)
    for (const peer of this.lazy) {
      if (peer === from || peer === origin) continue
      this.queueIHave(peer, entry, cost)
    }
  }

  private queueIHave (to: PI, entry: IHaveEntry, cost: number): void {
    if (this.config.maxPendingIHaves <= 0) return
    this.ihaveTo.push(to)
    this.ihaveEntry.push(entry)
    this.ihaveCost.push(cost)
    if (this.ihaveTo.length - this.ihaveHead > this.config.maxPendingIHaves) {
      // Over the bound the oldest announcement goes: the freshest ones are the likeliest to matter.
      this.ihaveHead++
      if (this.ihaveHead > 1024 && this.ihaveHead * 2 > this.ihaveTo.length) {
        this.ihaveTo = this.ihaveTo.slice(this.ihaveHead)
        this.ihaveEntry = this.ihaveEntry.slice(this.ihaveHead)
        this.ihaveCost = this.ihaveCost.slice(this.ihaveHead)
        this.ihaveHead = 0
      }
    }
    if (!this.dispatchScheduled) {
      this.dispatchScheduled = true
      this.out.schedule(this.config.dispatchTimeout, this.dispatchTimer)
    }
  }

  /** `peer` delivered a payload (or answered one of its timed-out GRAFTs late): one unanswered GRAFT is made up for. */
  private answered (peer: PI, record: Unanswered): void {
    if (--record.count > 0) return
    this.unanswered.delete(peer)
    this.ignoredBy.delete(peer)
  }

  /**
   * Demoted: at least `maxUnansweredGrafts` GRAFTs unanswered (less one per payload delivered),
   * and for `demoteAfter` already. Counting alone would demote honest peers in a burst: every GRAFT
   * sent before the first answer is back counts, and one round trip can hold hundreds.
   */
  private isDemoted (peer: PI, now: number): boolean {
    const record = this.unanswered.get(peer)
    return record !== undefined && record.count >= this.config.maxUnansweredGrafts && now - record.since >= this.config.demoteAfter
  }

  private setGrafted (missing: Missing<PI>, peer: PI | undefined): void {
    const before = missing.grafted
    if (before !== undefined) {
      const n = (this.graftsTo.get(before) ?? 1) - 1
      if (n > 0) this.graftsTo.set(before, n)
      else this.graftsTo.delete(before)
      if (n === this.config.maxGraftsInFlight - 1 && this.parkedAt.has(before)) this.withRoom.push(before)
    }
    missing.grafted = peer
    if (peer !== undefined) this.graftsTo.set(peer, (this.graftsTo.get(peer) ?? 0) + 1)
  }

  private dropMissing (id: MessageId, missing: Missing<PI>): void {
    this.setGrafted(missing, undefined)
    missing.parked = undefined
    this.missing.delete(id)
    const n = (this.missingBy.get(missing.by) ?? 1) - 1
    if (n > 0) this.missingBy.set(missing.by, n)
    else this.missingBy.delete(missing.by)
  }

  private hasSeen (id: MessageId): boolean {
    return this.delivered.has(id)
  }

  private remember (id: MessageId, cached: DeliveredPayload<PI>, now: number): void {
    this.delivered.add(id, cached, now)
    this.scheduleEvict(now)
  }

  /**
   * The eviction timer runs only while something is cached, and no sooner than the oldest entry
   * expires: idle topics cost no timer events.
   */
  private scheduleEvict (now: number): void {
    if (this.evictDue !== -Infinity) return
    const oldest = this.delivered.nextExpiry()
    if (oldest === undefined) return
    const after = Math.max(this.config.cacheEvictInterval, oldest - now)
    this.evictDue = now + after
    this.out.schedule(after, this.evictTimer)
  }

  // -------------------------------------------------------------------------------------------
  // Introspection for tests and metrics
  // -------------------------------------------------------------------------------------------

  /** Whether `id` was delivered here recently (a copy of it needs no checking). */
  hasDelivered (id: MessageId): boolean {
    return this.hasSeen(id)
  }

  stats (): { cached: number, seen: number, missing: number, pendingIHaves: number } {
    return {
      cached: this.delivered.payloads,
      seen: this.delivered.size,
      missing: this.missing.size,
      pendingIHaves: this.ihaveTo.length - this.ihaveHead
    }
  }
}
