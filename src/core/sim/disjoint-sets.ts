/**
 * Connected components of an overlay: union-find over indexes 0..size-1 (path halving), in an
 * Int32Array so that a 10,000-node overlay costs no object per node. Callers map node ids to
 * indexes.
 */
export class DisjointSets {
  private readonly parent: Int32Array

  constructor (size: number) {
    this.parent = new Int32Array(size)
    for (let i = 0; i < size; i++) this.parent[i] = i
  }

  find (x: number): number {
    const parent = this.parent
    while (parent[x] !== x) {
      const up = parent[parent[x] as number] as number
      parent[x] = up
      x = up
    }
    return x
  }

  union (a: number, b: number): void {
    const ra = this.find(a)
    const rb = this.find(b)
    if (ra !== rb) this.parent[ra] = rb
  }

  /** Size of each component, by its root. */
  sizes (): Map<number, number> {
    const sizes = new Map<number, number>()
    for (let i = 0; i < this.parent.length; i++) {
      const root = this.find(i)
      sizes.set(root, (sizes.get(root) ?? 0) + 1)
    }
    return sizes
  }
}
