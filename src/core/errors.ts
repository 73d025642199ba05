/**
 * Every error Grapevine throws or rejects with is a `GossipError` with a stable `code`, so callers
 * can branch on `err.code` the way they do with Node's own errors.
 */

export type GossipErrorCode =
  | 'ERR_GOSSIP_CLOSED'
  | 'ERR_GOSSIP_MESSAGE_TOO_LARGE'
  | 'ERR_GOSSIP_INVALID_TOPIC'
  | 'ERR_GOSSIP_INVALID_OPTION'
  | 'ERR_GOSSIP_INVALID_MESSAGE'
  | 'ERR_GOSSIP_HANDSHAKE'
  | 'ERR_GOSSIP_CODEC'
  | 'ERR_GOSSIP_FRAME_TOO_LARGE'
  | 'ERR_GOSSIP_QUEUE_FULL'
  | 'ERR_GOSSIP_TOO_MANY_TOPICS'
  | 'ERR_GOSSIP_UNKNOWN_PEER'
  | 'ERR_GOSSIP_LISTEN'
  | 'ERR_GOSSIP_MISSING_DEPENDENCY'

export class GossipError extends Error {
  readonly code: GossipErrorCode

  constructor (code: GossipErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'GossipError'
    this.code = code
  }
}

export class MessageTooLargeError extends GossipError {
  readonly size: number
  readonly limit: number

  constructor (size: number, limit: number) {
    super('ERR_GOSSIP_MESSAGE_TOO_LARGE', `message of ${size} bytes exceeds the limit of ${limit} bytes`)
    this.name = 'MessageTooLargeError'
    this.size = size
    this.limit = limit
  }
}

export class ClosedError extends GossipError {
  constructor (what = 'gossip node') {
    super('ERR_GOSSIP_CLOSED', `${what} is closed`)
    this.name = 'ClosedError'
  }
}

/** A peer sent bytes that do not decode to a valid frame. The link to it is closed with this reason. */
export class CodecError extends GossipError {
  constructor (message: string, options?: { cause?: unknown }) {
    super('ERR_GOSSIP_CODEC', message, options)
    this.name = 'CodecError'
  }
}
