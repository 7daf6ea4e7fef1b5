import assert from "assert/strict";
import { OrderedMap } from "../../lib/util/ordered-map";

/** The bounded memories (answered deliveries, accepted message ids) evict their oldest entry in O(1). */
describe("OrderedMap", () => {
  it("gives up entries oldest first, a key set again counting as newest, a deleted key never", () => {
    const m = new OrderedMap<string, number>();
    m.set("a", 1).set("b", 2).set("c", 3);
    m.set("a", 4);
    m.delete("b");
    assert.equal(m.size, 2);
    assert.deepEqual(m.shift(), ["c", 3]);
    assert.deepEqual(m.shift(), ["a", 4]);
    assert.equal(m.shift(), undefined);
    assert.equal(m.size, 0);
  });

  it("stays a bounded FIFO over many evictions and re-sets, with its order array compacted", () => {
    const m = new OrderedMap<number, number>();
    const limit = 1000;
    for (let i = 0; i < 50_000; i++) {
      m.set(i, i);
      // Every third key is set again at once: it becomes the newest.
      if (i % 3 === 0) m.set(i, -i);
      while (m.size > limit) m.shift();
    }
    assert.equal(m.size, limit);
    const kept: number[] = [];
    for (let e = m.shift(); e; e = m.shift()) kept.push(e[0]);
    assert.deepEqual(kept, Array.from({ length: limit }, (_, k) => 49_000 + k));
    assert.ok((m as unknown as { order: unknown[] }).order.length < 4 * limit + 2048, "the order array does not grow without bound");
  });

  it("keeps its order array bounded when one key is set again and again without evictions", () => {
    const m = new OrderedMap<string, number>();
    for (let i = 0; i < 100_000; i++) m.set("same", i);
    assert.equal(m.size, 1);
    assert.ok((m as unknown as { order: unknown[] }).order.length <= 2 + 1024 + 1);
    assert.deepEqual(m.shift(), ["same", 99_999]);
  });
});
