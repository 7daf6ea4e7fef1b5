import assert from "assert/strict";
import { LinkedList, type Linked } from "../../lib/util/linked-list";

interface Item extends Linked<Item> {
  id: number;
}
const item = (id: number): Item => ({ id, prev: undefined, next: undefined, linked: false });
const ids = (list: LinkedList<Item>): number[] => [...list].map((i) => i.id);

/** The in-flight lists of the client and the flow nodes: O(1) append and remove, no links left behind. */
describe("LinkedList", () => {
  it("keeps items in the order appended, removes any of them, and leaves no link on a removed item", () => {
    const list = new LinkedList<Item>();
    const [a, b, c, d] = [1, 2, 3, 4].map(item);
    for (const i of [a, b, c, d]) list.push(i);
    assert.deepEqual(ids(list), [1, 2, 3, 4]);
    assert.equal(list.remove(c), true);
    assert.equal(list.remove(c), false, "an item removed twice counts once");
    assert.deepEqual([c.prev, c.next, c.linked], [undefined, undefined, false]);
    assert.equal(list.remove(a), true);
    assert.equal(list.remove(d), true);
    assert.deepEqual(ids(list), [2]);
    assert.equal(list.first, b);
    assert.equal(list.size, 1);
    list.push(b);
    assert.equal(list.size, 1, "an item already in the list stays where it is");
    list.push(a);
    assert.deepEqual(ids(list), [2, 1]);
  });

  it("lets the item visited be removed while iterating, and clear() unlinks every item", () => {
    const list = new LinkedList<Item>();
    const items = [1, 2, 3, 4, 5].map(item);
    for (const i of items) list.push(i);
    const seen: number[] = [];
    for (const i of list) {
      seen.push(i.id);
      if (i.id % 2 === 1) list.remove(i);
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    assert.deepEqual(ids(list), [2, 4]);
    list.clear();
    assert.equal(list.size, 0);
    assert.equal(list.first, undefined);
    assert.ok(items.every((i) => !i.linked && i.prev === undefined && i.next === undefined));
  });
});
