/**
 * Message ids: unique per publish, never a content hash, so the same bytes published twice are two
 * messages. A node draws a 128-bit random prefix once and appends a sequence number; ids of
 * different nodes collide only if their prefixes do. The runtime draws its prefix from `crypto`
 * (a seeded stream has only as many prefixes as it has seeds) and writes it in base64url, the
 * sequence in base 36: `<22 characters>.<sequence>` (every pass over an id, from decoding it to
 * hashing it, costs per character, and hex made ids 38 characters long). The simulator draws
 * the prefix from the node's seeded stream in hex (`MessageIds`), for reproducible runs whose
 * byte counts stay comparable with earlier ones.
 */
import { randomHex } from './random.js'
import type { MessageId, Rng } from './types.js'

/** Hex characters of the simulator's random prefix: 32 = 128 bits. */
export const MESSAGE_ID_PREFIX_CHARS = 32

/** Random bytes of the runtime's prefix (128 bits, 22 characters in base64url). */
export const MESSAGE_ID_PREFIX_BYTES = 16

/** The runtime's id of the `seq`-th message published under `prefix`. */
export function runtimeMessageId (prefix: string, seq: number): string {
  return `${prefix}.${seq.toString(36)}`
}

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
