import assert from "assert/strict";
import http from "http";
import type { AddressInfo } from "net";
import type { NodeAPI } from "node-red";
import webhookNode = require("../../nodes/genesys-nexus-webhook");
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { guardedConstructor } from "../../lib/nodes/guarded-constructor";
import { helper, until, watchCrashes } from "../support";
import { FLOW_NODES, type Msg, type TestNode } from "../nodes/flow";

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

const REDIS_PASSWORD = "50%off!";

/** What a hand-edited, generated or imported flow file, or an environment, may put in any setting. */
const HOSTILE: unknown[] = [
  `redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0`,
  "redis://:%E0%A4%A@127.0.0.1:1/x",
  "rediss://",
  "%",
  "%E0%A4%A",
  "http://user:pw@[::1",
  "https://nexus.example.com/nexus/v3#frag",
  "/(",
  "${GENESYS_NEXUS_UNSET_VARIABLE}",
  "日本語 Größe 🎉 \ud800",
  "",
  " ",
  "\u0000\r\n\t",
  "__proto__",
  "constructor",
  "x".repeat(100_000),
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  1e12,
  -1,
  0,
  NaN,
  Infinity,
  true,
  false,
  null,
  {},
  { a: { b: [1, 2] } },
  [],
  ["redis://127.0.0.1"],
];

const PROPERTIES: Record<string, string[]> = {
  "genesys-nexus-channel": ["name", "baseUrl", "channelId", "ccid", "timeout", "retries", "signatureEncoding", "maxInFlight", "maxQueued", "tls", "proxy", "useTls", "useProxy"],
  "genesys-nexus-send": ["name", "message", "messageType"],
  "genesys-nexus-upload": ["name", "filename"],
  "genesys-nexus-download": ["name", "mediaId", "mediaIdType", "saveTo", "saveToType", "maxBytes"],
  "genesys-nexus-delete": ["name", "mediaId", "mediaIdType"],
  "genesys-nexus-webhook": ["name", "url", "replyTimeout", "dedupeStore", "contextStore", "remember", "maxBodyBytes"],
  "genesys-nexus-webhook-response": ["name"],
};
const CREDENTIALS: Record<string, string[]> = {
  "genesys-nexus-channel": ["secret", "previousSecret", "apiKey"],
  "genesys-nexus-webhook": ["redisUrl"],
};
const FLOW_TYPES = ["genesys-nexus-send", "genesys-nexus-upload", "genesys-nexus-download", "genesys-nexus-delete", "genesys-nexus-webhook-response"];

/**
 * Every node type with every property and credential set from `pick`: the channel named by the others
 * (or, with `channelRef`, whatever that gives), each flow node wired to a helper and watched by Catch.
 */
function hostileFlow(pick: (type: string, property: string) => unknown, channelRef: unknown = "chan"): { flow: object[]; credentials: Record<string, unknown> } {
  const node = (id: string, type: string, extra: Record<string, unknown> = {}): Record<string, unknown> => {
    const n: Record<string, unknown> = { id, type, z: "f1", ...extra };
    for (const p of PROPERTIES[type]) n[p] = pick(type, p);
    return n;
  };
  const credentials: Record<string, unknown> = {};
  const creds = (id: string, type: string): void => {
    credentials[id] = Object.fromEntries(CREDENTIALS[type].map((c) => [c, pick(type, `credential ${c}`)]));
  };
  const flow: object[] = [{ id: "f1", type: "tab" }, node("chan", "genesys-nexus-channel")];
  creds("chan", "genesys-nexus-channel");
  FLOW_TYPES.forEach((type, i) => flow.push(node(`n${i}`, type, { channel: channelRef, wires: [["out"]] })));
  flow.push(node("hook", "genesys-nexus-webhook", { channel: channelRef, wires: [["out"]] }));
  creds("hook", "genesys-nexus-webhook");
  flow.push({ id: "out", z: "f1", type: "helper" }, { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] }, { id: "caught", z: "f1", type: "helper" });
  return { flow, credentials };
}

const IDS = [...FLOW_TYPES.map((_t, i) => `n${i}`), "hook", "chan"];

/** Statuses and log lines the nodes under test showed, to check no secret appears in them. */
function watchOutput(): { texts: string[]; restore(): void } {
  const texts: string[] = [];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const NodeClass = require(require.resolve("@node-red/runtime/lib/nodes/Node", { paths: [require("../support").NODE_RED_DIR] })) as { prototype: Record<string, (...a: unknown[]) => unknown> };
  const saved = { status: NodeClass.prototype.status, error: NodeClass.prototype.error, warn: NodeClass.prototype.warn };
  for (const name of ["status", "error", "warn"] as const) {
    NodeClass.prototype[name] = function (this: unknown, ...args: unknown[]) {
      texts.push(JSON.stringify(args[0] instanceof Error ? args[0].message : args[0]));
      return saved[name].apply(this, args);
    };
  }
  return { texts, restore: () => Object.assign(NodeClass.prototype, saved) };
}

describe("no setting, credential or environment variable makes a node's constructor throw (issue 19)", function () {
  this.timeout(120_000);
  const crashes = watchCrashes();
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  // The webhook's routes are on RED.httpNode, which the test helper mounts nowhere: kept to serve it.
  let httpNode: http.RequestListener | undefined;
  const capturingWebhookNode = (RED: NodeAPI & { httpNode: http.RequestListener }): void => {
    httpNode = RED.httpNode;
    (webhookNode as unknown as (r: unknown) => void)(RED);
  };
  const nodes = [...FLOW_NODES, capturingWebhookNode, responseNode];

  async function deployAndProbe(flow: object[], credentials: Record<string, unknown>, what: string): Promise<void> {
    await helper.load(nodes, flow, credentials);
    for (const id of IDS) assert.ok(helper.getNode(id), `${what}: node ${id} exists`);
    // Every flow node still takes a message and ends it (on its output or in Catch): Node-RED stays up.
    const out: TestNode = helper.getNode("out");
    const caught: TestNode = helper.getNode("caught");
    for (const id of FLOW_TYPES.map((_t, i) => `n${i}`)) {
      let ended = 0;
      const count = (): void => void ended++;
      out.on("input", count);
      caught.on("input", count);
      helper.getNode(id).receive({ payload: { type: "Text", text: "hi" }, mediaId: "m1", _webhook: { id: "none" } });
      await until(() => ended > 0, 8000, `${what}: a message to ${id} to end`);
      out.removeListener("input", count);
      caught.removeListener("input", count);
    }
  }

  for (const [i, value] of HOSTILE.entries()) {
    const shown = typeof value === "string" ? JSON.stringify(value.length > 40 ? value.slice(0, 40) + "..." : value) : Array.isArray(value) || (typeof value === "object" && value !== null) ? JSON.stringify(value) : String(value);
    it(`every property and credential of every node set to ${shown}`, async () => {
      const { flow, credentials } = hostileFlow(() => value);
      await deployAndProbe(flow, credentials, `value ${i}`);
      assert.deepEqual(crashes, []);
    });
  }

  it("the channel reference itself set to each hostile value, and to the id of a node of another type", async () => {
    // "f1" is the id of the tab: a node, but not a channel.
    for (const ref of [...HOSTILE, "f1"]) {
      const { flow, credentials } = hostileFlow((type, p) => (p.startsWith("credential") && type === "genesys-nexus-channel" ? "a-secret" : undefined), ref);
      await helper.load(nodes, flow, credentials);
      for (const id of IDS) assert.ok(helper.getNode(id), `node ${id} exists with channel ${String(ref)}`);
      await helper.unload();
    }
    assert.deepEqual(crashes, []);
  });

  it("200 flows of random hostile values, property by property", async () => {
    const rnd = random(19);
    for (let round = 0; round < 200; round++) {
      const { flow, credentials } = hostileFlow(() => HOSTILE[Math.floor(rnd() * HOSTILE.length)]);
      await helper.load(nodes, flow, credentials);
      for (const id of IDS) assert.ok(helper.getNode(id), `round ${round}: node ${id} exists`);
      await helper.unload();
    }
    assert.deepEqual(crashes, []);
  });

  it("a webhook whose Redis URL has a raw % in its password: red 'Redis URL not valid', 503, never the password", async () => {
    const output = watchOutput();
    try {
      const { flow, credentials } = hostileFlow((type, p) => {
        if (type === "genesys-nexus-webhook") return { url: "/genesys/redis", dedupeStore: "redis", "credential redisUrl": `redis://:${REDIS_PASSWORD}@127.0.0.1:6379/0` }[p];
        if (type === "genesys-nexus-channel") return { baseUrl: "http://127.0.0.1:1/nexus/v3", channelId: "c", ccid: "x", "credential secret": "a-secret" }[p];
        return undefined;
      });
      await helper.load(nodes, flow, credentials);
      const hook: TestNode = helper.getNode("hook");
      assert.ok(hook);
      assert.ok(output.texts.some((t) => t.includes('"fill":"red"') && t.includes("Redis URL not valid")), output.texts.join("\n"));
      for (const text of output.texts) assert.ok(!text.includes(REDIS_PASSWORD) && !text.includes("50%25off"), `no password in ${text}`);
      const server = http.createServer((req, res) => (httpNode as http.RequestListener)(req, res));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/genesys/redis`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"messageId":"r1"}' });
        assert.equal(res.status, 503);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      output.restore();
    }
  });

  it("a constructor that throws anyway leaves a node with a red status whose messages end in Catch", async () => {
    const throwing = (RED: NodeAPI): void => {
      function Broken(this: { credentials?: Record<string, string> }, config: object): void {
        RED.nodes.createNode(this as never, config as never);
        throw new URIError(`URI malformed near ${this.credentials?.token}`);
      }
      RED.nodes.registerType("broken-for-test", guardedConstructor(RED, Broken as never), { credentials: { token: { type: "password" } } });
    };
    const output = watchOutput();
    try {
      await helper.load([throwing], [
        { id: "f1", type: "tab" },
        { id: "b", z: "f1", type: "broken-for-test", wires: [["out"]] },
        { id: "out", z: "f1", type: "helper" },
        { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", z: "f1", type: "helper" },
      ], { b: { token: "tok-s3cret" } });
      assert.ok(helper.getNode("b"));
      assert.ok(output.texts.some((t) => t.includes('"fill":"red"') && t.includes("could not start")));
      assert.ok(output.texts.some((t) => t.includes("This node could not start: URI malformed near ***")), output.texts.join("\n"));
      for (const text of output.texts) assert.ok(!text.includes("tok-s3cret"));
      const caught = new Promise<Msg>((resolve) => helper.getNode("caught").on("input", resolve));
      helper.getNode("b").receive({ payload: 1 });
      assert.match((await caught).error.message, /could not start/);
    } finally {
      output.restore();
    }
    assert.deepEqual(crashes, []);
  });
});
