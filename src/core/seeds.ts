/**
 * Bootstrap contacts. A seed that is not up yet (servers started together) is dialled again every
 * 100 ms for about a second, then with exponential backoff and jitter up to the refresh interval
 * (see seed-backoff.ts), so a late seed is found within about 100 ms of coming up; DNS names are
 * resolved again on the refresh interval, apart from the backoff. A node that has seeds but
 * reaches none says so once, at warn, naming each seed and the last error it gave, and again only
 * after it was linked in between.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { Logger } from './api.js'
import { GossipError } from './errors.js'
import { isSecretMismatch } from './net/handshake.js'
import { formatAddress, parseAddress } from './net/transport.js'
import { SEED_BACKOFF_MIN, SEED_FAST_RETRIES, seedRetryWait } from './seed-backoff.js'

export interface SeedsHost {
  /** Dial an address; resolves once linked. */
  dial: (addr: string) => Promise<unknown>
  /** Whether some live link goes to this address. */
  linkedTo: (addr: string) => boolean
  /** Live links of the node, to seeds or not. */
  linkCount: () => number
  /** The node's own advertised address, never dialled. */
  self: () => string
  log: Logger
}

export interface SeedsOptions {
  refreshInterval: number
  /** Failed rounds of every seed before the node says it is alone. */
  warnAfter?: number
}

interface SeedState {
  backoff: number
  failures: number
  lastError: string | undefined
  /** The last attempt failed on the cluster secret: theirs or ours is not the cluster's. */
  wrongSecret: boolean
  timer: NodeJS.Timeout | undefined
}

export class Seeds {
  /** Resolved addresses of the seeds (what a link's announced address is compared with). */
  readonly addresses = new Set<string>()
  private readonly state = new Map<string, SeedState>()
  private readonly warnAfter: number
  private refresh: NodeJS.Timeout | undefined
  private warned = false
  private closed = false

  constructor (private readonly seeds: readonly string[], private readonly options: SeedsOptions, private readonly host: SeedsHost) {
    // Past the fast retries and a few of the backoff (about 2.5 s): not at every start together.
    this.warnAfter = options.warnAfter ?? SEED_FAST_RETRIES + 3
  }

  /**
   * Resolve and dial every seed, then keep at it. Resolves as soon as one seed is linked, or when
   * every first attempt has failed: a seed host that is gone must not hold the start for its
   * connect timeout while another seed already answered.
   *
   * Rejects (ERR_GOSSIP_HANDSHAKE) when no seed was reached and one refused the node's proof of
   * the secret: a node started with the wrong secret would otherwise wait alone for ever.
   */
  async start (): Promise<void> {
    if (this.seeds.length === 0) return
    this.refresh = setInterval(() => { void this.round() }, this.options.refreshInterval)
    this.refresh.unref()
    await this.round()
    const wrong = [...this.state].find(([, s]) => s.wrongSecret)
    if (wrong !== undefined && this.host.linkCount() === 0 && [...this.state.values()].every(s => s.failures > 0)) {
      throw new GossipError('ERR_GOSSIP_HANDSHAKE',
        `seed ${wrong[0]} and this node do not hold the same cluster secret (option "secret"): ${wrong[1].lastError ?? ''}`)
    }
  }

  close (): void {
    this.closed = true
    if (this.refresh !== undefined) clearInterval(this.refresh)
    for (const s of this.state.values()) if (s.timer !== undefined) clearTimeout(s.timer)
  }

  /** The node lost its last link: try the seeds again now rather than at the next refresh. */
  lonely (): void {
    if (this.closed) return
    for (const addr of this.addresses) {
      const s = this.state.get(addr)
      if (s !== undefined && s.timer === undefined) void this.dial(addr)
    }
  }

  private async round (): Promise<void> {
    if (this.closed) return
    const addrs = await this.resolve()
    const attempts = addrs.map(async addr => {
      const s = this.state.get(addr)
      // A seed waiting for its backoff keeps waiting: the refresh is not a second retry schedule.
      if (s?.timer !== undefined) return false
      return await this.dial(addr)
    })
    await new Promise<void>(resolve => {
      let left = attempts.length
      if (left === 0) resolve()
      for (const a of attempts) {
        void a.then(linked => { if (linked || --left === 0) resolve() })
      }
    })
  }

  private async resolve (): Promise<string[]> {
    const out: string[] = []
    for (const seed of this.seeds) {
      const { host, port } = parseAddress(seed)
      if (isIP(host) !== 0) {
        out.push(formatAddress(host, port))
        continue
      }
      try {
        // A Kubernetes headless service resolves to every pod: dial them all.
        for (const a of await lookup(host, { all: true })) out.push(formatAddress(a.address, port))
      } catch (err) {
        this.host.log.warn({ seed, err }, 'could not resolve seed')
      }
    }
    const self = this.host.self()
    const fresh = out.filter(a => a !== self)
    for (const a of fresh) this.addresses.add(a)
    return fresh
  }

  /** Whether the seed is linked once this attempt ends (failures schedule the next one). */
  private async dial (addr: string): Promise<boolean> {
    if (this.closed) return false
    if (this.host.linkedTo(addr)) return true
    let s = this.state.get(addr)
    if (s === undefined) {
      s = { backoff: SEED_BACKOFF_MIN, failures: 0, lastError: undefined, wrongSecret: false, timer: undefined }
      this.state.set(addr, s)
    }
    try {
      await this.host.dial(addr)
      s.backoff = SEED_BACKOFF_MIN
      s.failures = 0
      s.lastError = undefined
      s.wrongSecret = false
      if (this.warned) this.host.log.info({ seed: addr }, 'linked to a seed again')
      this.warned = false
      return true
    } catch (err) {
      if (this.closed) return false
      s.failures++
      s.lastError = (err as Error)?.message ?? String(err)
      s.wrongSecret = isSecretMismatch(err)
      const wait = seedRetryWait(s, this.options.refreshInterval, Math.random())
      this.host.log.debug({ seed: addr, err, retryIn: wait }, 'seed not reachable')
      const state = s
      state.timer = setTimeout(() => {
        state.timer = undefined
        void this.dial(addr)
      }, wait)
      state.timer.unref()
      this.warnIfAlone()
      return false
    }
  }

  private warnIfAlone (): void {
    if (this.warned || this.host.linkCount() > 0) return
    const all = [...this.state.entries()]
    if (all.length === 0 || all.some(([, s]) => s.failures < this.warnAfter)) return
    this.warned = true
    this.host.log.warn(
      { seeds: all.map(([addr, s]) => ({ addr, failures: s.failures, lastError: s.lastError })) },
      'no seed reachable: this node is alone and keeps trying'
    )
  }
}
