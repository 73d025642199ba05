/**
 * Message ids: unique per publish, never a content hash, so the same bytes published twice are two
 * messages. A node draws a 128-bit random prefix once and appends a sequence number; ids of
 * different nodes collide only if their prefixes do. The runtime passes a prefix drawn from
 * `crypto` (a seeded stream has only as many prefixes as it has seeds); the simulator draws it
 * from the node's seeded stream, for reproducible runs.
 */
import { randomHex } from './random.js'
import type { MessageId, Rng } from './types.js'

/** Hex characters of the random prefix: 32 = 128 bits. */
export const MESSAGE_ID_PREFIX_CHARS = 32

export class MessageIds {
  readonly prefix: string
  private seq = 0

  constructor (rng: Rng, prefix?: string) {
    this.prefix = prefix ?? randomHex(rng, MESSAGE_ID_PREFIX_CHARS)
  }

  /** `<32 hex chars>.<sequence in hex>`, the sequence starting at 0. */
  next (): MessageId {
    return `${this.prefix}.${(this.seq++).toString(16)}`
  }
}
