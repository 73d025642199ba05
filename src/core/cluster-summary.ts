/**
 * The cluster summary: what one node says about itself on the cluster topic, so that a dashboard
 * anywhere can draw the whole cluster. This module is its codec and its bounds only.
 *
 * A summary is a MessagePack array, not a map (no key strings on the wire). Node ids and topic ids
 * travel as 8-byte prefixes: a summary names its own links and topics, and 64 bits tell apart the
 * nodes of any cluster a person can look at, for a quarter of the bytes. Who sent a summary is not
 * in it at all: it is the message's origin, which the node signed.
 *
 * Encoding fits a byte budget by keeping the first topics and links (the caller orders them by
 * interest), never by failing; decoding trusts nothing and returns undefined for anything out of
 * bounds, so what a peer publishes on the topic can cost a dashboard a dropped summary, no more.
 */
import { createHash } from 'node:crypto'
import { Packr, Unpackr } from 'msgpackr'

export const SUMMARY_VERSION = 1

/**
 * The cluster topic's id: SHA-256 of bytes that are not UTF-8 (0xff leads), so that no string
 * topic hashes to it and a bridge client cannot subscribe to it by name.
 */
export const CLUSTER_TOPIC = new Uint8Array(createHash('sha256').update(Buffer.concat([Buffer.from([0xff]), Buffer.from('grapevine-gossip cluster summary v1')])).digest())
export const CLUSTER_TOPIC_ID = Buffer.from(CLUSTER_TOPIC).toString('hex')
/** How the dashboard names the cluster topic. */
export const CLUSTER_TOPIC_NAME = '(cluster summaries)'

/** Hex characters of the id prefixes a summary carries (8 bytes). */
export const PREFIX_CHARS = 16

export const summaryLimits = Object.freeze({
  /** Default encoded size a node keeps its summary within. */
  defaultBytes: 4096,
  /** The smallest budget that always holds a summary with no topic and no link. */
  minBytes: 512,
  /** Decoding refuses anything larger: well within the 16 KiB control-frame budget. */
  maxBytes: 16 * 1024,
  maxLinks: 256,
  maxTopics: 512,
  maxNeighbours: 64,
  maxNameLength: 256,
  maxAddressLength: 300,
  maxUint: Number.MAX_SAFE_INTEGER
})

/** Counts over the summary's `span` (not totals since start): a reader divides by the span for rates. */
export interface SummaryCounts {
  published: number
  delivered: number
  duplicates: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

export interface SummaryLink {
  /** The peer's node id prefix (PREFIX_CHARS hex characters). */
  peer: string
  /** Round trip of the link's last keepalive, ms; undefined until one was answered. */
  rtt: number | undefined
  /** Bytes waiting to be written to the peer. */
  buffered: number
}

export interface SummaryNeighbour {
  /** Index into the summary's `links`. */
  link: number
  /** On the topic's broadcast tree (payloads pushed); otherwise lazy (ids only). */
  eager: boolean
}

export interface SummaryTopic extends SummaryCounts {
  /** Topic id prefix. */
  id: string
  /** Only when the node's app listed the name as one it may show. */
  name: string | undefined
  neighbours: SummaryNeighbour[]
  /** Everything queued for the topic: pending publishes, unread subscriber messages, IHAVEs and requests. */
  queued: number
}

export interface ClusterSummary {
  /** Counts up from 1 per run of the publisher: an older summary arriving late is ignored. */
  seq: number
  address: string
  /** Ms since the node started. */
  uptime: number
  /** Ms until this node's next summary at the latest, barring changes: how soon silence means trouble. */
  interval: number
  /** Ms the counts cover. */
  span: number
  totals: SummaryCounts & { wireIn: number, wireOut: number }
  queues: { linkBuffered: number, dialQueued: number, pendingPublishes: number, subscriberBuffered: number }
  /** Links the node has, of which `links` lists the first (those that carry topics first). */
  linkCount: number
  links: SummaryLink[]
  /** Topics the node is in, of which `topics` details the first. */
  topicCount: number
  topics: SummaryTopic[]
}

// Self-contained frames, as in net/codec.ts: no record structures shared between messages.
const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

const COUNT_KEYS = ['published', 'delivered', 'duplicates', 'messagesIn', 'messagesOut', 'bytesIn', 'bytesOut'] as const

/** Round and clamp to what the decoder accepts, so that whatever we encode decodes again. */
function uint (n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0
  return Math.min(summaryLimits.maxUint, Math.round(n))
}

function prefixBytes (hex: string): Buffer {
  return Buffer.from(hex.slice(0, PREFIX_CHARS).padEnd(PREFIX_CHARS, '0'), 'hex')
}

function counts (c: SummaryCounts): number[] {
  return COUNT_KEYS.map(key => uint(c[key]))
}

function wireOf (s: ClusterSummary, topics: number, links: number): Uint8Array {
  return packr.pack([
    SUMMARY_VERSION, uint(s.seq), s.address.slice(0, summaryLimits.maxAddressLength), uint(s.uptime), uint(s.interval), uint(s.span),
    [...counts(s.totals), uint(s.totals.wireIn), uint(s.totals.wireOut)],
    [uint(s.queues.linkBuffered), uint(s.queues.dialQueued), uint(s.queues.pendingPublishes), uint(s.queues.subscriberBuffered)],
    uint(s.linkCount),
    s.links.slice(0, links).map(l => [prefixBytes(l.peer), l.rtt === undefined ? null : uint(l.rtt), uint(l.buffered)]),
    uint(s.topicCount),
    s.topics.slice(0, topics).map(t => [
      prefixBytes(t.id),
      t.name === undefined ? null : t.name.slice(0, summaryLimits.maxNameLength),
      // One small integer per neighbour: link index * 2, plus 1 when eager.
      t.neighbours.filter(n => n.link < links).slice(0, summaryLimits.maxNeighbours).map(n => n.link * 2 + (n.eager ? 1 : 0)),
      ...counts(t),
      uint(t.queued)
    ])
  ])
}

/** Largest k in [0, n] with fits(k), given fits(0) (fits is monotone: fewer items, fewer bytes). */
function largestFitting (n: number, fits: (k: number) => boolean): number {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (fits(mid)) lo = mid
    else hi = mid - 1
  }
  return lo
}

/**
 * Encode within `maxBytes` (at least `summaryLimits.minBytes`): every link and topic when they fit,
 * else the first links that fit in half the budget and the first topics that fit with them.
 */
export function encodeSummary (summary: ClusterSummary, maxBytes: number = summaryLimits.defaultBytes): Uint8Array {
  const budget = Math.max(summaryLimits.minBytes, Math.min(maxBytes, summaryLimits.maxBytes))
  const links = Math.min(summary.links.length, summaryLimits.maxLinks)
  const topics = Math.min(summary.topics.length, summaryLimits.maxTopics)
  const full = wireOf(summary, topics, links)
  if (full.byteLength <= budget) return Uint8Array.from(full)
  const fits = (t: number, l: number, within: number): boolean => wireOf(summary, t, l).byteLength <= within
  // Links take half the budget at most when everything does not fit, so that topics keep the rest.
  const kept = largestFitting(links, k => fits(0, k, Math.floor(budget / 2)))
  return Uint8Array.from(wireOf(summary, largestFitting(topics, k => fits(k, kept, budget)), kept))
}

// ---------------------------------------------------------------------------------------------
// Decoding: every field checked; anything wrong is undefined, never an exception
// ---------------------------------------------------------------------------------------------

class Invalid extends Error {}

function isUint (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function readUint (v: unknown): number {
  if (!isUint(v)) throw new Invalid()
  return v
}

function readArray (v: unknown, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) throw new Invalid()
  return v
}

function readString (v: unknown, max: number): string {
  if (typeof v !== 'string' || v.length > max) throw new Invalid()
  return v
}

function readPrefix (v: unknown): string {
  if (!(v instanceof Uint8Array) || v.byteLength !== PREFIX_CHARS / 2) throw new Invalid()
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
}

function readCounts (fields: unknown[], at: number): SummaryCounts {
  const out: Partial<SummaryCounts> = {}
  COUNT_KEYS.forEach((key, i) => { out[key] = readUint(fields[at + i]) })
  return out as SummaryCounts
}

export function decodeSummary (bytes: Uint8Array): ClusterSummary | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0 || bytes.byteLength > summaryLimits.maxBytes) return undefined
  try {
    const w = readArray(unpackr.unpack(bytes), 12)
    if (w.length !== 12 || w[0] !== SUMMARY_VERSION) return undefined
    const totals = readArray(w[6], 9)
    const queues = readArray(w[7], 4)
    if (totals.length !== 9 || queues.length !== 4) return undefined
    const links: SummaryLink[] = readArray(w[9], summaryLimits.maxLinks).map(raw => {
      const l = readArray(raw, 3)
      if (l.length !== 3) throw new Invalid()
      return { peer: readPrefix(l[0]), rtt: l[1] === null ? undefined : readUint(l[1]), buffered: readUint(l[2]) }
    })
    const topics: SummaryTopic[] = readArray(w[11], summaryLimits.maxTopics).map(raw => {
      const t = readArray(raw, 11)
      if (t.length !== 11) throw new Invalid()
      const neighbours = readArray(t[2], summaryLimits.maxNeighbours).map(code => {
        const n = readUint(code)
        const link = Math.floor(n / 2)
        if (link >= links.length) throw new Invalid()
        return { link, eager: n % 2 === 1 }
      })
      return { id: readPrefix(t[0]), name: t[1] === null ? undefined : readString(t[1], summaryLimits.maxNameLength), neighbours, ...readCounts(t, 3), queued: readUint(t[10]) }
    })
    return {
      seq: readUint(w[1]),
      address: readString(w[2], summaryLimits.maxAddressLength),
      uptime: readUint(w[3]),
      interval: readUint(w[4]),
      span: readUint(w[5]),
      totals: { ...readCounts(totals, 0), wireIn: readUint(totals[7]), wireOut: readUint(totals[8]) },
      queues: { linkBuffered: readUint(queues[0]), dialQueued: readUint(queues[1]), pendingPublishes: readUint(queues[2]), subscriberBuffered: readUint(queues[3]) },
      linkCount: readUint(w[8]),
      links,
      topicCount: readUint(w[10]),
      topics
    }
  } catch {
    // Malformed MessagePack (msgpackr throws) or a field out of bounds (Invalid): either way, dropped.
    return undefined
  }
}
