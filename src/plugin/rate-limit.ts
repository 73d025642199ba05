/**
 * Per-connection publish limit: a token bucket holding `max` tokens, refilled continuously over
 * `timeWindow` ms. Refused publishes drain a second bucket of the same size; when that one is
 * empty too the client has sent more than twice its allowance and is treated as abusive.
 */
export type RateDecision = 'allow' | 'refuse' | 'abuse'

export class PublishRateLimit {
  private tokens: number
  private strikes: number
  private last: number

  constructor (private readonly max: number, private readonly timeWindow: number, private readonly now: () => number = Date.now) {
    this.tokens = max
    this.strikes = max
    this.last = now()
  }

  take (): RateDecision {
    const now = this.now()
    const refill = ((now - this.last) * this.max) / this.timeWindow
    this.last = now
    this.tokens = Math.min(this.max, this.tokens + refill)
    this.strikes = Math.min(this.max, this.strikes + refill)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 'allow'
    }
    if (this.strikes >= 1) {
      this.strikes -= 1
      return 'refuse'
    }
    return 'abuse'
  }
}
