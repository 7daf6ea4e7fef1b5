import assert from "assert/strict";
import type { NexusSimulator } from "../../lib/simulator";
import { signBody } from "../../lib/client";
import { helper, simulator, SECRET, API_KEY, CCID, refusedUrl, until } from "../support";
import { expectError, expectOutput, flowFor, load, outcome, type Msg } from "./flow";

describe("genesys-nexus-send in the Node-RED runtime", () => {
  let sim: NexusSimulator;
  const send = { type: "genesys-nexus-send" };

  before(async () => {
    sim = await simulator();
    await helper.startServer();
  });
  after(async () => {
    await sim.close();
    await helper.stopServer();
  });
  beforeEach(() => sim.reset());
  afterEach(() => helper.unload());

  it("sends an object as JSON and writes the envelope, statusCode and traceId, keeping other properties", async () => {
    const loaded = await load(flowFor(sim, send));
    const message = { channel: "sms", messageId: "sms-1", from: { id: "+15550001" }, type: "Text", text: "Hi" };
    const res = await expectOutput(loaded, { payload: message, topic: "t", custom: { a: 1 }, req: "kept" });
    assert.deepEqual(res.payload, { status: { code: 0, message: "OK" }, data: { ids: [{ id: "sms-1" }] } });
    assert.equal(res.statusCode, 200);
    assert.match(res.traceId, /^[0-9a-f]{32}$/);
    assert.equal(res.topic, "t");
    assert.deepEqual(res.custom, { a: 1 });
    assert.equal(res.req, "kept");
    const req = sim.requests[0];
    assert.equal(req.body.toString(), JSON.stringify(message));
    assert.equal(req.headers["x-hub-signature"], signBody(req.body, SECRET));
    assert.equal(req.headers["x-ccid"], CCID);
    assert.equal(req.headers["x-api-key"], API_KEY);
    assert.equal(req.headers["x-b3-traceid"], res.traceId);
  });

  it("composes the message in the dialog with JSONata from msg fields, with no function node", async () => {
    const composed = '{"channel": "sms", "messageId": "mms-" & seq, "type": "RichMedia", "content": [{"url": mediaUrl, "mimetype": mimetype, "filename": filename}]}';
    const loaded = await load(flowFor(sim, { ...send, message: composed, messageType: "jsonata" }));
    const res = await expectOutput(loaded, { seq: 7, mediaUrl: "genesys://nexus/m-1", mimetype: "image/png", filename: "a.png", payload: "left alone" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(sim.requests[0].body.toString()), {
      channel: "sms",
      messageId: "mms-7",
      type: "RichMedia",
      content: [{ url: "genesys://nexus/m-1", mimetype: "image/png", filename: "a.png" }],
    });
  });

  it("takes the message from another msg property, flow context, a fixed JSON or an environment variable", async () => {
    process.env.NEXUS_TEST_MESSAGE = '{"type":"Text","text":"from env"}';
    try {
      for (const [message, messageType, msg, expected] of [
        ["outgoing.body", "msg", { outgoing: { body: { text: "nested" } } }, { text: "nested" }],
        ["pending", "flow", {}, { text: "from flow" }],
        ['{"type":"Text","text":"fixed"}', "json", {}, { type: "Text", text: "fixed" }],
        ["NEXUS_TEST_MESSAGE", "env", {}, { type: "Text", text: "from env" }],
      ] as Array<[string, string, Msg, unknown]>) {
        sim.reset();
        const loaded = await load(flowFor(sim, { ...send, message, messageType }));
        loaded.n1.context().flow.set("pending", { text: "from flow" });
        await expectOutput(loaded, msg);
        assert.deepEqual(JSON.parse(sim.requests[0].body.toString()), expected, messageType);
        await helper.unload();
      }
    } finally {
      delete process.env.NEXUS_TEST_MESSAGE;
    }
  });

  it("names the node's Message in the error when what it gives cannot be sent", async () => {
    const loaded = await load(flowFor(sim, { ...send, message: "count", messageType: "msg" }));
    const err = await expectError(loaded, { count: 3, payload: { fine: true } });
    assert.match(err.error.message, /msg\.count must be an object/);
    await helper.unload();
    const jsonata = await load(flowFor(sim, { ...send, message: "42", messageType: "jsonata" }));
    assert.match((await expectError(jsonata, {})).error.message, /JSONata/);
    assert.equal(sim.requestCount, 0);
  });

  it("sends a JSON string and a Buffer byte for byte, and uses msg.traceId", async () => {
    const loaded = await load(flowFor(sim, send));
    const text = '{"type":"Text",   "text":"spaces"}';
    const a = await expectOutput(loaded, { payload: text, traceId: "463ac35c9f6413ad48485a3953bb6124" });
    assert.equal(sim.requests[0].body.toString(), text);
    assert.equal(a.traceId, "463ac35c9f6413ad48485a3953bb6124");
    assert.equal(sim.requests[0].headers["x-b3-traceid"], "463ac35c9f6413ad48485a3953bb6124");
    const numeric = await expectOutput(loaded, { payload: {}, traceId: 1234567890 });
    assert.equal(numeric.traceId, "1234567890");
    const bad = await expectError(loaded, { payload: {}, traceId: "has spaces in it" });
    assert.match(bad.error.message, /msg\.traceId/);
    sim.requests.length = 0;
    const bytes = Buffer.from('[ {"type":"Text","text":"x"} ]');
    await expectOutput(loaded, { payload: bytes });
    assert.ok(sim.requests[0].body.equals(bytes));
  });

  for (const [what, payload] of [
    ["a number", 42],
    ["a boolean", true],
    ["no payload", undefined],
    ["a string that is not JSON", "hello"],
  ] as Array<[string, unknown]>) {
    it(`sends ${what} to Catch with a clear text, sends no request, and turns red`, async () => {
      const loaded = await load(flowFor(sim, send));
      const err = await expectError(loaded, { payload, topic: "kept" });
      assert.match(err.error.message, /msg\.payload/);
      assert.equal(err.topic, "kept");
      assert.equal(err.error.source.id, "n1");
      assert.equal(err.statusCode, undefined);
      assert.equal(sim.requestCount, 0);
      await until(() => loaded.statuses.some((s) => s.fill === "red"), 1000, "a red status");
    });
  }

  it("names the full URL of a 404 and says the base URL must include the base path, never media ids", async () => {
    const origin = sim.baseUrl.replace(/\/nexus\/v3$/, "");
    const loaded = await load(flowFor(sim, send, { baseUrl: origin }));
    const err = await expectError(loaded, { payload: { text: "x" } });
    assert.equal(err.statusCode, 404);
    assert.ok(err.error.message.includes(`POST ${origin}/channels/`), err.error.message);
    assert.match(err.error.message, /base URL includes the API's base path/);
    assert.doesNotMatch(err.error.message, /media/i);
  });

  it("sends an HTTP error to Catch with the status, the Genesys message and msg.statusCode", async () => {
    const loaded = await load(flowFor(sim, send, { channelId: "unknown-channel" }));
    const err = await expectError(loaded, { payload: { text: "x" } });
    assert.equal(err.statusCode, 404);
    assert.match(err.error.message, /404/);
    assert.match(err.error.message, /Channel unknown-channel not found/);
    assert.match(err.traceId, /^[0-9a-f]{32}$/);
  });

  it("reports a wrong secret as 401 without showing any secret", async () => {
    const loaded = await load(flowFor(sim, send), { chan: { secret: "wrong-secret-value", apiKey: API_KEY } });
    const err = await expectError(loaded, { payload: { text: "x" } });
    assert.equal(err.statusCode, 401);
    assert.match(err.error.message, /secret/);
    assert.doesNotMatch(JSON.stringify(err), /wrong-secret-value|test-api-key/);
  });

  it("fails a server that never answers after the channel's timeout", async () => {
    const loaded = await load(flowFor(sim, send, { timeout: 300 }));
    sim.injectFaults({ kind: "hang" });
    const err = await expectError(loaded, { payload: {} });
    assert.match(err.error.message, /within 300 ms/);
    assert.equal(err.statusCode, undefined);
    await until(() => loaded.statuses.some((s) => s.fill === "red"), 1000, "a red status");
  });

  it("fails a refused connection with a clear text", async () => {
    const loaded = await load(flowFor({ baseUrl: await refusedUrl() }, send));
    const err = await expectError(loaded, { payload: {} });
    assert.match(err.error.message, /refused/);
  });

  it("retries a 503 and shows the retry in its status", async () => {
    const loaded = await load(flowFor(sim, send, { retries: 2 }));
    sim.injectFaults({ kind: "status", status: 503, retryAfter: 0 });
    const res = await expectOutput(loaded, { payload: { messageId: "r1" } });
    assert.equal(res.statusCode, 200);
    assert.ok(loaded.statuses.some((s) => s.fill === "yellow" && /retry 1\/2 \(503\)/.test(String(s.text))));
    assert.equal(sim.messages.length, 1);
  });

  it("shows work in flight, success and failure in its status, and clears it on close", async () => {
    const loaded = await load(flowFor(sim, send));
    await expectOutput(loaded, { payload: {} });
    assert.equal(loaded.statuses[0].fill, "blue");
    await until(() => loaded.statuses.at(-1)?.fill === "green", 1000, "a green status");
    await expectError(loaded, { payload: 1 });
    await until(() => loaded.statuses.at(-1)?.fill === "red", 1000, "a red status");
    await helper.unload();
    await until(() => Object.keys(loaded.statuses.at(-1) ?? { x: 1 }).length === 0, 1000, "a cleared status");
  });

  it("fails every message when no channel is configured", async () => {
    const flow = flowFor(sim, { ...send, channel: "" });
    const loaded = await load(flow);
    const err = await expectError(loaded, { payload: {} });
    assert.match(err.error.message, /no Genesys channel/);
    assert.equal(sim.requestCount, 0);
  });

  it("fails every message with a clear text when the channel is misconfigured", async () => {
    const loaded = await load(flowFor(sim, send, { baseUrl: "nexus.example.com" }));
    const err = await expectError(loaded, { payload: {} });
    assert.match(err.error.message, /base URL/);
    assert.equal(sim.requestCount, 0);
  });

  it("answers 300 concurrent sends, each in its own message", async () => {
    const loaded = await load(flowFor(sim, send));
    const results = await new Promise<Msg[]>((resolve, reject) => {
      const got: Msg[] = [];
      loaded.caught.on("input", (m: Msg) => reject(new Error(m.error.message)));
      loaded.out.on("input", (m: Msg) => {
        got.push(m);
        if (got.length === 300) resolve(got);
      });
      for (let i = 0; i < 300; i++) loaded.n1.receive({ payload: { messageId: `c-${i}`, type: "Text", text: `n${i}` }, seq: i });
    });
    const seen = new Set<number>();
    for (const m of results) {
      assert.deepEqual(m.payload.data.ids, [{ id: `c-${m.seq}` }]);
      seen.add(m.seq);
    }
    assert.equal(seen.size, 300);
    assert.equal(sim.messages.length, 300);
  });

  it("ends each message exactly once", async () => {
    const loaded = await load(flowFor(sim, send));
    const o = await outcome(loaded, { payload: { a: 1 } });
    assert.equal(o.kind, "output");
  });
});
