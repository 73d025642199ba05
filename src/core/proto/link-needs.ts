/**
 * How many of a node's topics need a link to each peer (the peer is in the topic's active view, or
 * a JOIN / NEIGHBOR to it is unanswered). Every topic's HyParView keeps its share exact, so that
 * "may this link close?" costs one lookup: a node in 1,000 topics asked it by walking all of them,
 * for every peer each input touched, and that walk was the largest item of a simulation's profile.
 */
export class LinkNeeds<PI> {
  private readonly counts = new Map<PI, number>()

  has (peer: PI): boolean {
    return this.counts.has(peer)
  }

  /** One topic more (`+1`) or less (`-1`) needs the link to `peer`. */
  change (peer: PI, by: 1 | -1): void {
    const n = (this.counts.get(peer) ?? 0) + by
    if (n > 0) this.counts.set(peer, n)
    else this.counts.delete(peer)
  }
}
