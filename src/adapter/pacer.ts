/**
 * Spacing of the membership messages a server sends on overlay changes (announcements, and the
 * heartbeats that answer other servers' announcements): a token bucket of `burst` tokens, one
 * more per `interval` ms. Servers that start together each see a few neighbours come up and a few
 * announcements arrive within moments; one message per interval made the third server of three
 * wait a whole interval to be counted by the others (the cluster-adapter suite's requests, made
 * as soon as the clients connected, then counted two servers). The burst lets those few go at once,
 * while a flood of invented servers still gets one answer per interval once it is spent.
 */
export class Pacer {
  private tokens: number
  private at: number

  constructor (private readonly burst: number, private readonly interval: number, now: number) {
    this.tokens = burst
    this.at = now
  }

  /** Ms until a message may go (0: now). */
  wait (now: number): number {
    this.refill(now)
    return this.tokens >= 1 ? 0 : Math.ceil((1 - this.tokens) * this.interval)
  }

  /** A message goes now. */
  take (now: number): void {
    this.refill(now)
    this.tokens = Math.max(0, this.tokens - 1)
  }

  private refill (now: number): void {
    if (now > this.at) this.tokens = Math.min(this.burst, this.tokens + (now - this.at) / this.interval)
    this.at = Math.max(this.at, now)
  }
}
