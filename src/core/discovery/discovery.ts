/**
 * Topic discovery for one node: tells linked peers which topics this node is in, learns theirs,
 * answers "who else wants T", and asks around for topics in which it knows nobody. Sans-IO like
 * the protocol in ../proto: `handle(input, now)` returns the effects, time and randomness come
 * in, and every message it emits fits `maxFrameBytes` (see ../proto/limits.ts for the costs).
 *
 * Costs: a change of our topics costs one delta per link, the size of the change; a link to a
 * peer we never linked to (or not within `interestTtl`) costs one snapshot each way; a link that
 * comes back within `interestTtl` costs the change since the last one, if any, and a digest each
 * way (both ends keep a closed link's versions and the peer's topics that long), and a snapshot
 * only when the digest shows the copies went out of step; the steady state costs one digest per
 * link per `digestInterval`. An answer names at most `answerPerTopic` nodes per topic and
 * `maxAnswerBytes` in all; a change is answered by about `changeAnswerers` of the node's peers.
 */
import { TIMER_SLACK } from '../proto/deadline.js'
import { HEADER_COST, ID_COST, MESSAGE_OVERHEAD, wireLimits } from '../proto/limits.js'
import { sample } from '../proto/random.js'
import type { Rng } from '../proto/types.js'
import { TOPIC_KEY_BYTES, type TopicKey } from './topic-key.js'
import { AddressBook } from './address-book.js'
import type { DiscoveryConfig, DiscoveryInput, DiscoveryMessage, DiscoveryOutput, NodeAddr } from './types.js'
import { defaultDiscoveryConfig } from './types.js'

/** A holder index in a `members` message, at most (uint16). */
const INDEX_COST = 3
/** How often expired interests are swept, ms. */
const EXPIRE_INTERVAL = 10_000
/** A peer asking for snapshots faster than this gets at most one per interval. */
const MIN_SNAPSHOT_INTERVAL = 1_000

interface LinkState {
  /** Our version the peer holds (what we last sent it). */
  sent: number
  /** The peer's version we hold (-1: none yet, we wait for a snapshot). */
  known: number
  /**
   * Topics the peer declared that the book had no room for (its interests in all were at their
   * bound, say filled by hearsay): still the peer's, so digests count them and find us in step.
   */
  refused?: Set<TopicKey>
  /** We asked for a snapshot and ignore deltas until it comes. */
  awaiting: boolean
  lastSnapshot: number
  /** When a snapshot the peer asked for is to be sent (Infinity: none asked for). */
  snapshotDue: number
  /** When we last asked the peer for a snapshot. */
  askedAt: number
  /** The pages coming are the rest of a snapshot (its first page came last). */
  inSnapshot: boolean
}

/**
 * A closed link's versions, kept so that a link coming back within `interestTtl` needs no
 * snapshot. The peer's topics stay in the book meanwhile (ageing from `until - interestTtl`).
 */
interface Dormant {
  sent: number
  known: number
  awaiting: boolean
  lastSnapshot: number
  until: number
}

interface Lonely {
  due: number
  backoff: number
}

export class Discovery<PI> {
  readonly book: AddressBook<PI>
  readonly config: DiscoveryConfig
  private readonly mine = new Set<TopicKey>()
  /** Our topic changes: entry i took us from version `logBase + i` to `logBase + i + 1`. */
  private log: TopicKey[] = []
  private logBase = 0
  private version = 0
  private readonly links = new Map<PI, LinkState>()
  /** Closed links, oldest first, until `interestTtl` after they closed (at most `maxNodes`). */
  private readonly dormant = new Map<PI, Dormant>()
  private readonly seeds = new Set<PI>()
  /** Our topics in which we know nobody, with when to ask again. */
  private readonly lonely = new Map<TopicKey, Lonely>()
  private out: Array<DiscoveryOutput<PI>> = []
  private readonly found = new Set<TopicKey>()
  private announceDue = Infinity
  private digestDue = Infinity
  private expireDue = Infinity
  private queryDue = Infinity
  private resyncDue = Infinity
  /** When the tick we asked for is due (Infinity: none pending). */
  private tickAt = Infinity

  constructor (private readonly me: PI, private readonly rng: Rng, config: Partial<DiscoveryConfig> = {}) {
    this.config = { ...defaultDiscoveryConfig, ...config }
    this.book = new AddressBook<PI>(me, this.config)
  }

  /** Our topics. */
  topics (): ReadonlySet<TopicKey> {
    return this.mine
  }

  /** Where `peer` listens, if known. */
  addressOf (peer: PI): string | undefined {
    return this.book.get(peer)?.addr
  }

  /** Nodes known to want `topic`, this one excluded. */
  interestedIn (topic: TopicKey): PI[] {
    return this.book.interestedIn(topic)
  }

  /** The same without a copy: read it before the next input, never change it. */
  holdersOf (topic: TopicKey): readonly PI[] {
    return this.book.holdersOf(topic)
  }

  /**
   * Whom to join in `topic`: the nodes we have heard from ourselves (linked now or before) when
   * there are any we have not failed to reach since, else the hearsay. A peer can make up any number of members; it cannot make
   * us have talked to them, so a flood of invented names never crowds out the real ones.
   */
  contactsFor (topic: TopicKey): PI[] {
    const all = this.book.interestedIn(topic)
    // Not those we failed to reach since we last did: cut off from them (a partition), the members
    // we only heard of are the way out.
    const reachable = all.filter(id => (this.book.get(id)?.failures ?? 0) === 0)
    const known = reachable.filter(id => this.book.get(id)?.firsthand === true)
    return known.length > 0 ? known : reachable.length > 0 ? reachable : all
  }

  handle (input: DiscoveryInput<PI>, now: number): Array<DiscoveryOutput<PI>> {
    switch (input.type) {
      case 'linkUp': this.onLinkUp(input.peer, input.addr, now); break
      case 'linkDown': this.onLinkDown(input.peer, now); break
      case 'recv': this.onMessage(input.from, input.message, now); break
      case 'joinTopic': this.onJoinTopic(input.topic, now); break
      case 'leaveTopic': this.onLeaveTopic(input.topic, now); break
      case 'learn': this.onLearn(input.peer, input.addr, input.topic, now); break
      case 'seed':
        if (input.peer !== this.me && this.book.learn(input.peer, input.addr, now) !== undefined) this.seeds.add(input.peer)
        break
      case 'dialFailed':
        // Hearsay we could not even dial is forgotten; a node we talked to may just be restarting.
        if (this.book.get(input.peer)?.firsthand === false) this.book.forget(input.peer)
        else this.book.failure(input.peer)
        break
      case 'tick': this.onTick(now); break
      case 'flush': {
        const link = this.links.get(input.peer)
        if (link !== undefined) this.announceTo(input.peer, link, new Map())
        break
      }
    }
    // Only when there is something: clear() gives the Set a new table, and this runs for every input.
    if (this.found.size > 0) {
      for (const topic of this.found) this.out.push({ type: 'found', topic })
      this.found.clear()
    }
    this.scheduleTick(now)
    const out = this.out
    this.out = []
    return out
  }

  // -------------------------------------------------------------------------------------------
  // Our own topics
  // -------------------------------------------------------------------------------------------

  private onJoinTopic (topic: TopicKey, now: number): void {
    if (this.mine.has(topic)) return
    this.mine.add(topic)
    this.change(topic, now)
    if (this.book.interestCountOf(topic) === 0) this.markLonely(topic, now + this.config.announceDelay)
  }

  private onLeaveTopic (topic: TopicKey, now: number): void {
    if (!this.mine.delete(topic)) return
    this.change(topic, now)
    this.lonely.delete(topic)
  }

  private change (topic: TopicKey, now: number): void {
    this.log.push(topic)
    this.version++
    if (this.log.length > this.config.maxLog) {
      // Peers further behind than the log get a snapshot instead of a delta.
      const drop = this.log.length - this.config.maxLog
      this.log = this.log.slice(drop)
      this.logBase += drop
    }
    if (this.announceDue === Infinity) this.announceDue = now + this.config.announceDelay
  }

  private announce (): void {
    this.announceDue = Infinity
    const deltas = new Map<number, { joined: TopicKey[], left: TopicKey[] }>()
    for (const [peer, link] of this.links) this.announceTo(peer, link, deltas)
  }

  /** Tell `peer` what changed since we last did; `deltas` shares the work among peers at one version. */
  private announceTo (peer: PI, link: LinkState, deltas: Map<number, { joined: TopicKey[], left: TopicKey[] }>): void {
    if (link.sent === this.version) return
    if (link.sent < this.logBase) {
      this.sendSnapshot(peer, link, -Infinity)
      return
    }
    let delta = deltas.get(link.sent)
    if (delta === undefined) {
      delta = this.deltaSince(link.sent)
      deltas.set(link.sent, delta)
    }
    this.sendTopics(peer, false, link.sent, delta.joined, delta.left)
    link.sent = this.version
  }

  /** The net change since `version`: a topic toggled an even number of times did not change. */
  private deltaSince (version: number): { joined: TopicKey[], left: TopicKey[] } {
    const toggles = new Map<TopicKey, number>()
    for (let i = version - this.logBase; i < this.log.length; i++) {
      const topic = this.log[i] as TopicKey
      toggles.set(topic, (toggles.get(topic) ?? 0) + 1)
    }
    const joined: TopicKey[] = []
    const left: TopicKey[] = []
    for (const [topic, n] of toggles) {
      if (n % 2 === 0) continue
      if (this.mine.has(topic)) joined.push(topic)
      else left.push(topic)
    }
    return { joined, left }
  }

  private sendSnapshot (peer: PI, link: LinkState, now: number): void {
    link.lastSnapshot = now
    link.snapshotDue = Infinity
    link.sent = this.version
    this.sendTopics(peer, true, 0, [...this.mine], [])
  }

  /**
   * One change (or snapshot) in pages that each fit the budget. Only the last page of a change
   * moves the receiver's version; the pages after a snapshot's first continue from its version.
   */
  private sendTopics (to: PI, reset: boolean, base: number, joined: TopicKey[], left: TopicKey[]): void {
    const perPage = topicsPerPage(this.config.maxFrameBytes)
    const total = joined.length + left.length
    let start = 0
    do {
      const end = Math.min(total, start + perPage)
      const first = start === 0
      const last = end === total
      this.send(to, {
        type: 'topics',
        reset: reset && first,
        base: reset ? (first ? 0 : this.version) : base,
        version: reset || last ? this.version : base,
        joined: joined.slice(Math.min(start, joined.length), Math.min(end, joined.length)),
        left: left.slice(Math.max(0, start - joined.length), Math.max(0, end - joined.length))
      })
      start = end
    } while (start < total)
  }

  // -------------------------------------------------------------------------------------------
  // Links
  // -------------------------------------------------------------------------------------------

  private onLinkUp (peer: PI, addr: string | undefined, now: number): void {
    if (peer === this.me) return
    this.book.learn(peer, addr, now, true)
    this.book.setLinked(peer, true)
    this.book.success(peer, now)
    // A link replacing one still up continues from where that one was.
    const previous = this.links.get(peer)
    if (previous !== undefined) this.park(peer, previous, now)
    const kept = this.dormant.get(peer)
    this.dormant.delete(peer)
    const link: LinkState = { sent: -1, known: -1, awaiting: true, lastSnapshot: -Infinity, snapshotDue: Infinity, askedAt: -Infinity, inSnapshot: false }
    this.links.set(peer, link)
    const resume = kept !== undefined && kept.until > now
    if (kept !== undefined && resume) {
      link.sent = kept.sent
      link.known = kept.known
      link.awaiting = kept.awaiting
      link.lastSnapshot = kept.lastSnapshot
    }
    // What the peer declared over the closed link stands while this one lasts; the peer's delta
    // and digest put it right (a digest that does not match asks for a snapshot).
    this.book.pin(peer, resume)
    if (link.sent >= this.logBase) {
      // Both ends remember the closed link: tell the peer what changed since, and a digest that
      // shows whether its copy is whole. A peer that forgot us (it restarted, or its memory of us
      // expired) ignores the delta and asks for a snapshot on the digest.
      if (link.sent !== this.version) {
        const delta = this.deltaSince(link.sent)
        this.sendTopics(peer, false, link.sent, delta.joined, delta.left)
        link.sent = this.version
      }
      this.send(peer, { type: 'digest', version: this.version, count: this.mine.size })
    } else {
      this.sendSnapshot(peer, link, now)
    }
    if (this.digestDue === Infinity) this.digestDue = now + this.config.digestInterval
    if (this.expireDue === Infinity) this.expireDue = now + EXPIRE_INTERVAL
    // A new peer may know members of the topics we asked about in vain.
    if (this.lonely.size > 0) this.queryDue = Math.min(this.queryDue, now + this.config.announceDelay)
    for (const q of this.lonely.values()) q.due = Math.min(q.due, now + this.config.announceDelay)
  }

  private onLinkDown (peer: PI, now: number): void {
    const link = this.links.get(peer)
    if (link === undefined) return
    this.park(peer, link, now)
    this.book.setLinked(peer, false)
    this.book.unpin(peer, now + this.config.interestTtl)
  }

  /** Keep a closed link's versions for `interestTtl` (the peer's topics stay in the book as long). */
  private park (peer: PI, link: LinkState, now: number): void {
    this.links.delete(peer)
    this.dormant.delete(peer)
    this.dormant.set(peer, { sent: link.sent, known: link.known, awaiting: link.awaiting, lastSnapshot: link.lastSnapshot, until: now + this.config.interestTtl })
    if (this.dormant.size > this.config.maxNodes) {
      const [oldest] = this.dormant.keys()
      if (oldest !== undefined) this.dormant.delete(oldest)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  private onMessage (from: PI, message: DiscoveryMessage<PI>, now: number): void {
    if (from === this.me) return
    const link = this.links.get(from)
    switch (message.type) {
      case 'topics':
        if (link !== undefined) this.onTopics(from, link, message, now)
        return
      case 'digest':
        // We keep at most maxTopicsPerNode of a peer's topics: a peer holding more is in step at the cap.
        if (link !== undefined && (message.version !== link.known || Math.min(message.count, this.config.maxTopicsPerNode) !== this.declaredCount(from, link))) {
          // Digests ask again (a lost snapshot page must not leave us waiting forever), but not
          // right after a delta's gap asked.
          link.awaiting = true
          if (now - link.askedAt >= MIN_SNAPSHOT_INTERVAL) this.askSnapshot(from, link, now)
        } else if (link !== undefined) {
          // In step (a link that came back while we waited for a snapshot may be).
          link.awaiting = false
        }
        return
      case 'resync':
        // A peer asking faster than MIN_SNAPSHOT_INTERVAL gets its snapshot when the interval is up.
        if (link !== undefined) link.snapshotDue = Math.max(now, link.lastSnapshot + MIN_SNAPSHOT_INTERVAL)
        if (link !== undefined && link.snapshotDue <= now) this.sendSnapshot(from, link, now)
        else if (link !== undefined) this.resyncDue = Math.min(this.resyncDue, link.snapshotDue)
        return
      case 'query': {
        const named = this.answer(from, message.topics)
        // A newcomer whose link came up before it joined declared its topics in a snapshot (not
        // answered) and asks instead: introduced too, for the topics it declared to us itself.
        if (link !== undefined) {
          for (const [holder, topics] of named) named.set(holder, topics.filter(x => this.book.hasDeclared(from, x) || link.refused?.has(x) === true))
          this.introduce(from, named)
        }
        return
      }
      case 'members':
        this.onMembers(message, now)
    }
  }

  private onTopics (from: PI, link: LinkState, m: Extract<DiscoveryMessage<PI>, { type: 'topics' }>, now: number): void {
    if (m.reset) {
      // The sender's own word replaces all we knew of its topics: what an earlier link declared
      // (ageing since it went) and hearsay.
      this.book.clearInterests(from)
      link.refused = undefined
      link.awaiting = false
      link.inSnapshot = true
    } else if (link.awaiting || m.base !== link.known) {
      // Old news (a replaced link draining what it carried) is ignored; a gap asks for a snapshot.
      if (!link.awaiting && m.version > link.known) {
        link.awaiting = true
        this.askSnapshot(from, link, now)
      }
      return
    }
    link.known = m.version
    this.book.learn(from, undefined, now)
    const added: TopicKey[] = []
    for (const topic of m.joined) {
      if (link.refused?.has(topic) === true) continue
      const result = this.book.declare(from, topic)
      if (result === 'new') this.noteFound(topic)
      if (result === 'new' || result === 'heard') added.push(topic)
      // Refused for want of room in all, not because the peer is at maxTopicsPerNode: counted.
      if (result === 'full' && this.declaredCount(from, link) < this.config.maxTopicsPerNode) (link.refused ??= new Set()).add(topic)
    }
    for (const topic of m.left) {
      if (link.refused?.delete(topic) !== true && this.book.hasDeclared(from, topic)) this.book.removeInterest(from, topic)
    }
    // A snapshot is not answered: the peer has been in those topics for a while, or, if it is new,
    // asks about those in which it knows nobody (a query, answered), and an answer to all of its
    // topics on every new link was a third of discovery's traffic. A change is answered.
    if (m.reset || (link.inSnapshot && m.version === m.base)) return
    link.inSnapshot = false
    // Every linked peer hears of the change; a few of them answer (one random draw per change).
    if (added.length > 0 && (this.links.size <= this.config.changeAnswerers || this.rng.next() * this.links.size < this.config.changeAnswerers)) {
      this.introduce(from, this.answer(from, added))
    }
  }

  /** Topics `peer` declared over `link`, the book's and those it had no room for. */
  private declaredCount (peer: PI, link: LinkState): number {
    return this.book.declaredCount(peer) + (link.refused?.size ?? 0)
  }

  /**
   * Tell the linked members we named to `newcomer` about it in turn. Answers go to the newcomer
   * only: without this, of two members that joined together through the same node, each told of
   * the other before the other had declared itself, neither ever heard of the other (seen in a
   * 3/2 partition: the side without the seed stayed split for the whole cut). One page per member.
   */
  private introduce (newcomer: PI, named: Map<PI, TopicKey[]>): void {
    const addr = this.book.get(newcomer)?.addr
    if (addr === undefined) return
    const node = [{ id: newcomer, addr }]
    for (const [holder, topics] of named) {
      if (!this.links.has(holder)) continue
      const page = new MembersPage<PI>()
      for (const topic of topics) {
        const cost = page.cost(node)
        if (!page.fits(cost, 1, this.config.maxFrameBytes)) break
        page.add(topic, node, cost)
      }
      if (page.topics > 0) this.send(holder, page.message)
    }
  }

  private askSnapshot (peer: PI, link: LinkState, now: number): void {
    link.askedAt = now
    this.send(peer, { type: 'resync' })
  }

  /**
   * An address from the membership protocol. Named in a topic's JOIN, FORWARD_JOIN, SHUFFLE or
   * the like, the node is (or was lately) in that topic: hearsay like a `members` answer, and the
   * way a node that joined early hears of those who joined after it, who were told of it.
   */
  private onLearn (peer: PI, addr: string, topic: TopicKey | undefined, now: number): void {
    if (this.book.learn(peer, addr, now) === undefined || topic === undefined) return
    if (peer === this.me || this.links.has(peer)) return
    if (this.book.addInterest(peer, topic, now + this.config.interestTtl)) this.noteFound(topic)
  }

  private onMembers (m: Extract<DiscoveryMessage<PI>, { type: 'members' }>, now: number): void {
    const expires = now + this.config.interestTtl
    for (let i = 0; i < m.topics.length; i++) {
      const topic = m.topics[i] as TopicKey
      for (const index of m.holders[i] ?? []) {
        const node = m.nodes[index]
        // A linked node tells us its topics itself; hearsay about it adds nothing true.
        if (node === undefined || node.id === this.me || this.links.has(node.id)) continue
        if (this.book.learn(node.id, node.addr, now) === undefined) continue
        if (this.book.addInterest(node.id, topic, expires)) this.noteFound(topic)
      }
    }
  }

  private noteFound (topic: TopicKey): void {
    if (!this.mine.has(topic)) return
    this.found.add(topic)
    this.lonely.delete(topic)
  }

  /**
   * Tell `to` who else wants `topics`, in pages within the budget. Nodes are named once per page
   * and referred to by index; nodes without a known address are useless to `to` and left out.
   * Returns the topics each named node was named for.
   */
  private answer (to: PI, topics: TopicKey[]): Map<PI, TopicKey[]> {
    const c = this.config
    const named = new Map<PI, TopicKey[]>()
    let spent = 0
    let page = new MembersPage<PI>()
    for (const topic of topics) {
      const holders = this.book.holdersOf(topic).filter(id => id !== to && this.book.get(id)?.addr !== undefined)
      if (holders.length === 0) continue
      const chosen = sample(this.rng, holders, Math.min(c.answerPerTopic, wireLimits.maxHolders)).map(id => ({ id, addr: this.book.get(id)?.addr as string }))
      let cost = page.cost(chosen)
      if (!page.fits(cost, chosen.length, c.maxFrameBytes)) {
        if (page.topics > 0) {
          this.send(to, page.message)
          spent += page.bytes
        }
        page = new MembersPage<PI>()
        cost = page.cost(chosen)
        // At a small budget, name as many as fit rather than none.
        while (chosen.length > 1 && !page.fits(cost, chosen.length, c.maxFrameBytes)) {
          chosen.pop()
          cost = page.cost(chosen)
        }
        if (!page.fits(cost, chosen.length, c.maxFrameBytes)) continue
      }
      if (spent + page.bytes + cost > c.maxAnswerBytes) break
      page.add(topic, chosen, cost)
      for (const n of chosen) {
        const list = named.get(n.id)
        if (list === undefined) named.set(n.id, [topic])
        else list.push(topic)
      }
    }
    if (page.topics > 0) this.send(to, page.message)
    return named
  }

  // -------------------------------------------------------------------------------------------
  // Time
  // -------------------------------------------------------------------------------------------

  private onTick (now: number): void {
    // The driver's timer fired: whatever is due next gets a fresh one.
    this.tickAt = Infinity
    // Real timers may fire a millisecond before the deadline: what is due within the slack is due.
    const at = now + TIMER_SLACK
    if (at >= this.announceDue) this.announce()
    if (at >= this.resyncDue) {
      this.resyncDue = Infinity
      for (const [peer, link] of this.links) {
        if (link.snapshotDue <= at) this.sendSnapshot(peer, link, now)
        else if (link.snapshotDue < this.resyncDue) this.resyncDue = link.snapshotDue
      }
    }
    if (at >= this.digestDue) {
      this.digestDue = this.links.size > 0 ? now + this.config.digestInterval : Infinity
      // A link with a delta still to come would read the digest as a gap and ask for a snapshot.
      for (const [peer, link] of this.links) if (link.sent === this.version) this.send(peer, { type: 'digest', version: this.version, count: this.mine.size })
    }
    if (at >= this.expireDue) {
      this.expireDue = this.links.size > 0 || this.dormant.size > 0 || this.book.interestCount > 0 ? now + EXPIRE_INTERVAL : Infinity
      this.book.evictExpired(now)
      for (const [peer, kept] of this.dormant) {
        if (kept.until > now) break
        this.dormant.delete(peer)
      }
      // An interest that expired may leave a topic of ours with nobody known.
      for (const topic of this.mine) {
        if (!this.lonely.has(topic) && this.book.interestCountOf(topic) === 0) this.markLonely(topic, now)
      }
    }
    if (at >= this.queryDue) this.query(now, at)
  }

  private markLonely (topic: TopicKey, due: number): void {
    this.lonely.set(topic, { due, backoff: this.config.queryBackoffMin })
    if (due < this.queryDue) this.queryDue = due
  }

  /** Ask a few linked peers and seeds about the topics in which we know nobody and whose turn it is. */
  private query (now: number, at: number): void {
    const c = this.config
    const ask: TopicKey[] = []
    let next = Infinity
    // One jitter per round: topics asked together stay together (a jitter per topic scattered
    // 1,000 lonely topics into ~1,000 queries a round).
    let jitter: number | undefined
    for (const [topic, q] of this.lonely) {
      if (this.book.interestCountOf(topic) > 0) {
        this.lonely.delete(topic)
        continue
      }
      if (q.due <= at) {
        ask.push(topic)
        jitter ??= 0.75 + 0.5 * this.rng.next()
        q.due = now + Math.round(q.backoff * jitter)
        q.backoff = Math.min(q.backoff * 2, c.queryBackoffMax)
      }
      if (q.due < next) next = q.due
    }
    this.queryDue = next
    if (ask.length === 0) return
    const linked = sample(this.rng, [...this.links.keys()], c.queryFanout)
    const seeds = sample(this.rng, [...this.seeds].filter(s => !this.links.has(s)), c.queryFanout)
    const perPage = topicsPerPage(c.maxFrameBytes)
    for (const peer of [...linked, ...seeds]) {
      for (let i = 0; i < ask.length; i += perPage) this.send(peer, { type: 'query', topics: ask.slice(i, i + perPage) })
    }
  }

  private scheduleTick (now: number): void {
    const due = Math.min(this.announceDue, this.resyncDue, this.digestDue, this.expireDue, this.queryDue)
    if (due === Infinity || due >= this.tickAt) return
    this.tickAt = due
    this.out.push({ type: 'schedule', after: Math.max(0, due - now) })
  }

  private send (to: PI, message: DiscoveryMessage<PI>): void {
    this.out.push({ type: 'send', to, message })
  }
}

/** Topic keys that fit one message of `budget` bytes. */
function topicsPerPage (budget: number): number {
  return Math.max(1, Math.min(wireLimits.maxTopics, Math.floor((budget - MESSAGE_OVERHEAD) / TOPIC_KEY_BYTES)))
}

/** A `members` message being filled, with its size so far. */
class MembersPage<PI> {
  readonly message: Extract<DiscoveryMessage<PI>, { type: 'members' }> = { type: 'members', nodes: [], topics: [], holders: [] }
  bytes = MESSAGE_OVERHEAD
  private readonly index = new Map<PI, number>()

  get topics (): number { return this.message.topics.length }

  /** What naming `nodes` for one more topic adds: the topic, the indexes, the nodes not named yet. */
  cost (nodes: Array<NodeAddr<PI>>): number {
    let cost = TOPIC_KEY_BYTES + HEADER_COST + nodes.length * INDEX_COST
    for (const n of nodes) if (!this.index.has(n.id)) cost += HEADER_COST + ID_COST + HEADER_COST + Buffer.byteLength(n.addr)
    return cost
  }

  fits (cost: number, nodes: number, budget: number): boolean {
    return this.bytes + cost <= budget &&
      this.message.topics.length < wireLimits.maxTopics &&
      this.message.nodes.length + nodes <= wireLimits.maxDiscoveryNodes
  }

  add (topic: TopicKey, nodes: Array<NodeAddr<PI>>, cost: number): void {
    const refs: number[] = []
    for (const n of nodes) {
      let i = this.index.get(n.id)
      if (i === undefined) {
        i = this.message.nodes.length
        this.index.set(n.id, i)
        this.message.nodes.push(n)
      }
      refs.push(i)
    }
    this.message.topics.push(topic)
    this.message.holders.push(refs)
    this.bytes += cost
  }
}
