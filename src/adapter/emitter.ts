/**
 * An emitter: for a process that is not a Socket.IO server (a worker, a cron job) to emit to the
 * cluster's rooms, as `@socket.io/redis-emitter` does for the Redis adapter, with the same API.
 *
 * It joins the cluster as a gossip node that holds no sockets. Its messages are the adapter's own
 * cluster messages (the same envelope, the same encoding) marked as an emitter's, so servers
 * deliver them as they deliver another server's but never ping the emitter, never count it in
 * `serverCount()` and never wait for it in `fetchSockets()`. It sends no heartbeats and asks for
 * nothing back: no acks, no `fetchSockets`, no `serverSideEmitWithAck`.
 *
 * Order: each namespace's messages are numbered, like a server's, so every server delivers them in
 * the order they were emitted. A number is taken only once a message is handed to the overlay (and
 * a message too large is refused before it takes one), so servers never wait for a number that
 * will not come.
 */
import { randomBytes } from 'node:crypto'
import { MessageType } from 'socket.io-adapter'
import type { Room } from 'socket.io-adapter'
import type { DefaultEventsMap } from 'socket.io'
import type { GossipApi, GossipHandle } from '../core/api.js'
import { ClosedError, GossipError, MessageTooLargeError } from '../core/errors.js'
import { decodeEnvelope, encodeMessage, encodeOptions } from './envelope.js'
import type { EmitterMessage } from './envelope.js'
import { adapterTopic } from './gossip-adapter.js'
import { leaseFor, limitOf } from './node-lease.js'
import type { NodeLease } from './node-lease.js'
import { resolveEmitterOptions } from './options.js'
import type { CreateEmitterOptions, EmitterOptions, ResolvedEmitterOptions } from './options.js'

/** Any map of event names to listener signatures, as Socket.IO types them. */
export interface EventsMap {
  [event: string]: any
}
export type EventNames<Map extends EventsMap> = keyof Map & string
export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>

export interface BroadcastFlags {
  volatile?: boolean
  compress?: boolean
}

/** Event names a client's socket reserves (Socket.IO refuses to emit them). */
const RESERVED_EVENTS: ReadonlySet<string> = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'])
/** Event names a namespace reserves (Socket.IO refuses them in `serverSideEmit`; servers drop them in any message). */
const RESERVED_SERVER_EVENTS: ReadonlySet<string> = new Set(['connect', 'connection', 'new_namespace'])
/**
 * Messages kept per namespace while the emitter's node is still starting. Past it `emit` throws
 * ERR_GOSSIP_QUEUE_FULL: a node that cannot reach the cluster must not grow memory without end.
 */
const MAX_WAITING = 1_024

interface Channel {
  nsp: string
  topic: string
  /** Next sequence number: the count of messages handed to the overlay. */
  seq: number
  node: GossipApi | undefined
  handle: GossipHandle | undefined
  /** Messages emitted before the handle was there, encoded now as a snapshot of their arguments. */
  waiting: Uint8Array[]
  /** Settles (never rejects) once the handle is there or could not be had. */
  opened: Promise<void>
}

function invalid (why: string, cause?: unknown): GossipError {
  return new GossipError('ERR_GOSSIP_INVALID_MESSAGE', `socket.io emitter: ${why}`, cause === undefined ? undefined : { cause })
}

function checkRoom (room: unknown): Room {
  if (typeof room === 'string' || (typeof room === 'number' && Number.isFinite(room))) return room as Room
  throw invalid(`a room is a string (or a finite number), got ${typeof room}`)
}

function roomList (rooms: unknown): Room[] {
  return Array.isArray(rooms) ? rooms.map(checkRoom) : [checkRoom(rooms)]
}

function checkEvent (ev: unknown, args: unknown[], reserved: ReadonlySet<string>): void {
  if (typeof ev !== 'string') throw invalid(`an event name is a string, got ${typeof ev}`)
  if (reserved.has(ev) || RESERVED_SERVER_EVENTS.has(ev)) throw invalid(`"${ev}" is a reserved event name`)
  if (typeof args[args.length - 1] === 'function') {
    throw invalid('acknowledgements are not supported: an emitter is not a server and receives no answer')
  }
}

/**
 * What every Emitter and EmitterBroadcastOperator of one `createEmitter` shares: the node, the
 * uid, the numbering. Exported for the declarations only; not part of the API.
 */
export class Transmitter {
  readonly uid = randomBytes(8).toString('hex')
  private readonly channels = new Map<string, Channel>()
  private readonly inFlight = new Set<Promise<void>>()
  private limit: number | undefined
  /** Why the node or a topic could not be had: every later emit throws it. */
  private failure: unknown
  private closing: Promise<void> | undefined

  constructor (readonly lease: NodeLease, private readonly options: ResolvedEmitterOptions) {
    // Spawned now, so that the node is in the cluster by the time the process has something to emit.
    lease.acquire().then(node => { this.limit ??= limitOf(node) }, (err: unknown) => { this.failure ??= err })
  }

  /** Numbers, encodes and publishes one message to the servers of namespace `nsp`. */
  send (nsp: string, type: EmitterMessage['type'], data?: unknown): void {
    if (this.closing !== undefined) throw new ClosedError('socket.io emitter')
    if (this.failure !== undefined) throw this.failure
    const message = { uid: this.uid, nsp, type, data, emitter: true } as EmitterMessage
    if (data === undefined) delete (message as { data?: unknown }).data
    const channel = this.channel(nsp)
    if (channel.handle !== undefined) {
      this.publish(channel, message)
      return
    }
    if (channel.waiting.length >= MAX_WAITING) {
      throw new GossipError('ERR_GOSSIP_QUEUE_FULL', `socket.io emitter: ${MAX_WAITING} messages are waiting for the gossip node to start`)
    }
    // Numbered once the handle is there; encoded now so that later changes to the arguments do not show.
    channel.waiting.push(this.encode(0, message))
  }

  private encode (seq: number, message: EmitterMessage): Uint8Array {
    let bytes: Uint8Array
    try {
      bytes = encodeMessage(seq, message)
    } catch (err) {
      throw invalid('the arguments cannot be encoded (MessagePack)', err)
    }
    if (this.limit !== undefined && bytes.length > this.limit) throw new MessageTooLargeError(bytes.length, this.limit)
    return bytes
  }

  private publish (channel: Channel, message: EmitterMessage): void {
    const bytes = this.encode(channel.seq, message)
    channel.seq++
    const sent = channel.handle!.publish(bytes).catch((err: unknown) => {
      if (err instanceof ClosedError) return
      if (err instanceof MessageTooLargeError) this.limit = err.limit
      // The number is lost: each server waits for it up to its reorderTimeout, then goes on.
      this.options.logger.warn({ err, nsp: channel.nsp }, 'socket.io emitter: a message could not be published')
    })
    this.inFlight.add(sent)
    void sent.then(() => { this.inFlight.delete(sent) })
  }

  private channel (nsp: string): Channel {
    let channel = this.channels.get(nsp)
    if (channel !== undefined) return channel
    channel = { nsp, topic: adapterTopic(this.options.key, nsp), seq: 0, node: undefined, handle: undefined, waiting: [], opened: Promise.resolve() }
    this.channels.set(nsp, channel)
    channel.opened = this.open(channel)
    return channel
  }

  private async open (channel: Channel): Promise<void> {
    try {
      const node = await this.lease.current()
      this.limit ??= limitOf(node)
      channel.handle = await node.stream(channel.topic)
      channel.node = node
    } catch (err) {
      this.failure ??= err
      if (channel.waiting.length > 0) this.options.logger.error({ err, nsp: channel.nsp, dropped: channel.waiting.length }, 'socket.io emitter: could not join the cluster, messages dropped')
      channel.waiting.length = 0
      return
    }
    for (const snapshot of channel.waiting.splice(0)) {
      try {
        const envelope = decodeEnvelope(snapshot)
        if (envelope.kind === 'message') this.publish(channel, envelope.message as EmitterMessage)
      } catch (err) {
        // Too large for the node, learnt only now that it is there.
        this.options.logger.warn({ err, nsp: channel.nsp }, 'socket.io emitter: a message could not be published')
      }
    }
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    const channels = [...this.channels.values()]
    await Promise.all(channels.map(async channel => { await channel.opened }))
    await Promise.all(channels.map(async channel => {
      if (channel.handle === undefined) return
      // What was emitted before the node had a neighbour is held by the node until it has one.
      if (channel.seq > 0 && !await this.reachesCluster(channel)) {
        this.options.logger.warn({ nsp: channel.nsp, timeout: this.options.closeTimeout }, 'socket.io emitter: closed before reaching any server, messages dropped')
        return
      }
      // The goodbye lets servers forget this emitter now rather than when its node leaves the topic.
      if (channel.seq > 0) this.publish(channel, { uid: this.uid, nsp: channel.nsp, type: MessageType.ADAPTER_CLOSE, emitter: true } as EmitterMessage)
    }))
    await Promise.all(this.inFlight)
    await Promise.all(channels.map(async channel => { await channel.handle?.close().catch(() => {}) }))
    await this.lease.release()
  }

  /** Whether the channel's topic has a neighbour, waiting at most `closeTimeout` for one. */
  private async reachesCluster ({ node, handle }: Channel): Promise<boolean> {
    if (handle!.neighbours().length > 0) return true
    let events: ReturnType<GossipApi['events']>
    try {
      events = node!.events()
    } catch {
      // A node given to the emitter may have been closed first: nothing can go out any more.
      return false
    }
    const timer = setTimeout(() => { events.close() }, this.options.closeTimeout)
    try {
      if (handle!.neighbours().length > 0) return true
      for await (const event of events) {
        if (event.type !== 'lagged' && event.topic === handle!.topic && (event.type === 'joined' || event.type === 'neighbourUp')) return true
      }
      return false
    } finally {
      clearTimeout(timer)
      events.close()
    }
  }
}

/**
 * A set of rooms to emit to (or act on), excluded rooms and flags. Immutable: `to`, `except`,
 * `volatile` and `compress` return a new operator.
 */
export class EmitterBroadcastOperator<EmitEvents extends EventsMap = DefaultEventsMap> {
  /** @internal */
  constructor (
    private readonly transmitter: Transmitter,
    private readonly nsp: string,
    private readonly rooms: ReadonlySet<Room> = new Set(),
    private readonly exceptRooms: ReadonlySet<Room> = new Set(),
    private readonly flags: Readonly<BroadcastFlags> = {}
  ) {}

  /** Targets a room (or rooms) when emitting: a new operator. */
  to (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    const rooms = new Set(this.rooms)
    for (const r of roomList(room)) rooms.add(r)
    return new EmitterBroadcastOperator(this.transmitter, this.nsp, rooms, this.exceptRooms, this.flags)
  }

  /** Same as `to`. */
  in (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    return this.to(room)
  }

  /** Excludes a room (or rooms) when emitting: a new operator. */
  except (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    const exceptRooms = new Set(this.exceptRooms)
    for (const r of roomList(room)) exceptRooms.add(r)
    return new EmitterBroadcastOperator(this.transmitter, this.nsp, this.rooms, exceptRooms, this.flags)
  }

  /** Sets the compress flag: a new operator. */
  compress (compress: boolean): EmitterBroadcastOperator<EmitEvents> {
    if (typeof compress !== 'boolean') throw invalid('compress takes a boolean')
    return new EmitterBroadcastOperator(this.transmitter, this.nsp, this.rooms, this.exceptRooms, { ...this.flags, compress })
  }

  /** The event may be lost for a client that is not ready to receive it: a new operator. */
  get volatile (): EmitterBroadcastOperator<EmitEvents> {
    return new EmitterBroadcastOperator(this.transmitter, this.nsp, this.rooms, this.exceptRooms, { ...this.flags, volatile: true })
  }

  /**
   * Emits to the matching clients on every server. Throws (GossipError) on a reserved event name,
   * an acknowledgement callback, arguments too large for the overlay or an emitter that is closed.
   */
  emit<Ev extends EventNames<EmitEvents>> (ev: Ev, ...args: EventParams<EmitEvents, Ev>): true {
    checkEvent(ev, args, RESERVED_EVENTS)
    const packet = { type: 2, data: [ev, ...args], nsp: this.nsp }
    this.transmitter.send(this.nsp, MessageType.BROADCAST, { packet, opts: this.options() })
    return true
  }

  /** Makes the matching sockets, on every server, join `rooms`. */
  socketsJoin (rooms: Room | Room[]): void {
    this.transmitter.send(this.nsp, MessageType.SOCKETS_JOIN, { opts: this.options(), rooms: roomList(rooms) })
  }

  /** Makes the matching sockets, on every server, leave `rooms`. */
  socketsLeave (rooms: Room | Room[]): void {
    this.transmitter.send(this.nsp, MessageType.SOCKETS_LEAVE, { opts: this.options(), rooms: roomList(rooms) })
  }

  /** Disconnects the matching sockets on every server; `close` closes their underlying connection too. */
  disconnectSockets (close = false): void {
    if (typeof close !== 'boolean') throw invalid('disconnectSockets takes a boolean')
    this.transmitter.send(this.nsp, MessageType.DISCONNECT_SOCKETS, { opts: this.options(), close })
  }

  private options (): ReturnType<typeof encodeOptions> {
    return encodeOptions({ rooms: new Set(this.rooms), except: new Set(this.exceptRooms), flags: { ...this.flags } })
  }
}

/**
 * Emits to a Socket.IO cluster from a process that is not one of its servers. Made by
 * `createEmitter` for the main namespace; `of(nsp)` gives the one of another namespace (sharing
 * the node). Every method but `node()` and `close()` returns at once; what it sends reaches every
 * server (in the order emitted) once the emitter's node is in the cluster.
 */
export class Emitter<EmitEvents extends EventsMap = DefaultEventsMap, ServerSideEvents extends EventsMap = DefaultEventsMap> {
  /** @internal */
  constructor (private readonly transmitter: Transmitter, readonly nsp: string = '/') {}

  /** The emitter of namespace `nsp` (a leading "/" may be left out). */
  of (nsp: string): Emitter<EmitEvents, ServerSideEvents> {
    if (typeof nsp !== 'string') throw invalid(`a namespace is a string, got ${typeof nsp}`)
    return new Emitter(this.transmitter, nsp.startsWith('/') ? nsp : `/${nsp}`)
  }

  /** Emits to every client of the namespace on every server. */
  emit<Ev extends EventNames<EmitEvents>> (ev: Ev, ...args: EventParams<EmitEvents, Ev>): true {
    return this.operator().emit(ev, ...args)
  }

  to (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    return this.operator().to(room)
  }

  in (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    return this.operator().in(room)
  }

  except (room: Room | Room[]): EmitterBroadcastOperator<EmitEvents> {
    return this.operator().except(room)
  }

  get volatile (): EmitterBroadcastOperator<EmitEvents> {
    return this.operator().volatile
  }

  compress (compress: boolean): EmitterBroadcastOperator<EmitEvents> {
    return this.operator().compress(compress)
  }

  socketsJoin (rooms: Room | Room[]): void {
    this.operator().socketsJoin(rooms)
  }

  socketsLeave (rooms: Room | Room[]): void {
    this.operator().socketsLeave(rooms)
  }

  disconnectSockets (close = false): void {
    this.operator().disconnectSockets(close)
  }

  /**
   * Emits to the `serverSideEmit` listeners (`io.on(ev, ...)`) of every server. Without
   * acknowledgement: an emitter receives no answer, so a callback throws.
   */
  serverSideEmit<Ev extends EventNames<ServerSideEvents>> (ev: Ev, ...args: EventParams<ServerSideEvents, Ev>): void {
    checkEvent(ev, args, RESERVED_SERVER_EVENTS)
    this.transmitter.send(this.nsp, MessageType.SERVER_SIDE_EMIT, { packet: [ev, ...args] })
  }

  /** The gossip node in use (spawned by `createEmitter` unless one was given). Rejects if it could not start. */
  node (): Promise<GossipApi> {
    return this.transmitter.lease.current()
  }

  /**
   * Closes the emitter, every namespace of it: what was emitted goes out first (waiting at most
   * `closeTimeout` for the node to reach the cluster), then it says goodbye so that servers forget
   * it at once, leaves the cluster's topics, and closes the node if it spawned it. Later calls
   * throw ERR_GOSSIP_CLOSED. Idempotent.
   */
  close (): Promise<void> {
    return this.transmitter.close()
  }

  private operator (): EmitterBroadcastOperator<EmitEvents> {
    return new EmitterBroadcastOperator(this.transmitter, this.nsp)
  }
}

const EMITTER_ONLY_OPTIONS: ReadonlyArray<keyof EmitterOptions> = ['key', 'closeTimeout']

/**
 * An emitter for the main namespace of the cluster named `key`. Options are checked now,
 * synchronously (ERR_GOSSIP_INVALID_OPTION, naming the option); a node to spawn is started at once.
 */
export function createEmitter<EmitEvents extends EventsMap = DefaultEventsMap, ServerSideEvents extends EventsMap = DefaultEventsMap> (
  options: CreateEmitterOptions
): Emitter<EmitEvents, ServerSideEvents> {
  const resolved = resolveEmitterOptions(options)
  const transmitter = new Transmitter(leaseFor(options, EMITTER_ONLY_OPTIONS), resolved)
  return new Emitter(transmitter)
}
