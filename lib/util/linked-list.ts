/** An item of a `LinkedList`: the list keeps its links in the item itself. */
export interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
  /** Whether the item is in a list now. */
  linked: boolean;
}

/**
 * A doubly linked list whose links live in its items: append, remove and first in O(1), no allocation.
 *
 * Why not a Set: a long-lived Set of short-lived objects (a call or an attempt per request, each holding
 * its promise and answer) keeps its hash table in V8's old space, and each rehash leaves the previous
 * table there with the entries it had. Until the next full GC those dead tables keep the objects they
 * point to alive, and what those objects hold: measured, a third more CPU per request in GC alone. Here a
 * removed item keeps no link, and no link points to it.
 */
export class LinkedList<T extends Linked<T>> {
  private head: T | undefined;
  private tail: T | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The oldest item, or undefined when the list is empty. */
  get first(): T | undefined {
    return this.head;
  }

  /** Adds `item` at the end; an item already in a list is left where it is. */
  push(item: T): void {
    if (item.linked) return;
    item.linked = true;
    item.prev = this.tail;
    item.next = undefined;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.count++;
  }

  /** Takes `item` out; returns whether it was in the list. Only an item of this list may be given. */
  remove(item: T): boolean {
    if (!item.linked) return false;
    const { prev, next } = item;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    item.prev = item.next = undefined;
    item.linked = false;
    this.count--;
    return true;
  }

  /** Takes every item out. */
  clear(): void {
    let item = this.head;
    while (item) {
      const next: T | undefined = item.next;
      item.prev = item.next = undefined;
      item.linked = false;
      item = next;
    }
    this.head = this.tail = undefined;
    this.count = 0;
  }

  /** Every item, oldest first; the item given may be removed while it is visited. */
  *[Symbol.iterator](): IterableIterator<T> {
    let item = this.head;
    while (item) {
      const next: T | undefined = item.next;
      yield item;
      item = next;
    }
  }
}
