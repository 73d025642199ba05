/**
 * How discovery names a topic: 8 bytes (16 hex digits) of a SHA-256 digest of its id.
 *
 * Discovery only ever asks "who is in the topic I am in", so the asker holds the whole id already
 * and a key that tells topics apart is enough; the membership protocol's JOIN carries the id.
 * Topic lists were 34 bytes an entry on the wire and now take 8, and they were most of
 * discovery's traffic. The key is hashed rather than cut from the id because applications may
 * pass ids of their own, and those can share a prefix (a counter padded with zeros). Two topics
 * of a cluster share a key with odds of about n^2 / 2^65 (3 in 10^12 for 10,000 topics), and a
 * shared key only makes a member of the other topic a candidate neighbour.
 */
import { createHash } from 'node:crypto'
import type { TopicId } from '../proto/types.js'

/** 16 lowercase hex digits; never a topic id (the brand keeps the two apart). */
export type TopicKey = string & { readonly __topicKey: true }

export const TOPIC_KEY_BYTES = 8

/** A node asks for the keys of the same topics again and again (heal ticks, learnt addresses). */
const CACHE_SIZE = 16_384
const cache = new Map<TopicId, TopicKey>()

export function topicKey (topic: TopicId): TopicKey {
  let key = cache.get(topic)
  if (key === undefined) {
    key = createHash('sha256').update(topic, 'latin1').digest('hex').slice(0, 2 * TOPIC_KEY_BYTES) as TopicKey
    if (cache.size >= CACHE_SIZE) cache.clear()
    cache.set(topic, key)
  }
  return key
}
