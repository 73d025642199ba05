/**
 * The bridge's wire protocol between a browser (or any WebSocket client) and one instance.
 *
 * Control frames are JSON text frames. A text payload travels inside them as `data` (a string,
 * carried on the gossip wire as its UTF-8 bytes). A binary payload travels in a binary frame
 * with a small header, so bytes are never base64-inflated:
 *
 *   client -> server  publish: [0x01][u16 topic length][topic UTF-8][u8 id length][id UTF-8][payload]
 *   server -> client  message: [0x02][u16 topic length][topic UTF-8][u8 origin length][origin][payload]
 *
 * Parsing is strict: any deviation is a `FrameError` whose code goes back to the client in an
 * error frame. Nothing here touches a socket.
 */

export type FrameId = string | number

/** How a subscriber wants message payloads: `text` sends valid UTF-8 as a string and anything else as binary. */
export type PayloadFormat = 'text' | 'binary'

export type ClientFrame =
  | { op: 'subscribe', topic: string, format: PayloadFormat, id?: FrameId }
  | { op: 'unsubscribe', topic: string, id?: FrameId }
  | { op: 'publish', topic: string, data: Uint8Array, id?: FrameId }

export type ErrorCode =
  | 'BAD_FRAME'
  | 'UNKNOWN_OP'
  | 'BAD_TOPIC'
  | 'BAD_DATA'
  | 'BAD_ID'
  | 'FORBIDDEN'
  | 'TOO_MANY_TOPICS'
  | 'RATE_LIMITED'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  | 'LAGGED'

export const OP_BINARY_PUBLISH = 0x01
export const OP_BINARY_MESSAGE = 0x02

/** Topics are names a person would read; the cap keeps per-connection state small. */
export const MAX_TOPIC_LENGTH = 256
const MAX_ID_LENGTH = 64

export class FrameError extends Error {
  readonly code: ErrorCode
  readonly id: FrameId | undefined
  readonly topic: string | undefined

  constructor (code: ErrorCode, reason: string, context: { id?: FrameId | undefined, topic?: string | undefined } = {}) {
    super(reason)
    this.code = code
    this.id = context.id
    this.topic = context.topic
  }
}

const KEYS: Record<ClientFrame['op'], ReadonlySet<string>> = {
  subscribe: new Set(['op', 'topic', 'id', 'format']),
  unsubscribe: new Set(['op', 'topic', 'id']),
  publish: new Set(['op', 'topic', 'id', 'data'])
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export function parseClientFrame (raw: Uint8Array, isBinary: boolean): ClientFrame {
  return isBinary ? parseBinaryPublish(raw) : parseTextFrame(raw)
}

function parseTextFrame (raw: Uint8Array): ClientFrame {
  let value: unknown
  try {
    value = JSON.parse(strictUtf8.decode(raw))
  } catch {
    throw new FrameError('BAD_FRAME', 'a text frame must be a JSON object')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FrameError('BAD_FRAME', 'a text frame must be a JSON object')
  }
  const frame = value as Record<string, unknown>
  // The id is read first so that every later error can be correlated by the client.
  const id = 'id' in frame ? checkId(frame.id) : undefined
  const op = frame.op
  if (op !== 'subscribe' && op !== 'unsubscribe' && op !== 'publish') {
    throw new FrameError('UNKNOWN_OP', `op must be "subscribe", "unsubscribe" or "publish", got ${describe(op)}`, { id })
  }
  for (const key of Object.keys(frame)) {
    if (!KEYS[op].has(key)) throw new FrameError('BAD_FRAME', `unexpected field "${key}" in a ${op} frame`, { id })
  }
  const topic = checkTopic(frame.topic, id)
  const withId = id === undefined ? {} : { id }
  switch (op) {
    case 'subscribe': {
      const format = frame.format ?? 'text'
      if (format !== 'text' && format !== 'binary') {
        throw new FrameError('BAD_FRAME', 'format must be "text" or "binary"', { id, topic })
      }
      return { op, topic, format, ...withId }
    }
    case 'unsubscribe':
      return { op, topic, ...withId }
    case 'publish':
      if (typeof frame.data !== 'string') {
        throw new FrameError('BAD_DATA', 'data of a text publish must be a string (send bytes in a binary frame)', { id, topic })
      }
      return { op, topic, data: utf8.encode(frame.data), ...withId }
  }
}

function parseBinaryPublish (raw: Uint8Array): ClientFrame {
  if (raw.length < 4 || raw[0] !== OP_BINARY_PUBLISH) {
    throw new FrameError('BAD_FRAME', 'a binary frame must start with 0x01 (publish) and a topic')
  }
  const topicLength = (raw[1]! << 8) | raw[2]!
  const idAt = 3 + topicLength
  if (idAt >= raw.length) throw new FrameError('BAD_FRAME', 'binary frame shorter than its header says')
  let topic: unknown
  try {
    topic = strictUtf8.decode(raw.subarray(3, idAt))
  } catch {
    throw new FrameError('BAD_TOPIC', 'topic is not valid UTF-8')
  }
  const idLength = raw[idAt]!
  const dataAt = idAt + 1 + idLength
  if (dataAt > raw.length) throw new FrameError('BAD_FRAME', 'binary frame shorter than its header says')
  let id: FrameId | undefined
  if (idLength > 0) {
    try {
      id = checkId(strictUtf8.decode(raw.subarray(idAt + 1, dataAt)))
    } catch (err) {
      if (err instanceof FrameError) throw err
      throw new FrameError('BAD_ID', 'id is not valid UTF-8')
    }
  }
  const checkedTopic = checkTopic(topic, id)
  const frame: ClientFrame = { op: 'publish', topic: checkedTopic, data: raw.subarray(dataAt) }
  if (id !== undefined) frame.id = id
  return frame
}

function checkId (id: unknown): FrameId {
  if (typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH) return id
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id
  throw new FrameError('BAD_ID', `id must be a non-negative integer or a string of 1 to ${MAX_ID_LENGTH} characters`)
}

function checkTopic (topic: unknown, id: FrameId | undefined): string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new FrameError('BAD_TOPIC', `topic must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`, { id })
  }
  return topic
}

function describe (value: unknown): string {
  if (value === undefined) return 'nothing'
  return JSON.stringify(value)?.slice(0, 40) ?? typeof value
}

/**
 * One received message, encoded at most once per format however many clients it goes to: the
 * fan-out of a busy topic sends the same Buffer to every socket.
 */
export class OutboundMessage {
  private text: Buffer | null | undefined
  private binary: Buffer | undefined

  constructor (readonly topic: string, readonly content: Uint8Array, readonly origin: string) {}

  /** The frame for a subscriber of `format`, and whether it goes out as a binary frame. */
  frame (format: PayloadFormat): { bytes: Buffer, binary: boolean } {
    if (format === 'text') {
      const text = this.textFrame()
      if (text !== null) return { bytes: text, binary: false }
    }
    return { bytes: this.binaryFrame(), binary: true }
  }

  private textFrame (): Buffer | null {
    if (this.text === undefined) {
      let data: string | undefined
      try {
        data = strictUtf8.decode(this.content)
      } catch {
        data = undefined
      }
      this.text = data === undefined
        ? null
        : Buffer.from(JSON.stringify({ op: 'message', topic: this.topic, data, origin: this.origin }))
    }
    return this.text
  }

  private binaryFrame (): Buffer {
    if (this.binary === undefined) {
      const topic = Buffer.from(this.topic)
      const origin = Buffer.from(this.origin)
      const header = Buffer.allocUnsafe(4 + topic.length + origin.length)
      header[0] = OP_BINARY_MESSAGE
      header.writeUInt16BE(topic.length, 1)
      topic.copy(header, 3)
      header[3 + topic.length] = origin.length
      origin.copy(header, 4 + topic.length)
      this.binary = Buffer.concat([header, this.content])
    }
    return this.binary
  }
}

export function errorFrame (code: ErrorCode, reason: string, context: { id?: FrameId | undefined, topic?: string | undefined } = {}): string {
  const frame: Record<string, unknown> = { op: 'error', code, reason }
  if (context.id !== undefined) frame.id = context.id
  if (context.topic !== undefined) frame.topic = context.topic
  return JSON.stringify(frame)
}

export function ackFrame (id: FrameId): string {
  return JSON.stringify({ op: 'ack', id })
}
