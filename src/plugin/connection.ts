/**
 * One browser connection on the bridge: it validates every frame, applies the connection's
 * limits, and turns frames into hub operations. Frames are handled one at a time, in the order
 * they arrived, so an async `authorize` cannot reorder a client's publishes.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { GossipError } from '../core/errors.js'
import type { ResolvedBridgeOptions, BridgeAction } from './options.js'
import { ackFrame, errorFrame, FrameError, parseClientFrame, type ClientFrame, type ErrorCode, type OutboundMessage, type PayloadFormat } from './protocol.js'
import { PublishRateLimit } from './rate-limit.js'
import type { TopicHub, TopicMember } from './topic-hub.js'

/** WebSocket close codes (RFC 6455 section 7.4.1). */
export const CloseCode = {
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  tryAgainLater: 1013
} as const

/**
 * Frames received and not yet handled (they wait behind a slow `authorize` or a busy node).
 * Past PAUSE_AT the socket stops reading, so TCP pushes back on the client; frames already read
 * from one chunk may still overshoot, up to MAX_IN_FLIGHT, past which the client is flooding.
 */
const PAUSE_AT = 64
const RESUME_AT = 16
const MAX_IN_FLIGHT = 4096

export class BridgeConnection implements TopicMember {
  /** Topics this connection holds on the hub, and whether it is subscribed (or only publishes). */
  private readonly topics = new Map<string, { subscribed: boolean }>()
  private readonly rate: PublishRateLimit
  private chain: Promise<void> = Promise.resolve()
  private inFlight = 0
  private closed = false

  constructor (
    private readonly socket: WebSocket,
    private readonly request: FastifyRequest,
    private readonly hub: TopicHub,
    private readonly options: ResolvedBridgeOptions,
    private readonly log: FastifyBaseLogger,
    private readonly onClosed: (connection: BridgeConnection) => void
  ) {
    this.rate = new PublishRateLimit(options.publishRate.max, options.publishRate.timeWindow)
    socket.on('message', (data, isBinary) => this.receive(data, isBinary))
    socket.on('close', () => this.release())
  }

  /** Closes the connection; the client sees `code` and `reason`. */
  close (code: number, reason: string): void {
    if (this.socket.readyState === this.socket.CLOSING || this.socket.readyState === this.socket.CLOSED) return
    this.socket.close(code, reason)
    this.release()
  }

  deliver (message: OutboundMessage, format: PayloadFormat): void {
    const { bytes, binary } = message.frame(format)
    this.send(bytes, binary)
  }

  notice (code: ErrorCode, reason: string, topic: string): void {
    this.send(errorFrame(code, reason, { topic }), false)
  }

  private send (data: Buffer | string, binary: boolean): void {
    if (this.closed) return
    // A client that does not read must not make the server buffer without bound.
    if (this.socket.bufferedAmount + data.length > this.options.sendBufferBytes) {
      this.log.warn({ buffered: this.socket.bufferedAmount }, 'bridge client too slow, closing it')
      this.close(CloseCode.tryAgainLater, 'send buffer full')
      return
    }
    this.socket.send(data, { binary })
  }

  private receive (data: RawData, isBinary: boolean): void {
    if (this.closed) return
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
    // ws enforces maxPayload itself when the plugin registered it; an app that registered
    // @fastify/websocket with a larger limit still gets the bridge's own.
    if (raw.length > this.options.maxPayload) {
      this.close(CloseCode.messageTooBig, 'message too big')
      return
    }
    let frame: ClientFrame
    try {
      frame = parseClientFrame(raw, isBinary)
    } catch (err) {
      this.fail(err)
      return
    }
    if (frame.op === 'publish') {
      const decision = this.rate.take()
      if (decision === 'abuse') {
        this.log.warn('bridge client far over its publish rate, closing it')
        this.close(CloseCode.policyViolation, 'publish rate exceeded')
        return
      }
      if (decision === 'refuse') {
        this.fail(new FrameError('RATE_LIMITED', 'publish rate exceeded, message dropped', { id: frame.id, topic: frame.topic }))
        return
      }
    }
    if (++this.inFlight > MAX_IN_FLIGHT) {
      this.close(CloseCode.policyViolation, 'too many frames in flight')
      return
    }
    if (this.inFlight >= PAUSE_AT && !this.socket.isPaused) this.socket.pause()
    this.chain = this.chain
      .then(async () => { await this.handle(frame) })
      .catch(err => { this.fail(err) })
      .finally(() => {
        if (--this.inFlight <= RESUME_AT && this.socket.isPaused) this.socket.resume()
      })
  }

  private async handle (frame: ClientFrame): Promise<void> {
    if (this.closed) return
    const context = { id: frame.id, topic: frame.topic }
    switch (frame.op) {
      case 'subscribe': {
        const held = this.topics.get(frame.topic)
        if (held?.subscribed !== true) {
          await this.authorize(frame.topic, 'subscribe', context)
          await this.hold(frame.topic, context)
          this.topics.get(frame.topic)!.subscribed = true
        }
        // Also on a repeated subscribe: the client may switch format.
        this.hub.subscribe(frame.topic, this, frame.format)
        break
      }
      case 'unsubscribe':
        if (this.topics.delete(frame.topic)) this.hub.leave(frame.topic, this)
        break
      case 'publish':
        await this.authorize(frame.topic, 'publish', context)
        await this.hold(frame.topic, context)
        try {
          await this.hub.publish(frame.topic, frame.data, this)
        } catch (err) {
          if (err instanceof GossipError && err.code === 'ERR_GOSSIP_MESSAGE_TOO_LARGE') throw new FrameError('TOO_LARGE', err.message, context)
          throw new FrameError('UNAVAILABLE', 'the message could not be published', context)
        }
        break
    }
    if (frame.id !== undefined) this.send(ackFrame(frame.id), false)
  }

  private async authorize (topic: string, action: BridgeAction, context: { id: ClientFrame['id'], topic: string }): Promise<void> {
    const authorize = this.options.authorize
    if (authorize === undefined) return
    let allowed = false
    try {
      allowed = await authorize(this.request, topic, action)
    } catch (err) {
      this.log.warn({ err, topic, action }, 'bridge authorize hook threw; refusing')
    }
    if (allowed !== true) throw new FrameError('FORBIDDEN', `not allowed to ${action} on this topic`, context)
  }

  /** Makes sure this connection holds `topic` on the hub, within its topic limit. */
  private async hold (topic: string, context: { id: ClientFrame['id'], topic: string }): Promise<void> {
    if (this.topics.has(topic)) return
    if (this.topics.size >= this.options.maxTopicsPerConnection) {
      throw new FrameError('TOO_MANY_TOPICS', `at most ${this.options.maxTopicsPerConnection} topics per connection; unsubscribe from one first`, context)
    }
    this.topics.set(topic, { subscribed: false })
    try {
      await this.hub.join(topic, this)
    } catch (err) {
      this.topics.delete(topic)
      this.log.warn({ err, topic }, 'bridge could not join a topic')
      throw new FrameError('UNAVAILABLE', 'this instance cannot join the topic now', context)
    }
    if (this.closed) {
      // The client left while the topic was being joined.
      this.hub.leave(topic, this)
      throw new FrameError('UNAVAILABLE', 'connection closed', context)
    }
  }

  private fail (err: unknown): void {
    if (err instanceof FrameError) {
      this.send(errorFrame(err.code, err.message, { id: err.id, topic: err.topic }), false)
      return
    }
    this.log.error({ err }, 'bridge frame handling failed')
    this.send(errorFrame('UNAVAILABLE', 'internal error'), false)
  }

  private release (): void {
    if (this.closed) return
    this.closed = true
    for (const topic of this.topics.keys()) this.hub.leave(topic, this)
    this.topics.clear()
    this.onClosed(this)
  }
}
