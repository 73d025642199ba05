/**
 * Independent random streams from one run seed. Every node gets its own stream, and the network
 * and the scenario get theirs, so that adding a node or reordering work in one node never shifts
 * the random choices of another.
 */

/** Mixes 32 bits so that nearby inputs (seed, seed + 1, ...) give unrelated outputs. */
export function mix32 (x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d)
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b)
  return (x ^ (x >>> 16)) >>> 0
}

/** The seed of the `index`-th stream of a run (negative indices are the simulator's own streams). */
export function deriveSeed (seed: number, index: number): number {
  return mix32(mix32(seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b1))
}
