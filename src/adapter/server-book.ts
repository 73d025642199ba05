/**
 * Which gossip node each Socket.IO server (uid) lives on, and whether that node has answered for it.
 *
 * A uid is bound to the node of the first well-formed envelope about it; from then on envelopes
 * about it are accepted from that node only, so another node cannot close it, speak for it, answer
 * in its name or move its sequence numbers. A node may host several uids (several Socket.IO
 * servers, or namespaces, on one node). A server is `pending` until its node answers a ping (only
 * then does it count in `serverCount()`), `live` while it counts, `departed` once it said goodbye or
 * its node left the topic (its later messages are ignored). The binding outlives the server's
 * time in `serverCount()`: one that timed out and comes back is still bound to its node.
 *
 * An emitter (a process that emits to the cluster but is no server) is bound the same way, as an
 * `emitter`: it never counts, is never pinged, and a uid bound as one role is refused as the other,
 * so a server cannot be made to look like an emitter or the reverse.
 *
 * Bounded: live servers are all kept (each answered a ping); of the others (pending, departed, or
 * live once) the least recently bound are forgotten past `capacity`, with `evicted` called so the
 * adapter can drop what it holds for them.
 */
import type { ServerId } from 'socket.io-adapter'
import type { NodeId } from '../core/api.js'

export type ServerState = 'pending' | 'live' | 'departed' | 'emitter'

export type SenderRole = 'server' | 'emitter'

interface Entry {
  node: NodeId
  role: SenderRole
  state: ServerState
}

export class ServerBook {
  /** In binding order (a successful claim moves an entry to the end): the front is evicted first. */
  private readonly entries = new Map<ServerId, Entry>()
  /** The live servers and their nodes: read on every publish, so kept apart from the rest. */
  private readonly live = new Map<ServerId, NodeId>()
  /** The nodes of `live`, made again only after it changed (read on every publish). */
  private nodes: ReadonlySet<NodeId> | undefined

  constructor (private readonly capacity: number, private readonly evicted: (uid: ServerId) => void) {}

  nodeOf (uid: ServerId): NodeId | undefined {
    return this.entries.get(uid)?.node
  }

  state (uid: ServerId): ServerState | undefined {
    return this.entries.get(uid)?.state
  }

  /**
   * An envelope about `uid` came from `node`: true if `uid` is bound to `node` in that role (binding
   * it now if it was unknown, a server as `pending`, an emitter as `emitter`), false if it is bound
   * to another node or in the other role.
   */
  claim (uid: ServerId, node: NodeId, role: SenderRole = 'server'): boolean {
    const entry = this.entries.get(uid)
    if (entry !== undefined) {
      if (entry.node !== node || entry.role !== role) return false
      // A live server is never evicted, so where it stands does not matter until it stops being
      // live (then `set` moves it to the end); not moving it spares a delete and an insert on
      // every message received.
      if (entry.state !== 'live') {
        this.entries.delete(uid)
        this.entries.set(uid, entry)
      }
      return true
    }
    this.entries.set(uid, { node, role, state: role === 'emitter' ? 'emitter' : 'pending' })
    this.trim()
    return true
  }

  set (uid: ServerId, state: ServerState): void {
    const entry = this.entries.get(uid)
    if (entry === undefined || entry.state === state) return
    this.nodes = undefined
    if (state === 'live') this.live.set(uid, entry.node)
    else if (this.live.delete(uid)) {
      // Heard from until now: the most recently bound of the others.
      this.entries.delete(uid)
      this.entries.set(uid, entry)
    }
    entry.state = state
    this.trim()
  }

  /** Servers bound to `node`. */
  uidsOf (node: NodeId): ServerId[] {
    const uids: ServerId[] = []
    for (const [uid, entry] of this.entries) if (entry.node === node) uids.push(uid)
    return uids
  }

  /** The live servers and their nodes. */
  liveServers (): ReadonlyMap<ServerId, NodeId> {
    return this.live
  }

  /** Nodes hosting at least one live server (the same set until one changes: do not modify it). */
  liveNodes (): ReadonlySet<NodeId> {
    this.nodes ??= new Set(this.live.values())
    return this.nodes
  }

  /** How many servers are in `state`. */
  count (state: ServerState): number {
    if (state === 'live') return this.live.size
    let n = 0
    for (const entry of this.entries.values()) if (entry.state === state) n++
    return n
  }

  private trim (): void {
    if (this.entries.size - this.live.size <= this.capacity) return
    for (const [uid, entry] of this.entries) {
      if (entry.state === 'live') continue
      this.entries.delete(uid)
      this.evicted(uid)
      if (this.entries.size - this.live.size <= this.capacity) return
    }
  }
}
