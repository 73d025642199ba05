/**
 * Room routing, the sending side of sequence numbers: a server numbers all its messages in one
 * sequence, and with routing on a node is sent only some of them. So that the receiver does not
 * wait for numbers that will never come (see SenderOrder's `from`), each routed message says which
 * earlier numbers were not sent to its receiver: a direct message the last number sent to that
 * node; an overlay message, which every node gets, the last number sent to all (`base`) and the
 * nodes sent something directly since, each with its last number. When a node was last sent
 * something is kept too, so that a node this server has nothing for still hears from it before
 * the heartbeat timeout.
 */
import type { NodeId } from '../core/api.js'
import { nodePrefix } from './envelope.js'
import type { RouteSkip } from './envelope.js'

export class RouteChain {
  /** The last number sent to every node (an overlay message), -1 before any. */
  private base = -1
  /** Nodes sent a message directly since the last overlay message: the last number sent. */
  private readonly last = new Map<NodeId, number>()
  /** When each node was last sent anything directly, ms. */
  private readonly lastAt = new Map<NodeId, number>()
  private overlayAt = -Infinity
  /** The last number routed (-1 before any). */
  private latest = -1

  /** `seq` goes directly to `node`: what it says that node was not sent. */
  direct (seq: number, node: NodeId, now: number): number {
    if (seq > this.latest) this.latest = seq
    const prev = this.last.get(node) ?? this.base
    this.last.set(node, seq)
    this.lastAt.set(node, now)
    return prev
  }

  /** The last number sent to `node` so far. */
  lastTo (node: NodeId): number {
    return this.last.get(node) ?? this.base
  }

  /** `seq` goes through the overlay to every node. */
  overlay (seq: number, now: number): RouteSkip {
    if (seq > this.latest) this.latest = seq
    const skip: RouteSkip = [this.base, [...this.last].map(([node, prev]) => [nodePrefix(node), prev])]
    this.base = seq
    this.last.clear()
    this.overlayAt = now
    return skip
  }

  /** Of `nodes`, those sent nothing since `since` (ms). */
  silentSince (nodes: Iterable<NodeId>, since: number): NodeId[] {
    if (this.overlayAt >= since) return []
    const silent: NodeId[] = []
    for (const node of nodes) if ((this.lastAt.get(node) ?? -Infinity) < since) silent.push(node)
    return silent
  }

  /** Whether one of `nodes` was not sent the last number routed (it does not know it was numbered). */
  behind (nodes: Iterable<NodeId>): boolean {
    for (const node of nodes) if (this.lastTo(node) < this.latest) return true
    return false
  }

  /** A node that is gone: forgetting it bounds the maps (if it returns, `base` is what it is told). */
  forget (node: NodeId): void {
    this.last.delete(node)
    this.lastAt.delete(node)
  }
}

/** What a routed envelope's `skip` says about the receiving node: the last earlier number it was sent. */
export function skippedUpTo (skip: RouteSkip, node: NodeId): number {
  if (typeof skip === 'number') return skip
  const prefix = nodePrefix(node)
  for (const [p, prev] of skip[1]) if (p === prefix) return prev
  return skip[0]
}
