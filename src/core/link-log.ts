/**
 * Links coming and going, told at `info` in summary: at most one line per interval (10 s), saying
 * how many links came up and went down since the last line and how many are open. The first
 * change after a quiet spell is told at once; what follows within the interval is told together
 * when it ends. A cluster of 100 nodes starting up writes a handful of lines, not hundreds.
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from './api.js'

export interface LinkLogClock {
  now(): number
  /** Run `fn` after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void): () => void
}

const realClock: LinkLogClock = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms)
    t.unref()
    return () => { clearTimeout(t) }
  }
}

export class LinkLog {
  private up = 0
  private down = 0
  private failed = 0
  private lastLine = -Infinity
  private cancel: (() => void) | undefined

  constructor (
    private readonly log: Logger,
    private readonly openLinks: () => number,
    private readonly interval = 10_000,
    private readonly clock: LinkLogClock = realClock
  ) {}

  linkUp (): void {
    this.up++
    this.changed()
  }

  /** `failed`: the link broke (a cut, a crash), rather than closed on purpose. */
  linkDown (failed: boolean): void {
    this.down++
    if (failed) this.failed++
    this.changed()
  }

  /** Stop; what was not told yet is not told. */
  close (): void {
    this.cancel?.()
    this.cancel = undefined
  }

  private changed (): void {
    if (this.cancel !== undefined) return
    const wait = this.lastLine + this.interval - this.clock.now()
    if (wait <= 0) {
      this.tell()
      return
    }
    this.cancel = this.clock.after(wait, () => {
      this.cancel = undefined
      this.tell()
    })
  }

  private tell (): void {
    if (this.up === 0 && this.down === 0) return
    this.lastLine = this.clock.now()
    const links = this.openLinks()
    const failed = this.failed > 0 ? ` (${this.failed} failed)` : ''
    this.log.info({ linksUp: this.up, linksDown: this.down, linksFailed: this.failed, links },
      `links: ${this.up} up, ${this.down} down${failed}, ${links} open`)
    this.up = 0
    this.down = 0
    this.failed = 0
  }
}
