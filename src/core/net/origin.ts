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
import { KnownNodes } from './known-nodes.js'

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

/**
 * A digest's parts are copied into one buffer and hashed in one call when the content is at most
 * this long: sodium's batch call walks a JS array from C++ and cost 1.6 us a digest of 100 B
 * against 1.3 us copied (an inner node: 0.86 against 0.73). Longer content is hashed in parts.
 */
const COPIED_CONTENT_BYTES = 4096
const digestInput = Buffer.allocUnsafe(DOMAIN.byteLength + HASH_BYTES + 3 * wireLimits.maxIdLength + 1 + COPIED_CONTENT_BYTES)
const innerInput = Buffer.alloc(1 + 2 * HASH_BYTES, INNER)

/** `topic`: the topic id's bytes (its hex decoded). Writes the message's digest into `out`. */
function digestInto (out: Buffer, topic: Buffer, id: MessageId, content: Uint8Array): void {
  if (content.byteLength > COPIED_CONTENT_BYTES || topic.byteLength > HASH_BYTES || id.length > wireLimits.maxIdLength) {
    sodium.crypto_generichash_batch(out, [DOMAIN, topic, Buffer.from(id), SEPARATOR, content])
    return
  }
  let at = DOMAIN.copy(digestInput, 0)
  at += topic.copy(digestInput, at)
  at += digestInput.write(id, at, 'utf8')
  digestInput[at++] = 0
  digestInput.set(content, at)
  sodium.crypto_generichash(out, digestInput.subarray(0, at + content.byteLength))
}

function digest (topic: Buffer, id: MessageId, content: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  digestInto(out, topic, id, content)
  return out
}

/** The node above `left` and `right` (32 bytes each, at those offsets) into `out`. */
function innerInto (out: Buffer, left: Buffer, leftAt: number, right: Buffer, rightAt: number): void {
  left.copy(innerInput, 1, leftAt, leftAt + HASH_BYTES)
  right.copy(innerInput, 1 + HASH_BYTES, rightAt, rightAt + HASH_BYTES)
  sodium.crypto_generichash(out, innerInput)
}

function inner (left: Buffer, right: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HASH_BYTES)
  innerInto(out, left, 0, right, 0)
  return out
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

function checkSignature (publicKey: Buffer, signed: Buffer, proof: Buffer): boolean {
  return sodium.crypto_sign_verify_detached(proof.subarray(0, SIGNATURE_BYTES), signed, publicKey)
}

/** True when `proof` shows that `origin` signed this message (alone or in a batch). */
export function verifyMessage (origin: NodeId, topic: TopicId, id: MessageId, content: Uint8Array, proof: Uint8Array | undefined): boolean {
  oneOff ??= new OriginVerifier(0)
  return oneOff.verify(origin, topic, id, content, proof)
}

/** A verifier that remembers nothing, for `verifyMessage`. */
let oneOff: OriginVerifier | undefined

/**
 * Checks proofs, remembering the tree nodes of every batch whose signature held, and those of
 * every message proven by hashing up to such a node: a node of such a tree stands for its origin's
 * messages below it (a hash collision aside), so the batch's other messages stop climbing where
 * they meet the tree. Remembering the nodes of the climbs that met it too makes that a hash or
 * two up: remembering only the signed climbs' nodes, most messages of a batch of 256 climbed 6
 * or 7 levels to meet the first message's path. Bounded: the oldest nodes are forgotten first.
 */
export class OriginVerifier {
  /** Tree nodes proven, each with the origin it was proven for (and vouches for alone), oldest forgotten first. */
  private readonly known: KnownNodes
  /** The climb's nodes, the leaf first: one 32-byte view per level, made once. */
  private readonly path: Buffer[]
  /** The last origin's public key and the last topic's bytes: a stream decodes each once. */
  private lastOrigin = ''
  private lastKey = EMPTY
  private lastTopic = ''
  private lastTopicBytes = EMPTY

  constructor (maxNodes = 8192) {
    this.known = new KnownNodes(maxNodes)
    const bytes = Buffer.alloc((MAX_DEPTH + 1) * HASH_BYTES)
    this.path = Array.from({ length: MAX_DEPTH + 1 }, (_, k) => bytes.subarray(k * HASH_BYTES, (k + 1) * HASH_BYTES))
  }

  verify (origin: NodeId, topic: TopicId, id: MessageId, content: Uint8Array, proof: Uint8Array | undefined): boolean {
    if (proof === undefined) return false
    if (topic !== this.lastTopic) {
      this.lastTopic = topic
      this.lastTopicBytes = Buffer.from(topic, 'hex')
    }
    const path = this.path
    digestInto(path[0] as Buffer, this.lastTopicBytes, id, content)
    // The decoder hands out Buffers; a view only for a caller that passes a plain Uint8Array.
    const bytes = Buffer.isBuffer(proof) ? proof : Buffer.from(proof.buffer, proof.byteOffset, proof.byteLength)
    if (bytes.byteLength === SIGNATURE_BYTES) return checkSignature(this.publicKey(origin), path[0] as Buffer, bytes)
    const place = batchPlace(bytes)
    if (place === undefined) return false
    // Up from the leaf, stopping at the first node known for this origin. The leaf itself is never
    // remembered: it stands for this one message, which the caller never checks twice. A node
    // carried up a level without a sibling stays where it is, asked about once.
    let level = 0
    let met = false
    let offset = SIGNATURE_BYTES + 4
    for (let i = place.index, width = place.count; width > 1; i >>= 1, width = (width + 1) >> 1) {
      if (i % 2 === 0 && i + 1 >= width) continue
      const node = path[level] as Buffer
      level++
      if (i % 2 === 1) innerInto(path[level] as Buffer, bytes, offset, node, 0)
      else innerInto(path[level] as Buffer, node, 0, bytes, offset)
      offset += HASH_BYTES
      if (this.known.vouches(path[level] as Buffer, 0, origin)) {
        met = true
        break
      }
    }
    if (!met && !checkSignature(this.publicKey(origin), batchMessage(place.count, path[level] as Buffer), bytes)) return false
    const passed = met ? level - 1 : level
    for (let k = 1; k <= passed; k++) this.known.remember(path[k] as Buffer, 0, origin)
    return true
  }

  private publicKey (origin: NodeId): Buffer {
    if (origin !== this.lastOrigin) {
      this.lastOrigin = origin
      this.lastKey = Buffer.from(origin, 'hex')
    }
    return this.lastKey
  }
}
