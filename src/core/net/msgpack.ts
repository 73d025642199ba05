/**
 * The few MessagePack pieces written and read by hand on hot paths (GOSSIP and direct frames, the
 * adapter's routed header), byte for byte what msgpackr writes: its smallest form of each. What
 * the rest of the wire carries goes through msgpackr itself.
 */

/** Bytes of the smallest encoding of a non-negative integer up to 2^32 - 1; 0 for anything else. */
export function uintBytes (n: number): number {
  if (!Number.isInteger(n) || n < 0) return 0
  if (n < 0x80) return 1
  if (n < 0x100) return 2
  if (n < 0x10000) return 3
  if (n <= 0xffffffff) return 5
  return 0
}

/** Writes `n` (one `uintBytes` accepts) at `at`; returns where the next field goes. */
export function writeUint (out: Buffer, at: number, n: number): number {
  switch (uintBytes(n)) {
    case 1: out[at] = n; return at + 1
    case 2: out[at] = 0xcc; out[at + 1] = n; return at + 2
    case 3: out[at] = 0xcd; out.writeUInt16BE(n, at + 1); return at + 3
    default: out[at] = 0xce; out.writeUInt32BE(n, at + 1); return at + 5
  }
}

/** Bytes of the header of a str of `n` bytes (fixstr below 32). */
export function strHeaderBytes (n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

/** Bytes of the header of a bin of `n` bytes. */
export function binHeaderBytes (n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5
}

/** Writes the header of a str of `n` bytes; returns where its bytes go. */
export function writeStrHeader (out: Buffer, at: number, n: number): number {
  if (n < 32) {
    out[at] = 0xa0 | n
    return at + 1
  }
  return writeSized(out, at, n, 0xd9)
}

/** Writes the header of a bin of `n` bytes; returns where its bytes go. */
export function writeBinHeader (out: Buffer, at: number, n: number): number {
  return writeSized(out, at, n, 0xc4)
}

/** An 8-, 16- or 32-bit length after `code8`, `code8 + 1` or `code8 + 2` (str and bin alike). */
function writeSized (out: Buffer, at: number, n: number, code8: number): number {
  if (n < 0x100) {
    out[at] = code8
    out[at + 1] = n
    return at + 2
  }
  if (n < 0x10000) {
    out[at] = code8 + 1
    out.writeUInt16BE(n, at + 1)
    return at + 3
  }
  out[at] = code8 + 2
  out.writeUInt32BE(n, at + 1)
  return at + 5
}

/**
 * A bin8, bin16 or bin32 at `at`: where it ends, or -1 if it is not one or runs past `end` (its
 * bytes start at `binDataAt`). A number rather than a pair: this is read for every message.
 */
export function readBin (bytes: Uint8Array, at: number, end: number): number {
  let length: number
  switch (bytes[at]) {
    case 0xc4: if (at + 2 > end) return -1; length = bytes[at + 1]!; break
    case 0xc5: if (at + 3 > end) return -1; length = (bytes[at + 1]! << 8) | bytes[at + 2]!; break
    case 0xc6: if (at + 5 > end) return -1; length = ((bytes[at + 1]! << 24) >>> 0) + (bytes[at + 2]! << 16) + (bytes[at + 3]! << 8) + bytes[at + 4]!; break
    default: return -1
  }
  const start = binDataAt(bytes, at)
  return start + length > end ? -1 : start + length
}

/** Where the bytes of the bin whose header is at `at` start (the header read by `readBin`). */
export function binDataAt (bytes: Uint8Array, at: number): number {
  const code = bytes[at]
  return at + (code === 0xc4 ? 2 : code === 0xc5 ? 3 : 5)
}
