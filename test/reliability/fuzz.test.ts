import assert from "assert/strict";
import { NexusClient, NexusError } from "../../lib/client";
import type { NexusSimulator } from "../../lib/simulator";
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { API_KEY, CCID, CHANNEL, SECRET, channelCredentials, helper, hostileServer, simulator, until, watchCrashes } from "../support";
import { FLOW_NODES, flowFor, recordEnds, type Msg } from "../nodes/flow";

/** A small seeded generator (mulberry32), so that a failing run can be repeated. */
function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deep(depth: number): unknown {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < depth; i++) value = { next: value };
  return value;
}

/** Values of every awkward kind a flow can hand a node. */
function awkward(rnd: () => number): unknown {
  const pick = Math.floor(rnd() * 24);
  switch (pick) {
    case 0: return undefined;
    case 1: return null;
    case 2: return rnd() * 1e308 * (rnd() < 0.5 ? -1 : 1);
    case 3: return [NaN, Infinity, -0, 0, 42][Math.floor(rnd() * 5)];
    case 4: return rnd() < 0.5;
    case 5: return "";
    case 6: return "x".repeat(Math.floor(rnd() * 200_000));
    case 7: return "🙂 Grüße \u0000 \ud800 " + rnd();
    case 8: return '{"type":"Text","text":"ok"}';
    case 9: return "{not json";
    case 10: return Symbol("s");
    case 11: return BigInt(Math.floor(rnd() * 1e9));
    case 12: {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      return o;
    }
    case 13: return deep(Math.floor(rnd() * 2000));
    case 14: return JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}');
    case 15: return { toJSON: () => { throw new Error("toJSON exploded"); } };
    case 16: return Buffer.from([0xff, 0xfe, 0x00, Math.floor(rnd() * 255)]);
    case 17: return Buffer.from('{"type":"Text","text":"buffer"}');
    case 18: return new Uint8Array([1, 2, 3]);
    case 19: return [1, "two", { three: 3 }];
    case 20: return () => "a function";
    case 21: return new Date();
    case 22: return new Map([["k", "v"]]);
    default: return { channel: "sms", messageId: `fz-${rnd()}`, type: "Text", text: "fuzz" };
  }
}

function fuzzMessage(rnd: () => number, seq: number): Msg {
  const msg: Msg = { seq, payload: awkward(rnd) };
  for (const prop of ["mediaId", "filename", "mimetype", "traceId", "statusCode", "messageId", "_webhook"]) {
    if (rnd() < 0.25) msg[prop] = awkward(rnd);
  }
  if (msg.filename !== undefined && typeof msg.filename === "string" && msg.filename.length > 200) msg.filename = "/no/such/file";
  return msg;
}

/** A string made to break a header: line breaks, NULs, quotes, backslashes, non-ASCII, long runs. */
function headerBreaker(rnd: () => number): string {
  const pieces = ["\r\n", "\n", "\r", "\u0000", "\u0007", "\u007f", '"', "\\", ";", "=", "..", "/", "%0d%0a", "%2e%2e", "ä", "🙂", "\u2028", " ", "a", "x-evil: 1", "Content-Type: text/html"];
  let out = "";
  const n = 1 + Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) out += pieces[Math.floor(rnd() * pieces.length)];
  return rnd() < 0.05 ? out.repeat(500) : out;
}

/** A server that answers every request with something malformed: huge, truncated, mislabelled, invalid. */
function malformedServer(rnd: () => number): Promise<{ baseUrl: string; close(): Promise<void> }> {
  return hostileServer((req, res) => {
    req.resume();
    const pick = Math.floor(rnd() * 10);
    switch (pick) {
      case 0: // huge, no length
        res.writeHead(200, { "Content-Type": "application/json" });
        for (let i = 0; i < 40 && !res.destroyed; i++) res.write(Buffer.alloc(64 * 1024, 0x7b));
        return void res.end();
      case 1: // claims to be huge
        res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": String(2 ** 40) });
        return void res.write("x");
      case 2: // truncated
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "100" });
        res.write('{"status":{"code":0');
        return void setTimeout(() => res.destroy(), 5);
      case 3: // HTML where JSON belongs
        res.writeHead(200, { "Content-Type": "text/html" });
        return void res.end("<html><body>Gateway says hi</body></html>");
      case 4: // invalid JSON labelled as JSON
        res.writeHead(200, { "Content-Type": "application/json" });
        return void res.end('{"status": {"code": 0, "message": "ok"}, "data": {');
      case 5: // an envelope of the wrong shape
        res.writeHead(200, { "Content-Type": "application/json" });
        return void res.end(JSON.stringify({ status: { code: "0" }, data: { mediaId: 42, url: null, ids: "nope" } }));
      case 6: // an error status with garbage
        res.writeHead(502, { "Content-Type": "application/json", "Retry-After": "banana" });
        return void res.end("\u0000\u0001not json");
      case 7: // a reset
        return void req.socket.destroy();
      case 8: // a hostile download name and type
        res.writeHead(200, { "Content-Type": "text/plain; charset=x", "Content-Disposition": 'attachment; filename="../../x\ty"' });
        return void res.end("data");
      default: // empty
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "0" });
        return void res.end();
    }
  });
}

describe("fuzzed input", function () {
  this.timeout(180_000);
  let sim: NexusSimulator;
  const crashes = watchCrashes();
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort();

  before(async () => {
    sim = await simulator({ maxMessageBytes: 4 * 1024 * 1024 });
  });
  after(async () => {
    await sim.close();
  });
  afterEach(async () => {
    await helper.unload();
    sim.reset();
    assert.deepEqual(crashes, []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeys);
  });

  for (const [type, seed] of [
    ["genesys-nexus-send", 1],
    ["genesys-nexus-upload", 2],
    ["genesys-nexus-download", 3],
    ["genesys-nexus-delete", 4],
    ["genesys-nexus-webhook-response", 5],
  ] as Array<[string, number]>) {
    it(`${type}: 3,000 random messages, no crash, no hang, each ends exactly once`, async () => {
      await helper.load([...FLOW_NODES, responseNode], flowFor(sim, { type }, { timeout: 5000, retries: 0 }), channelCredentials);
      const n1 = helper.getNode("n1");
      const { ends } = recordEnds({ out: helper.getNode("out"), caught: helper.getNode("catcher") });
      const rnd = random(seed);
      const total = 3000;
      for (let i = 0; i < total; i++) {
        n1.receive(fuzzMessage(rnd, i));
        if (i % 200 === 199) await new Promise((r) => setImmediate(r));
      }
      await until(() => ends.size === total, 120_000, `all ${total} messages to end (${ends.size} did)`);
      await new Promise((r) => setTimeout(r, 100));
      const twice = [...ends.entries()].filter(([, kinds]) => kinds.length !== 1);
      assert.deepEqual(twice, [], "each message ended exactly once");
      const outcomes = [...ends.values()].flat();
      assert.ok(outcomes.includes("error"), "some messages were refused");
      if (type === "genesys-nexus-send" || type === "genesys-nexus-upload") assert.ok(outcomes.includes("output"), "some messages went through");
    });
  }

  it("header-bound values (file name, media type, trace id, media id) never break a header or a path", async () => {
    await helper.load([...FLOW_NODES, responseNode], flowFor(sim, { type: "genesys-nexus-upload" }, { timeout: 5000, retries: 0 }), channelCredentials);
    const n1 = helper.getNode("n1");
    const { ends } = recordEnds({ out: helper.getNode("out"), caught: helper.getNode("catcher") });
    const rnd = random(11);
    const total = 600;
    for (let i = 0; i < total; i++) {
      const msg: Msg = { seq: i, payload: Buffer.from("fuzz") };
      if (rnd() < 0.7) msg.filename = headerBreaker(rnd).slice(0, 150);
      if (rnd() < 0.7) msg.mimetype = headerBreaker(rnd);
      if (rnd() < 0.5) msg.traceId = headerBreaker(rnd);
      if (typeof msg.filename === "string") msg.payload = Buffer.from("fuzz");
      n1.receive(msg);
    }
    await until(() => ends.size === total, 60_000, "every upload to end");
    for (const r of sim.requests) {
      for (const [name, value] of Object.entries(r.headers)) assert.doesNotMatch(String(value), /[\r\n\u0000]/, `header ${name}`);
      const text = r.body.toString("latin1");
      const partHeader = text.slice(text.indexOf("\r\n") + 2, text.indexOf("\r\n\r\n"));
      assert.equal(partHeader.split("\r\n").length, 2, `exactly two part header lines: ${JSON.stringify(partHeader)}`);
    }
    assert.ok(sim.media.size > 0, "some uploads went through");
    await helper.unload();

    const client = new NexusClient({ baseUrl: sim.baseUrl, channelId: CHANNEL, ccid: CCID, secret: SECRET, apiKey: API_KEY, retries: 0 });
    sim.reset();
    for (let i = 0; i < 500; i++) {
      const id = rnd() < 0.5 ? headerBreaker(rnd) : `genesys://nexus/${headerBreaker(rnd)}`;
      await client.deleteMedia(id).catch((err: unknown) => assert.ok(err instanceof NexusError, String(err)));
    }
    await client.close();
    for (const r of sim.requests) {
      const segment = r.path.split("/media/")[1];
      assert.ok(segment !== undefined && !segment.includes("/") && segment !== "." && segment !== "..", `one opaque segment: ${r.path}`);
    }
  });

  it("base URLs of every shape make a clear error or a client, never a crash or a leaked password", () => {
    const rnd = random(12);
    for (let i = 0; i < 2000; i++) {
      const url = ["https://", "http://", "ftp://", "", "${", "//"][Math.floor(rnd() * 6)] + (rnd() < 0.3 ? "u:pw-SECRET-pw@" : "") + headerBreaker(rnd) + (rnd() < 0.5 ? "/nexus/v3" : "");
      try {
        void new NexusClient({ baseUrl: url, channelId: CHANNEL, ccid: CCID, secret: SECRET }).close();
      } catch (err) {
        assert.ok(err instanceof NexusError, `${JSON.stringify(url)}: ${String(err)}`);
        assert.ok(!err.message.includes("pw-SECRET-pw"), `the password shows in ${err.message}`);
      }
    }
  });

  for (const [type, seed] of [
    ["genesys-nexus-send", 21],
    ["genesys-nexus-upload", 22],
    ["genesys-nexus-download", 23],
    ["genesys-nexus-delete", 24],
  ] as Array<[string, number]>) {
    it(`${type}: 300 malformed answers (huge, truncated, mislabelled, invalid), each message ends once`, async () => {
      const rnd = random(seed);
      const server = await malformedServer(rnd);
      try {
        await helper.load([...FLOW_NODES, responseNode], flowFor(server, { type }, { timeout: 2000, retries: 1 }), channelCredentials);
        const n1 = helper.getNode("n1");
        const { ends } = recordEnds({ out: helper.getNode("out"), caught: helper.getNode("catcher") });
        const total = 300;
        for (let i = 0; i < total; i++) n1.receive({ seq: i, payload: type === "genesys-nexus-send" ? { text: "x" } : Buffer.from("x"), mediaId: "m1" });
        await until(() => ends.size === total, 60_000, `all ${total} to end (${ends.size} did)`);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual([...ends.entries()].filter(([, kinds]) => kinds.length !== 1), [], "each ended exactly once");
        assert.ok([...ends.values()].flat().includes("error"));
      } finally {
        await helper.unload();
        await server.close();
      }
    });
  }
});
