import assert from "assert/strict";
import type { NexusSimulator } from "../../lib/simulator";
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { channelCredentials, helper, simulator, until, watchCrashes } from "../support";
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
});
