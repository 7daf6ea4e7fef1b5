import assert from "assert/strict";
import fs from "fs";
import http from "http";
import type { AddressInfo } from "net";
import os from "os";
import path from "path";
import type { NexusSimulator } from "../../lib/simulator";
import { helper, simulator, refusedUrl, until } from "../support";
import { expectError, expectOutput, flowFor, load, type Loaded, type Msg } from "./flow";

/**
 * The send node in outbox mode in the Node-RED runtime: what it shares with every flow node (handleApiCall:
 * bad input refused with the client's error, the stopping log) and the outbox's own promise that a kept
 * message is sent again with the bytes and the trace id of its first attempt.
 */
describe("genesys-nexus-send with the outbox in the Node-RED runtime", () => {
  let sim: NexusSimulator;
  let userDir: string;
  /** The user directory other test files run with, given back after each test. */
  let otherUserDir: unknown;
  const send = { type: "genesys-nexus-send", outbox: true };
  const message = (id: string): Record<string, string> => ({ channel: "sms", messageId: id, type: "Text", text: "Hi" });

  before(async () => {
    sim = await simulator();
    await helper.startServer();
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
  });
  beforeEach(() => {
    otherUserDir = (helper as unknown as { settings(): { userDir?: unknown } }).settings().userDir;
    sim.reset();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), "nexus-outbox-node-"));
    helper.settings({ userDir });
  });
  afterEach(async () => {
    await helper.unload();
    helper.settings({ userDir: otherUserDir });
    fs.rmSync(userDir, { recursive: true, force: true });
  });

  /** Loads the flow, recording each message the node under test ended with done() and no error (what a Complete node sees). */
  async function loadWithComplete(flow: object[]): Promise<Loaded & { completed: Msg[] }> {
    const loaded = await load(flow);
    const completed: Msg[] = [];
    const complete = loaded.n1._complete.bind(loaded.n1);
    loaded.n1._complete = (msg: Msg, err?: Error) => {
      if (!err) completed.push(msg);
      return complete(msg, err);
    };
    return { ...loaded, completed };
  }

  it("refuses an invalid msg.traceId with the client's error, whether the outbox is empty or holds messages; nothing is sent", async () => {
    const loaded = await load(flowFor(sim, send));
    const refused = await expectError(loaded, { payload: message("m-1"), traceId: "has spaces" });
    assert.match(refused.error.message, /msg\.traceId must be printable text/);
    assert.equal(refused.reachedGenesys, "no");
    assert.equal(sim.requests.length, 0);
    await helper.unload();

    // The API is down: the first message is kept; the next one with a bad trace id is refused, not kept.
    const down = await loadWithComplete(flowFor({ baseUrl: await refusedUrl() }, send));
    down.n1.receive({ payload: message("m-2"), seq: 2 });
    await until(() => down.completed.length === 1, 5000, "the first message to be kept");
    const behind = await expectError(down, { payload: message("m-3"), traceId: "x".repeat(129) });
    assert.match(behind.error.message, /msg\.traceId must be printable text/);
    assert.equal(behind.reachedGenesys, "no");
    const status = await expectOutput(down, { outbox: "status" });
    assert.equal(status.payload.waiting, 1, "only the first message waits");
  });

  it("sends a kept message again with the bytes and the trace id of its first attempt: it is encoded once", async () => {
    // An API that is unavailable once (503), then takes messages; it records what each attempt sent.
    const attempts: Array<{ body: Buffer; traceId: unknown }> = [];
    const api = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        attempts.push({ body: Buffer.concat(chunks), traceId: req.headers["x-b3-traceid"] });
        res.writeHead(attempts.length === 1 ? 503 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ status: { code: 0, message: "OK" }, data: { ids: [{ id: "m-4" }] } }));
      });
    });
    await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
    try {
      const baseUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}/nexus/v3`;
      const loaded = await loadWithComplete(flowFor({ baseUrl }, send, { outboxProbeMax: 0.2 }));
      // A payload whose JSON differs each time it is serialised: a second encoding would send other bytes.
      let serialised = 0;
      const payload = { toJSON: () => ({ ...message("m-4"), text: `serialised ${++serialised}` }) };
      const delivered = new Promise<Msg>((resolve) => loaded.out.once("input", resolve));
      loaded.n1.receive({ payload, traceId: "abcdef0123456789abcdef0123456789", seq: 4 });
      const msg = await delivered;
      assert.equal(attempts.length, 2, "the first attempt (503) and the outbox's");
      assert.ok(attempts[0].body.equals(attempts[1].body), "the same bytes on both attempts");
      assert.equal(JSON.parse(attempts[1].body.toString()).text, "serialised 1");
      assert.equal(serialised, 1);
      assert.deepEqual(
        attempts.map((a) => a.traceId),
        ["abcdef0123456789abcdef0123456789", "abcdef0123456789abcdef0123456789"],
      );
      assert.equal(msg.traceId, "abcdef0123456789abcdef0123456789");
      assert.equal(msg.statusCode, 200);
      assert.equal(loaded.completed.length, 1, "done once, when it was kept");
    } finally {
      api.closeAllConnections();
      await new Promise((resolve) => api.close(resolve));
    }
  });

  it("logs a message that the outbox keeps while the node stops", async () => {
    // The answer comes too late: the node stops, waits for it, then keeps the message (it may have arrived).
    const loaded = await loadWithComplete(flowFor(sim, send));
    const warnings: string[] = [];
    const warn = loaded.n1.warn.bind(loaded.n1);
    loaded.n1.warn = (text: string) => {
      warnings.push(String(text));
      return warn(text);
    };
    sim.injectFaults({ kind: "hang" });
    loaded.n1.receive({ payload: message("m-5"), traceId: "feedfacefeedfacefeedfacefeedface", seq: 5 });
    await until(() => sim.requestCount === 1, 5000, "the request to be on the wire");
    await loaded.n1.close(false);
    await until(() => loaded.completed.length === 1, 5000, "the message to be kept");
    assert.ok(
      warnings.some((w) => w.includes("feedfacefeedfacefeedfacefeedface") && /kept in the channel's outbox/.test(w)),
      `the stopping log names it: ${warnings.join(" | ")}`,
    );
    const waiting = helper.getNode("chan").outboxHub.get().size;
    assert.equal(waiting, 1, "it waits in the outbox");
  });

  /** An API that records each message id it gets and answers 200 after `delayMs` (or `status` when set). */
  async function recordingApi(): Promise<{ baseUrl: string; ids: string[]; set(o: { delayMs?: number; status?: number }): void; close(): Promise<void> }> {
    const ids: string[] = [];
    let delayMs = 0;
    let status = 200;
    const api = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        ids.push((JSON.parse(Buffer.concat(chunks).toString()) as { messageId: string }).messageId);
        setTimeout(() => {
          const body = status === 200 ? { status: { code: 0, message: "OK" }, data: { ids: [{ id: "x" }] } } : { status: { code: status, message: "refused" } };
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        }, delayMs);
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    return {
      baseUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}/nexus/v3`,
      ids,
      set: (o) => {
        delayMs = o.delayMs ?? delayMs;
        status = o.status ?? status;
      },
      close: async () => {
        api.closeAllConnections();
        await new Promise((resolve) => api.close(resolve));
      },
    };
  }

  it("a deploy while direct sends wait for a slot or an answer keeps every one it could not deliver: none lost, none twice", async () => {
    const api = await recordingApi();
    try {
      api.set({ delayMs: 300 });
      const first = await loadWithComplete(flowFor(api, send, { maxInFlight: 2 }));
      for (let i = 0; i < 10; i++) first.n1.receive({ payload: message(`d${i}`), seq: i });
      await new Promise((r) => setTimeout(r, 50));
      // Node-RED stops the send node and its channel together, as on a full deploy.
      await helper.unload();
      api.set({ delayMs: 0 });
      const second = await load(flowFor(api, send, { maxInFlight: 2 }));
      const outs: Msg[] = [];
      second.out.on("input", (m: Msg) => outs.push(m));
      await until(() => new Set(api.ids).size === 10, 15_000, `all 10 to reach the API (got ${api.ids.join(",")})`);
      await until(() => outs.length === 8, 5000, "the 8 kept to leave the output");
      assert.equal(api.ids.length, 10, `each once: ${api.ids.join(",")}`);
      assert.deepEqual(outs.map((m) => m.seq), [2, 3, 4, 5, 6, 7, 8, 9], "in the order they came");
    } finally {
      await api.close();
    }
  });

  it("the same message object sent in twice while its first attempt is under way leaves no place open: the outbox drains and the flow stops at once", async () => {
    const api = await recordingApi();
    try {
      api.set({ delayMs: 200 });
      const loaded = await loadWithComplete(flowFor(api, send));
      const twice = { payload: message("same"), seq: 1 };
      loaded.n1.receive(twice);
      loaded.n1.receive(twice);
      await until(() => loaded.completed.length === 2, 5000, "both to end");
      const started = Date.now();
      await helper.unload();
      assert.ok(Date.now() - started < 3000, `the channel closed in ${Date.now() - started} ms`);
    } finally {
      await api.close();
    }
  });

  it("an expired message whose earlier attempt's outcome is unknown goes to Catch as 'maybe', saying Genesys may have it", async () => {
    const api = await recordingApi();
    try {
      api.set({ delayMs: 60_000 });
      const loaded = await load(flowFor(api, send, { timeout: 300, outboxMaxAge: 1, outboxProbeMax: 0.2 }));
      const caught = new Promise<Msg>((resolve) => loaded.caught.once("input", resolve));
      loaded.n1.receive({ payload: message("e1"), seq: 1 });
      const failed = await caught;
      assert.equal(failed.reachedGenesys, "maybe");
      assert.match(failed.error.message, /outcome is unknown, so Genesys may have received it/);
      assert.ok(api.ids.length >= 1);
    } finally {
      await api.close();
    }
  });

  it("messages kept by a send node whose outbox is then turned off still drain, through that node, while another node keeps the outbox on", async () => {
    const refused = await refusedUrl();
    const second = { id: "n2", z: "f1", type: "genesys-nexus-send", channel: "chan", outbox: true, wires: [["out"]] };
    const down = await loadWithComplete([...flowFor({ baseUrl: refused }, send), second]);
    for (let i = 0; i < 3; i++) down.n1.receive({ payload: message(`o${i}`), seq: i });
    await until(() => down.completed.length === 3, 5000, "all 3 to be kept");
    await helper.unload();
    const api = await recordingApi();
    try {
      const up = await load([...flowFor(api, { type: "genesys-nexus-send", outbox: false }), second]);
      const outs: Msg[] = [];
      up.out.on("input", (m: Msg) => outs.push(m));
      await until(() => outs.length === 3, 10_000, "the 3 kept to leave the output");
      assert.deepEqual(api.ids, ["o0", "o1", "o2"]);
    } finally {
      await api.close();
    }
  });

  it("says 'outbox full' in the status, shows a message Genesys refused from the outbox in red, and refuses msg.outbox on a node whose outbox is off", async () => {
    const refused = await refusedUrl();
    const full = await load(flowFor({ baseUrl: refused }, send, { outboxLimit: 1 }));
    full.n1.receive({ payload: message("f0"), seq: 0 });
    const overflow = await expectError(full, { payload: message("f1"), seq: 1 });
    assert.match(overflow.error.message, /Outbox full/);
    assert.equal(full.statuses.at(-1)?.text, "failed: outbox full");
    await helper.unload();

    const api = await recordingApi();
    try {
      api.set({ status: 400 });
      const drained = await load(flowFor(api, send, { outboxLimit: 1 }));
      const caught = new Promise<Msg>((resolve) => drained.caught.once("input", resolve));
      const failed = await caught;
      assert.equal(failed.statusCode, 400);
      await until(() => drained.statuses.some((st) => st.fill === "red" && /400/.test(String(st.text))), 5000, "a red status naming the 400");
      // A message delivered directly afterwards clears the red status.
      api.set({ status: 200 });
      await expectOutput(drained, { payload: message("ok-1") });
      assert.equal(drained.statuses.at(-1)?.fill, "green", JSON.stringify(drained.statuses.at(-1)));
      await helper.unload();

      const plain = await load(flowFor(api, { type: "genesys-nexus-send" }));
      const before = api.ids.length;
      const mistaken = await expectError(plain, { outbox: "status", payload: message("p1") });
      assert.match(mistaken.error.message, /msg\.outbox is "status", but this send node does not keep messages in an outbox/);
      assert.equal(mistaken.reachedGenesys, "no");
      assert.equal(api.ids.length, before, "nothing was sent");
    } finally {
      await api.close();
    }
  });

  it("keeps messages in the order they came while the API is down, with the channel's retries 3: one attempt each, kept at once", async () => {
    const refused = await refusedUrl();
    const down = await loadWithComplete(flowFor({ baseUrl: refused }, send, { retries: 3 }));
    const started = Date.now();
    for (let i = 0; i < 20; i++) down.n1.receive({ payload: message(`q${i}`), seq: i });
    await until(() => down.completed.length === 20, 10_000, "all 20 to be kept");
    assert.ok(Date.now() - started < 5000, "kept at once, not after the client's retries");
    await helper.unload();
    const kept: string[] = [];
    const api = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        kept.push((JSON.parse(Buffer.concat(chunks).toString()) as { messageId: string }).messageId);
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: { code: 0, message: "OK" }, data: { ids: [{ id: "x" }] } }));
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", r));
    try {
      const up = await load(flowFor({ baseUrl: `http://127.0.0.1:${(api.address() as AddressInfo).port}` }, send, { retries: 3 }));
      const outs: Msg[] = [];
      up.out.on("input", (m: Msg) => outs.push(m));
      await until(() => outs.length === 20, 15_000, "the drain");
      assert.deepEqual(kept, Array.from({ length: 20 }, (_, i) => `q${i}`));
      assert.deepEqual(outs.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i));
    } finally {
      api.close();
    }
  });

  it("sends at once while Genesys answers when the outbox file cannot be opened; what would be kept goes to Catch saying why", async () => {
    fs.writeFileSync(path.join(userDir, "genesys-nexus-outbox"), "not a folder");
    const loaded = await load(flowFor(sim, send));
    const ok = await expectOutput(loaded, { payload: message("m-ok") });
    assert.equal(ok.statusCode, 200);
    await helper.unload();
    const down = await load(flowFor({ baseUrl: await refusedUrl() }, send));
    const failed = await expectError(down, { payload: message("m-down") });
    assert.match(failed.error.message, /was not kept: The outbox file .* cannot be opened/);
    assert.equal(failed.reachedGenesys, "no");
    assert.deepEqual(down.statuses[down.statuses.length - 1], { fill: "red", shape: "ring", text: "outbox unavailable" });
  });
});
