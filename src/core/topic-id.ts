import { createHash } from 'node:crypto'
import type { TopicId, TopicInput } from './api.js'
import { GossipError } from './errors.js'

/**
 * Applications name topics with strings ("room:42"); the wire carries 32 bytes. Strings are hashed
 * with SHA-256 so two instances that use the same name meet in the same overlay; 32 raw bytes are
 * taken as they are, for callers that already have an id.
 */
export function toTopicId (topic: TopicInput): TopicId {
  if (typeof topic === 'string') return createHash('sha256').update(topic).digest('hex')
  if (topic instanceof Uint8Array && topic.length === 32) return Buffer.from(topic.buffer, topic.byteOffset, 32).toString('hex')
  throw new GossipError('ERR_GOSSIP_INVALID_TOPIC', 'a topic is a string or exactly 32 bytes')
}
