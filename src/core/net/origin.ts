/**
 * Messages signed by their origin. A link proves who the neighbour is, not who published what it
 * forwards: without this, any node holding the cluster secret could publish as any other (and
 * have the real one's next messages dropped as duplicates). The origin signs, with its identity
 * key, a digest of the topic, the message id and the content; every node checks it before it
 * delivers or forwards a message it has not seen yet.
 *
 * Ed25519 over BLAKE2b-256 (both libsodium, through sodium-native): the digest is computed in one
 * pass over the content without copying it, and the signature covers a fixed 32 bytes. (node:crypto's
 * SHA-256 cost ~2.8 µs a hash in object set-up, BLAKE2b ~1 µs.)
 *
 * One signature per message cost more than everything else the node does (measured: 33 µs to
 * sign, 98 µs to check, against a few µs of protocol work), so messages published together are
 * signed together: the origin signs the root of a Merkle tree over their digests, and each message
 * carries the signature with its index and the sibling hashes up to the root. A receiver checks
 * the signature of a root once and keeps it; the batch's other messages cost a few hashes each.
 *
 * Proof of one message alone: the 64-byte signature of its digest. Proof of message `index` of a
 * batch of `count` (2..MAX_BATCH): signature (64) | index (u16) | count (u16) | siblings (32 each,
 * bottom up; a node without a sibling at some level is carried up as it is).
 */
import sodium from 'sodium-native'
import type { NodeId } from './frames.js'
import type { MessageId, TopicId } from '../proto/types.js'
import { wireLimits } from '../proto/limits.js'

/** Keeps a signature of ours from being valid for anything but a Grapevine message. */
const DOMAIN = Buffer.from('grapevine message v1\0')
const BATCH_DOMAIN = Buffer.from('grapevine batch v1\0')
const INNER = Buffer.from([1])
const SEPARATOR = Buffer.from([0])
const EMPTY = Buffer.alloc(0)

export const SIGNATURE_BYTES = 64
/** Messages signed with one signature at most: a proof carries at most log2 of it in hashes. */
export const MAX_BATCH = 256
const MAX_DEPTH = 8
const HASH_BYTES = 32
/** The longest proof: a signature, index and count, and one sibling per level. */
export const MAX_PROOF_BYTES = SIGNATURE_BYTES + 4 + MAX_DEPTH * HASH_BYTES
if (MAX_PROOF_BYTES !== wireLimits.maxSigBytes || SIGNATURE_BYTES !== wireLimits.minSigBytes) throw new Error('origin proofs and the wire limits disagree')

export interface Signable {
  topic: TopicId
  id: MessageId
  content: Uint8Array
}

function hash (parts: Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  sodium.crypto_generichash_batch(out, parts)
  return out
}

/** `topic`: the topic id's bytes (its hex decoded). */
function digest (topic: Buffer, id: MessageId, content: Uint8Array): Buffer {
  return hash([DOMAIN, topic, Buffer.from(id), SEPARATOR, content])
}

function inner (left: Buffer, right: Buffer): Buffer {
  return hash([INNER, left, right])
}

/** What the origin signs for a batch: its size and its root. */
function batchMessage (count: number, root: Buffer): Buffer {
  const n = Buffer.allocUnsafe(2)
  n.writeUInt16BE(count)
  return hash([BATCH_DOMAIN, n, root])
}

/** `secretKey`: the node's 64-byte libsodium secret key (seed and public key). */
export function signMessage (secretKey: Uint8Array, topic: TopicId, id: MessageId, content: Uint8Array): Uint8Array {
  const sig = Buffer.allocUnsafe(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(sig, digest(Buffer.from(topic, 'hex'), id, content), secretKey)
  return sig
}

/** One proof per message, in order, with one signature for all of them (at most MAX_BATCH). */
export function signBatch (secretKey: Uint8Array, messages: Signable[]): Uint8Array[] {
  const count = messages.length
  if (count === 0) return []
  if (count > MAX_BATCH) throw new RangeError(`a batch of ${count} messages exceeds ${MAX_BATCH}`)
  if (count === 1) {
    const m = messages[0] as Signable
    return [signMessage(secretKey, m.topic, m.id, m.content)]
  }
  // Every level of the tree, bottom up; the proofs read their siblings from it.
  const levels: Buffer[][] = [messages.map(m => digest(Buffer.from(m.topic, 'hex'), m.id, m.content))]
  for (let level = levels[0] as Buffer[]; level.length > 1;) {
    const up: Buffer[] = []
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? inner(level[i] as Buffer, level[i + 1] as Buffer) : level[i] as Buffer)
    levels.push(up)
    level = up
  }
  const sig = Buffer.allocUnsafe(SIGNATURE_BYTES)
  sodium.crypto_sign_detached(sig, batchMessage(count, (levels[levels.length - 1] as Buffer[])[0] as Buffer), secretKey)
  return messages.map((_, index) => {
    const siblings: Buffer[] = []
    let i = index
    for (let l = 0; l < levels.length - 1; l++) {
      const level = levels[l] as Buffer[]
      const sibling = i % 2 === 1 ? level[i - 1] : level[i + 1]
      if (sibling !== undefined) siblings.push(sibling)
      i >>= 1
    }
    const proof = Buffer.allocUnsafe(SIGNATURE_BYTES + 4 + siblings.length * HASH_BYTES)
    sig.copy(proof, 0)
    proof.writeUInt16BE(index, SIGNATURE_BYTES)
    proof.writeUInt16BE(count, SIGNATURE_BYTES + 2)
    for (const [k, s] of siblings.entries()) s.copy(proof, SIGNATURE_BYTES + 4 + k * HASH_BYTES)
    return proof
  })
}

/** Where a proof's message sits in its batch, when the proof's length matches that place. */
function batchPlace (proof: Buffer): { index: number, count: number } | undefined {
  if (proof.byteLength < SIGNATURE_BYTES + 4 || proof.byteLength > MAX_PROOF_BYTES) return undefined
  const index = proof.readUInt16BE(SIGNATURE_BYTES)
  const count = proof.readUInt16BE(SIGNATURE_BYTES + 2)
  if (count < 2 || count > MAX_BATCH || index >= count) return undefined
  // Every byte accounted for: one message has one proof.
  return proof.byteLength === SIGNATURE_BYTES + 4 + siblingsOf(index, count) * HASH_BYTES ? { index, count } : undefined
}

/** Sibling hashes on the way from leaf `index` of `count` to the root. */
function siblingsOf (index: number, count: number): number {
  let n = 0
  for (let i = index, width = count; width > 1; i >>= 1, width = (width + 1) >> 1) if (i % 2 === 1 || i + 1 < width) n++
  return n
}

/**
 * Walks from the message's leaf up to the root, asking `known` of each node it hashes by the node's
 * key (its 32 bytes as a latin1 string), and stops at the first it knows. Returns the keys of the
 * nodes passed before that (bottom up; the leaf is not one: it stands for this one message, which
 * the caller never checks twice) and, when no node was known, what the origin must have signed.
 * A node carried up a level without a sibling was asked about when it was hashed, once.
 */
function climb (leaf: Buffer, proof: Buffer, index: number, count: number, known: (key: string) => boolean): { passed: string[], signed?: Buffer } {
  const passed: string[] = []
  let node = leaf
  let offset = SIGNATURE_BYTES + 4
  for (let i = index, width = count; width > 1; i >>= 1, width = (width + 1) >> 1) {
    if (i % 2 === 0 && i + 1 >= width) continue
    const sibling = proof.subarray(offset, offset + HASH_BYTES)
    offset += HASH_BYTES
    node = i % 2 === 1 ? inner(sibling, node) : inner(node, sibling)
    const key = node.toString('latin1')
    if (known(key)) return { passed }
    passed.push(key)
  }
  return { passed, signed: batchMessage(count, node) }
}

function checkSignature (publicKey: Buffer, signed: Buffer, proof: Buffer): boolean {
  return sodium.crypto_sign_verify_detached(proof.subarray(0, SIGNATURE_BYTES), signed, publicKey)
}

/** True when `proof` shows that `origin` signed this message (alone or in a batch). */
export function verifyMessage (origin: NodeId, topic: TopicId, id: MessageId, content: Uint8Array, proof: Uint8Array | undefined): boolean {
  return new OriginVerifier(0).verify(origin, topic, id, content, proof)
}

/**
 * Checks proofs, remembering the tree nodes of every batch whose signature held, and those of
 * every message proven by hashing up to such a node: a node of such a tree stands for its origin's
 * messages below it (a hash collision aside), so the batch's other messages stop climbing where
 * they meet the tree. Remembering the nodes of the climbs that met it too makes that a hash or
 * two up: remembering only the signed climbs' nodes, most messages of a batch of 256 climbed 6
 * or 7 levels to meet the first message's path. Bounded: the oldest nodes are forgotten first.
 */
export class OriginVerifier {
  /**
   * Tree nodes proven, by their 32 bytes (as a latin1 string) -> the origin they were proven for;
   * a node vouches only for that origin's messages. Keyed by the bytes alone: keys of the origin's
   * hex and the node's base64 were 108 characters to build and hash for every node climbed.
   */
  private readonly known = new Map<string, NodeId>()
  /**
   * The same keys in the order they were remembered, as a ring: the oldest is forgotten from here.
   * Asking a full Map for its first key instead walks over every slot deleted before it until V8
   * rehashes: in a receiver at saturation, where every proof evicts, that was 7-8 % of its CPU.
   */
  private readonly order: string[] = []
  private next = 0
  /** The last origin's public key and the last topic's bytes: a stream decodes each once. */
  private lastOrigin = ''
  private lastKey = EMPTY
  private lastTopic = ''
  private lastTopicBytes = EMPTY

  constructor (private readonly maxNodes = 8192) {}

  verify (origin: NodeId, topic: TopicId, id: MessageId, content: Uint8Array, proof: Uint8Array | undefined): boolean {
    if (proof === undefined) return false
    if (topic !== this.lastTopic) {
      this.lastTopic = topic
      this.lastTopicBytes = Buffer.from(topic, 'hex')
    }
    const leaf = digest(this.lastTopicBytes, id, content)
    // The decoder hands out Buffers; a view only for a caller that passes a plain Uint8Array.
    const bytes = Buffer.isBuffer(proof) ? proof : Buffer.from(proof.buffer, proof.byteOffset, proof.byteLength)
    if (bytes.byteLength === SIGNATURE_BYTES) return checkSignature(this.publicKey(origin), leaf, bytes)
    const place = batchPlace(bytes)
    if (place === undefined) return false
    const climbed = climb(leaf, bytes, place.index, place.count, key => this.known.get(key) === origin)
    if (climbed.signed !== undefined && !checkSignature(this.publicKey(origin), climbed.signed, bytes)) return false
    for (const key of climbed.passed) this.remember(key, origin)
    return true
  }

  private publicKey (origin: NodeId): Buffer {
    if (origin !== this.lastOrigin) {
      this.lastOrigin = origin
      this.lastKey = Buffer.from(origin, 'hex')
    }
    return this.lastKey
  }

  /** A node already known (for any origin) keeps its first owner: the ring never holds a key twice. */
  private remember (k: string, origin: NodeId): void {
    if (this.maxNodes <= 0 || this.known.has(k)) return
    if (this.order.length < this.maxNodes) {
      this.order.push(k)
    } else {
      this.known.delete(this.order[this.next] as string)
      this.order[this.next] = k
      this.next = (this.next + 1) % this.maxNodes
    }
    this.known.set(k, origin)
  }
}
