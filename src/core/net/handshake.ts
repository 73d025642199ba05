/**
 * Turning a fresh TCP socket into an authenticated session: a Noise XX handshake (encryption and
 * proof of the static Ed25519 keys), then one `hello` frame each way proving that the sender holds
 * the cluster secret. The proof is bound to the handshake hash, so it cannot be replayed on another
 * session, and to the sender's own key, so it cannot be reflected back at it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import { GossipError } from '../errors.js'
import type { KeyPair } from '../api.js'
import { decodeFrame, encodeFrame } from './codec.js'
import { PROTOCOL_VERSION } from './frames.js'
import type { Frame, NodeId } from './frames.js'
import { FrameDecoder, frameBytes } from './framing.js'
import { nodeIdOf } from './identity.js'
import { SecretChannel } from './secret-channel.js'

/**
 * Noise messages and a hello are a few hundred bytes. A peer that sends far more before it has
 * proved the secret is not a peer; cutting it off early also stops an unauthenticated socket from
 * making the encrypted channel buffer a large message.
 */
export const MAX_BYTES_BEFORE_HELLO = 256 * 1024

/** How long a refused peer gets to read our `bye` before its socket is destroyed, ms. */
export const BYE_GRACE_MS = 1000

export class HandshakeError extends GossipError {
  /** The other node's id, when the handshake got far enough to learn it (its key is proven by then). */
  readonly peerId: NodeId | undefined
  /**
   * This node found the peer's proof of the secret wrong. Its own check, not what the peer's
   * goodbye says: a peer could claim anything there. Each side checks the other's hello, which
   * comes before any goodbye, so a real mismatch is always seen here.
   */
  readonly secretMismatch: boolean

  constructor (message: string, options?: { cause?: unknown, peerId?: NodeId, secretMismatch?: boolean }) {
    super('ERR_GOSSIP_HANDSHAKE', message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HandshakeError'
    this.peerId = options?.peerId
    this.secretMismatch = options?.secretMismatch ?? false
  }
}

/** Whether a handshake failed because the peer's proof of the secret did not hold here. */
export function isSecretMismatch (err: unknown): boolean {
  return err instanceof HandshakeError && err.secretMismatch
}

export function helloProof (secret: string | Uint8Array, handshakeHash: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update(handshakeHash).update(publicKey).digest()
}

export interface HandshakeOptions {
  socket: Socket
  /** True on the dialling side. */
  isInitiator: boolean
  keyPair: KeyPair
  secret: string | Uint8Array
  /** Our listen address as announced in hello ("host:port"), or null. */
  listenAddr: string | null
  /** This process's incarnation, announced in hello. */
  incarnation: Uint8Array
  /** Refuse the session unless the peer's public key is this id (dialling a known node). */
  expectedPeerId?: NodeId | undefined
  /** ms */
  timeout: number
  maxFrameSize: number
}

/** What a successful handshake hands over to the Link. */
export interface Session {
  socket: Socket
  stream: SecretChannel
  isInitiator: boolean
  peerId: NodeId
  remoteAddr: string | null
  /** The peer process's incarnation (hex): another one than an older link's means it restarted. */
  peerIncarnation: string
  handshakeHash: Uint8Array
  /** Holds whatever the peer sent after its hello. The stream is paused until a reader resumes it. */
  decoder: FrameDecoder
}

/**
 * One handshake in progress. `done` resolves with the session or rejects with a HandshakeError
 * whose message is the reason; on failure the socket is closed (after a `bye` when the encrypted
 * channel was up).
 */
export class Handshake {
  readonly done: Promise<Session>
  readonly socket: Socket
  private readonly options: HandshakeOptions
  private readonly stream: SecretChannel
  private readonly decoder: FrameDecoder
  private settled = false
  private connected = false
  private rawBytes = 0
  private timer: NodeJS.Timeout | null
  private resolve!: (session: Session) => void
  private reject!: (err: HandshakeError) => void
  private readonly onRawData = (chunk: Buffer): void => {
    this.rawBytes += chunk.byteLength
    if (this.rawBytes > MAX_BYTES_BEFORE_HELLO) this.fail(`more than ${MAX_BYTES_BEFORE_HELLO} bytes before hello`)
  }

  private readonly onData = (chunk: Buffer): void => { this.receive(chunk) }
  private readonly onClose = (): void => { this.fail('connection closed during handshake') }
  private readonly onError = (err: Error): void => { this.fail(`connection error during handshake: ${err.message}`, err) }

  constructor (options: HandshakeOptions) {
    this.options = options
    this.socket = options.socket
    this.decoder = new FrameDecoder(options.maxFrameSize)
    this.done = new Promise<Session>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // The counter goes first so it sees each chunk before the channel buffers anything of it.
    this.socket.on('data', this.onRawData)
    this.stream = new SecretChannel(options.isInitiator, options.socket, { keyPair: options.keyPair })
    this.stream.on('error', this.onError)
    this.stream.on('close', this.onClose)
    this.stream.on('connect', () => { this.onNoiseDone() })
    this.stream.on('data', this.onData)
    this.timer = setTimeout(() => { this.fail(`handshake timed out after ${options.timeout} ms`) }, options.timeout)
  }

  /** Give up (transport closing, too many handshakes). */
  abort (reason: string): void {
    this.fail(reason)
  }

  private onNoiseDone (): void {
    if (this.settled) return
    this.connected = true
    // The hello is a few hundred bytes; anything up to what may come before it is let through.
    this.stream.maxMessageBytes = MAX_BYTES_BEFORE_HELLO
    const remoteKey = this.stream.remotePublicKey
    const hash = this.stream.handshakeHash
    if (remoteKey === null || hash === null) return this.fail('noise handshake ended without keys')
    const peerId = nodeIdOf(remoteKey)
    const expected = this.options.expectedPeerId
    if (expected !== undefined && expected !== peerId) {
      return this.fail(`peer is ${peerId}, expected ${expected}`)
    }
    this.write({
      type: 'hello',
      version: PROTOCOL_VERSION,
      proof: helloProof(this.options.secret, hash, this.options.keyPair.publicKey),
      addr: this.options.listenAddr,
      incarnation: this.options.incarnation
    })
  }

  private receive (chunk: Buffer): void {
    if (this.settled) return
    this.decoder.push(chunk)
    let body: Uint8Array | null
    let frame: Frame
    try {
      body = this.decoder.next()
      if (body === null) return
      frame = decodeFrame(body)
    } catch (err) {
      return this.fail(`bad hello: ${(err as Error).message}`, err)
    }
    if (frame.type === 'bye') return this.fail(`refused by peer: ${frame.reason}`)
    if (frame.type !== 'hello') return this.fail(`expected hello, got ${frame.type}`)
    if (frame.version !== PROTOCOL_VERSION) {
      return this.fail(`protocol version ${frame.version} not supported (want ${PROTOCOL_VERSION})`)
    }
    if (frame.incarnation === null) return this.fail('hello without incarnation')
    const remoteKey = this.stream.remotePublicKey!
    const hash = this.stream.handshakeHash!
    const expected = helloProof(this.options.secret, hash, remoteKey)
    if (!timingSafeEqual(expected, frame.proof)) return this.fail('bad proof: the peer does not hold the cluster secret', undefined, true)
    this.succeed({
      socket: this.socket,
      stream: this.stream,
      isInitiator: this.options.isInitiator,
      peerId: nodeIdOf(remoteKey),
      remoteAddr: frame.addr,
      peerIncarnation: Buffer.from(frame.incarnation).toString('hex'),
      handshakeHash: new Uint8Array(hash),
      decoder: this.decoder
    })
  }

  private succeed (session: Session): void {
    this.settled = true
    this.cleanup()
    this.stream.pause()
    this.resolve(session)
  }

  private fail (reason: string, cause?: unknown, secretMismatch = false): void {
    if (this.settled) return
    this.settled = true
    this.cleanup()
    if (this.connected && !this.stream.destroying) {
      this.write({ type: 'bye', reason: `handshake refused: ${reason}` })
      this.stream.end()
      const grace = setTimeout(() => { this.stream.destroy() }, BYE_GRACE_MS)
      this.socket.once('close', () => { clearTimeout(grace) })
    } else {
      this.stream.destroy()
      this.socket.destroy()
    }
    // Past the Noise handshake the remote key is proven: both sides' logs can name the node.
    const remoteKey = this.connected ? this.stream.remotePublicKey : null
    this.reject(new HandshakeError(reason, { cause, peerId: remoteKey === null ? undefined : nodeIdOf(remoteKey), secretMismatch }))
  }

  private cleanup (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.socket.off('data', this.onRawData)
    this.stream.off('data', this.onData)
    this.stream.off('close', this.onClose)
    // The error listener stays: an error after this point must not become an uncaught exception
    // before the Link has attached its own.
  }

  private write (frame: Frame): void {
    this.stream.write(frameBytes(encodeFrame(frame)))
  }
}
