/**
 * An encrypted, authenticated channel over one TCP socket: a Noise XX handshake (noise-handshake,
 * Ed25519 static keys), then libsodium's secretstream (XChaCha20-Poly1305) each way.
 *
 * It speaks exactly the wire format of @hyperswarm/secret-stream, which the transport used
 * before (each message a 24-bit little-endian length and its bytes; after the handshake each side
 * sends a 56-byte header naming the stream and starting its secretstream, then one encrypted
 * message per write), so either end may be either implementation (tested both ways). What it
 * leaves out is the generic stream machinery: a write is encrypted in place and handed to the
 * socket at once, a message read is decrypted in place and handed to the one listener, where
 * secret-stream went through a streamx Duplex both ways (both ends in one process, a 200-byte
 * message per event-loop turn: 32.2 us of CPU a message against 34.7). And it bounds what a peer
 * that has proven nothing can make it allocate: secret-stream allocated a message's whole
 * announced length (up to 16 MiB) on its first byte, before the handshake too.
 *
 * Events: `connect` (handshake done; keys and hash set), `data` (a decrypted message), `drain`,
 * `end` (the peer ended its side), `error`, `close`. Paused, it reads nothing more from the socket
 * and keeps what it had read undelivered until resumed.
 */
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import sodium from 'sodium-native'
import type { KeyPair } from '../api.js'
import { NoiseSecretStream } from './noise-stream.js'

const require = createRequire(import.meta.url)

interface NoiseState {
  complete: boolean
  tx: Uint8Array
  rx: Uint8Array
  hash: Uint8Array
  rs: Uint8Array
  initialise: (prologue: Uint8Array, remoteStatic?: Uint8Array) => void
  send: (payload?: Uint8Array) => Uint8Array
  recv: (message: Uint8Array) => Uint8Array
}
type NoiseConstructor = new (pattern: string, initiator: boolean, keyPair: KeyPair, options: { curve: unknown }) => NoiseState

const Noise = require('noise-handshake') as NoiseConstructor
const curve = require('noise-curve-ed') as unknown

const LENGTH_BYTES = 3
/** The 24-bit length prefix's largest value. */
const MAX_MESSAGE = 0xffffff
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
const HEADERBYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
const STATEBYTES = sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES
const KEYBYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
/** Stream id and secretstream header: the first message after the handshake. */
const ID_HEADER_BYTES = 32 + HEADERBYTES
const EMPTY = Buffer.alloc(0)
const HANDSHAKE_MESSAGE_BYTES = 4096

/** Largest message the length prefix can say (the cipher's 17 bytes included). */
export const MAX_MESSAGE_BYTES = MAX_MESSAGE
/** Largest plaintext one message may carry. */
const MAX_PLAINTEXT = MAX_MESSAGE - ABYTES
/**
 * Largest plaintext a link puts in one message: coalesced writes are cut below it, and the frame
 * limit is bounded by it. Below MAX_PLAINTEXT by secret-stream's margin, so that whatever we send
 * a peer still running secret-stream is a message it accepts too.
 */
export const MAX_NOISE_MESSAGE = MAX_MESSAGE - 64

function writeLength (out: Uint8Array, at: number, n: number): void {
  out[at] = n & 255
  out[at + 1] = (n >>> 8) & 255
  out[at + 2] = (n >>> 16) & 255
}

export class SecretChannel extends EventEmitter {
  readonly publicKey: Uint8Array
  remotePublicKey: Uint8Array | null = null
  handshakeHash: Uint8Array | null = null
  destroyed = false
  destroying = false

  private noise: NoiseState | null
  private push: Buffer | null = null
  private pull: Buffer | null = null
  /** The peer's header came: its messages can be decrypted. */
  private pulling = false
  /**
   * Largest message accepted; a longer one destroys the channel before anything is allocated for
   * it. 4 KiB during the handshake (its messages are under 100 bytes), all a length can say after
   * it; an owner that knows better sets it (the hello, for one, is a few hundred bytes).
   */
  maxMessageBytes = HANDSHAKE_MESSAGE_BYTES
  /** Chunks read and not yet parsed: what came while paused, oldest first. */
  private queued: Buffer[] = []
  /** The length prefix being read (it may span chunks), and how many of its bytes came. */
  private length = 0
  private lengthRead = 0
  /** A message spanning chunks, being filled. */
  private message: Buffer | null = null
  private filled = 0
  private paused = false
  private ended = false
  /** The socket closed while read bytes waited for a reader. */
  private closePending = false
  private endEmitted = false
  /** What `alloc` last handed out, with room for the length and the cipher's bytes around it. */
  private allocated: Buffer | null = null
  private allocatedPlain: Buffer | null = null
  private readonly tag = Buffer.alloc(1)
  /** The key our peer encrypts with, until its header starts our pulling. */
  private rxKey: Buffer | null = null

  constructor (readonly isInitiator: boolean, private readonly socket: Socket, options: { keyPair: KeyPair }) {
    super()
    this.publicKey = options.keyPair.publicKey
    this.noise = new Noise('XX', isInitiator, options.keyPair, { curve })
    this.noise.initialise(EMPTY)
    socket.on('data', (chunk: Buffer) => { this.onData(chunk) })
    socket.on('end', () => { this.onEnd() })
    socket.on('drain', () => { this.emit('drain') })
    socket.on('error', (err: Error) => { this.destroy(err) })
    socket.on('close', () => { this.onClose() })
    if (isInitiator) queueMicrotask(() => { this.sendHandshake() })
  }

  /**
   * A buffer of `length` bytes whose `write` is encrypted in place (no copy): the bytes around it
   * hold the length and the cipher's tag and MAC.
   */
  alloc (length: number): Buffer {
    const out = Buffer.allocUnsafe(LENGTH_BYTES + ABYTES + length)
    this.allocated = out
    this.allocatedPlain = out.subarray(LENGTH_BYTES + 1, LENGTH_BYTES + 1 + length)
    return this.allocatedPlain
  }

  /** Encrypt and send one message; false when the socket's buffer is full (wait for `drain`). */
  write (data: Uint8Array): boolean {
    if (this.destroying || this.push === null) return false
    let out: Buffer
    let plain: Uint8Array
    if (data === this.allocatedPlain && this.allocated !== null) {
      out = this.allocated
      plain = data
    } else {
      out = Buffer.allocUnsafe(LENGTH_BYTES + ABYTES + data.byteLength)
      plain = out.subarray(LENGTH_BYTES + 1, LENGTH_BYTES + 1 + data.byteLength)
      plain.set(data)
    }
    this.allocated = null
    this.allocatedPlain = null
    if (plain.byteLength > MAX_PLAINTEXT) {
      this.destroy(new Error(`a message of ${plain.byteLength} bytes exceeds ${MAX_PLAINTEXT}`))
      return false
    }
    writeLength(out, 0, plain.byteLength + ABYTES)
    // In place: the cipher (a tag byte, the text, a MAC) starts one byte before the plaintext.
    sodium.crypto_secretstream_xchacha20poly1305_push(this.push, out.subarray(LENGTH_BYTES), plain, null, TAG_MESSAGE)
    return this.socket.write(out)
  }

  end (): void {
    if (this.destroying) return
    this.socket.end()
  }

  pause (): void {
    this.paused = true
    this.socket.pause()
  }

  resume (): void {
    if (this.destroying) return
    this.paused = false
    // What waited is handed over on the next tick, as a stream resumed would: the caller of
    // resume() finishes setting up before the first message reaches it.
    if (this.queued.length > 0 || this.ended || this.closePending) process.nextTick(() => { this.drainQueued() })
    else this.socket.resume()
  }

  private drainQueued (): void {
    while (this.queued.length > 0 && !this.paused && !this.destroying) this.consume(this.queued.shift() as Buffer)
    if (this.paused || this.destroying) return
    if (this.ended) this.emitEnd()
    if (this.closePending) this.emitClose()
    else if (!this.ended) this.socket.resume()
  }

  destroy (err?: Error): void {
    if (this.destroying) return
    this.destroying = true
    this.queued = []
    this.message = null
    if (err !== undefined) this.emit('error', err)
    if (this.closePending) this.emitClose()
    else this.socket.destroy()
  }

  private onData (chunk: Buffer): void {
    if (this.destroying) return
    if (this.paused || this.queued.length > 0) this.queued.push(chunk)
    else this.consume(chunk)
  }

  /** Hands over every message `chunk` completes; paused midway, it keeps the rest for `resume`. */
  private consume (chunk: Buffer): void {
    let at = 0
    while (at < chunk.byteLength && !this.paused && !this.destroying) {
      if (this.message === null) {
        while (this.lengthRead < LENGTH_BYTES && at < chunk.byteLength) {
          this.length |= (chunk[at++] as number) << (8 * this.lengthRead)
          this.lengthRead++
        }
        if (this.lengthRead < LENGTH_BYTES) return
        const length = this.length
        this.length = 0
        this.lengthRead = 0
        if (length > this.maxMessageBytes) {
          this.destroy(new Error(`a message of ${length} bytes exceeds the limit of ${this.maxMessageBytes}`))
          return
        }
        if (chunk.byteLength - at >= length) {
          // Whole in this chunk: decrypted where it lies, no copy.
          const message = chunk.subarray(at, at + length)
          at += length
          this.onMessage(message)
          continue
        }
        this.message = Buffer.allocUnsafe(length)
        this.filled = 0
      }
      const take = Math.min(this.message.byteLength - this.filled, chunk.byteLength - at)
      chunk.copy(this.message, this.filled, at, at + take)
      this.filled += take
      at += take
      if (this.filled === this.message.byteLength) {
        const message = this.message
        this.message = null
        this.onMessage(message)
      }
    }
    if (at < chunk.byteLength && !this.destroying) this.queued.unshift(chunk.subarray(at))
  }

  private onMessage (message: Buffer): void {
    if (this.noise !== null) {
      this.receiveHandshake(message)
      return
    }
    if (!this.pulling) {
      this.receiveHeader(message)
      return
    }
    if (message.byteLength < ABYTES) {
      this.destroy(new Error('invalid message received'))
      return
    }
    // In place: the plaintext is the cipher without its tag byte and MAC.
    const plain = message.subarray(1, message.byteLength - ABYTES + 1)
    try {
      sodium.crypto_secretstream_xchacha20poly1305_pull(this.pull as Buffer, plain, this.tag, message, null)
    } catch (err) {
      this.destroy(err as Error)
      return
    }
    this.emit('data', plain)
  }

  private sendHandshake (): void {
    if (this.destroying || this.noise === null) return
    let message: Uint8Array
    try {
      message = this.noise.send()
    } catch (err) {
      this.destroy(new Error('noise handshake failed', { cause: err }))
      return
    }
    const out = Buffer.allocUnsafe(LENGTH_BYTES + message.byteLength)
    writeLength(out, 0, message.byteLength)
    out.set(message, LENGTH_BYTES)
    this.socket.write(out)
    if (this.noise.complete) this.established()
  }

  private receiveHandshake (message: Buffer): void {
    const noise = this.noise as NoiseState
    try {
      noise.recv(message)
    } catch (err) {
      this.destroy(new Error('noise handshake failed', { cause: err }))
      return
    }
    if (noise.complete) this.established()
    else this.sendHandshake()
  }

  /** Keys agreed: start our secretstream (its header goes first) and say so. */
  private established (): void {
    const noise = this.noise as NoiseState
    this.noise = null
    this.remotePublicKey = Buffer.from(noise.rs)
    this.handshakeHash = Buffer.from(noise.hash)
    this.push = Buffer.allocUnsafeSlow(STATEBYTES)
    this.pull = Buffer.allocUnsafeSlow(STATEBYTES)
    this.rxKey = Buffer.from(noise.rx.subarray(0, KEYBYTES))
    const out = Buffer.allocUnsafe(LENGTH_BYTES + ID_HEADER_BYTES)
    writeLength(out, 0, ID_HEADER_BYTES)
    NoiseSecretStream.id(this.handshakeHash, this.isInitiator, out.subarray(LENGTH_BYTES, LENGTH_BYTES + 32))
    sodium.crypto_secretstream_xchacha20poly1305_init_push(this.push, out.subarray(LENGTH_BYTES + 32), Buffer.from(noise.tx.subarray(0, KEYBYTES)))
    this.socket.write(out)
    this.maxMessageBytes = MAX_MESSAGE
    this.emit('connect')
  }

  private receiveHeader (message: Buffer): void {
    if (message.byteLength !== ID_HEADER_BYTES) {
      this.destroy(new Error('invalid header message received'))
      return
    }
    const expected = NoiseSecretStream.id(this.handshakeHash as Uint8Array, !this.isInitiator)
    if (!Buffer.from(expected).equals(message.subarray(0, 32))) {
      this.destroy(new Error('invalid header received'))
      return
    }
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(this.pull as Buffer, message.subarray(32), this.rxKey as Buffer)
    this.rxKey = null
    this.pulling = true
  }

  private onEnd (): void {
    this.ended = true
    if (!this.paused && this.queued.length === 0) this.emitEnd()
  }

  private emitEnd (): void {
    if (this.endEmitted || this.destroying) return
    this.endEmitted = true
    this.emit('end')
  }

  private onClose (): void {
    // What was read before the socket closed is still the peer's word (a goodbye, say): a channel
    // holding some says `close` only once a reader has taken it.
    if (!this.destroying && this.queued.length > 0) {
      this.closePending = true
      return
    }
    this.emitClose()
  }

  private emitClose (): void {
    this.destroying = true
    if (this.destroyed) return
    this.destroyed = true
    this.emit('close')
  }
}
