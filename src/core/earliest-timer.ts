/**
 * One timer for the earliest of many due times (heals of many topics, a summary wanted now and at
 * its period): arming for a time at or after the pending one changes nothing, arming for an
 * earlier one replaces it. Unref'd: it never holds the process open.
 */
export class EarliestTimer {
  private timer: NodeJS.Timeout | undefined
  private at = Infinity

  /** `now` is the clock `arm` is given times on; `fire` runs once the earliest time has come. */
  constructor (private readonly now: () => number, private readonly fire: () => void) {}

  arm (at: number): void {
    if (at >= this.at) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.at = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.at = Infinity
      this.fire()
    }, Math.max(0, at - this.now()))
    this.timer.unref()
  }

  clear (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.at = Infinity
  }
}
