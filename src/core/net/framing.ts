/**
 * Length-prefixed framing: each frame is a 4-byte big-endian body length followed by the body.
 * The decoder is fed whatever chunks the stream produces and hands back whole bodies; a body that
 * sits inside one chunk is returned as a view of it, not a copy.
 */
import { GossipError } from '../errors.js'

export const FRAME_HEADER_BYTES = 4

/** Default largest frame body: a 256 KiB payload plus room for the frame around it. */
export const DEFAULT_MAX_FRAME_SIZE = 256 * 1024 + 4096

export class FrameTooLargeError extends GossipError {
  readonly size: number
  readonly limit: number

  constructor (size: number, limit: number) {
    super('ERR_GOSSIP_FRAME_TOO_LARGE', `frame of ${size} bytes exceeds the limit of ${limit} bytes`)
    this.name = 'FrameTooLargeError'
    this.size = size
    this.limit = limit
  }
}

/** Write the length prefix of a `length`-byte body at `offset` of `target`. */
export function writeFrameHeader (target: Uint8Array, offset: number, length: number): void {
  target[offset] = length >>> 24
  target[offset + 1] = (length >>> 16) & 0xff
  target[offset + 2] = (length >>> 8) & 0xff
  target[offset + 3] = length & 0xff
}

/** One frame on the wire: header and body in a single buffer. */
export function frameBytes (body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.byteLength)
  writeFrameHeader(out, 0, body.byteLength)
  out.set(body, FRAME_HEADER_BYTES)
  return out
}

export class FrameDecoder {
  readonly maxFrameSize: number
  private chunks: Uint8Array[] = []
  /** Read position inside chunks[0]. */
  private offset = 0
  private buffered = 0

  constructor (maxFrameSize: number) {
    this.maxFrameSize = maxFrameSize
  }

  /** Bytes received but not yet returned as frames (non-zero at end of stream = truncated frame). */
  get pending (): number {
    return this.buffered
  }

  push (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
  }

  /**
   * The next complete body, or null until more bytes arrive. Throws FrameTooLargeError as soon as
   * a header announces more than the limit, before any of that body is waited for.
   */
  next (): Uint8Array | null {
    if (this.buffered < FRAME_HEADER_BYTES) return null
    const length = this.peekLength()
    if (length > this.maxFrameSize) throw new FrameTooLargeError(length, this.maxFrameSize)
    if (this.buffered < FRAME_HEADER_BYTES + length) return null
    this.skip(FRAME_HEADER_BYTES)
    return this.take(length)
  }

  private peekLength (): number {
    const first = this.chunks[0]!
    if (first.byteLength - this.offset >= FRAME_HEADER_BYTES) {
      const o = this.offset
      return ((first[o]! << 24) >>> 0) + (first[o + 1]! << 16) + (first[o + 2]! << 8) + first[o + 3]!
    }
    let length = 0
    let read = 0
    let index = 0
    let offset = this.offset
    while (read < FRAME_HEADER_BYTES) {
      const chunk = this.chunks[index]!
      while (offset < chunk.byteLength && read < FRAME_HEADER_BYTES) {
        length = length * 256 + chunk[offset++]!
        read++
      }
      index++
      offset = 0
    }
    return length
  }

  private skip (count: number): void {
    this.buffered -= count
    while (count > 0) {
      const first = this.chunks[0]!
      const available = first.byteLength - this.offset
      if (count < available) {
        this.offset += count
        return
      }
      count -= available
      this.chunks.shift()
      this.offset = 0
    }
  }

  private take (length: number): Uint8Array {
    const first = this.chunks[0]
    if (length === 0 || first === undefined) return new Uint8Array(0)
    if (first.byteLength - this.offset >= length) {
      const body = first.subarray(this.offset, this.offset + length)
      this.skip(length)
      return body
    }
    const body = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      const chunk = this.chunks[0]!
      const n = Math.min(length - filled, chunk.byteLength - this.offset)
      body.set(chunk.subarray(this.offset, this.offset + n), filled)
      filled += n
      this.skip(n)
    }
    return body
  }
}
