/**
 * `grapevine-gossip/browser`: a dependency-free client for the plugin's WebSocket bridge. It runs in
 * browsers (and in Node with any WHATWG-style WebSocket, such as the `ws` package).
 *
 *   const gv = connect('wss://example.com/gossip')
 *   gv.subscribe('room:42', msg => console.log(msg.data))
 *   await gv.publish('room:42', 'hello')
 *
 * It reconnects with exponential backoff and re-subscribes on its own. Publishes made while
 * disconnected wait in a bounded queue; a publish in flight when the link drops is rejected
 * (the bridge is ephemeral: nothing is replayed).
 */

/** The subset of the WebSocket API this client uses. */
export interface WebSocketLike {
  readonly readyState: number
  binaryType: string
  send (data: string | ArrayBufferView | ArrayBuffer): void
  close (code?: number, reason?: string): void
  // The handlers take `any`: the DOM's WebSocket and the `ws` package pass richer event types than
  // the fields read here (`code`, `reason`, `data`), and a narrower parameter would make neither
  // class fit without a cast.
  onopen: ((event: any) => void) | null
  onclose: ((event: any) => void) | null
  onmessage: ((event: any) => void) | null
  onerror: ((event: any) => void) | null
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface ConnectOptions {
  /** WebSocket implementation; default the global one. */
  WebSocket?: WebSocketConstructor
  /** Backoff between reconnection attempts, ms; `false` never reconnects. Default 250 to 10 000. */
  reconnect?: false | { minDelay?: number, maxDelay?: number }
  /** Publishes kept while disconnected. Default 256. */
  queueLimit?: number
  /** Messages a subscription without a callback keeps for its iterator; older ones are dropped. Default 1024. */
  bufferSize?: number
}

export interface BridgeMessage {
  topic: string
  /** A string for text payloads, bytes for anything that is not UTF-8 (or with format 'binary'). */
  data: string | Uint8Array
  /** Node id of the instance the message was published on. */
  origin: string
}

export interface ServerError {
  code: string
  reason: string
  topic?: string
}

export class BridgeError extends Error {
  constructor (readonly code: string, reason: string, readonly topic?: string) {
    super(reason)
    this.name = 'BridgeError'
  }
}

type Listener<T> = (value: T) => void
interface ClientEvents {
  open: undefined
  close: { code: number, reason: string }
  reconnecting: { attempt: number, delay: number }
  /** An error frame not tied to a request (for example LAGGED). */
  error: ServerError
}

interface Pending { resolve (): void, reject (err: Error): void }

const OPEN = 1
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

export class Subscription implements AsyncIterable<BridgeMessage> {
  /** Resolves once the server confirmed the subscription; rejects if it refused it. */
  readonly ready: Promise<void>
  private readonly buffer: BridgeMessage[] = []
  private waiter: ((result: IteratorResult<BridgeMessage>) => void) | undefined
  private ended = false
  /** @internal */ settle!: { resolve (): void, reject (err: Error): void }

  constructor (
    readonly topic: string,
    private readonly callback: Listener<BridgeMessage> | undefined,
    private readonly bufferSize: number,
    private readonly detach: (sub: Subscription) => void
  ) {
    this.ready = new Promise((resolve, reject) => { this.settle = { resolve, reject } })
    // A refusal is reported through `ready`; nobody has to listen to it.
    this.ready.catch(() => {})
  }

  unsubscribe (): void {
    if (this.ended) return
    this.end()
    this.detach(this)
  }

  /** @internal */
  push (message: BridgeMessage): void {
    if (this.ended) return
    if (this.callback !== undefined) {
      this.callback(message)
      return
    }
    if (this.waiter !== undefined) {
      const waiter = this.waiter
      this.waiter = undefined
      waiter({ value: message, done: false })
      return
    }
    if (this.buffer.length >= this.bufferSize) this.buffer.shift()
    this.buffer.push(message)
  }

  /** @internal */
  end (): void {
    this.ended = true
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.({ value: undefined, done: true })
  }

  [Symbol.asyncIterator] (): AsyncIterator<BridgeMessage> {
    return {
      next: async () => {
        const message = this.buffer.shift()
        if (message !== undefined) return { value: message, done: false }
        if (this.ended) return { value: undefined, done: true }
        return await new Promise(resolve => { this.waiter = resolve })
      },
      return: async () => {
        this.unsubscribe()
        return { value: undefined, done: true }
      }
    }
  }
}

export class GrapevineClient {
  private socket: WebSocketLike | undefined
  private readonly topics = new Map<string, { subs: Set<Subscription>, format: 'text' | 'binary' }>()
  private readonly pending = new Map<number, Pending>()
  private readonly queue: Array<{ frame: string | Uint8Array, id: number }> = []
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener<never>>>()
  private readonly WebSocketImpl: WebSocketConstructor
  private nextId = 1
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor (readonly url: string, private readonly options: ConnectOptions = {}) {
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (impl === undefined) throw new Error('no WebSocket implementation: pass options.WebSocket')
    this.WebSocketImpl = impl
    this.open()
  }

  get connected (): boolean {
    return this.socket?.readyState === OPEN
  }

  on<K extends keyof ClientEvents> (event: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) this.listeners.set(event, set = new Set())
    set.add(listener)
    return () => { set.delete(listener) }
  }

  /**
   * Receives messages of `topic`, through `callback` or by iterating the subscription. Several
   * subscriptions to one topic share one subscription on the server.
   */
  subscribe (topic: string, callback?: Listener<BridgeMessage>, options: { format?: 'text' | 'binary' } = {}): Subscription {
    const sub = new Subscription(topic, callback, this.options.bufferSize ?? 1024, s => this.detach(s))
    let entry = this.topics.get(topic)
    if (entry === undefined) {
      entry = { subs: new Set(), format: options.format ?? 'text' }
      this.topics.set(topic, entry)
      entry.subs.add(sub)
      if (this.connected) this.sendSubscribe(topic, entry.format)
    } else {
      entry.subs.add(sub)
      // Already confirmed, or the confirmation is on its way for the first one.
      const first = [...entry.subs][0]!
      first.ready.then(() => sub.settle.resolve(), (err: Error) => sub.settle.reject(err))
    }
    return sub
  }

  /** Resolves once the bridge accepted the message; rejects with a BridgeError if it refused it. */
  async publish (topic: string, data: string | Uint8Array | ArrayBuffer): Promise<void> {
    if (this.closed) throw new BridgeError('CLOSED', 'client is closed', topic)
    const id = this.nextId++
    const frame = typeof data === 'string'
      ? JSON.stringify({ op: 'publish', topic, data, id })
      : encodeBinaryPublish(topic, data instanceof ArrayBuffer ? new Uint8Array(data) : data, String(id))
    return await new Promise<void>((resolve, reject) => {
      if (this.connected) {
        this.pending.set(id, { resolve, reject })
        this.socket!.send(frame)
        return
      }
      if (this.queue.length >= (this.options.queueLimit ?? 256)) {
        reject(new BridgeError('QUEUE_FULL', 'disconnected and the publish queue is full', topic))
        return
      }
      this.pending.set(id, { resolve, reject })
      this.queue.push({ frame, id })
    })
  }

  /** Closes the connection for good; subscriptions end. */
  close (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    this.socket?.close(1000, 'client closed')
    this.failPending('CLOSED', 'client is closed')
    for (const entry of this.topics.values()) for (const sub of entry.subs) sub.end()
    this.topics.clear()
  }

  private open (): void {
    const socket = new this.WebSocketImpl(this.url)
    this.socket = socket
    socket.binaryType = 'arraybuffer'
    socket.onopen = () => {
      this.attempt = 0
      for (const [topic, entry] of this.topics) this.sendSubscribe(topic, entry.format)
      for (const { frame } of this.queue.splice(0)) socket.send(frame)
      this.emit('open', undefined)
    }
    socket.onmessage = (event: { data: unknown }) => this.receive(event.data)
    socket.onerror = () => {}
    socket.onclose = (event: { code: number, reason: string }) => {
      if (this.socket !== socket) return
      this.socket = undefined
      this.emit('close', { code: event.code, reason: event.reason })
      // Queued publishes survive a reconnection; ones already sent may or may not have arrived.
      this.failPending('DISCONNECTED', 'connection lost before the bridge confirmed', new Set(this.queue.map(q => q.id)))
      this.scheduleReconnect()
    }
  }

  private scheduleReconnect (): void {
    const reconnect = this.options.reconnect
    if (this.closed || reconnect === false) {
      if (!this.closed) this.close()
      return
    }
    const min = reconnect?.minDelay ?? 250
    const max = reconnect?.maxDelay ?? 10_000
    const ceiling = Math.min(max, min * 2 ** this.attempt)
    // Jitter spreads the reconnections of many tabs after an instance restarts.
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2)
    this.attempt++
    this.emit('reconnecting', { attempt: this.attempt, delay })
    this.timer = setTimeout(() => this.open(), delay)
  }

  private sendSubscribe (topic: string, format: 'text' | 'binary'): void {
    const id = this.nextId++
    const entry = this.topics.get(topic)!
    this.pending.set(id, {
      resolve: () => { for (const sub of entry.subs) sub.settle.resolve() },
      reject: err => {
        for (const sub of entry.subs) { sub.settle.reject(err); sub.end() }
        if (this.topics.get(topic) === entry) this.topics.delete(topic)
      }
    })
    const frame: Record<string, unknown> = { op: 'subscribe', topic, id }
    if (format !== 'text') frame.format = format
    this.socket!.send(JSON.stringify(frame))
  }

  private detach (sub: Subscription): void {
    const entry = this.topics.get(sub.topic)
    if (entry === undefined || !entry.subs.delete(sub) || entry.subs.size > 0) return
    this.topics.delete(sub.topic)
    if (this.connected) this.socket!.send(JSON.stringify({ op: 'unsubscribe', topic: sub.topic }))
  }

  private receive (data: unknown): void {
    if (typeof data !== 'string') {
      const message = decodeBinaryMessage(new Uint8Array(data as ArrayBuffer))
      if (message !== undefined) this.deliver(message)
      return
    }
    let frame: { op?: string, id?: number | string, topic?: string, data?: string, origin?: string, code?: string, reason?: string }
    try {
      frame = JSON.parse(data)
    } catch {
      return
    }
    // Binary publishes carry their id as text; every id this client makes is a number.
    if (typeof frame.id === 'string') frame.id = Number(frame.id)
    if (frame.op === 'message' && typeof frame.topic === 'string') {
      this.deliver({ topic: frame.topic, data: frame.data ?? '', origin: frame.origin ?? '' })
    } else if (frame.op === 'ack' && frame.id !== undefined) {
      this.settle(frame.id)
    } else if (frame.op === 'error') {
      const error: ServerError = { code: frame.code ?? 'UNKNOWN', reason: frame.reason ?? '' }
      if (frame.topic !== undefined) error.topic = frame.topic
      if (frame.id !== undefined && this.pending.has(frame.id)) this.settle(frame.id, new BridgeError(error.code, error.reason, error.topic))
      else this.emit('error', error)
    }
  }

  private deliver (message: BridgeMessage): void {
    const entry = this.topics.get(message.topic)
    if (entry !== undefined) for (const sub of entry.subs) sub.push(message)
  }

  private settle (id: number, err?: Error): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return
    this.pending.delete(id)
    if (err === undefined) pending.resolve()
    else pending.reject(err)
  }

  private failPending (code: string, reason: string, keep: Set<number> = new Set()): void {
    for (const [id, pending] of this.pending) {
      if (keep.has(id)) continue
      this.pending.delete(id)
      pending.reject(new BridgeError(code, reason))
    }
  }

  private emit<K extends keyof ClientEvents> (event: K, value: ClientEvents[K]): void {
    for (const listener of this.listeners.get(event) ?? []) (listener as Listener<ClientEvents[K]>)(value)
  }
}

export function connect (url: string, options?: ConnectOptions): GrapevineClient {
  return new GrapevineClient(url, options)
}

/** Layout: [0x01][u16 topic length][topic][u8 id length][id][payload], see the bridge protocol. */
function encodeBinaryPublish (topic: string, payload: Uint8Array, id: string): Uint8Array {
  const t = utf8.encode(topic)
  const i = utf8.encode(id)
  const frame = new Uint8Array(4 + t.length + i.length + payload.length)
  frame[0] = 0x01
  frame[1] = t.length >> 8
  frame[2] = t.length & 0xff
  frame.set(t, 3)
  frame[3 + t.length] = i.length
  frame.set(i, 4 + t.length)
  frame.set(payload, 4 + t.length + i.length)
  return frame
}

function decodeBinaryMessage (frame: Uint8Array): BridgeMessage | undefined {
  if (frame.length < 4 || frame[0] !== 0x02) return undefined
  const topicEnd = 3 + ((frame[1]! << 8) | frame[2]!)
  const originEnd = topicEnd + 1 + (frame[topicEnd] ?? 0)
  return {
    topic: fromUtf8.decode(frame.subarray(3, topicEnd)),
    origin: fromUtf8.decode(frame.subarray(topicEnd + 1, originEnd)),
    data: frame.slice(originEnd)
  }
}
