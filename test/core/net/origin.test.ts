/**
 * Origin proofs: one signature for a batch of messages, each message carrying the path to the
 * signed root. Every message of a batch verifies on its own; nothing else does.
 */
import t from 'tap'
import { generateKeyPair, nodeIdOf } from '../../../src/core/net/identity.js'
import { MAX_BATCH, MAX_PROOF_BYTES, OriginVerifier, SIGNATURE_BYTES, signBatch, signMessage, verifyMessage } from '../../../src/core/net/origin.js'
import type { Signable } from '../../../src/core/net/origin.js'
import { decodeFrame, encodeFrame } from '../../../src/core/net/codec.js'
import { NoiseSecretStream } from '../../../src/core/net/noise-stream.js'

const keys = generateKeyPair()
const origin = nodeIdOf(keys.publicKey)
const TOPIC = 'ab'.repeat(32)

function batch (n: number, prefix = 'm'): Signable[] {
  return Array.from({ length: n }, (_, i) => ({ topic: TOPIC, id: `${prefix}.${i}`, content: Buffer.from(`content ${i}`) }))
}

t.test('every message of a batch of any size verifies, with a proof within the wire limit that the codec carries', async t => {
  for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 100, 255, MAX_BATCH]) {
    const messages = batch(n)
    const proofs = signBatch(keys.secretKey, messages)
    t.equal(proofs.length, n)
    const ok = messages.every((m, i) => verifyMessage(origin, m.topic, m.id, m.content, proofs[i]))
    const sizes = proofs.map(p => p.byteLength)
    t.ok(ok, `a batch of ${n}: every message verifies (proofs ${Math.min(...sizes)}-${Math.max(...sizes)} bytes)`)
    t.ok(sizes.every(s => s >= SIGNATURE_BYTES && s <= MAX_PROOF_BYTES), 'within the limits')
    const m = messages[n - 1]!
    const frame = { type: 'proto' as const, message: { topic: TOPIC, body: { type: 'gossip' as const, id: m.id, origin, content: m.content, round: 0, sig: proofs[n - 1] } } }
    t.same(decodeFrame(encodeFrame(frame)), frame, 'and crosses the codec unchanged')
  }
  t.same(signBatch(keys.secretKey, batch(1)), [signMessage(keys.secretKey, TOPIC, 'm.0', Buffer.from('content 0'))], 'a batch of one is a plain signature')
})

t.test('a proof is worth one message of one origin: another message, content, id, topic or origin fails', async t => {
  const messages = batch(10)
  const proofs = signBatch(keys.secretKey, messages)
  const m = messages[3]!
  const p = proofs[3]!
  t.notOk(verifyMessage(origin, m.topic, m.id, m.content, proofs[4]), 'the proof of a sibling')
  t.notOk(verifyMessage(origin, m.topic, m.id, Buffer.from('other'), p), 'other content')
  t.notOk(verifyMessage(origin, m.topic, 'm.4', m.content, p), 'other id')
  t.notOk(verifyMessage(origin, 'cd'.repeat(32), m.id, m.content, p), 'other topic')
  t.notOk(verifyMessage(nodeIdOf(generateKeyPair().publicKey), m.topic, m.id, m.content, p), 'other origin')
  t.notOk(verifyMessage(origin, m.topic, m.id, m.content, undefined), 'no proof')
})

t.test('a tampered proof fails: a sibling, the index, the count, a byte cut or added', async t => {
  const messages = batch(10)
  const proofs = signBatch(keys.secretKey, messages)
  const m = messages[3]!
  const tampered = (edit: (b: Buffer) => Buffer): boolean => verifyMessage(origin, m.topic, m.id, m.content, edit(Buffer.from(proofs[3]!)))
  t.ok(tampered(b => b), 'untouched, it verifies')
  t.notOk(tampered(b => { b[SIGNATURE_BYTES + 4]! ^= 1; return b }), 'a sibling hash changed')
  t.notOk(tampered(b => { b.writeUInt16BE(2, SIGNATURE_BYTES); return b }), 'another index')
  t.notOk(tampered(b => { b.writeUInt16BE(11, SIGNATURE_BYTES + 2); return b }), 'another count')
  t.notOk(tampered(b => { b.writeUInt16BE(10, SIGNATURE_BYTES); return b }), 'an index beyond the count')
  t.notOk(tampered(b => b.subarray(0, b.byteLength - 1)), 'a byte cut')
  t.notOk(tampered(b => Buffer.concat([b, Buffer.alloc(32)])), 'a sibling added')
  t.notOk(tampered(b => { b[0]! ^= 1; return b }), 'the signature changed')
})

t.test('the verifier checks a batch\'s signature once: the other messages cost hashes only', async t => {
  const messages = batch(50)
  const proofs = signBatch(keys.secretKey, messages)
  const v = new OriginVerifier()
  t.ok(v.verify(origin, TOPIC, messages[0]!.id, messages[0]!.content, proofs[0]), 'the first message checks the signature')
  // The root is known now: a later message's signature bytes are not read again.
  const withoutSignature = Buffer.from(proofs[1]!)
  withoutSignature.fill(0, 0, SIGNATURE_BYTES)
  t.ok(v.verify(origin, TOPIC, messages[1]!.id, messages[1]!.content, withoutSignature), 'a sibling verifies from the remembered root')
  t.notOk(new OriginVerifier().verify(origin, TOPIC, messages[1]!.id, messages[1]!.content, withoutSignature), 'a verifier that has not seen the root checks the signature')
  t.notOk(v.verify(origin, TOPIC, messages[1]!.id, Buffer.from('forged'), withoutSignature), 'the remembered root proves only the batch\'s own messages')
  t.notOk(v.verify(nodeIdOf(generateKeyPair().publicKey), TOPIC, messages[1]!.id, messages[1]!.content, proofs[1]), 'nor for another origin')
  // Another origin signing the very same messages: its tree has the same nodes, remembered under
  // the first origin, which vouch for nothing of the second's.
  const otherKeys = generateKeyPair()
  const other = nodeIdOf(otherKeys.publicKey)
  const otherProofs = signBatch(otherKeys.secretKey, messages)
  const otherWithoutSignature = Buffer.from(otherProofs[2]!)
  otherWithoutSignature.fill(0, 0, SIGNATURE_BYTES)
  t.notOk(v.verify(other, TOPIC, messages[2]!.id, messages[2]!.content, otherWithoutSignature), 'a node remembered for one origin does not vouch for another')
  t.ok(v.verify(other, TOPIC, messages[2]!.id, messages[2]!.content, otherProofs[2]), 'the other origin\'s own signature still holds')
  const small = new OriginVerifier(2)
  for (const n of [0, 1, 2]) {
    const other = batch(2, `b${n}`)
    t.ok(small.verify(origin, TOPIC, other[0]!.id, other[0]!.content, signBatch(keys.secretKey, other)[0]))
  }
  t.pass('a bounded verifier keeps verifying past its bound')
})

t.test('a message proven by meeting a known node leaves its own path known: its sibling then stops one hash up', async t => {
  const messages = batch(64)
  const proofs = signBatch(keys.secretKey, messages)
  const v = new OriginVerifier()
  const check = (i: number, proof = proofs[i]): boolean => v.verify(origin, TOPIC, messages[i]!.id, messages[i]!.content, proof)
  t.ok(check(0), 'the first checks the signature')
  t.ok(check(2), 'the third climbs to the first one\'s path')
  // Message 3's first sibling is message 2's leaf; the node above them is known now, so nothing
  // above it is read: garbled upper siblings and no signature still verify.
  const garbled = Buffer.from(proofs[3]!)
  garbled.fill(0, 0, SIGNATURE_BYTES)
  garbled.fill(7, SIGNATURE_BYTES + 4 + 32)
  t.ok(check(3, garbled), 'the fourth stops at the node the third proved')
  // A message whose own path was not proven still needs its siblings right.
  const far = Buffer.from(proofs[40]!)
  far.fill(0, 0, SIGNATURE_BYTES)
  far.fill(7, SIGNATURE_BYTES + 4 + 32)
  t.notOk(check(40, far), 'far from any known node, garbled siblings fail')
  t.ok(check(40), 'and its true proof holds')
})

t.test('one verifier, batches of every shape arriving in any order: every message verifies, a forged one never does', async t => {
  let state = 7
  const next = (n: number): number => { state = (state * 1103515245 + 12345) % 2147483648; return state % n }
  const v = new OriginVerifier()
  for (const n of [2, 3, 5, 6, 7, 17, 100, 255, MAX_BATCH]) {
    const messages = batch(n, `s${n}`)
    const proofs = signBatch(keys.secretKey, messages)
    const order = Array.from({ length: n }, (_, i) => i)
    for (let i = n - 1; i > 0; i--) { const j = next(i + 1); [order[i], order[j]] = [order[j]!, order[i]!] }
    let verified = 0
    let forged = 0
    for (const i of order) {
      const m = messages[i]!
      // Before the real one: the same proof with other content, once the tree is partly known.
      if (v.verify(origin, m.topic, m.id, Buffer.from('forged'), proofs[i])) forged++
      if (v.verify(origin, m.topic, m.id, m.content, proofs[i])) verified++
    }
    t.equal(verified, n, `a batch of ${n} in shuffled order: all verify`)
    t.equal(forged, 0, 'and no forged content does')
  }
})

t.test('a bounded verifier forgets the oldest nodes first, and only those', async t => {
  // A batch of two: its root is the one node above the leaves, remembered once a message checks.
  const v = new OriginVerifier(3)
  const batches = [0, 1, 2, 3].map(n => { const m = batch(2, `r${n}`); return { m, proofs: signBatch(keys.secretKey, m) } })
  const unsigned = (b: number): boolean => {
    const { m, proofs } = batches[b]!
    const proof = Buffer.from(proofs[1]!)
    proof.fill(0, 0, SIGNATURE_BYTES)
    return v.verify(origin, TOPIC, m[1]!.id, m[1]!.content, proof)
  }
  for (const b of [0, 1, 2]) t.ok(v.verify(origin, TOPIC, batches[b]!.m[0]!.id, batches[b]!.m[0]!.content, batches[b]!.proofs[0]))
  t.ok(unsigned(0) && unsigned(1) && unsigned(2), 'three roots known: each batch\'s other message needs no signature')
  t.ok(v.verify(origin, TOPIC, batches[3]!.m[0]!.id, batches[3]!.m[0]!.content, batches[3]!.proofs[0]), 'a fourth root')
  t.notOk(unsigned(0), 'the oldest root is forgotten: its batch must show its signature again')
  t.ok(unsigned(1) && unsigned(2) && unsigned(3), 'the others are still known')
})

t.test('a batch beyond MAX_BATCH is refused', async t => {
  t.throws(() => signBatch(keys.secretKey, batch(MAX_BATCH + 1)), RangeError)
})

t.test('what is signed does not change between versions (nodes of two versions check each other): signatures pinned, with topics alternating', async t => {
  // Ed25519 signatures are deterministic: the same key and the same digest give the same bytes.
  // Pinned from the implementation of 2026-12-02.
  const { publicKey, secretKey } = NoiseSecretStream.keyPair(Buffer.alloc(32, 7))
  const one = '361eca7312d4242fc8ebdc3ac575e5b864bab15fb0408d64200d4c187a81a06d479929b02aba5945d9d36e7066179187524646aef2ed09cd06147517e5ebaf09'
  const third = '28b6bee24be6e91ace3f3c772ba8bbf3b43282a4e7994ed83fdedbe4b4b183d1d4e1ce2812a86c9608a68c83a780c7104b32a9e4585f9ce21c3970dd727b5d0a0002000367dbdc5ddf48d403829dc80065df63a87b1faf35720df1e1a8e58a30c491c8a1'
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
  for (const before of ['cd'.repeat(32), TOPIC, 'not hex']) {
    signMessage(secretKey, before, 'other', Buffer.from('x'))
    t.equal(hex(signMessage(secretKey, TOPIC, 'é-id.1', Buffer.from('hello'))), one, `one message (after a digest for ${before.slice(0, 8)}…)`)
    const proofs = signBatch(secretKey, [0, 1, 2].map(i => ({ topic: TOPIC, id: `p.${i}`, content: Buffer.from(`m${i}`) })))
    t.equal(hex(proofs[2] as Uint8Array), third, 'a batch')
  }
  t.ok(verifyMessage(nodeIdOf(publicKey), TOPIC, 'é-id.1', Buffer.from('hello'), Buffer.from(one, 'hex')), 'and it still verifies')
})
