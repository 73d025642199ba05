/**
 * Messages signed by their origin. A link proves who the neighbour is, not who published what it
 * forwards: without this, any node holding the cluster secret could publish as any other (and
 * have the real one's next messages dropped as duplicates). The origin signs, with its identity
 * key, a digest of the topic, the message id and the content; every node checks it before it
 * delivers or forwards a message it has not seen yet.
 *
 * Ed25519 (libsodium, through sodium-native) over SHA-256: the digest is computed in one pass
 * over the content without copying it, and the signature covers a fixed 32 bytes.
 */
import { createHash } from 'node:crypto'
import sodium from 'sodium-native'
import type { NodeId } from './frames.js'
import type { MessageId, TopicId } from '../proto/types.js'

/** Keeps a signature of ours from being valid for anything but a Grapevine message. */
const DOMAIN = Buffer.from('grapevine message v1\0')
const SEPARATOR = Buffer.from([0])

export const SIGNATURE_BYTES = 64

function digest (topic: TopicId, id: MessageId, content: Uint8Array): Buffer {
  return createHash('sha256').update(DOMAIN).update(topic, 'hex').update(id).update(SEPARATOR).update(content).digest()
}

/** `secretKey`: the node's 64-byte libsodium secret key (seed and public key). */
export function signMessage (secretKey: Uint8Array, topic: TopicId, id: MessageId, content: Uint8Array): Uint8Array {
  const sig = Buffer.allocUnsafe(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(sig, digest(topic, id, content), secretKey)
  return sig
}

/** True when `sig` is `origin`'s signature of this message. */
export function verifyMessage (origin: NodeId, topic: TopicId, id: MessageId, content: Uint8Array, sig: Uint8Array | undefined): boolean {
  if (sig === undefined || sig.byteLength !== SIGNATURE_BYTES) return false
  return sodium.crypto_sign_verify_detached(sig, digest(topic, id, content), Buffer.from(origin, 'hex'))
}
