/**
 * Timers carry no generation, so a state machine checks each firing against the deadline it keeps
 * for that timer: one that fires well before it belongs to an earlier, superseded request. Real
 * timers may fire a millisecond early, hence the slack.
 */
export const TIMER_SLACK = 2

/** True when a timer firing at `now` is the one for `deadline` (not an earlier, stale one). */
export function isDue (now: number, deadline: number): boolean {
  return now >= deadline - TIMER_SLACK
}
