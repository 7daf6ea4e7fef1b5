import assert from "assert/strict";
import http from "http";
import https from "https";
import net from "net";
import { channelMode, localWebhookUrl, loopbackHost } from "../../lib/nodes/simulator-channel";
import type { ChannelConfigNode } from "../../lib/nodes/api-node";
import { helper, simulatorChannelNode, until } from "../support";
import { FLOW_NODES, load, outcome, type Msg } from "./flow";


const simulatorChannel = (id = "chan", extra: Record<string, unknown> = {}): Record<string, unknown> => simulatorChannelNode({ id, ...extra });

/** Whether something accepts connections at the URL's host and port. */
function listening(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("a channel in simulator mode (the first run)", () => {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(() => helper.unload());

  it("reads the mode as the node contract says: simulator, else genesys (also when absent)", () => {
    assert.equal(channelMode("simulator"), "simulator");
    assert.equal(channelMode(" Simulator "), "simulator");
    for (const other of [undefined, "", "genesys", "simulater", 1, null]) assert.equal(channelMode(other), "genesys");
  });

  it("sends with no secret, base URL or id typed, and every status says simulator", async () => {
    const flow = [
      { id: "f1", type: "tab", label: "t" },
      simulatorChannel(),
      { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] },
      { id: "out", z: "f1", type: "helper" },
      { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "f1", type: "helper" },
    ];
    const loaded = await load(flow, {});
    assert.deepEqual(loaded.statuses[0], { fill: "grey", shape: "ring", text: "simulator" }, "it says simulator before any message");
    const result = await outcome(loaded, { payload: { messageId: "first-run-1", type: "Text", text: "hello" } });
    assert.equal(result.kind, "output", JSON.stringify(result.msg.error));
    const msg = result.msg as Msg;
    assert.equal(msg.statusCode, 200);
    assert.equal(msg.payload.status.code, 0);
    await until(() => loaded.statuses.some((s) => s.text === "done (200) (simulator)"), 3000, "the done status");
    const channel = helper.getNode("chan") as ChannelConfigNode;
    assert.equal(channel.mode, "simulator");
    assert.equal(channel.secretProblem(), undefined);
    assert.equal(channel.verificationSecrets().length, 1);
    assert.ok(channel.verificationSecrets()[0].length >= 24, "a secret of its own, made at start");
    assert.match(channel.simulatorBaseUrl?.() ?? "", /^http:\/\/127\.0\.0\.1:\d+\/nexus\/v3$/);
  });

  it("runs one simulator per channel, each on its own port, and frees the port when the channel closes", async () => {
    const flow = [
      { id: "f1", type: "tab", label: "t" },
      simulatorChannel("a"),
      simulatorChannel("b"),
      { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "a", wires: [["out"]] },
      { id: "n2", z: "f1", type: "genesys-nexus-send", channel: "b", wires: [["out"]] },
      { id: "out", z: "f1", type: "helper" },
    ];
    await helper.load(FLOW_NODES, flow, {});
    const a = helper.getNode("a") as ChannelConfigNode;
    const b = helper.getNode("b") as ChannelConfigNode;
    await until(() => a.simulatorBaseUrl?.() !== undefined && b.simulatorBaseUrl?.() !== undefined, 3000, "both simulators");
    const urls = [a.simulatorBaseUrl?.() as string, b.simulatorBaseUrl?.() as string];
    assert.notEqual(urls[0], urls[1]);
    assert.notEqual(a.verificationSecrets()[0], b.verificationSecrets()[0], "each has its own secret");
    const results: Msg[] = [];
    helper.getNode("out").on("input", (m: Msg) => results.push(m));
    helper.getNode("n1").receive({ payload: { messageId: "a-1", type: "Text", text: "a" } });
    helper.getNode("n2").receive({ payload: { messageId: "b-1", type: "Text", text: "b" } });
    await until(() => results.length === 2, 5000, "both answers");
    assert.deepEqual(results.map((m) => m.statusCode), [200, 200]);
    for (const url of urls) assert.equal(await listening(url), true);
    await helper.unload();
    for (const url of urls) assert.equal(await listening(url), false, `${url} is closed after the channel closed`);
  });

  it("keeps every check of a real deployment in genesys mode: no secret, no call", async () => {
    const flow = [
      { id: "f1", type: "tab", label: "t" },
      { ...simulatorChannel(), mode: "genesys", baseUrl: "http://127.0.0.1:9/nexus/v3", channelId: "c", ccid: "x" },
      { id: "n1", z: "f1", type: "genesys-nexus-send", channel: "chan", wires: [["out"]] },
      { id: "out", z: "f1", type: "helper" },
      { id: "catcher", z: "f1", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "f1", type: "helper" },
    ];
    const loaded = await load(flow, {});
    const result = await outcome(loaded, { payload: { messageId: "x", type: "Text", text: "x" } });
    assert.equal(result.kind, "error");
    assert.match(String(result.msg.error?.message), /no secret/);
    assert.equal((helper.getNode("chan") as ChannelConfigNode).mode, undefined);
  });

  it("names the webhook's URL on this Node-RED as the simulated agent reaches it", () => {
    const red = (settings: Record<string, unknown>, server?: unknown): never => ({ settings, server }) as never;
    assert.equal(loopbackHost("0.0.0.0"), "127.0.0.1");
    assert.equal(loopbackHost(undefined), "127.0.0.1");
    assert.equal(loopbackHost("::"), "[::1]");
    assert.equal(loopbackHost("::1"), "[::1]");
    assert.equal(loopbackHost("localhost"), "localhost");
    assert.equal(localWebhookUrl(red({ uiPort: 1999 }), "/genesys/agent"), "http://127.0.0.1:1999/genesys/agent");
    assert.equal(localWebhookUrl(red({ uiHost: "::", uiPort: "2000", httpNodeRoot: "/api/" }), "genesys/agent"), "http://[::1]:2000/api/genesys/agent");
    assert.equal(localWebhookUrl(red({ uiHost: "0.0.0.0", https: { key: "k" } }), "/hook"), "https://127.0.0.1:1880/hook");
    assert.equal(localWebhookUrl(red({ httpNodeRoot: false }), "/hook"), undefined);
    // Once Node-RED listens, its server's own address and scheme win over the settings.
    const plain = { listening: true, address: () => ({ address: "0.0.0.0", port: 4321, family: "IPv4" }) };
    Object.setPrototypeOf(plain, http.Server.prototype);
    assert.equal(localWebhookUrl(red({ uiPort: 1880 }, plain), "/hook"), "http://127.0.0.1:4321/hook");
    const secure = { listening: true, address: () => ({ address: "::", port: 4322, family: "IPv6" }) };
    Object.setPrototypeOf(secure, https.Server.prototype);
    assert.equal(localWebhookUrl(red({}, secure), "/hook"), "https://[::1]:4322/hook");
  });
});
