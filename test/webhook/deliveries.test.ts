import assert from "assert/strict";
import { KeyValueDedupeStore, type DedupeStore, type KeyValue } from "../../lib/webhook/dedupe-store";
import { GIVE_BACK_FACTOR, WebhookDeliveries } from "../../lib/webhook/deliveries";
import { connectRedis, RedisDedupeStore, type RedisCommands } from "../../lib/webhook/redis-dedupe-store";
import { replyHandles } from "../../lib/webhook/reply-handles";
import { delay, until } from "../support";
import { requireRedis, RedisServer } from "../redis-server";

/**
 * A key-value store that behaves like Node-RED's localfilesystem store without a cache: every call reads
 * the whole object, waits, and a set writes the whole object back. Two overlapping sets lose one update.
 */
function readModifyWriteStore(latencyMs = 2): KeyValue & { data: Record<string, unknown>; sets: number } {
  const store = {
    data: {} as Record<string, unknown>,
    sets: 0,
    async get(key: string) {
      const snapshot = JSON.parse(JSON.stringify(store.data)) as Record<string, unknown>;
      await delay(latencyMs);
      return snapshot[key];
    },
    async set(keys: string[], values: unknown[]) {
      store.sets++;
      const snapshot = JSON.parse(JSON.stringify(store.data)) as Record<string, unknown>;
      await delay(latencyMs);
      keys.forEach((k, i) => (values[i] === undefined ? delete snapshot[k] : (snapshot[k] = values[i])));
      store.data = snapshot;
    },
    async keys() {
      await delay(latencyMs);
      return Object.keys(store.data);
    },
  };
  return store;
}

const kvStore = (kv: KeyValue, max = 1000): KeyValueDedupeStore =>
  new KeyValueDedupeStore(kv, (k) => `delivery_${k}`, (k) => k.startsWith("delivery_"), max);

interface Answer {
  status: number;
  body: unknown;
}

/** A deliveries unit whose emitted deliveries and HTTP answers are recorded. */
function harness(store: DedupeStore, replyTimeoutMs = 200, events: Record<string, (...a: unknown[]) => void> = {}) {
  const emitted: Array<{ payload: unknown; handle: string }> = [];
  const deliveries = new WebhookDeliveries({
    store,
    replyTimeoutMs,
    remember: 1000,
    emit: (payload, _traceId, handle) => emitted.push({ payload, handle }),
    ...events,
  });
  const deliver = (key: string): Promise<Answer> =>
    new Promise((resolve) => deliveries.receive(key, { key }, "trace", (status, body) => resolve({ status, body })));
  const answer = (handle: string, status: number, messageId?: string): void => {
    const h = replyHandles.take(handle);
    assert.ok(h, "the handle is pending");
    h.answer(status, messageId);
  };
  return { deliveries, emitted, deliver, answer };
}

describe("webhook deliveries (lib/webhook, no Node-RED)", () => {
  it("lets ten concurrent deliveries of one key enter once, and answers all with its messageId", async () => {
    const { emitted, deliver, answer } = harness(kvStore(readModifyWriteStore()));
    const answers = Promise.all(Array.from({ length: 10 }, () => deliver("one")));
    await until(() => emitted.length === 1, 1000, "the emit");
    answer(emitted[0].handle, 200, "m-1");
    for (const a of await answers) assert.deepEqual(a, { status: 200, body: { messageId: "m-1" } });
    assert.equal(emitted.length, 1);
  });

  it("keeps the answers of 50 keys answered at once in a store that reads and writes back whole, one entry each", async () => {
    const kv = readModifyWriteStore(3);
    const first = harness(kvStore(kv));
    const firsts = Promise.all(Array.from({ length: 50 }, (_, i) => first.deliver(`k${i}`)));
    await until(() => first.emitted.length === 50, 2000, "50 emits");
    for (const e of first.emitted) first.answer(e.handle, 200, `id-${(e.payload as { key: string }).key}`);
    await firsts;
    await first.deliveries.close();
    assert.equal(Object.keys(kv.data).length, 50, "every answer reached the store");
    assert.ok(kv.sets < 50, `the answers were written in batches (${kv.sets} writes)`);
    // A new unit (a redeploy, a restart with a persistent store) answers every redelivery from the store.
    const second = harness(kvStore(kv));
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => second.deliver(`k${i}`)));
    again.forEach((a, i) => assert.deepEqual(a, { status: 200, body: { messageId: `id-k${i}` } }));
    assert.equal(second.emitted.length, 0);
  });

  it("bounds the key-value store by count, dropping the oldest answers", async () => {
    const kv = readModifyWriteStore(0);
    const store = kvStore(kv, 5);
    for (let i = 0; i < 8; i++) await store.answer(`k${i}`, `id${i}`);
    await store.close();
    assert.deepEqual(Object.keys(kv.data).sort(), ["delivery_k3", "delivery_k4", "delivery_k5", "delivery_k6", "delivery_k7"]);
  });

  it("answers 503 after the reply timeout, keeps a later answer, and gives it to the redelivery", async () => {
    const lateWarnings: unknown[] = [];
    const { emitted, deliver, answer } = harness(kvStore(readModifyWriteStore()), 100, { onReplyTimeout: () => lateWarnings.push(1) });
    assert.equal((await deliver("late")).status, 503);
    assert.equal(lateWarnings.length, 1);
    answer(emitted[0].handle, 200, "late-id");
    assert.deepEqual(await deliver("late"), { status: 200, body: { messageId: "late-id" } });
    assert.equal(emitted.length, 1);
  });

  it("gives back a delivery the flow never answers after GIVE_BACK_FACTOR reply timeouts", async () => {
    let gaveBack = 0;
    const { emitted, deliver } = harness(kvStore(readModifyWriteStore()), 50, { onGiveBack: () => gaveBack++ });
    const started = Date.now();
    assert.equal((await deliver("lost")).status, 503);
    assert.equal((await deliver("lost")).status, 503);
    assert.equal(emitted.length, 1);
    await until(() => gaveBack === 1, 2000, "the give-back");
    assert.ok(Date.now() - started >= 50 * GIVE_BACK_FACTOR - 5);
    assert.equal(replyHandles.take(emitted[0].handle), undefined, "the old handle is gone");
    void deliver("lost");
    await until(() => emitted.length === 2, 1000, "the next delivery to enter again");
  });

  it("gives a delivery back at once when the flow answers 5xx, and answers the waiting requests with it", async () => {
    const { emitted, deliver, answer } = harness(kvStore(readModifyWriteStore()), 1000);
    const a = deliver("redo");
    const b = deliver("redo");
    await until(() => emitted.length === 1, 1000, "the emit");
    answer(emitted[0].handle, 502);
    assert.equal((await a).status, 502);
    assert.equal((await b).status, 502);
    void deliver("redo");
    await until(() => emitted.length === 2, 1000, "a second emit");
  });

  it("answers 503 and emits nothing when the store fails", async () => {
    const failing: DedupeStore = {
      claim: () => Promise.reject(new Error("store down")),
      lookup: () => Promise.reject(new Error("store down")),
      answer: () => Promise.reject(new Error("store down")),
      release: () => Promise.reject(new Error("store down")),
      close: () => Promise.resolve(),
    };
    const errors: unknown[] = [];
    const { emitted, deliver } = harness(failing, 1000, { onStoreError: (e) => errors.push(e) });
    const answers = await Promise.all([deliver("x"), deliver("x"), deliver("y")]);
    assert.deepEqual(answers.map((a) => a.status), [503, 503, 503]);
    assert.equal(emitted.length, 0);
    assert.equal(errors.length, 2);
  });

  it("on close answers every waiting request 503 and lets nothing in", async () => {
    const { deliveries, emitted, deliver } = harness(kvStore(readModifyWriteStore()), 5000);
    const waiting = deliver("w");
    await until(() => emitted.length === 1, 1000, "the emit");
    await deliveries.close();
    assert.equal((await waiting).status, 503);
    assert.equal((await deliver("w2")).status, 503);
    assert.equal(replyHandles.take(emitted[0].handle), undefined);
    assert.equal(deliveries.inProgress, 0);
  });

  describe("with a real Redis shared by two instances", function () {
    const redis = new RedisServer();
    const connections: RedisCommands[] = [];
    const connect = (): RedisCommands => {
      const c = connectRedis(redis.url, 1000, { onReady: () => undefined, onError: () => undefined });
      connections.push(c);
      return c;
    };

    before(async function () {
      requireRedis(this);
      await redis.start();
    });
    after(async () => {
      for (const c of connections) c.disconnect();
      await redis.destroy();
    });

    it("claims each key for one instance only, shares answers, and waits for the other instance's answer", async () => {
      const prefix = `test:${Date.now()}:`;
      const a = harness(new RedisDedupeStore(connect(), prefix), 2000);
      const b = harness(new RedisDedupeStore(connect(), prefix), 2000);
      const keys = Array.from({ length: 100 }, (_, i) => `r${i}`);
      // Both instances get each key at the same moment, in turns which first.
      const answers = Promise.all(keys.flatMap((k, i) => (i % 2 ? [b.deliver(k), a.deliver(k)].reverse() : [a.deliver(k), b.deliver(k)])));
      await until(() => a.emitted.length + b.emitted.length === 100, 5000, "100 emits in all");
      for (const h of [a, b]) for (const e of h.emitted) h.answer(e.handle, 200, `id-${(e.payload as { key: string }).key}`);
      const all = await answers;
      all.forEach((ans, i) => assert.deepEqual(ans, { status: 200, body: { messageId: `id-${keys[Math.floor(i / 2)]}` } }));
      assert.equal(a.emitted.length + b.emitted.length, 100, "each key entered one flow once");
      // Redeliveries to either instance are answered from Redis.
      const again = await Promise.all(keys.flatMap((k) => [a.deliver(k), b.deliver(k)]));
      again.forEach((ans, i) => assert.deepEqual(ans.body, { messageId: `id-${keys[Math.floor(i / 2)]}` }));
      assert.equal(a.emitted.length + b.emitted.length, 100);
    });

    it("answers 503 while Redis is down, and works again once it is back", async () => {
      const errors: unknown[] = [];
      const a = harness(new RedisDedupeStore(connect(), `down:${Date.now()}:`), 1500, { onStoreError: (e) => errors.push(e) });
      await redis.stop();
      assert.equal((await a.deliver("d1")).status, 503);
      assert.equal(a.emitted.length, 0);
      assert.ok(errors.length > 0);
      await redis.start();
      await delay(300);
      const back = a.deliver("d1");
      await until(() => a.emitted.length === 1, 3000, "the delivery to enter once Redis is back");
      a.answer(a.emitted[0].handle, 200, "after-restart");
      assert.deepEqual(await back, { status: 200, body: { messageId: "after-restart" } });
    });
  });
});
