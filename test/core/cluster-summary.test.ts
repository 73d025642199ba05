import t from 'tap'
import { createHash } from 'node:crypto'
import { Packr } from 'msgpackr'
import { CLUSTER_TOPIC_ID, decodeSummary, encodeSummary, summaryLimits, type ClusterSummary, type SummaryTopic } from '../../src/core/cluster-summary.js'
import { toTopicId } from '../../src/core/topic-id.js'

const hex = (seed: string): string => createHash('sha256').update(seed).digest('hex')
const zero = { published: 0, delivered: 0, duplicates: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 }

function summary (topics: number, links: number): ClusterSummary {
  const linkList = Array.from({ length: links }, (_, i) => ({ peer: hex(`peer ${i}`), rtt: i % 3 === 0 ? undefined : 12 + i, buffered: i * 100 }))
  const topicList: SummaryTopic[] = Array.from({ length: topics }, (_, i) => ({
    id: hex(`topic ${i}`),
    name: `room:${i}`,
    neighbours: Array.from({ length: Math.min(5, links) }, (_, j) => ({ link: (i + j) % links, eager: j < 2 })),
    ...zero,
    published: i,
    delivered: 10 * i,
    bytesIn: 1_000_000 + i,
    queued: i % 7
  }))
  return {
    seq: 42,
    address: '10.0.0.7:7946',
    uptime: 86_400_000,
    interval: 5000,
    span: 5012,
    totals: { ...zero, published: 12, delivered: 1e9, wireIn: 2 ** 40, wireOut: 3 },
    queues: { linkBuffered: 1, dialQueued: 2, pendingPublishes: 3, subscriberBuffered: 4 },
    linkCount: links,
    links: linkList,
    topicCount: topics,
    topics: topicList
  }
}

t.test('a small summary round-trips, with ids cut to 8-byte prefixes', async t => {
  const s = summary(3, 4)
  const bytes = encodeSummary(s)
  const back = decodeSummary(bytes)!
  t.ok(back, 'decodes')
  t.equal(back.address, s.address)
  t.same(back.totals, s.totals)
  t.same(back.queues, s.queues)
  t.same(back.links.map(l => l.peer), s.links.map(l => l.peer.slice(0, 16)))
  t.same(back.links.map(l => l.rtt), s.links.map(l => l.rtt))
  t.same(back.topics.map(x => x.neighbours), s.topics.map(x => x.neighbours))
  t.same(back.topics.map(x => [x.id, x.name, x.delivered, x.bytesIn, x.queued]), s.topics.map(x => [x.id.slice(0, 16), x.name, x.delivered, x.bytesIn, x.queued]))
  t.comment(`3 topics, 4 links: ${bytes.byteLength} bytes`)
})

t.test('a node in 1,000 topics with 300 links still fits the budget: the first topics are detailed, the counts say how many', async t => {
  const s = summary(1000, 300)
  for (const budget of [summaryLimits.minBytes, 1024, summaryLimits.defaultBytes, summaryLimits.maxBytes]) {
    const bytes = encodeSummary(s, budget)
    t.ok(bytes.byteLength <= budget, `${bytes.byteLength} <= ${budget} bytes`)
    const back = decodeSummary(bytes)!
    t.ok(back, `decodes at ${budget}`)
    t.equal(back.topicCount, 1000)
    t.equal(back.linkCount, 300)
    t.same(back.topics.map(x => x.name), s.topics.slice(0, back.topics.length).map(x => x.name), 'the first topics, in order')
    t.ok(back.topics.every(x => x.neighbours.every(n => n.link < back.links.length)), 'neighbours name only links that were kept')
    t.comment(`budget ${budget}: ${back.topics.length} topics, ${back.links.length} links in ${bytes.byteLength} bytes`)
  }
  t.ok(decodeSummary(encodeSummary(s))!.topics.length >= 40, 'the default budget details dozens of topics')
  const long = { ...summary(0, 0), address: 'x'.repeat(1000) }
  t.ok(encodeSummary(long, summaryLimits.minBytes).byteLength <= summaryLimits.minBytes, 'an absurd address is cut, not a reason to overflow')
})

t.test('numbers out of range are clamped on the way out, so that what is encoded decodes', async t => {
  const s = summary(1, 1)
  s.totals.bytesIn = -5
  s.totals.bytesOut = Number.NaN
  s.totals.wireIn = 2 ** 80
  s.span = 12.6
  const back = decodeSummary(encodeSummary(s))!
  t.equal(back.totals.bytesIn, 0)
  t.equal(back.totals.bytesOut, 0)
  t.equal(back.totals.wireIn, Number.MAX_SAFE_INTEGER)
  t.equal(back.span, 13)
})

t.test('decoding trusts nothing: malformed, oversized or out-of-range input is undefined, never a throw', async t => {
  const packr = new Packr({ useRecords: false })
  const good = packr.unpack(encodeSummary(summary(2, 3))) as unknown[]
  const variants: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['not msgpack', Buffer.from([0xc1, 0xc1, 0xc1])],
    ['truncated', encodeSummary(summary(2, 3)).subarray(0, 20)],
    ['a huge array header', Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a huge map header', Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['over the size limit', new Uint8Array(summaryLimits.maxBytes + 1)],
    ['a map instead of the array', packr.pack({ a: 1 })],
    ['another version', packr.pack([2, ...good.slice(1)])],
    ['a negative number', packr.pack(good.map((v, i) => i === 3 ? -1 : v))],
    ['a float', packr.pack(good.map((v, i) => i === 3 ? 1.5 : v))],
    ['a neighbour naming a missing link', packr.pack(good.map((v, i) => i === 11 ? [[Buffer.alloc(8), null, [99], 0, 0, 0, 0, 0, 0, 0, 0]] : v))],
    ['a short id prefix', packr.pack(good.map((v, i) => i === 9 ? [[Buffer.alloc(7), null, 0]] : v))],
    ['too many links', packr.pack(good.map((v, i) => i === 9 ? Array.from({ length: summaryLimits.maxLinks + 1 }, () => [Buffer.alloc(8), null, 0]) : v))],
    ['a long name', packr.pack(good.map((v, i) => i === 11 ? [[Buffer.alloc(8), 'x'.repeat(summaryLimits.maxNameLength + 1), [], 0, 0, 0, 0, 0, 0, 0, 0]] : v))],
    ['a string for a number', packr.pack(good.map((v, i) => i === 1 ? '1' : v))]
  ]
  for (const [what, bytes] of variants) {
    let decoded: unknown
    t.doesNotThrow(() => { decoded = decodeSummary(bytes) }, what)
    t.equal(decoded, undefined, `${what}: refused`)
  }
  t.ok(decodeSummary(packr.pack(good)), 'the unaltered summary decodes')
})

t.test('the cluster topic cannot be named by a string: a bridge client cannot reach it', async t => {
  t.match(CLUSTER_TOPIC_ID, /^[0-9a-f]{64}$/)
  for (const name of ['grapevine-gossip cluster summary v1', '\uffffgrapevine-gossip cluster summary v1', '']) t.not(toTopicId(name), CLUSTER_TOPIC_ID)
})
