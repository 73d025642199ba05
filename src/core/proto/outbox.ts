/**
 * Where the state machines of one `handle` call put their effects. One outbox is shared by every
 * topic of a node; it also remembers which peers may have stopped needing a link, so the node can
 * decide about `disconnect` once, at the end of the call.
 */
import type { Event, Message, OutEvent, PeerData, Timer, TopicId, TopicMessage } from './types.js'

export class Outbox<PI> {
  events: OutEvent<PI>[] = []
  /** Peers whose link may no longer be needed (removed from a view, or sent a one-off message). */
  touched: PI[] = []

  /** Hand the collected effects over and start a fresh batch. */
  take (): OutEvent<PI>[] {
    const events = this.events
    this.events = []
    if (this.touched.length > 0) this.touched.length = 0
    return events
  }

  send (to: PI, topic: TopicId, body: TopicMessage<PI>): void {
    this.events.push({ type: 'send', to, message: { topic, body } })
  }

  /** Send an already built message; lets one GOSSIP object go to several peers. */
  sendMessage (to: PI, message: Message<PI>): void {
    this.events.push({ type: 'send', to, message })
  }

  emit (topic: TopicId, event: Event<PI>): void {
    this.events.push({ type: 'emit', topic, event })
  }

  schedule (after: number, timer: Timer<PI>): void {
    this.events.push({ type: 'schedule', after, timer })
  }

  peerData (topic: TopicId, peer: PI, data: PeerData): void {
    this.events.push({ type: 'peerData', topic, peer, data })
  }

  drop (peer: PI, reason: string): void {
    this.events.push({ type: 'drop', peer, reason })
  }

  throttle (peer: PI, ms: number): void {
    this.events.push({ type: 'throttle', peer, ms })
  }

  touch (peer: PI): void {
    this.touched.push(peer)
  }
}
