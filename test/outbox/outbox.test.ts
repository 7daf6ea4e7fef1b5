import assert from "assert/strict";
import fs from "fs";
import os from "os";
import path from "path";
import { NexusHttpError, NexusNetworkError, NexusTimeoutError, NexusInputError, NexusAbortError } from "../../lib/client";
import { Outbox, OutboxFullError, reachOf, storableProperties, verdictOf, type DeliveredAnswer, type OutboxEntry, type OutboxHandlers } from "../../lib/outbox";
import { OutboxStore, decode, encode } from "../../lib/outbox/store";
import { until } from "../support";

const ctx = { method: "POST", path: "http://127.0.0.1/nexus/v3/channels/c/messages", traceId: "t", resource: "messages" as const };

describe("outbox: what a failure means", () => {
  it("derives reachedGenesys from today's client errors", () => {
    assert.equal(reachOf(new NexusNetworkError(ctx, "ECONNREFUSED")), "no");
    assert.equal(reachOf(new NexusNetworkError(ctx, "ENOTFOUND")), "no");
    assert.equal(reachOf(new NexusNetworkError(ctx, "ECONNRESET")), "maybe");
    assert.equal(reachOf(new NexusNetworkError(ctx, "EPIPE")), "maybe");
    assert.equal(reachOf(new NexusTimeoutError(ctx, 1000)), "maybe");
    assert.equal(reachOf(new NexusHttpError(ctx, 429)), "no");
    assert.equal(reachOf(new NexusHttpError(ctx, 503)), "no");
    assert.equal(reachOf(new NexusHttpError(ctx, 502)), "maybe");
    assert.equal(reachOf(new NexusHttpError(ctx, 504)), "maybe");
    assert.equal(reachOf(new NexusHttpError(ctx, 400)), "yes");
    assert.equal(reachOf(new NexusHttpError(ctx, 500)), "yes");
    assert.equal(reachOf(new NexusAbortError(ctx, true)), "maybe");
    assert.equal(reachOf(new NexusAbortError(ctx, false)), "no");
    assert.equal(reachOf(new NexusInputError("payload-not-json", { what: "string", source: "msg.payload" })), "no");
  });

  it("prefers the client's own reachedGenesys, and honours retryAfterSeconds", () => {
    const err = Object.assign(new NexusNetworkError(ctx, "ECONNREFUSED"), { reachedGenesys: "maybe" });
    assert.equal(reachOf(err), "maybe");
    assert.deepEqual(verdictOf(Object.assign(new NexusHttpError(ctx, 429), { reachedGenesys: "no", retryAfterSeconds: 1128 })), { keep: true, unknown: false, retryAfterMs: 1_128_000 });
  });

  it("keeps what cannot be delivered now or may have arrived, refuses 4xx and bad input", () => {
    for (const status of [429, 503]) assert.deepEqual(verdictOf(new NexusHttpError(ctx, status)), { keep: true, unknown: false, retryAfterMs: undefined });
    for (const status of [500, 502, 504]) assert.equal((verdictOf(new NexusHttpError(ctx, status)) as { unknown: boolean }).unknown, true);
    for (const status of [400, 401, 403, 404, 413, 422]) assert.equal(verdictOf(new NexusHttpError(ctx, status)).keep, false);
    assert.equal(verdictOf(new NexusInputError("config-secret")).keep, false);
    assert.deepEqual(verdictOf(new NexusTimeoutError(ctx, 10)), { keep: true, unknown: true, retryAfterMs: undefined });
  });
});

describe("outbox: what can be stored", () => {
  it("keeps JSON values and Buffers, and names what it leaves out", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const { props, dropped } = storableProperties({ topic: "t", n: 1, deep: { a: [1, "x", null, { b: Buffer.from([1]) }] }, buf: Buffer.from("hi"), fn: () => 1, when: new Date(), cyclic, inf: Infinity, gone: undefined });
    assert.deepEqual(Object.keys(props).sort(), ["buf", "deep", "n", "topic"]);
    assert.deepEqual(dropped.sort(), ["cyclic", "fn", "inf", "when"]);
  });

  it("writes a row and reads it back: body bytes, Buffers and the answer", () => {
    const message = { nodeId: "n1", traceId: "abc", at: 1234, body: Buffer.from('{"a":1}'), props: { b: Buffer.from([0, 255]), o: { x: [1, 2] } }, unknown: true, answer: { statusCode: 200, traceId: "abc", payload: { status: { code: 0 } } } };
    const back = decode(encode(message));
    assert.deepEqual(back, message);
    assert.ok(Buffer.isBuffer(back.props.b));
  });
});

describe("outbox: durable, ordered, bounded", function () {
  this.timeout(20_000);
  let dir: string;
  const opened: Outbox[] = [];
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-"))));
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** An outbox whose sends go to `send`; what it emits, refuses, expires and resends is recorded. */
  function make(send: (e: OutboxEntry) => Promise<DeliveredAnswer>, options: { limit?: number; maxAgeMs?: number; canDrain?: () => boolean; deliver?: () => boolean } = {}) {
    const seen = { delivered: [] as string[], refused: [] as string[], expired: [] as string[], resent: [] as string[] };
    const handlers: OutboxHandlers = {
      send,
      deliver: (e) => {
        if (options.deliver && !options.deliver()) return false;
        seen.delivered.push(e.traceId);
        return true;
      },
      canDrain: options.canDrain ?? (() => true),
      refuse: (e) => seen.refused.push(e.traceId),
      expire: (e) => seen.expired.push(e.traceId),
      resend: (e) => seen.resent.push(e.traceId),
      changed: () => undefined,
    };
    const outbox = new Outbox({ file: path.join(dir, "chan.mdb"), limit: options.limit ?? 1000, maxAgeMs: options.maxAgeMs ?? 60_000, backoffBaseMs: 10, backoffMaxMs: 50, handlers });
    opened.push(outbox);
    return { outbox, seen };
  }
  const ok = (e: OutboxEntry): Promise<DeliveredAnswer> => Promise.resolve({ statusCode: 200, traceId: e.traceId, payload: {} });
  const message = (i: number) => ({ nodeId: "send", traceId: `t${i}`, body: Buffer.from(`{"i":${i}}`), props: { i } });

  it("keeps what it took across a reopen, and drains it in order", async () => {
    const first = make(ok, { canDrain: () => false });
    await Promise.all(Array.from({ length: 200 }, (_, i) => first.outbox.add(message(i))));
    assert.equal(first.outbox.size, 200);
    await first.outbox.stop();
    opened.length = 0;
    assert.deepEqual(fs.readdirSync(dir).sort(), ["chan.mdb", "chan.mdb-lock"]);
    const bodies: string[] = [];
    const second = make((e) => (bodies.push(e.body.toString()), ok(e)));
    assert.equal(second.outbox.size, 200);
    await until(() => second.outbox.size === 0, 10_000, "the drain");
    assert.deepEqual(second.seen.delivered, Array.from({ length: 200 }, (_, i) => `t${i}`));
    assert.deepEqual(bodies.slice(0, 2), ['{"i":0}', '{"i":1}']);
  });

  it("refuses one more than its limit at once", async () => {
    const { outbox } = make(ok, { limit: 3, canDrain: () => false });
    await Promise.all([0, 1, 2].map((i) => outbox.add(message(i))));
    await assert.rejects(outbox.add(message(3)), OutboxFullError);
    assert.equal(outbox.size, 3);
  });

  it("tries again after a failure that may clear up, logs the resend of an unknown outcome, and lets a 4xx go to refuse", async () => {
    let calls = 0;
    const { outbox, seen } = make((e) => {
      calls++;
      if (calls === 1) return Promise.reject(new NexusNetworkError(ctx, "ECONNREFUSED"));
      if (calls === 2) return Promise.reject(new NexusTimeoutError(ctx, 10));
      if (e.traceId === "t1") return Promise.reject(new NexusHttpError(ctx, 400));
      return ok(e);
    });
    await Promise.all([0, 1, 2].map((i) => outbox.add(message(i))));
    await until(() => outbox.size === 0, 5000, "the drain");
    assert.deepEqual(seen.delivered, ["t0", "t2"]);
    assert.deepEqual(seen.refused, ["t1"]);
    assert.deepEqual(seen.resent, ["t0"], "only the resend after the time-out is named");
  });

  it("expires what waited too long", async () => {
    const { outbox, seen } = make(() => Promise.reject(new NexusNetworkError(ctx, "ECONNREFUSED")), { maxAgeMs: 200 });
    await outbox.add(message(0));
    await until(() => seen.expired.length === 1, 5000, "the expiry");
    assert.equal(outbox.size, 0);
  });

  it("keeps an answer nobody could emit, and emits it later without sending again", async () => {
    let sends = 0;
    let emitting = false;
    const first = make((e) => (sends++, ok(e)), { deliver: () => emitting });
    await first.outbox.add(message(0));
    await until(() => sends === 1, 5000, "the send");
    await first.outbox.stop();
    opened.length = 0;
    emitting = true;
    const second = make((e) => (sends++, ok(e)));
    await until(() => second.seen.delivered.length === 1, 5000, "the delivery");
    assert.equal(sends, 1, "sent once");
  });

  it("a message cleared while its probe is on the wire stays cleared when the probe fails (not written back), across a reopen", async () => {
    let fail: (err: Error) => void = () => undefined;
    let sends = 0;
    const first = make(() => {
      sends++;
      return new Promise<DeliveredAnswer>((_resolve, reject) => (fail = reject));
    });
    await first.outbox.add(message(0));
    await until(() => sends === 1, 5000, "the probe");
    assert.equal(await first.outbox.clear(), 1);
    fail(new NexusNetworkError(ctx, "ECONNREFUSED"));
    await new Promise((r) => setTimeout(r, 100));
    await first.outbox.stop();
    opened.length = 0;
    const second = make(ok, { canDrain: () => false });
    assert.equal(second.outbox.size, 0, "nothing came back");
  });

  it("takes back the next message's 'attempt under way' when it stops before sending it: no resend is logged after a redeploy", async () => {
    let draining = true;
    const first = make(ok, { canDrain: () => draining, deliver: () => ((draining = false), true) });
    await Promise.all([0, 1, 2].map((i) => first.outbox.add(message(i))));
    await until(() => first.seen.delivered.length === 1, 5000, "the first delivery");
    await first.outbox.stop();
    opened.length = 0;
    const second = make(ok);
    await until(() => second.seen.delivered.length === 2, 5000, "the rest");
    assert.deepEqual(second.seen.resent, [], "t1 was never sent before");
    assert.deepEqual(second.seen.delivered, ["t1", "t2"]);
  });

  it("never expires a delivered message whose answer waits to be emitted: it is emitted, not sent to expire", async () => {
    let emitting = false;
    let sends = 0;
    const { outbox, seen } = make((e) => (sends++, ok(e)), { maxAgeMs: 300, deliver: () => emitting });
    await outbox.add(message(0));
    await until(() => sends === 1, 5000, "the send");
    await new Promise((r) => setTimeout(r, 500));
    emitting = true;
    outbox.kick();
    await until(() => seen.delivered.length === 1, 5000, "the emission");
    assert.deepEqual(seen.expired, []);
    assert.equal(sends, 1);
  });

  it("empties on clear and says how many it removed", async () => {
    const { outbox } = make(ok, { canDrain: () => false });
    await Promise.all([0, 1, 2, 3].map((i) => outbox.add(message(i))));
    assert.equal(await outbox.clear(), 4);
    assert.equal(outbox.size, 0);
    assert.equal(outbox.info().oldest, null);
  });
});

describe("outbox: order, waits and crashes (issue 20 review)", function () {
  this.timeout(30_000);
  let dir: string;
  const opened: Outbox[] = [];
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-"))));
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const message = (i: number) => ({ nodeId: "send", traceId: `t${i}`, body: Buffer.from(`{"i":${i}}`), props: { i } });
  function make(send: (e: OutboxEntry) => Promise<DeliveredAnswer>, options: { limit?: number; canDrain?: () => boolean } = {}) {
    const seen = { delivered: [] as string[], resent: [] as Array<[string, boolean]> };
    const outbox = new Outbox({
      file: path.join(dir, "chan.mdb"),
      limit: options.limit ?? 1000,
      maxAgeMs: 60_000,
      backoffBaseMs: 10,
      backoffMaxMs: 50,
      handlers: {
        send,
        deliver: (e) => (seen.delivered.push(e.traceId), true),
        canDrain: options.canDrain ?? (() => true),
        refuse: () => undefined,
        expire: () => undefined,
        resend: (e, restarted) => seen.resent.push([e.traceId, restarted]),
        changed: () => undefined,
      },
    });
    opened.push(outbox);
    return { outbox, seen };
  }
  const ok = (e: OutboxEntry): Promise<DeliveredAnswer> => Promise.resolve({ statusCode: 200, traceId: e.traceId, payload: {} });

  it("keeps messages in the order they arrived, even when an earlier one's attempt fails later", async () => {
    const { outbox, seen } = make(ok);
    const places = [0, 1, 2, 3].map(() => outbox.reserve());
    // Message 1 is delivered directly; 3 fails first, 0 last.
    places[1].release();
    const kept = [places[3].add(message(3)), places[2].add(message(2))];
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.delivered, [], "nothing is sent behind a place not yet filled");
    kept.push(places[0].add(message(0)));
    await Promise.all(kept);
    await until(() => seen.delivered.length === 3, 5000, "the drain");
    assert.deepEqual(seen.delivered, ["t0", "t2", "t3"]);
  });

  it("decides the limit in the order messages arrived", async () => {
    const { outbox } = make(ok, { limit: 2, canDrain: () => false });
    const places = [0, 1, 2, 3].map(() => outbox.reserve());
    const results = [places[3].add(message(3)), places[2].add(message(2)), places[1].add(message(1)), places[0].add(message(0))].map((p) => p.then(() => "kept", (err: Error) => (err instanceof OutboxFullError ? "full" : err.message)));
    assert.deepEqual(await Promise.all(results), ["full", "full", "kept", "kept"]);
  });

  it("never probes before the Retry-After of the last answer, however short", async () => {
    const times: number[] = [];
    const { outbox } = make((e) => {
      times.push(Date.now());
      if (times.length < 3) return Promise.reject(Object.assign(new NexusHttpError(ctx, 429), { retryAfterMs: 400 }));
      return ok(e);
    });
    await outbox.add(message(0), Object.assign(new NexusHttpError(ctx, 503), { retryAfterMs: 400 }));
    const added = Date.now();
    await until(() => outbox.size === 0, 10_000, "the drain");
    assert.equal(times.length, 3);
    assert.ok(times[0] - added >= 390, `first probe after ${times[0] - added} ms`);
    assert.ok(times[1] - times[0] >= 390 && times[2] - times[1] >= 390, `probes ${times.map((t) => t - added).join(", ")}`);
  });

  it("reports no pending attempt in the past", async () => {
    let now = 1_000_000;
    const outbox = new Outbox({
      file: path.join(dir, "chan.mdb"),
      limit: 10,
      maxAgeMs: 60_000_000,
      now: () => now,
      handlers: { send: () => Promise.reject(new NexusNetworkError(ctx, "ECONNREFUSED")), deliver: () => true, canDrain: () => false, refuse: () => undefined, expire: () => undefined, resend: () => undefined, changed: () => undefined },
    });
    opened.push(outbox);
    await outbox.add(message(0), new NexusNetworkError(ctx, "ECONNREFUSED"));
    now += 3_600_000;
    const info = outbox.info();
    assert.ok(info.nextAttempt !== null && info.nextAttempt >= now);
  });

  it("logs the resend after a crash while an attempt was on the wire", async () => {
    const file = path.join(dir, "chan.mdb");
    const script = `
      const { Outbox } = require(${JSON.stringify(path.resolve(__dirname, "../../lib/outbox"))});
      let n = 0;
      const o = new Outbox({ file: ${JSON.stringify(file)}, limit: 100, maxAgeMs: 600000, handlers: {
        send: (e) => { n++; if (e.traceId === "t2") { setTimeout(() => process.kill(process.pid, "SIGKILL"), 100); return new Promise(() => {}); }
          return Promise.resolve({ statusCode: 200, traceId: e.traceId, payload: {} }); },
        deliver: () => true, canDrain: () => true, refuse: () => {}, expire: () => {}, resend: () => {}, changed: () => {} } });
      (async () => { for (let i = 0; i < 5; i++) await o.add({ nodeId: "send", traceId: "t" + i, body: Buffer.from("{}"), props: {} }); })();
    `;
    const { spawnSync } = await import("child_process");
    const run = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", script], { cwd: path.resolve(__dirname, "../.."), timeout: 20_000 });
    assert.equal(run.signal, "SIGKILL", String(run.stderr));
    const { outbox, seen } = make(ok);
    await until(() => outbox.size === 0, 10_000, "the drain");
    assert.deepEqual(seen.delivered, ["t2", "t3", "t4"]);
    assert.deepEqual(seen.resent, [["t2", true]]);
  });
});

describe("outbox: a stored answer emitted again after a crash", function () {
  this.timeout(20_000);
  it("is logged with its trace id when the record of its emission was lost", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "outbox-"));
    const file = path.join(dir, "chan.mdb");
    const store = OutboxStore.open(file);
    const answer = { statusCode: 200, traceId: "e1", payload: {} };
    store.append({ nodeId: "send", traceId: "e1", body: Buffer.from("{}"), at: Date.now(), props: {}, answer, emitting: true });
    store.append({ nodeId: "send", traceId: "e2", body: Buffer.from("{}"), at: Date.now(), props: {}, answer });
    await store.close();
    const reemitted: string[] = [];
    const delivered: string[] = [];
    let sends = 0;
    const outbox = new Outbox({
      file,
      limit: 10,
      maxAgeMs: 60_000,
      handlers: { send: () => (sends++, Promise.reject(new Error("no"))), deliver: (e) => (delivered.push(e.traceId), true), canDrain: () => true, refuse: () => undefined, expire: () => undefined, resend: () => undefined, reemit: (e) => reemitted.push(e.traceId), changed: () => undefined },
    });
    try {
      await until(() => outbox.size === 0, 5000, "the stored answers");
      assert.deepEqual(delivered, ["e1", "e2"]);
      assert.deepEqual(reemitted, ["e1"], "only the one whose emission may have happened before");
      assert.equal(sends, 0);
    } finally {
      await outbox.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("outbox: objects from another realm", () => {
  it("keeps plain objects and arrays made in a vm context (a function node), not its Dates", async () => {
    const vm = await import("vm");
    const made = vm.runInNewContext("({ obj: { a: [1, 2], b: { c: 'x' } }, list: [{ d: 1 }], when: new Date(0), map: new Map() })") as Record<string, unknown>;
    const { props, dropped } = storableProperties(made);
    assert.deepEqual(Object.keys(props).sort(), ["list", "obj"]);
    assert.deepEqual(dropped.sort(), ["map", "when"]);
    assert.deepEqual(JSON.parse(JSON.stringify(props.obj)), { a: [1, 2], b: { c: "x" } });
  });
});
