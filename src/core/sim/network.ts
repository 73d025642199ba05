/**
 * The simulated network between nodes 0..n-1: per-pair latency, optional loss, partitions, and
 * the connection state each end believes in.
 *
 * Links behave like TCP connections. Each connection has an epoch. Each end keeps its own view of
 * the link (which epoch, open or not) because the two ends learn about a close at different times:
 * the closer knows at once, the other end only when the close reaches it. A message travels on the
 * sender's epoch and is dropped if the receiving end has already closed that epoch; that is how
 * data written into a connection the other side just closed is lost in reality too.
 */
import { mix32 } from './seed-streams.js'

export interface LinkEnd {
  epoch: number
  open: boolean
}

export interface NetworkOptions {
  seed: number
  /** Latency bounds in ms; each unordered pair gets one value, uniform in [min, max]. */
  latency: { min: number, max: number }
  /** Probability that a message is lost. */
  loss: number
  /**
   * How long until the surviving end notices a dead peer or a cut link, ms. `'latency'` uses the
   * pair's latency, as a TCP reset would.
   */
  failureDelay: number | 'latency'
}

export class Network {
  private readonly ends: Array<Map<number, LinkEnd>> = []
  private groups: Int32Array | undefined
  private nextEpoch = 1
  private readonly seed: number
  private readonly minLatency: number
  private readonly latencySpan: number
  readonly loss: number
  private readonly failure: number | 'latency'

  constructor (options: NetworkOptions) {
    this.seed = mix32(options.seed >>> 0)
    this.minLatency = options.latency.min
    this.latencySpan = options.latency.max - options.latency.min
    this.loss = options.loss
    this.failure = options.failureDelay
  }

  /** Registers node `id` (ids are dense, from 0). */
  addNode (id: number): void {
    this.ends[id] = new Map()
    if (this.groups !== undefined && id >= this.groups.length) {
      // A node that arrives during a partition lands in the first group.
      const grown = new Int32Array(Math.max(id + 1, this.groups.length * 2))
      grown.set(this.groups)
      this.groups = grown
    }
  }

  /**
   * Latency of the unordered pair {a, b}, in whole ms. It is a hash of the run seed and the pair,
   * i.e. sampled once per pair without storing anything, and the same in both directions, which
   * together with the (time, sequence) order keeps every directed link FIFO.
   */
  latency (a: number, b: number): number {
    const lo = a < b ? a : b
    const hi = a < b ? b : a
    const h = mix32(mix32(this.seed ^ Math.imul(lo, 0x85ebca6b)) ^ Math.imul(hi, 0xc2b2ae35))
    return this.minLatency + Math.floor((h / 4294967296) * (this.latencySpan + 1))
  }

  failureDelay (a: number, b: number): number {
    return this.failure === 'latency' ? this.latency(a, b) : this.failure
  }

  /** The link state `node` believes it has with `peer`. */
  end (node: number, peer: number): LinkEnd | undefined {
    return this.ends[node]?.get(peer)
  }

  /** Every link end of `node` (open or remembered closed). */
  endsOf (node: number): ReadonlyMap<number, LinkEnd> {
    return this.ends[node] ?? new Map()
  }

  /** The epoch `node` sends on to reach `peer`, dialing a new connection if none is open. */
  dial (node: number, peer: number): number {
    const map = this.ends[node] as Map<number, LinkEnd>
    const end = map.get(peer)
    if (end !== undefined && end.open) return end.epoch
    const epoch = this.nextEpoch++
    if (end === undefined) map.set(peer, { epoch, open: true })
    else { end.epoch = epoch; end.open = true }
    return epoch
  }

  /**
   * A message of `epoch` from `peer` reached `node`: returns whether it is accepted. A newer epoch
   * than the one `node` knows is an incoming connection (replacing an older one); an older or
   * already closed epoch is a connection `node` has hung up on.
   */
  accept (node: number, peer: number, epoch: number): boolean {
    const map = this.ends[node] as Map<number, LinkEnd>
    const end = map.get(peer)
    if (end === undefined) {
      map.set(peer, { epoch, open: true })
      return true
    }
    if (end.epoch === epoch) return end.open
    if (end.epoch > epoch) return false
    end.epoch = epoch
    end.open = true
    return true
  }

  /**
   * Closes `node`'s end of the connection `epoch` to `peer`. Returns true if that end was open,
   * i.e. `node` had a live link that is now gone and must be told.
   */
  close (node: number, peer: number, epoch: number): boolean {
    const map = this.ends[node] as Map<number, LinkEnd>
    const end = map.get(peer)
    if (end === undefined) {
      // The connection's first message has not arrived yet: remember it as closed so it is dropped.
      map.set(peer, { epoch, open: false })
      return false
    }
    if (end.epoch > epoch) return false
    const wasOpen = end.open
    end.epoch = epoch
    end.open = false
    return wasOpen
  }

  /** Closes `node`'s end to `peer` on its own initiative; returns the epoch closed, if it was open. */
  hangUp (node: number, peer: number): number | undefined {
    const end = this.ends[node]?.get(peer)
    if (end === undefined || !end.open) return undefined
    end.open = false
    return end.epoch
  }

  /** Forgets a dead node's ends (its peers keep theirs until they learn of the death). */
  drop (node: number): void {
    this.ends[node] = new Map()
  }

  /**
   * Cuts the network: nodes in different groups cannot reach each other. Nodes not listed form one
   * more group together.
   */
  partition (groups: ReadonlyArray<readonly number[]>, nodeCount: number): void {
    const g = new Int32Array(nodeCount).fill(groups.length)
    groups.forEach((members, i) => {
      for (const m of members) g[m] = i
    })
    this.groups = g
  }

  mend (): void {
    this.groups = undefined
  }

  get partitioned (): boolean {
    return this.groups !== undefined
  }

  reachable (a: number, b: number): boolean {
    const g = this.groups
    return g === undefined || g[a] === g[b]
  }
}
