import assert from "assert/strict";
import webhookNode = require("../../nodes/genesys-nexus-webhook");
import responseNode = require("../../nodes/genesys-nexus-webhook-response");
import { NexusClient, NexusInputError, describeError } from "../../lib/client";
import english from "../../lib/client/messages.json";
import { ChannelSimulator, agentTargetOf, attachSimulatedWebhook } from "../../lib/nodes/simulator-channel";
import { helper, simulator, channelNode, simulatorChannelNode as simulatorChannel, until, NODE_RED_DIR } from "../support";
import { FLOW_NODES, load, outcome } from "./flow";

interface LogEntry {
  level: number;
  id?: string;
  msg: unknown;
}
/** Warnings (level 30) Node-RED logged so far, optionally of one node, as text. */
function warnings(id?: string): string[] {
  return (helper.log().args as Array<[LogEntry]>)
    .map(([entry]) => entry)
    .filter((e) => e.level === 30 && (id === undefined || e.id === id))
    .map((e) => String(e.msg));
}

// Node-RED's own Node class: every status any node shows, from the moment it is created.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const NodeClass = require(require.resolve("@node-red/runtime/lib/nodes/Node", { paths: [NODE_RED_DIR] })) as { prototype: { status(s: unknown): void } };
const originalStatus = NodeClass.prototype.status;
let shownStatuses: Array<{ id: string; status: Record<string, unknown> }> = [];
function statusesOf(id: string): Array<Record<string, unknown>> {
  return shownStatuses.filter((s) => s.id === id).map((s) => s.status);
}

const TAB = { id: "f1", type: "tab", label: "t" };
const catcher = [
  { id: "out", z: "f1", type: "helper" },
  { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
  { id: "caught", z: "f1", type: "helper" },
];

describe("simulator mode and channel settings: what an independent tester found (issue 19)", () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(() => {
    shownStatuses = [];
    NodeClass.prototype.status = function (this: { id: string }, s: unknown) {
      shownStatuses.push({ id: this.id, status: s as Record<string, unknown> });
      return originalStatus.call(this, s);
    };
  });
  afterEach(async () => {
    NodeClass.prototype.status = originalStatus;
    await helper.unload();
  });

  describe("a channel that lacks several fields names them all at once", () => {
    it("the client refuses with one sentence per missing field, in the editor's order", () => {
      let caught: unknown;
      try {
        new NexusClient({ baseUrl: "", channelId: " ", ccid: "", secret: "" });
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof NexusInputError);
      assert.deepEqual(
        caught.parts.map(([code]) => code),
        ["config-no-base-url", "config-no-channel-id", "config-no-ccid", "config-secret"],
      );
      assert.equal(describeError(caught, (c) => (english as Record<string, string>)[c]), caught.message);
      // One missing field is still named alone, as before.
      assert.throws(() => new NexusClient({ baseUrl: "http://127.0.0.1:9/nexus/v3", channelId: "c", ccid: "x", secret: "" }), /^NexusInputError: The channel has no secret; set it/);
      // An unset variable is named with what is missing besides.
      assert.throws(
        () => new NexusClient({ baseUrl: "${NEXUS_BASE}", channelId: "", ccid: "x", secret: "s" }),
        (err: NexusInputError) => err.parts.map(([c]) => c).join() === "config-env-unset,config-no-channel-id",
      );
    });

    it("a send node on a channel switched to Genesys with nothing filled in shows every missing field, and Catch lists them", async () => {
      const flow = [TAB, simulatorChannel({ mode: "genesys" }), { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] }, ...catcher];
      const loaded = await load(flow, {});
      assert.deepEqual(loaded.statuses[0], { fill: "red", shape: "ring", text: "channel: no base URL, channel id, contact center id, secret" });
      const result = await outcome(loaded, { payload: { messageId: "x", type: "Text", text: "x" } });
      assert.equal(result.kind, "error");
      const text = String(result.msg.error?.message);
      for (const what of ["no base URL", "no channel id", "no contact center id", "no secret"]) assert.ok(text.includes(what), `${what} in: ${text}`);
    });

    it("a channel with only the secret missing still shows 'channel: no secret'", async () => {
      const sim = await simulator();
      try {
        const flow = [TAB, channelNode(sim), { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] }, ...catcher];
        const loaded = await load(flow, {});
        assert.equal(loaded.statuses[0]?.text, "channel: no secret");
      } finally {
        await sim.close();
      }
    });
  });

  describe("settings a flow file holds that cannot be used are named once at deploy", () => {
    it("the channel warns for each bad number, encoding and mode, names the default, and still sends", async () => {
      const flow = [
        TAB,
        simulatorChannel({
          retries: "-1",
          maxInFlight: "0",
          timeout: "abc",
          maxQueued: "-3",
          outboxLimit: "none",
          outboxMaxAge: "-1",
          outboxProbeMax: "0",
          signatureEncoding: "b64",
        }),
        { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] },
        ...catcher,
      ];
      const loaded = await load(flow, {});
      const lines = warnings("chan");
      const expected: Array<[string, string, string]> = [
        ["retries", '"-1"', "3"],
        ["maxInFlight", '"0"', "64"],
        ["timeout", '"abc"', "30000"],
        ["maxQueued", '"-3"', "10000"],
        ["outboxLimit", '"none"', "100000"],
        ["outboxMaxAge", '"-1"', "604800"],
        ["outboxProbeMax", '"0"', "30"],
        ["signatureEncoding", '"b64"', "hex"],
      ];
      for (const [name, value, fallback] of expected) {
        const line = lines.filter((l) => l.startsWith(`The setting ${name} is ${value},`));
        assert.equal(line.length, 1, `one warning for ${name} in ${JSON.stringify(lines)}`);
        assert.ok(line[0].includes(`the default ${fallback} is used instead`), line[0]);
      }
      const result = await outcome(loaded, { payload: { messageId: "bad-settings", type: "Text", text: "hi" } });
      assert.equal(result.kind, "output", JSON.stringify(result.msg.error));
    });

    it("a mode that is neither genesys nor simulator is named, and genesys is used", async () => {
      const sim = await simulator();
      try {
        const flow = [TAB, channelNode(sim, { mode: "simulater", retries: 2, timeout: "5000" }), { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] }, ...catcher];
        const loaded = await load(flow);
        const lines = warnings("chan");
        assert.deepEqual(lines, ['The setting mode is "simulater", which cannot be used (one of genesys, simulator); the default genesys is used instead.']);
        assert.equal((await outcome(loaded, { payload: { messageId: "m", type: "Text", text: "hi" } })).kind, "output");
      } finally {
        await sim.close();
      }
    });

    it("good and empty settings give no warning", async () => {
      const flow = [TAB, simulatorChannel({ retries: "0", maxInFlight: "", timeout: 1000, signatureEncoding: "base64", mode: "Simulator", outboxLimit: "" }), { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] }, ...catcher];
      await load(flow, {});
      assert.deepEqual(warnings("chan"), []);
    });

    it("the webhook names replyTimeout, maxBodyBytes and remember, and the download node maxBytes", async () => {
      const flow = [
        TAB,
        simulatorChannel(),
        { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/bad-settings", replyTimeout: "-5", maxBodyBytes: "lots", remember: 0, wires: [[]] },
        { id: "n1", z: "f1", type: "genesys-nexus-download", channel: "chan", maxBytes: "-1", wires: [["out"]] },
        ...catcher,
      ];
      await helper.load([...FLOW_NODES, webhookNode, responseNode], flow, {});
      const hook = warnings("hook");
      assert.ok(hook.includes('The setting replyTimeout is "-5", which cannot be used (a number above 0); the default 8000 is used instead.'), JSON.stringify(hook));
      assert.ok(hook.some((l) => l.startsWith('The setting maxBodyBytes is "lots",') && l.includes("1048576")), JSON.stringify(hook));
      assert.ok(hook.some((l) => l.startsWith("The setting remember is 0,") && l.includes("1000")), JSON.stringify(hook));
      const download = warnings("n1");
      assert.equal(download.length, 1, JSON.stringify(download));
      assert.match(download[0], /^The setting maxBytes is "-1", .*channel's download limit/);
    });
  });

  describe("two webhooks on one simulated channel", () => {
    it("the agent's target is the first path in code-point order, then the lowest id, whatever the order", () => {
      const a = { id: "z9", path: "/a" };
      const b = { id: "a1", path: "/b" };
      const b2 = { id: "a0", path: "/b" };
      assert.equal(agentTargetOf([b, a]), a);
      assert.equal(agentTargetOf([a, b]), a);
      assert.equal(agentTargetOf([b, b2]), b2);
      assert.equal(agentTargetOf([]), undefined);
    });

    it("when the target webhook goes, the next one gets the answers, and its status says simulator again", async () => {
      const RED = { settings: { uiPort: 1999 } } as never;
      const sim = new ChannelSimulator(RED, { onStart: () => undefined, onError: () => undefined });
      const channel = { simulatedAgentTarget: (w: never) => sim.addWebhook(w) } as never;
      const seen: Record<string, { warn: string[]; status: Array<Record<string, unknown>> }> = {};
      const fake = (id: string) => {
        seen[id] = { warn: [], status: [] };
        return { id, warn: (l: string) => seen[id].warn.push(l), status: (s: object) => seen[id].status.push(s as Record<string, unknown>) };
      };
      const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
      try {
        const detachA = attachSimulatedWebhook(RED, fake("a"), channel, "/a");
        attachSimulatedWebhook(RED, fake("b"), channel, "/b");
        await turn();
        assert.equal(sim.agentTarget(), "http://127.0.0.1:1999/a");
        assert.equal(seen.b.warn.length, 1);
        assert.equal(seen.b.status.at(-1)?.text, "simulator answers another webhook (simulator)");
        assert.deepEqual(seen.a.warn, []);
        detachA?.();
        await turn();
        assert.equal(sim.agentTarget(), "http://127.0.0.1:1999/b");
        assert.deepEqual(seen.b.status.at(-1), { fill: "grey", shape: "ring", text: "simulator" });
        assert.equal(seen.b.warn.length, 1, "no new warning");
      } finally {
        await sim.close();
      }
    });

    for (const order of ["first", "second"] as const) {
      it(`the webhook that is not the target says so in its log and status, naming the target (target listed ${order})`, async () => {
        const target = { id: "w2", z: "f1", type: "genesys-nexus-webhook", name: "main", channel: "chan", url: "/agent-a", wires: [[]] };
        const other = { id: "w1", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/agent-b", wires: [[]] };
        const hooks = order === "first" ? [target, other] : [other, target];
        await helper.load([...FLOW_NODES, webhookNode, responseNode], [TAB, simulatorChannel(), ...hooks], {});
        await until(() => warnings("w1").length > 0, 3000, "the warning of the webhook that gets no answers");
        assert.deepEqual(warnings("w1"), [
          'This webhook (/agent-b) gets no answers from the simulated agent: as in Genesys, a channel has one webhook URL, and the simulator answers the webhook whose path comes first in alphabetical order, "main" (/agent-a).',
        ]);
        assert.deepEqual(warnings("w2"), []);
        assert.deepEqual(statusesOf("w1").at(-1), { fill: "yellow", shape: "ring", text: "simulator answers another webhook (simulator)" });
        assert.deepEqual(statusesOf("w2").at(-1), { fill: "grey", shape: "ring", text: "simulator" });
      });
    }
  });

  it("a delivery the webhook's Node-RED refuses is said on the webhook, with the status and URL, instead of nothing", async () => {
    // The test runtime's HTTP server does not mount HTTP nodes: the agent's delivery meets a 404, as it would
    // under a wrong httpNodeRoot.
    const flow = [
      TAB,
      simulatorChannel(),
      { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/refused", wires: [[]] },
      { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] },
      ...catcher,
    ];
    await helper.load([...FLOW_NODES, webhookNode, responseNode], flow, {});
    const sent = new Promise((resolve) => helper.getNode("out").once("input", resolve));
    helper.getNode("n1").receive({ payload: { messageId: "refused-1", type: "Text", text: "hi" } });
    await sent;
    await until(() => warnings("hook").length > 0, 8000, "the warning of the refused delivery");
    const [line] = warnings("hook");
    assert.match(line, /^The simulated agent's answer to http:\/\/127\.0\.0\.1:\d+\/refused was not delivered: HTTP 404 Not Found\. /);
    assert.match(line, /httpNodeRoot/);
    assert.deepEqual(statusesOf("hook").at(-1), { fill: "red", shape: "ring", text: "agent's answer refused: 404 (simulator)" });
  });

  it("with httpNodeAuth set, a webhook on a simulated channel warns at deploy and shows it in its status", async () => {
    helper.settings({ httpNodeAuth: { user: "user", pass: "$2a$08$zZWtXTja0fB1pzD4sHCMyOCMYz2Z6dNbM6tl8sJogENOMcxWV9DN." } });
    try {
      const flow = [TAB, simulatorChannel(), { id: "hook", z: "f1", type: "genesys-nexus-webhook", channel: "chan", url: "/auth", wires: [[]] }];
      await helper.load([...FLOW_NODES, webhookNode, responseNode], flow, {});
      const lines = warnings("hook");
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.match(lines[0], /^This webhook \(\/auth\) is on a channel in simulator mode, and Node-RED's httpNodeAuth protects HTTP nodes: the simulated agent cannot know the password/);
      await until(() => statusesOf("hook").at(-1)?.fill === "yellow", 3000, "the webhook's status");
      assert.deepEqual(statusesOf("hook").at(-1), { fill: "yellow", shape: "ring", text: "httpNodeAuth blocks the agent (simulator)" });
    } finally {
      helper.settings({ httpNodeAuth: undefined });
    }
  });

  it("an error the simulator answers says the simulator answered, not Genesys", async () => {
    const flow = [TAB, simulatorChannel(), { id: "n1", z: "f1", type: "genesys-nexus-download", channel: "chan", wires: [["out"]] }, ...catcher];
    const loaded = await load(flow, {});
    const result = await outcome(loaded, { payload: "", mediaId: "0c7b1f0e-7a4e-4c56-9d7f-3a9a1e2b7c10" });
    assert.equal(result.kind, "error");
    const text = String(result.msg.error?.message);
    assert.match(text, /^The simulator \(standing in for Genesys\) answered 404/);
    assert.equal(result.msg.statusCode, 404);
  });
});
