/**
 * One authenticated, encrypted connection to one peer, carrying frames both ways.
 *
 * Writes are coalesced: every frame sent during one turn of the event loop goes out as a single
 * encrypted message (one encryption and one syscall instead of one per frame). The bytes a link
 * may hold for writing are bounded; a peer that stops reading gets its link closed instead of
 * growing our memory. Any bad input from the peer closes this link only, with a reason.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Socket } from 'node:net'
import type { Logger } from '../api.js'
import { silentLogger } from '../logger.js'
import { decodeFrame, encodeFrame } from './codec.js'
import type { Frame, NodeId } from './frames.js'
import { FRAME_HEADER_BYTES, FrameDecoder, FrameTooLargeError, writeFrameHeader } from './framing.js'
import type { Session } from './handshake.js'
import { BYE_GRACE_MS } from './handshake.js'
import { MAX_MESSAGE_BYTES, MAX_NOISE_MESSAGE } from './secret-channel.js'
import type { SecretChannel } from './secret-channel.js'

export const DEFAULT_LINK_WRITE_BUFFER_BYTES = 8 * 1024 * 1024

/** Coalesced writes are cut into encrypted messages of about this size. */
const WRITE_BATCH_BYTES = 1024 * 1024

/**
 * What a link that stopped reading (closed, or failed) still reads, decrypts and drops to see the
 * peer end its side; past it, it reads nothing more and the bye's grace timer ends the socket.
 */
const DISCARD_BYTES = 64 * 1024

/**
 * How long a link closed with `keepReading` (a losing duplicate) waits at most for the peer to end
 * its side. The peer ends it right after the last frames it sent on it, but those may sit in TCP's
 * retransmission queue for seconds after a run of losses: ending the socket after the usual
 * BYE_GRACE_MS would throw them away.
 */
export const DRAIN_GRACE_MS = 10_000

export interface LinkCloseInfo {
  reason: string
  /** True when the link failed (bad input, overflow, socket error), false for a deliberate close. */
  error: boolean
  /** The peer closed it on purpose (it said bye): it is alive, and read everything sent before. */
  byPeer?: boolean
}

export interface LinkEvents {
  frame: [frame: Frame]
  close: [info: LinkCloseInfo]
}

export interface LinkOptions {
  linkWriteBufferBytes: number
  /**
   * Keepalive, ms: a link that heard nothing for `keepaliveInterval` sends a ping; one that heard
   * nothing for `keepaliveTimeout` fails. 0 turns keepalive off.
   */
  keepaliveInterval?: number | undefined
  keepaliveTimeout?: number | undefined
  /** Largest frame body sent; the peer would refuse anything larger and close the link. */
  maxFrameSize: number
  logger?: Logger | undefined
}

export class Link extends EventEmitter<LinkEvents> {
  readonly peerId: NodeId
  /** Where the peer accepts links, as it announced in hello; null if it does not listen. */
  readonly remoteAddr: string | null
  /** True if this side dialled. */
  readonly isInitiator: boolean
  /** Unique to this session and known to both ends (used to break ties between duplicate links). */
  readonly handshakeHash: Uint8Array
  /** The peer process's incarnation (see `hello`). */
  readonly peerIncarnation: string
  /** The reason the link closed, once it has. */
  closeInfo: LinkCloseInfo | null = null

  private readonly socket: Socket
  private readonly stream: SecretChannel
  private readonly decoder: FrameDecoder
  private readonly limit: number
  private readonly maxFrameSize: number
  private readonly logger: Logger
  private queue: Uint8Array[] = []
  private queuedBytes = 0
  private flushScheduled = false
  private reading = true
  private graceTimer: NodeJS.Timeout | null = null
  private peerBye: string | null = null
  private readonly keepaliveTimeout: number
  private keepaliveTimer: NodeJS.Timeout | null = null
  private lastHeard = performance.now()
  private lastSent = performance.now()
  private pingNonce = 0
  private pingSentAt = 0
  private paused = false
  /** Bytes received and dropped since this link stopped reading. */
  private discarded = 0
  /** Round-trip time measured by the last answered ping, ms. */
  rtt: number | undefined
  /** When the link came up (performance.now()), for its age. */
  readonly openedAt = performance.now()

  constructor (session: Session, options: LinkOptions) {
    super()
    this.peerId = session.peerId
    this.remoteAddr = session.remoteAddr
    this.isInitiator = session.isInitiator
    this.handshakeHash = session.handshakeHash
    this.peerIncarnation = session.peerIncarnation
    this.socket = session.socket
    this.stream = session.stream
    this.decoder = session.decoder
    this.stream.maxMessageBytes = MAX_MESSAGE_BYTES
    this.limit = options.linkWriteBufferBytes
    this.maxFrameSize = options.maxFrameSize
    this.logger = options.logger ?? silentLogger
    this.socket.setNoDelay(true)
    this.keepaliveTimeout = options.keepaliveTimeout ?? 0
    const interval = options.keepaliveInterval ?? 0
    if (interval > 0 && this.keepaliveTimeout > 0) {
      this.keepaliveTimer = setInterval(() => { this.keepalive(interval) }, interval)
      this.keepaliveTimer.unref()
    }
    this.stream.on('data', (chunk) => { this.receive(chunk) })
    this.stream.on('end', () => { this.onEnd() })
    this.stream.on('error', (err) => { this.fail(`connection error: ${err.message}`) })
    this.stream.on('close', () => { this.onStreamClose() })
  }

  /**
   * Deliver what arrived with the hello and start reading. Separate from the constructor so the
   * owner can attach its listeners first.
   */
  start (): void {
    if (this.stream.destroyed) {
      this.onStreamClose()
      return
    }
    this.drainDecoder()
    if (this.reading) this.stream.resume()
  }

  get closed (): boolean {
    return this.closeInfo !== null
  }

  /** Bytes waiting to be written: queued here and in the socket (the channel writes through at once). */
  get bufferedBytes (): number {
    return this.queuedBytes + this.socket.writableLength
  }

  /**
   * Queue a frame; it is written at the end of this turn of the event loop together with the
   * others. Returns false if the link is closed (or just closed because its buffer overflowed).
   * Throws CodecError if the frame itself is invalid, FrameTooLargeError if it exceeds
   * maxFrameSize (nothing is sent and the link stays up).
   */
  send (frame: Frame): boolean {
    if (this.closeInfo !== null) return false
    const body = encodeFrame(frame)
    return this.sendEncoded(body)
  }

  /** Send a body already encoded with `encodeFrame` (to encode once for many links). */
  sendEncoded (body: Uint8Array): boolean {
    if (this.closeInfo !== null) return false
    if (body.byteLength > this.maxFrameSize) throw new FrameTooLargeError(body.byteLength, this.maxFrameSize)
    const size = FRAME_HEADER_BYTES + body.byteLength
    if (this.bufferedBytes + size > this.limit) {
      this.overflow()
      return false
    }
    this.queue.push(body)
    this.queuedBytes += size
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => { this.flush() })
    }
    return true
  }

  /**
   * Close deliberately: flush what is queued, tell the peer why with a `bye`, end the stream.
   * With `keepReading`, frames the peer sent before it saw the bye are still delivered (the
   * transport uses it for duplicate links, so a race loses no message); otherwise nothing more is.
   */
  close (reason: string, options: { keepReading?: boolean } = {}): void {
    if (options.keepReading !== true) this.reading = false
    this.closeGracefully(reason, false, false, options.keepReading === true ? DRAIN_GRACE_MS : BYE_GRACE_MS)
  }

  /**
   * Stop reading from the peer: its writes back up into the socket buffers and, past its own
   * limit, close its end of the link. For a consumer that cannot keep up.
   */
  pause (): void {
    this.paused = true
    this.stream.pause()
  }

  resume (): void {
    this.paused = false
    this.lastHeard = performance.now()
    if (!this.reading) return
    // Frames already decrypted when the link paused wait in the decoder: they come first.
    this.drainDecoder()
    if (this.reading && !this.paused) this.stream.resume()
  }

  /**
   * TCP alone notices a silent cut (no RST, no FIN) only after minutes of retransmissions: ask
   * the peer for a sign of life when it has been quiet, and give up on it past the timeout.
   */
  private keepalive (interval: number): void {
    if (this.closeInfo !== null || this.paused) return
    const now = performance.now()
    const quiet = now - this.lastHeard
    if (quiet >= this.keepaliveTimeout) {
      // After a long busy stretch of this process, timers run before the sockets are read: what
      // the peer sent meanwhile is still waiting. Judge once it is in (setImmediate runs after I/O).
      setImmediate(() => {
        if (this.closeInfo !== null || this.paused) return
        const still = performance.now() - this.lastHeard
        if (still >= this.keepaliveTimeout) this.fail(`keepalive timeout: nothing heard for ${Math.round(still)} ms`)
      })
      return
    }
    // Ping when we heard nothing for a while, and also when we said nothing: a peer streaming to
    // us over a slow path gets our answer to its ping only after the backlog it queued before
    // it, so without a word of ours meanwhile it would call a live link silent.
    if (quiet >= interval || now - this.lastSent >= interval) {
      this.pingNonce = (this.pingNonce + 1) >>> 0
      this.pingSentAt = performance.now()
      this.send({ type: 'ping', nonce: this.pingNonce })
    }
  }

  /** For tests of hostile peers: push raw bytes through the encrypted channel, bypassing the codec. */
  writeRaw (bytes: Uint8Array): void {
    this.flush()
    this.stream.write(bytes)
  }

  private flush (): void {
    this.flushScheduled = false
    if (this.queue.length === 0) return
    const queue = this.queue
    this.queue = []
    this.queuedBytes = 0
    this.lastSent = performance.now()
    if (this.stream.destroying) return
    let index = 0
    while (index < queue.length) {
      // Gather frames up to the batch size (at least one, and never above what one encrypted
      // message can carry: maxFrameSize is checked against that by the transport).
      let total = 0
      let end = index
      while (end < queue.length) {
        const size = FRAME_HEADER_BYTES + queue[end]!.byteLength
        if (end > index && (total + size > WRITE_BATCH_BYTES || total + size > MAX_NOISE_MESSAGE)) break
        total += size
        end++
      }
      const out = this.stream.alloc(total)
      let offset = 0
      for (let i = index; i < end; i++) {
        const body = queue[i]!
        writeFrameHeader(out, offset, body.byteLength)
        out.set(body, offset + FRAME_HEADER_BYTES)
        offset += FRAME_HEADER_BYTES + body.byteLength
      }
      this.stream.write(out)
      index = end
    }
  }

  private receive (chunk: Buffer): void {
    if (!this.reading) {
      // Read on only to see the peer's end. A peer that keeps sending is not read further: a
      // refused flooder writes a megabyte straight after each handshake, and every byte of it
      // was decrypted into fresh buffers for nothing. Every link that stops reading has a grace
      // timer (or is gone already), so the socket still ends, at the latest after BYE_GRACE_MS.
      this.discarded += chunk.byteLength
      if (this.discarded > DISCARD_BYTES && !this.stream.destroying) this.stream.pause()
      return
    }
    this.lastHeard = performance.now()
    this.decoder.push(chunk)
    this.drainDecoder()
  }

  private drainDecoder (): void {
    // Paused, the frames already decoded from this chunk wait too: pausing only the stream would
    // still hand over the rest of what it had read.
    while (this.reading && !this.paused) {
      let frame: Frame
      try {
        const body = this.decoder.next()
        if (body === null) return
        frame = decodeFrame(body)
      } catch (err) {
        this.fail(`bad frame: ${(err as Error).message}`)
        return
      }
      if (frame.type === 'hello') {
        this.fail('unexpected hello after the handshake')
        return
      }
      if (frame.type === 'ping') {
        this.send({ type: 'pong', nonce: frame.nonce })
        continue
      }
      if (frame.type === 'pong') {
        if (frame.nonce === this.pingNonce) this.rtt = performance.now() - this.pingSentAt
        continue
      }
      if (frame.type === 'bye') {
        this.peerBye = frame.reason
        this.reading = false
        this.closeGracefully(`closed by peer: ${frame.reason}`, false, true)
        return
      }
      try {
        this.emit('frame', frame)
      } catch (err) {
        // The owner failed on this frame. Thrown from here it would escape the stream's data
        // callback: an uncaught exception, and a stream left not reading. It costs this link only.
        this.logger.error({ err, peer: this.peerId, frame: frame.type }, 'internal error while handling a frame')
        this.fail(`internal error on a ${frame.type} frame`)
        return
      }
    }
  }

  private onEnd (): void {
    const truncated = this.decoder.pending > 0
    this.reading = false
    if (this.closeInfo !== null) {
      // We closed first; the peer has now ended too.
      this.stream.end()
      return
    }
    if (truncated) this.fail(`truncated frame at end of stream (${this.decoder.pending} bytes)`)
    else if (this.peerBye !== null) this.closeGracefully(`closed by peer: ${this.peerBye}`, false, true)
    else this.closeGracefully('connection ended by peer without bye', true)
  }

  private onStreamClose (): void {
    if (this.graceTimer !== null) clearTimeout(this.graceTimer)
    this.graceTimer = null
    this.reading = false
    this.queue = []
    this.queuedBytes = 0
    this.markClosed('connection closed', true)
  }

  private overflow (): void {
    // The peer is not reading: a bye would sit behind the very bytes it does not read.
    const reason = 'write buffer overflow'
    this.logger.warn({ peer: this.peerId, buffered: this.bufferedBytes, limit: this.limit }, `link closed: ${reason}`)
    this.queue = []
    this.queuedBytes = 0
    this.reading = false
    this.markClosed(reason, true)
    this.stream.destroy()
  }

  /** A protocol violation by the peer: say why, stop reading, close. */
  private fail (reason: string): void {
    this.reading = false
    if (this.closeInfo === null) this.logger.warn({ peer: this.peerId }, `link closed: ${reason}`)
    this.closeGracefully(reason, true)
  }

  private closeGracefully (reason: string, error: boolean, byPeer = false, grace = BYE_GRACE_MS): void {
    if (this.closeInfo !== null) return
    this.markClosed(reason, error, byPeer)
    if (this.stream.destroying) return
    this.flush()
    const bye = encodeFrame({ type: 'bye', reason: reason.slice(0, 1024) })
    const out = this.stream.alloc(FRAME_HEADER_BYTES + bye.byteLength)
    writeFrameHeader(out, 0, bye.byteLength)
    out.set(bye, FRAME_HEADER_BYTES)
    this.stream.write(out)
    this.stream.end()
    this.graceTimer = setTimeout(() => { this.stream.destroy() }, grace)
  }

  private markClosed (reason: string, error: boolean, byPeer = false): void {
    if (this.closeInfo !== null) return
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer)
    this.closeInfo = byPeer ? { reason, error, byPeer } : { reason, error }
    if (!error) this.logger.debug({ peer: this.peerId }, `link closed: ${reason}`)
    this.emit('close', this.closeInfo)
  }
}
