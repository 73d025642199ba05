/** A set that forgets its oldest entries past `capacity`, so remembering departed servers stays bounded. */
export class BoundedSet<T> {
  private readonly items = new Set<T>()

  constructor (private readonly capacity: number) {}

  add (item: T): void {
    this.items.delete(item)
    this.items.add(item)
    if (this.items.size > this.capacity) {
      const oldest = this.items.values().next()
      if (oldest.done !== true) this.items.delete(oldest.value)
    }
  }

  has (item: T): boolean {
    return this.items.has(item)
  }
}
