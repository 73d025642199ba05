/**
 * The slice of @hyperswarm/secret-stream (a CommonJS package without type declarations) that
 * Grapevine still uses: identity key pairs and the id a stream names itself by. Links run over
 * SecretChannel (secret-channel.ts), which speaks this library's wire format; the tests' hand-driven
 * peers use the library itself, so every such test also checks that the two agree.
 */
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import type { KeyPair } from '../api.js'

export interface NoiseStream {
  readonly publicKey: Uint8Array
  /** Set once the handshake is done. */
  readonly remotePublicKey: Uint8Array | null
  /** 64 bytes shared by both ends of this session only; set once the handshake is done. */
  readonly handshakeHash: Uint8Array | null
  readonly destroyed: boolean
  readonly destroying: boolean
  /** Write-side queue (streamx internals, read to bound memory per link). */
  readonly _writableState: { buffered: number }
  /** A buffer whose write() is encrypted in place, without the copy a plain write() makes. */
  alloc (length: number): Buffer
  write (data: Uint8Array): boolean
  end (data?: Uint8Array): void
  destroy (err?: Error): void
  pause (): void
  resume (): void
  on (event: 'connect' | 'close' | 'end' | 'drain', listener: () => void): this
  on (event: 'data', listener: (chunk: Buffer) => void): this
  on (event: 'error', listener: (err: Error) => void): this
  off (event: string, listener: (...args: any[]) => void): this
  removeListener (event: string, listener: (...args: any[]) => void): this
}

interface NoiseStreamConstructor {
  new (isInitiator: boolean, rawStream: Duplex, options: { keyPair: KeyPair }): NoiseStream
  keyPair (seed?: Uint8Array): { publicKey: Buffer, secretKey: Buffer }
  /** The id a side names its stream by in its first message after the handshake. */
  id (handshakeHash: Uint8Array, isInitiator: boolean, out?: Uint8Array): Uint8Array
}

const require = createRequire(import.meta.url)

export const NoiseSecretStream = require('@hyperswarm/secret-stream') as NoiseStreamConstructor
