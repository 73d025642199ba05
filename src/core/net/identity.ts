/**
 * Node identity: an Ed25519 key pair. The node id is the hex of the public key, which is also the
 * Noise static key, so authenticating the session authenticates the id.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { GossipError } from '../errors.js'
import type { KeyPair } from '../api.js'
import type { NodeId } from './frames.js'
import { NoiseSecretStream } from './noise-stream.js'

export function generateKeyPair (): KeyPair {
  const { publicKey, secretKey } = NoiseSecretStream.keyPair()
  return { publicKey: new Uint8Array(publicKey), secretKey: new Uint8Array(secretKey) }
}

export function nodeIdOf (publicKey: Uint8Array): NodeId {
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex')
}

/**
 * Accepts the libsodium form (64-byte secret key = seed || public key, what
 * `SecretStream.keyPair()` returns) or a 32-byte seed, as node:crypto exports it (JWK `d`), and
 * returns the libsodium form the Noise handshake needs. Refuses a pair whose halves do not match.
 */
export function normalizeKeyPair (keyPair: KeyPair): KeyPair {
  const { publicKey, secretKey } = keyPair
  if (!(publicKey instanceof Uint8Array) || publicKey.byteLength !== 32) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'keyPair.publicKey must be 32 bytes')
  }
  if (!(secretKey instanceof Uint8Array) || (secretKey.byteLength !== 64 && secretKey.byteLength !== 32)) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'keyPair.secretKey must be 64 bytes (libsodium) or a 32-byte seed')
  }
  const seed = secretKey.subarray(0, 32)
  if (!Buffer.from(publicKeyOfSeed(seed)).equals(Buffer.from(publicKey))) {
    throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'keyPair.publicKey does not match keyPair.secretKey')
  }
  const full = new Uint8Array(64)
  full.set(seed, 0)
  full.set(publicKey, 32)
  return { publicKey: new Uint8Array(publicKey), secretKey: full }
}

function publicKeyOfSeed (seed: Uint8Array): Uint8Array {
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410): a fixed 16-byte prefix.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  const spki = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }))
    .export({ format: 'der', type: 'spki' })
  return spki.subarray(spki.byteLength - 32)
}
