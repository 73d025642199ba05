import { createHash } from 'node:crypto'
import type { TopicId, TopicInput } from './api.js'
import { GossipError } from './errors.js'

const NAMED_CACHE_SIZE = 1024
const NAMED_MAX_LENGTH = 256
const named = new Map<string, TopicId>()

/**
 * Applications name topics with strings ("room:42"); the wire carries 32 bytes. Strings are hashed
 * with SHA-256 so two instances that use the same name meet in the same overlay; 32 raw bytes are
 * taken as they are, for callers that already have an id.
 */
export function toTopicId (topic: TopicInput): TopicId {
  if (typeof topic === 'string') {
    // Callers name the same few topics again and again (the Socket.IO adapter on every direct
    // message): a hash each time was ~2 % of a server's CPU. Bounded, cleared when full.
    let id = named.get(topic)
    if (id === undefined) {
      id = createHash('sha256').update(topic).digest('hex')
      if (topic.length <= NAMED_MAX_LENGTH) {
        if (named.size >= NAMED_CACHE_SIZE) named.clear()
        named.set(topic, id)
      }
    }
    return id
  }
  if (topic instanceof Uint8Array && topic.length === 32) return Buffer.from(topic.buffer, topic.byteOffset, 32).toString('hex')
  throw new GossipError('ERR_GOSSIP_INVALID_TOPIC', 'a topic is a string or exactly 32 bytes')
}
